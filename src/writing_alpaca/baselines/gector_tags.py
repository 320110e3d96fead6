"""GECToR edit tags: extraction from parallel sentences and application to a sentence.

Pure Python (no torch), after Omelianchuk et al. (2020), "GECToR -- Grammatical Error
Correction: Tag, Not Rewrite", section 3.  A sentence is a list of whitespace tokens
preceded by a virtual ``$START`` token (position 0), so that words can be inserted
at the very beginning.  Every position carries a list of tags:

* ``$KEEP`` (the empty list) and ``$DELETE``;
* ``$APPEND_w`` (insert ``w`` after the token) and ``$REPLACE_w``;
* g-transformations: ``$TRANSFORM_CASE_{LOWER,UPPER,CAPITAL,CAPITAL_1}``,
  ``$TRANSFORM_AGREEMENT_{PLURAL,SINGULAR}``, ``$TRANSFORM_SPLIT_HYPHEN``,
  ``$MERGE_{SPACE,HYPHEN}`` (join the token with the next one) and, when a verb-form
  dictionary is given, ``$TRANSFORM_VERB_{T1}_{T2}`` (e.g. ``$TRANSFORM_VERB_VB_VBZ``).

``extract_tags(src, tgt)`` gives, for each position, the full list of tags that turns
``src`` into ``tgt`` (``apply_tags(src, extract_tags(src, tgt)) == tgt``).  GECToR is
trained on one tag per token (the first one, "keep_one"); iterative inference applies
the rest in later rounds.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import WritingAlpacaError, located
from ..io import read_lines

KEEP = "$KEEP"
DELETE = "$DELETE"
START = "$START"
APPEND = "$APPEND_"
REPLACE = "$REPLACE_"
VERB = "$TRANSFORM_VERB_"
CASE_LOWER = "$TRANSFORM_CASE_LOWER"
CASE_UPPER = "$TRANSFORM_CASE_UPPER"
CASE_CAPITAL = "$TRANSFORM_CASE_CAPITAL"
CASE_CAPITAL_1 = "$TRANSFORM_CASE_CAPITAL_1"
PLURAL = "$TRANSFORM_AGREEMENT_PLURAL"
SINGULAR = "$TRANSFORM_AGREEMENT_SINGULAR"
SPLIT_HYPHEN = "$TRANSFORM_SPLIT_HYPHEN"
MERGE_SPACE = "$MERGE_SPACE"
MERGE_HYPHEN = "$MERGE_HYPHEN"

# Token alignment inside a replaced span is a small edit-distance DP; beyond this many
# cells it falls back to positional pairing (long rewrites carry little tag signal).
_MAX_DP_CELLS = 2500


@dataclass(frozen=True)
class VerbForms:
    """A verb-form dictionary in the format of GECToR's ``verb-form-vocab.txt``.

    Each line is ``word1_word2:TAG1_TAG2`` (e.g. ``go_goes:VB_VBZ``): ``word2`` is the
    ``TAG2`` form of the verb whose ``TAG1`` form is ``word1``.
    """

    encode: dict[str, str] = field(default_factory=dict)  # "go_goes" -> "VB_VBZ"
    decode: dict[str, str] = field(default_factory=dict)  # "go_VB_VBZ" -> "goes"

    @classmethod
    def from_lines(cls, lines: list[str], path: str | Path = "<verb forms>") -> VerbForms:
        encode: dict[str, str] = {}
        decode: dict[str, str] = {}
        for lineno, line in enumerate(lines, start=1):
            line = line.strip()
            if not line:
                continue
            words, sep, tags = line.partition(":")
            w = words.split("_")
            t = tags.split("_")
            if not sep or len(w) != 2 or len(t) != 2 or not all(w) or not all(t):
                raise located(path, lineno, f"expected 'word1_word2:TAG1_TAG2', got {line!r}")
            key = f"{w[0]}_{t[0]}_{t[1]}"
            if key not in decode:  # first entry wins, as in GECToR
                encode[words] = tags
                decode[key] = w[1]
        return cls(encode, decode)

    @classmethod
    def load(cls, path: str | Path) -> VerbForms:
        return cls.from_lines(read_lines(path), path)

    def to_lines(self) -> list[str]:
        return [f"{words}:{tags}" for words, tags in self.encode.items()]

    def tag(self, source: str, target: str) -> str | None:
        tags = self.encode.get(f"{source}_{target}")
        return f"{VERB}{tags}" if tags is not None else None

    def apply(self, token: str, tag: str) -> str | None:
        return self.decode.get(f"{token}_{tag[len(VERB) :]}")


#: ``verb_forms: lemminflect``: build the dictionary from LemmInflect's English lexicon.
LEMMINFLECT = "lemminflect"
#: the verb forms GECToR transforms between (VBP is the VB form in English, except "be").
VERB_TAGS = ("VB", "VBZ", "VBD", "VBN", "VBG")
_ONE_TOKEN = re.compile(r"[^\s_:]+")


def lemminflect_verb_forms() -> VerbForms:
    """A verb-form dictionary of "be" and every verb in LemmInflect's lexicon (6,748 in 0.2.3).

    For each lemma, the first spelling of each of its :data:`VERB_TAGS` forms
    (``getAllInflections(lemma, upos="VERB")``), and one ``word1_word2:TAG1_TAG2`` entry
    per ordered pair of different single-token forms, in lexicon order -- the format and
    the tags of GECToR's ``verb-form-vocab.txt``.
    """
    import gzip
    import importlib.resources

    try:
        import lemminflect
    except ImportError:
        raise WritingAlpacaError(
            "verb_forms: lemminflect needs the lemminflect package (pip install lemminflect)"
        ) from None
    lexicon = importlib.resources.files("lemminflect") / "resources" / "infl_lu.csv.gz"
    with lexicon.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
        lemmas = [row.split(",", 2)[0] for row in fh if row.split(",", 2)[1:2] == ["verb"]]
    if not lemmas:
        raise WritingAlpacaError(f"{lexicon}: no verb in LemmInflect's lexicon (an unsupported lemminflect version?)")
    lines: list[str] = []
    for lemma in ["be", *lemmas]:  # "be" is inflected by LemmInflect's code, not its lexicon
        inflections = lemminflect.getAllInflections(lemma, upos="VERB")
        forms = [(tag, inflections[tag][0]) for tag in VERB_TAGS if inflections.get(tag)]
        forms = [(tag, word) for tag, word in forms if _ONE_TOKEN.fullmatch(word)]
        lines += [f"{w1}_{w2}:{t1}_{t2}" for t1, w1 in forms for t2, w2 in forms if w1 != w2]
    return VerbForms.from_lines(lines, str(lexicon))


def load_verb_forms(setting: str | Path | None) -> VerbForms | None:
    """``verb_forms:`` of the GECToR settings: none, ``lemminflect``, or a ``verb-form-vocab.txt`` file."""
    if setting is None:
        return None
    if setting == LEMMINFLECT:
        return lemminflect_verb_forms()
    if not Path(setting).is_file():
        raise WritingAlpacaError(
            f"verb_forms: {setting}: file not found (give a verb-form-vocab.txt, {LEMMINFLECT} or null)"
        )
    return VerbForms.load(setting)


def transform_token(token: str, tag: str, verbs: VerbForms | None = None) -> str | None:
    """Apply a single-token g-transformation; None when it does not apply."""
    if tag == CASE_LOWER:
        return token.lower()
    if tag == CASE_UPPER:
        return token.upper()
    if tag == CASE_CAPITAL:
        return token.capitalize()
    if tag == CASE_CAPITAL_1:
        return token[0] + token[1:].capitalize() if len(token) > 1 else None
    if tag == PLURAL:
        return token + "s"
    if tag == SINGULAR:
        return token[:-1] if len(token) > 1 else None
    if tag == SPLIT_HYPHEN:
        return " ".join(token.split("-")) if "-" in token else None
    if tag.startswith(VERB):
        return verbs.apply(token, tag) if verbs is not None else None
    return None


def substitution_tag(source: str, target: str, verbs: VerbForms | None = None) -> str | None:
    """The tag turning ``source`` into ``target`` (None when they are equal).

    A g-transformation is preferred to ``$REPLACE_target`` when one reproduces the target.
    """
    if source == target:
        return None
    candidates = [CASE_LOWER, CASE_UPPER, CASE_CAPITAL, CASE_CAPITAL_1]
    if verbs is not None:
        verb = verbs.tag(source, target)
        if verb is not None:
            candidates.append(verb)
    candidates += [PLURAL, SINGULAR]
    for tag in candidates:
        if transform_token(source, tag, verbs) == target:
            return tag
    return REPLACE + target


def _similarity_cost(a: str, b: str) -> float:
    """Substitution cost in [0, 2]: 0 for equal tokens, 2 (= delete + insert) for unrelated ones."""
    if a == b:
        return 0.0
    return 2.0 * (1.0 - difflib.SequenceMatcher(None, a.lower(), b.lower(), autojunk=False).ratio())


def _align_span(src: list[str], tgt: list[str]) -> list[tuple[str, int | None, int | None]]:
    """Align two token spans: a list of ("sub", i, j), ("del", i, None), ("ins", None, j)."""
    n, m = len(src), len(tgt)
    if n * m > _MAX_DP_CELLS:
        k = min(n, m)
        ops: list[tuple[str, int | None, int | None]] = [("sub", i, i) for i in range(k)]
        ops += [("del", i, None) for i in range(k, n)]
        ops += [("ins", None, j) for j in range(k, m)]
        return ops
    cost = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = float(i)
    for j in range(1, m + 1):
        cost[0][j] = float(j)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i][j] = min(
                cost[i - 1][j - 1] + _similarity_cost(src[i - 1], tgt[j - 1]),
                cost[i - 1][j] + 1.0,
                cost[i][j - 1] + 1.0,
            )
    ops = []
    i, j = n, m
    eps = 1e-9
    while i > 0 or j > 0:
        # Prefer a substitution on ties: one tag instead of $DELETE + $APPEND.
        if i > 0 and j > 0 and abs(cost[i][j] - cost[i - 1][j - 1] - _similarity_cost(src[i - 1], tgt[j - 1])) < eps:
            ops.append(("sub", i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and abs(cost[i][j] - cost[i - 1][j] - 1.0) < eps:
            ops.append(("del", i - 1, None))
            i -= 1
        else:
            ops.append(("ins", None, j - 1))
            j -= 1
    ops.reverse()
    return ops


def extract_tags(source: list[str], target: list[str], verbs: VerbForms | None = None) -> list[list[str]]:
    """Tags for ``[$START] + source`` (``len(source) + 1`` lists; ``[]`` means ``$KEEP``).

    Tokens are aligned with difflib; replaced spans are aligned token by token with a
    character-similarity edit distance, recognising merges (``a b`` -> ``ab``/``a-b``)
    and hyphen splits (``a-b`` -> ``a b``) first.
    """
    tags: list[list[str]] = [[] for _ in range(len(source) + 1)]
    matcher = difflib.SequenceMatcher(None, source, target, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        if op == "delete":
            for i in range(i1, i2):
                tags[i + 1].append(DELETE)
            continue
        if op == "insert":
            tags[i1].extend(APPEND + t for t in target[j1:j2])
            continue
        src, tgt = source[i1:i2], target[j1:j2]
        if len(src) > 1 and len(tgt) == 1 and "".join(src) == tgt[0]:
            for i in range(i1, i2 - 1):
                tags[i + 1].append(MERGE_SPACE)
            continue
        if len(src) > 1 and len(tgt) == 1 and "-".join(src) == tgt[0]:
            for i in range(i1, i2 - 1):
                tags[i + 1].append(MERGE_HYPHEN)
            continue
        if len(src) == 1 and len(tgt) > 1 and src[0] == "-".join(tgt):
            tags[i1 + 1].append(SPLIT_HYPHEN)
            continue
        anchor = i1  # the position after which an insertion goes (0 = $START)
        for kind, i, j in _align_span(src, tgt):
            if kind == "sub":
                anchor = i1 + i + 1
                tag = substitution_tag(src[i], tgt[j], verbs)
                if tag is not None:
                    tags[anchor].append(tag)
            elif kind == "del":
                anchor = i1 + i + 1
                tags[anchor].append(DELETE)
            else:
                tags[anchor].append(APPEND + tgt[j])
    return tags


def apply_tags(source: list[str], tags: list[list[str]] | list[str], verbs: VerbForms | None = None) -> list[str]:
    """Apply one list of tags (or one tag) per position of ``[$START] + source``.

    Unknown or inapplicable tags (``$KEEP``, ``<OOV>``, a transform that does not fit
    the token) leave the token unchanged.  Positions past the end of ``tags`` are kept.
    """
    pieces: list[str] = []  # output tokens, with merge markers between them
    markers = {MERGE_SPACE: "", MERGE_HYPHEN: "-"}
    for pos in range(len(source) + 1):
        raw = tags[pos] if pos < len(tags) else []
        pos_tags = [raw] if isinstance(raw, str) else list(raw)
        word: str | None = source[pos - 1] if pos > 0 else None
        appended: list[str] = []
        merge: str | None = None
        for tag in pos_tags:
            if tag.startswith(APPEND):
                appended.append(tag[len(APPEND) :])
            elif pos == 0 or word is None:
                continue  # only insertions apply to $START or a deleted token
            elif tag == DELETE:
                word = None
            elif tag.startswith(REPLACE):
                word = tag[len(REPLACE) :]
            elif tag in markers:
                merge = markers[tag]
            elif tag.startswith("$TRANSFORM_"):
                word = transform_token(word, tag, verbs) or word
        if word is not None:
            pieces.extend(word.split(" ") if word else [word])
            if merge is not None:
                pieces.append(tag_marker(merge))
        pieces.extend(appended)
    out: list[str] = []
    glue: str | None = None
    for piece in pieces:
        if is_marker(piece):
            glue = piece[len(_MARKER) :]
            continue
        if glue is not None and out:
            out[-1] = out[-1] + glue + piece
        else:
            out.append(piece)
        glue = None
    return [t for t in out if t != ""]


_MARKER = "\x00merge:"


def tag_marker(glue: str) -> str:
    return _MARKER + glue


def is_marker(piece: str) -> bool:
    return piece.startswith(_MARKER)


def keep_one(tags: list[list[str]]) -> list[str]:
    """GECToR's "keep_one" training target: the first tag of each position, or ``$KEEP``."""
    return [t[0] if t else KEEP for t in tags]
