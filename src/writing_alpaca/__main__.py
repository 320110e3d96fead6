"""`python -m writing_alpaca` (used by torchrun for multi-GPU training)."""

import sys

from .cli import main

sys.exit(main())
