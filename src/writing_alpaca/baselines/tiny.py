"""Tiny randomly initialised base models for the demo and the tests (never downloaded).

* ``seq2seq``: a T5 (``T5ForConditionalGeneration``) with a SentencePiece-style (Metaspace)
  BPE tokenizer (``<pad>``=0, ``</s>``=1, ``<unk>``=2, ``</s>`` appended), as ``t5-large`` has.
* ``gector``: a RoBERTa encoder (``RobertaModel``) with a byte-level BPE tokenizer
  (``<s>``=0, ``<pad>``=1, ``</s>``=2, ``<unk>``=3, ``<mask>``=4), as ``roberta-large`` has.

Both tokenizers are trained on the given corpus; the build is deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import settings as S
from ..errors import WritingAlpacaError
from ..io import atomic_dir
from .common import check_kind, corpus_texts

TINY_DEFAULTS: dict[str, Any] = {
    "layers": 2,
    "hidden": 64,
    "heads": 4,
    "intermediate": 128,
    "vocab": 512,
    "max_positions": 258,
}


def tiny_settings(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The ``build_tiny`` block (the spec may be the whole ``base_models.<base>`` entry), parsed
    with :class:`writing_alpaca.settings.BuildTiny`; ``max_positions`` is its
    ``max_position_embeddings`` (default 258)."""
    block = spec.get("build_tiny", spec) if isinstance(spec, Mapping) else spec
    b = S.BuildTiny.from_dict(
        {k: v for k, v in block.items() if k not in ("kind", "path")} if isinstance(block, Mapping) else block
    )
    return {
        "layers": b.layers,
        "hidden": b.hidden,
        "heads": b.heads,
        "intermediate": b.intermediate,
        "vocab": b.vocab,
        "max_positions": b.max_position_embeddings or TINY_DEFAULTS["max_positions"],
    }


def _t5_tokenizer(texts: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    # BPE rather than Unigram: the tokenizers Unigram trainer is not deterministic across runs.
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(r"\s+", " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<pad>", "</s>", "<unk>"], show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def _roberta_tokenizer(texts: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
    )


def build_tiny(kind: str, spec: Mapping[str, Any], corpus: list[str | Path], seed: int, out: str | Path) -> Path:
    """Build a tiny base model + tokenizer of ``kind`` into ``out`` (atomically)."""
    import torch
    from transformers import RobertaConfig, RobertaModel, T5Config, T5ForConditionalGeneration

    check_kind(kind, "build-tiny --kind")
    if spec.get("kind", kind) != kind:
        raise WritingAlpacaError(f"build-tiny: --kind {kind} but the spec says kind {spec['kind']!r}")
    s = tiny_settings(spec)
    texts = corpus_texts(corpus)
    torch.manual_seed(seed)
    if kind == "seq2seq":
        tokenizer = _t5_tokenizer(texts, s["vocab"])
        config = T5Config(
            vocab_size=len(tokenizer),
            d_model=s["hidden"],
            d_kv=s["hidden"] // s["heads"],
            d_ff=s["intermediate"],
            num_layers=s["layers"],
            num_decoder_layers=s["layers"],
            num_heads=s["heads"],
            relative_attention_num_buckets=8,
            relative_attention_max_distance=32,
            dropout_rate=0.0,
            feed_forward_proj="relu",
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
        model = T5ForConditionalGeneration(config)
    else:
        tokenizer = _roberta_tokenizer(texts, s["vocab"])
        config = RobertaConfig(
            vocab_size=len(tokenizer),
            hidden_size=s["hidden"],
            num_hidden_layers=s["layers"],
            num_attention_heads=s["heads"],
            intermediate_size=s["intermediate"],
            max_position_embeddings=s["max_positions"] + 2,  # RoBERTa positions start after the pad id
            type_vocab_size=1,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        model = RobertaModel(config, add_pooling_layer=False)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(out)
