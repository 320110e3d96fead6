"""Base causal LMs: build the demo's tiny, randomly initialised LLaMA.

``writing-alpaca model build-tiny`` trains a byte-level BPE tokenizer on the
training corpus (plus the Alpaca template, so that ``### Response:`` and friends
become a handful of tokens) and saves it, together with a seeded random
``LlamaForCausalLM``, as an ordinary Hugging Face model directory.  Nothing is
downloaded.

Special tokens follow LLaMA: ``<unk>`` = 0, ``<s>`` = 1 (prepended to every
encoded text, as LLaMA's tokenizer does), ``</s>`` = 2 (appended by the trainer
after each response).  Like alpaca-lora, which sets ``pad_token_id = 0`` on the
LLaMA tokenizer, the pad token *is* ``<unk>``: padding positions carry id 0 and
are excluded by the attention mask and by ``-100`` labels, so no dedicated pad
embedding is needed.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import settings as S
from .errors import WritingAlpacaError
from .io import atomic_dir, parse_json_arg, read_jsonl

log = logging.getLogger(__name__)

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (UNK, BOS, EOS)  # ids 0, 1, 2 as in LLaMA
PAD = UNK  # alpaca-lora convention: pad_token_id = 0 (unk)

#: Text fields of normalised training pairs / instruction records used as tokenizer corpus.
CORPUS_FIELDS = ("source", "target", "instruction", "input", "output")

#: How often the template text is repeated in the tokenizer corpus (so its pieces win BPE merges).
TEMPLATE_WEIGHT = 64


@dataclass(frozen=True)
class TinySpec:
    """Shape of the tiny LLaMA (config ``base_models.<base>.build_tiny``)."""

    layers: int = 2
    hidden: int = 64
    heads: int = 4
    intermediate: int = 128
    vocab: int = 512
    max_positions: int = 512
    padding_side: str = "right"

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> TinySpec:
        """A ``build_tiny`` block (or the whole ``base_models.<base>`` entry holding one), parsed
        with :class:`writing_alpaca.settings.BuildTiny`."""
        if isinstance(spec, Mapping) and isinstance(spec.get("build_tiny"), Mapping):
            spec = spec["build_tiny"]
        b = S.BuildTiny.from_dict(spec)
        return cls(
            layers=b.layers,
            hidden=b.hidden,
            heads=b.heads,
            intermediate=b.intermediate,
            vocab=b.vocab,
            max_positions=b.max_position_embeddings or cls.max_positions,
            padding_side=b.padding_side,
        )


def _template_texts() -> list[str]:
    """The Alpaca template strings (``writing_alpaca.format.TEMPLATE``) with empty slots."""
    from .format import TEMPLATE

    return [
        TEMPLATE[key].replace("{instruction}", "").replace("{input}", "") for key in ("prompt_input", "prompt_no_input")
    ]


def corpus_texts(paths: Iterable[str | Path]) -> Iterator[str]:
    """Yield the text fields of every record of the corpus files, then the weighted template text."""
    n_files = 0
    for path in paths:
        n_files += 1
        for record in read_jsonl(path):
            for field in CORPUS_FIELDS:
                value = record.get(field)
                if isinstance(value, str) and value:
                    yield value
    if n_files == 0:
        raise WritingAlpacaError("model build-tiny: at least one --corpus file is needed")
    for _ in range(TEMPLATE_WEIGHT):
        yield from _template_texts()


def train_tokenizer(texts: Iterable[str], vocab_size: int, padding_side: str = "right"):
    """Train a LLaMA-style byte-level BPE tokenizer and wrap it as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 $B:1", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        padding_side=padding_side,
        model_max_length=None,
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(spec: TinySpec, tokenizer, seed: int):
    """A seeded, randomly initialised ``LlamaForCausalLM`` sized for ``tokenizer``."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden,
        intermediate_size=spec.intermediate,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model


def build_tiny(spec: Mapping[str, Any], corpus: Iterable[str | Path], seed: int, out: str | Path) -> Path:
    """Build tokenizer + tiny LLaMA and save both (safetensors) atomically into ``out``."""
    tiny = TinySpec.from_dict(spec)
    tokenizer = train_tokenizer(corpus_texts(corpus), tiny.vocab, tiny.padding_side)
    model = build_tiny_model(tiny, tokenizer, seed)
    n_params = sum(p.numel() for p in model.parameters())
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    log.info("tiny LLaMA: %d parameters, vocab %d -> %s", n_params, len(tokenizer), out)
    return Path(out)


def _cmd_build_tiny(args: argparse.Namespace) -> int:
    spec = parse_json_arg(args.spec, "--spec")
    build_tiny(spec, args.corpus, args.seed, args.out)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("model", help="base models (build the demo's tiny LLaMA)")
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION")
    sub.required = True
    tiny = sub.add_parser("build-tiny", help="train a BPE tokenizer and build a seeded random tiny LLaMA")
    tiny.add_argument("--spec", required=True, help="JSON: {layers, hidden, heads, intermediate, vocab, ...}")
    tiny.add_argument("--corpus", nargs="+", required=True, help="normalised training JSONL files (tokenizer corpus)")
    tiny.add_argument("--seed", type=int, required=True)
    tiny.add_argument("--out", required=True, help="model directory to write")
    tiny.set_defaults(func=_cmd_build_tiny)
