"""Re-tokenise system outputs for test sets whose gold is tokenised (CoNLL-14, BEA-19 dev).

M2 and ERRANT compare whitespace tokens with the gold edits' token offsets, so an LLM that
answers "I don't know." to the tokenised input "I do n't know ." would be charged for
edits it never made. Outputs of such sets are tokenised with spaCy's English tokenizer
(the rules W&I+LOCNESS and ERRANT use; CoNLL-14 was tokenised with NLTK, whose rules agree
on contractions and punctuation) before they are written, so every consumer (scorers,
bootstrap, edit analysis) reads the same tokens. Only the tokenizer runs: no model is loaded.
Set per test set with `output_tokenizer: spacy` (config.yaml); the causal-LM and T5 decoders
apply it, GECToR needs none (it edits the input's own tokens).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

from .errors import WritingAlpacaError

TOKENIZERS = ("spacy",)


@lru_cache(maxsize=1)
def _spacy_tokenizer():
    import spacy

    return spacy.blank("en").tokenizer


def tokenise_lines(lines: Iterable[str], tokenizer: str = "spacy") -> list[str]:
    """Each line's tokens joined by single spaces; an empty line stays empty."""
    if tokenizer not in TOKENIZERS:
        raise WritingAlpacaError(f"unknown output tokenizer {tokenizer!r} (known: {', '.join(TOKENIZERS)})")
    lines = list(lines)
    tok = _spacy_tokenizer()
    return [" ".join(t.text for t in doc if not t.is_space) for doc in tok.pipe(lines, batch_size=1000)]
