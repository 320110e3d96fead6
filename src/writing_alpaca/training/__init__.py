"""Instruction tuning of causal LMs (torchtune-recipe style).

- :mod:`.config`: :class:`TrainConfig`, built and validated from the config fragments;
- :mod:`.data`: Alpaca-template prompts, response-only labels, padding collator;
- :mod:`.modelling`: base model + tokenizer loading, LoRA, precision/device choice;
- :mod:`.recipe`: the Hugging Face ``Trainer`` run, checkpoints, metrics, outputs.

Nothing heavy is imported here: each submodule imports torch & co. inside functions.
"""
