"""writing-alpaca: reproduce Zhang et al. (2023), Writing-Alpaca, end to end."""

__version__ = "0.1.0"
