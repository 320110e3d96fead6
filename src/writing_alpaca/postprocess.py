"""From what a system answered to what a test set's official scorer expects.

M2Scorer (CoNLL-14), ERRANT (BEA-19) and JFLEG's GLEU compare whitespace tokens with a gold
that was tokenised upstream (NLTK for CoNLL-14, spaCy 1.9 for W&I+LOCNESS, PTB conventions
for JFLEG). A writing assistant answers in natural text ("I don't know."), so its answer has
to be brought into the gold's tokenisation before it is scored, without charging it for edits
it did not make. Re-tokenising the whole answer with some tokenizer does not do that: every
place where that tokenizer and the gold's disagree (``face-to-face``, ``his/her``, a lone
``'m``) turns into a false edit, several F0.5 points over a test set.

:func:`to_gold_tokens` is **source-preserving** and **idempotent**:

* The answer and the gold source are aligned character by character, whitespace ignored.
* Where the answer repeats a source token as one word, it stays one token (``face-to-face``).
  A source boundary the answer lacks is restored where detokenisation removes one: closing
  punctuation attached to the word before it or opening punctuation to the word after
  (``know.`` -> ``know .``), a clitic joined (``don't`` -> ``do n't``), or a split the gold's
  tokenizer makes (spaCy: ``28-year`` -> ``28 - year``). Letters the answer joined on purpose
  (``every one`` -> ``everyone``, NLTK's ``parents - his`` -> ``parents-his``) stay joined; a
  space the answer has is always a boundary.
* Only the changed spans are tokenised, with the rules of the gold's tokenizer run over the
  whole answer (so that context such as a sentence-final period is seen); NLTK/PTB rules only
  peel punctuation and clitics off a word's edges. A word the gold itself keeps whole more
  often than split (``e.g.``, ``'m``, CoNLL-14's ``cannot``: :func:`gold_lexicon`) is never split.
* An answer already in the gold's tokenisation comes out unchanged, and a whole file that is
  tokenised already (:func:`looks_tokenised`) is scored as it is.

Tokenizers (``postprocess:`` of a test set in config.yaml):

``nltk``  NLTK's word tokenizer (``NLTKWordTokenizer``, Treebank rules), quote characters kept
          as typed: CoNLL-14 (its gold has ``"``, not PTB quotes).
``ptb``   the same rules with PTB quotes (```` `` ```` / ``''``): JFLEG, whose source and
          references are PTB-tokenised.
``spacy`` spaCy's English tokenizer rules (``spacy.blank("en")``), as W&I+LOCNESS and ERRANT:
          BEA-19.

A test set without ``postprocess`` is scored on natural text (the SARI sets: EASSE tokenises
source, hypothesis and references itself); its answers are only stripped.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from difflib import SequenceMatcher
from functools import cached_property, lru_cache
from pathlib import Path

from . import settings as S
from .errors import WritingAlpacaError, located

log = logging.getLogger(__name__)

TOKENIZERS = S.TOKENIZERS  # the config's `postprocess` values (writing_alpaca.settings)

# Clitics that PTB, NLTK and spaCy all split off the word before them.
CLITICS = frozenset({"n't", "'s", "'m", "'re", "'ve", "'ll", "'d", "'", "’s", "n’t", "’m", "’re", "’ve", "’ll", "’d"})

# Tokens that are never split: clitics and PTB quotes.
KEEP_WHOLE = CLITICS | {"``", "''"}

# Where NLTK's tokenizer sees a sentence end (it splits a final period off the last word of
# its input only): sentence punctuation, a space, a capital or an opening quote or bracket;
# not after an abbreviation of single letters (``U.S.``, ``J.``).
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'`(\[])")
_INITIALS = re.compile(r"(?:\b[A-Za-z]\.)+$")

_WHITESPACE = re.compile(r"\s+")
_EDGE_PUNCT = ".,;:!?\"')]}"
# Characters a detokenizer attaches to the word before (closing) or after (opening) them.
_CLOSING = frozenset(".,;:!?)]}%\"'’”")
_OPENING = frozenset("([{$#\"'`‘“")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum()


def normalise_answer(answer: str) -> str:
    """One line of natural text: a BOM and control characters dropped, whitespace runs as one space."""
    answer = answer.replace("\ufeff", "")
    answer = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in answer)
    return _WHITESPACE.sub(" ", answer).strip()


# --------------------------------------------------------------------------- tokenizer boundaries


@lru_cache(maxsize=1)
def _nltk_tokenizer():
    try:
        from nltk.tokenize.destructive import NLTKWordTokenizer
    except ImportError:  # pragma: no cover - nltk is a declared dependency of the score stage
        raise WritingAlpacaError(
            "postprocess 'nltk'/'ptb' needs the 'nltk' package (pip install nltk==3.10.4)"
        ) from None
    return NLTKWordTokenizer()


@lru_cache(maxsize=1)
def _spacy_tokenizer():
    import spacy

    return spacy.blank("en").tokenizer


def _nltk_spans(text: str) -> list[tuple[int, int]]:
    tok = _nltk_tokenizer()
    spans: list[tuple[int, int]] = []
    start = 0
    ends = [m for m in _SENTENCE_END.finditer(text) if not _INITIALS.search(text, 0, m.start())]
    for match in ends + [None]:
        end = match.start() if match else len(text)
        segment = text[start:end]
        try:
            spans.extend((start + a, start + b) for a, b in tok.span_tokenize(segment))
        except (ValueError, IndexError):  # NLTK could not align its tokens: whitespace words
            spans.extend((start + m.start(), start + m.end()) for m in re.finditer(r"\S+", segment))
        if match:
            start = match.end()
    return spans


def _spacy_spans(text: str) -> list[tuple[int, int]]:
    return [(t.idx, t.idx + len(t.text)) for t in _spacy_tokenizer()(text) if not t.is_space]


_SPANS: dict[str, Callable[[str], list[tuple[int, int]]]] = {
    "nltk": _nltk_spans,
    "ptb": _nltk_spans,
    "spacy": _spacy_spans,
}

# Tokenizers whose gold splits inside words (spaCy: ``well - known``, ``his / her``); the
# others only peel punctuation and clitics off a word's edges (``2012).There`` stays whole).
_INFIX_SPLITS = {"spacy"}


def check_tokenizer(name: str) -> str:
    if name not in TOKENIZERS:
        raise WritingAlpacaError(f"unknown postprocess tokenizer {name!r} (known: {', '.join(TOKENIZERS)})")
    return name


# --------------------------------------------------------------------------- the function


def _ptb_quotes(tokens: list[str]) -> list[str]:
    """PTB quotes: a ``"`` token opens (````) or closes (``''``), alternating in the sentence."""
    out, open_ = [], False
    for tok in tokens:
        if tok == '"':
            out.append("''" if open_ else "``")
            open_ = not open_
        else:
            if tok in ("``", "''"):
                open_ = tok == "``"
            out.append(tok)
    return out


def _repeated_whole(span: tuple[int, int], block: tuple[int, int], shift: int, spaces: list[int]) -> bool:
    """Whether a source token (``span`` in s) lies in one matched block (``block`` in s; answer
    index = source index + ``shift``) with no space of the answer inside it (``spaces``:
    running count of spaces before each answer character)."""
    if not (block[0] <= span[0] and span[1] <= block[1]):
        return False
    return spaces[span[1] - 1 + shift] == spaces[span[0] + shift]


def to_gold_tokens(answer: str, source: str, tokenizer: str, lexicon: frozenset[str] = frozenset()) -> str:
    """``answer`` in the tokenisation of the gold ``source`` (tokens joined by single spaces).

    ``source`` is the test item's source as the gold has it (tokenised); ``lexicon`` holds
    the words that are never split (:func:`gold_lexicon`).
    """
    check_tokenizer(tokenizer)
    answer = normalise_answer(answer)
    src_tokens = source.split()
    words = answer.split(" ") if answer else []
    if words == src_tokens or not answer:
        return " ".join(words)

    # the answer without whitespace, and which of its characters follow a space
    chars: list[str] = []
    offset: list[int] = []  # index in `answer` of each character of `chars`
    space_before: list[bool] = []
    word_index: list[int] = []
    word_start: list[int] = [0]  # index in `chars` where each word starts
    w = 0
    for i, ch in enumerate(answer):
        if ch == " ":
            w += 1
            word_start.append(len(chars))
            continue
        space_before.append(bool(chars) and answer[i - 1] == " ")
        chars.append(ch)
        offset.append(i)
        word_index.append(w)
    h = "".join(chars)
    n = len(h)
    word_start.append(n)

    # the tokenizer's boundaries, as positions k (a boundary between h[k-1] and h[k])
    tok_bound = [False] * (n + 1)
    index_of = {i: k for k, i in enumerate(offset)}
    for a, b in _SPANS[tokenizer](answer):
        if a in index_of:
            tok_bound[index_of[a]] = True
        if b - 1 in index_of:
            tok_bound[index_of[b - 1] + 1] = True

    # the source without whitespace, its boundaries, and the clitics that start there
    s = "".join(src_tokens)
    src_bound: dict[int, str] = {}
    tok_span: list[tuple[int, int]] = []  # per character of s: the span of its source token
    pos = 0
    for tok in src_tokens:
        src_bound[pos] = tok
        tok_span.extend([(pos, pos + len(tok))] * len(tok))
        pos += len(tok)

    # characters of the answer that repeat the source: k -> index in s, and the end (in h) of
    # the matched block that holds k
    same_block_as_prev = [False] * (n + 1)
    src_index = [-1] * (n + 1)
    block_end = [0] * (n + 1)
    block_src = [(0, 0)] * (n + 1)  # the source range of the block that holds k
    for a, b, size in SequenceMatcher(None, s, h, autojunk=False).get_matching_blocks():
        for j in range(size):
            src_index[b + j] = a + j
            block_end[b + j] = b + size
            block_src[b + j] = (a, a + size)
            if j:
                same_block_as_prev[b + j] = True

    spaces = [0] * n
    for k in range(1, n):
        spaces[k] = spaces[k - 1] + space_before[k]
    infix = tokenizer in _INFIX_SPLITS
    keep_word = [word in lexicon or word in KEEP_WHOLE for word in words]

    def tokenizer_splits(k: int) -> bool:
        """The gold tokenizer's boundary at k; NLTK/PTB ones only where they peel punctuation
        or a clitic off the word's edge (``2012).There`` stays whole)."""
        if not tok_bound[k]:
            return False
        if infix:
            return True
        wi = word_index[k]
        prefix, suffix = h[word_start[wi] : k], h[k : word_start[wi + 1]]
        return (
            not any(map(_is_word_char, prefix))
            or not any(map(_is_word_char, suffix))
            or suffix.rstrip(_EDGE_PUNCT).lower() in CLITICS
        )

    tokens: list[str] = []
    start = 0
    for k in range(1, n):
        if space_before[k]:
            split = True
        elif same_block_as_prev[k] and src_index[k] in src_bound:
            # the answer repeats the source here: its boundary, where detokenisation removes
            # one (punctuation attached, a clitic joined) or the gold's tokenizer puts one
            nxt = src_bound[src_index[k]]
            split = (
                h[k] in _CLOSING
                or h[k - 1] in _OPENING
                or (nxt.lower() in CLITICS and block_end[k] >= k + len(nxt))
                or tokenizer_splits(k)
            )
        elif same_block_as_prev[k] and _repeated_whole(tok_span[src_index[k]], block_src[k], k - src_index[k], spaces):
            split = False  # inside a source token that the answer repeats as one word
        else:
            split = not keep_word[word_index[k]] and tokenizer_splits(k)
        if split:
            tokens.append(h[start:k])
            start = k
    tokens.append(h[start:])
    if tokenizer == "ptb":
        tokens = _ptb_quotes(tokens)
    return " ".join(tokens)


def _pieces(word: str, tokenizer: str) -> tuple[str, ...]:
    return tuple(word[a:b] for a, b in _SPANS[tokenizer](word))


def gold_lexicon(texts: Iterable[str], tokenizer: str) -> frozenset[str]:
    """Words never split: clitics, PTB quotes, and the gold's own unsplit tokens.

    A token of the gold that the tokenizer would split (``cannot``, ``e.g.``, ``U.S.``) is
    kept whole when the gold has it more often than its split form (CoNLL-14 writes
    ``cannot``, not ``can not``); a token that is a slip of the gold's own tokenizer
    (``transportation.`` once in W&I, against many ``transportation .``) is not.
    """
    token_counts: Counter[str] = Counter()
    sentences = [text.split() for text in texts]
    for toks in sentences:
        token_counts.update(toks)
    split_forms: dict[str, tuple[str, ...]] = {}
    for word in token_counts:
        # only punctuation, digits and the tokenizers' in-word splits (``cannot``) can be split
        if not word.isalpha() or word.lower() in ("cannot", "gonna", "wanna", "gotta"):
            pieces = _pieces(word, tokenizer)
            if len(pieces) > 1:
                split_forms[word] = pieces
    wanted = set(split_forms.values())
    lengths = {len(p) for p in wanted}
    split_counts: Counter[tuple[str, ...]] = Counter()
    for toks in sentences:
        for n in lengths:
            for i in range(len(toks) - n + 1):
                gram = tuple(toks[i : i + n])
                if gram in wanted:
                    split_counts[gram] += 1
    kept = {w for w, pieces in split_forms.items() if token_counts[w] > split_counts[pieces]}
    return frozenset(KEEP_WHOLE | kept)


class Postprocessor:
    """The post-processing of one test set: answers -> hypotheses for its official scorer.

    ``tokenizer`` None: natural-text scoring (answers are only normalised). Otherwise
    ``sources`` are the gold sources (tokenised), line-aligned with the answers, and
    ``gold_texts`` every tokenised gold text of the set (sources and references), from which
    the lexicon of tokens that are never split is drawn.
    """

    def __init__(self, tokenizer: str | None, sources: Sequence[str] = (), gold_texts: Iterable[str] = ()):
        self.tokenizer = check_tokenizer(tokenizer) if tokenizer is not None else None
        self.sources = list(sources)
        self._gold_texts = list(gold_texts) if tokenizer is not None else []
        self.answers_form: str | None = None  # "natural" or "tokenised": what the last call was given

    @cached_property
    def lexicon(self) -> frozenset[str]:
        """:func:`gold_lexicon` of the set, built when natural-text answers first need it."""
        if self.tokenizer is None:
            return frozenset()
        return gold_lexicon([*self.sources, *self._gold_texts], self.tokenizer)

    def __call__(self, answers: Sequence[str], path: str = "<answers>") -> list[str]:
        if self.tokenizer is None:
            self.answers_form = "natural"
            return [normalise_answer(a) for a in answers]
        if len(answers) != len(self.sources):
            raise WritingAlpacaError(
                f"{path}: has {len(answers)} lines but the test set has {len(self.sources)} sources"
            )
        answers = [normalise_answer(a) for a in answers]
        if looks_tokenised(answers):
            # a tokenised output (a GEC system's, a published file): already the scorer's input
            self.answers_form = "tokenised"
            log.info("%s: answers are tokenised already (punctuation stands apart); scored as they are", path)
            return answers
        self.answers_form = "natural"
        return [to_gold_tokens(a, s, self.tokenizer, self.lexicon) for a, s in zip(answers, self.sources)]


_ATTACHED = re.compile(r"\w[.,;:!?](?=\s|$)")
_STANDALONE = re.compile(r"(?:^|\s)[.,;:!?](?=\s|$)")


def looks_tokenised(answers: Sequence[str]) -> bool:
    """Whether a file of answers is tokenised: most of its sentence punctuation stands apart.

    Decided per file, where the evidence is strong: in a tokenised output only abbreviations
    (``etc.``, ``Mr.``) keep a period attached, in natural text nearly every sentence ends in
    ``word.``. A file with no such punctuation at all counts as natural text.
    """
    attached = sum(len(_ATTACHED.findall(a)) for a in answers)
    standalone = sum(len(_STANDALONE.findall(a)) for a in answers)
    return standalone > 0 and standalone >= 4 * attached


def m2_postprocessor(
    tokenizer: str | None, m2: str | os.PathLike, sources: Sequence[str] | None = None
) -> Postprocessor:
    """The post-processing of an M2 set from its gold file: the same sources and references
    as the workflow's test records of the set, so the CLI and the workflow agree exactly.

    ``sources`` replace the gold's ``S`` lines when the scorer is given its own (ERRANT's ``--src``).
    """
    from .data import m2_gold_texts

    gold_sources, references = m2_gold_texts(m2)
    return Postprocessor(tokenizer, gold_sources if sources is None else sources, references)


# --------------------------------------------------------------------------- test sets by name


def _project_config() -> Path | None:
    """config.yaml of the working directory, else of the checkout this package was installed from."""
    for candidate in (Path.cwd() / "config.yaml", Path(__file__).resolve().parents[2] / "config.yaml"):
        if candidate.is_file():
            return candidate
    return None


def _merge(base: dict, overlay: dict) -> dict:
    out = dict(base)
    for key, value in overlay.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def dataset_postprocess(name: str, configs: Sequence[str | os.PathLike] | None = None) -> str | None:
    """The ``postprocess`` tokenizer of test set ``name`` (a key of ``test_sets``) in the config.

    ``configs`` are config files merged in order, as ``snakemake --configfile`` does; without
    them, the project's ``config.yaml`` (working directory first).
    """
    import yaml

    paths = [Path(p) for p in configs] if configs else [p for p in [_project_config()] if p is not None]
    if not paths:
        raise WritingAlpacaError(
            "--dataset needs the project's config.yaml: run from the checkout or pass --config FILE"
        )
    merged: dict = {}
    for path in paths:
        if not path.is_file():
            raise WritingAlpacaError(f"{path}: config file not found")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise located(path, mark.line + 1 if mark else None, f"invalid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise located(path, None, "a config file must be a mapping")
        merged = _merge(merged, data)
    test_sets = merged.get("test_sets") or {}
    if name not in test_sets:
        raise WritingAlpacaError(
            f"--dataset {name!r}: no such test set in {', '.join(map(str, paths))} (known: {', '.join(sorted(test_sets))})"
        )
    value = (test_sets[name] or {}).get("postprocess")
    return check_tokenizer(value) if value is not None else None
