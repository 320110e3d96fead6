"""Instruction tuning of causal LMs (torchtune-recipe style).

- :mod:`.config`: :class:`TrainConfig`, built and validated from the config fragments;
- :mod:`.examples`: training examples (Alpaca-template prompts, response-only labels) and their
  padding collator (transformers' ``DataCollatorForSeq2Seq``);
- :mod:`.modelling`: base model + tokenizer loading, LoRA, precision/device choice;
- :mod:`.recipe`: the Hugging Face ``Trainer`` run, checkpoints, metrics, outputs.

Nothing heavy is imported here: each submodule imports torch & co. inside functions.
"""
