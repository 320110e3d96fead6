"""Parse every test set and training source into normalised records.

Sub-commands (DESIGN.md, "CLI contract")::

    writing-alpaca data test  --name DATASET  --spec JSON --raw DIR --seed N --out X.jsonl [--m2-out X.m2]
    writing-alpaca data train --name TRAINSET --spec JSON --raw DIR --seed N --out X.jsonl

``--spec`` is the config fragment ``test_sets.<name>`` / ``train_sets.<name>``; every path
in it is relative to ``--raw`` (the source's download directory).

Formats (``spec.format``)
-------------------------
``m2``
    CoNLL-14 / BEA-19 style M2 (``S`` line + ``A start end|||type|||correction|||...|||annotator``
    lines, blank-line separated).  ``-NONE-`` or an empty correction deletes the span; ``-1 -1``
    noop lines record that an annotator saw the sentence and changed nothing; alternatives
    inside one correction (``a||b``) use the first one.  Test records get one reference per
    annotator id seen anywhere in the file (ids sorted; an annotator with no line for a
    sentence leaves it unchanged), so every record of a set has the same number of
    references.  ``--m2-out`` copies the gold M2 verbatim (newlines normalised to LF).
    Training pairs are source -> annotator 0 (the lowest annotator id present when 0 has
    no line); sentences that need no correction are kept, they are part of the corpus.
    Training specs may give several files as ``paths: [..]``.
``parallel``
    Line-aligned files.  Test: ``src`` + ``refs: [..]``; training: ``src`` + ``tgt`` (or
    ``refs``, whose first file is then the target, e.g. TurkCorpus ``turk.0``).
    Options: ``repair: mojibake`` (see :func:`repair_mojibake`), ``unescape_ptb: true``
    (``-LRB-`` -> ``(`` etc., :func:`unescape_ptb`).
``iterater``
    IteraTeR JSON lines (one JSON array is accepted too).  Keep ``labels == spec.label`` and ``len(after_sent) > 1`` (EditEval's
    filter, computed on the raw field), then ``before_sent`` -> source and ``after_sent`` ->
    the single reference / target, both stripped.  IteraTeR-V2 rows may carry the
    sentence inside context markers (``… <S> sentence </S> …``) and a leading intent tag
    (``<clarity>``); when present only the marked sentence is kept
    (:func:`strip_iterater_markers`).
``stsb``
    STS-B CSV (Excel dialect, no header, columns ``sentence1, sentence2, similarity_score``;
    a header row with those names is accepted).  Rows with score 5 are kept:
    ``sentence1`` -> source, ``sentence2`` -> reference.
``wnc``
    WNC ``biased.word.*`` TSV, every line, with 7 columns ``id, src_tok, tgt_tok, src_raw,
    tgt_raw, src_POS_tags, tgt_parse_tags`` or 5 (without the tags), as the WNC authors'
    loader reads it (:func:`_wnc_pairs`); ``src_raw`` -> source, ``tgt_raw`` -> reference.
    The test set is the whole ``biased.word.test`` (1,000 lines), as EditEval reads it.
``alpaca``
    One JSON array of ``{instruction, input, output}`` (Stanford Alpaca, GPT-4-Alpaca) or JSON
    lines with the same keys (as written by the ``hf`` download path); generic records.
    Every item is kept, one with an empty ``output`` too: Stanford Alpaca is 52,002
    instructions as the paper counts them, and an empty response is a valid target (the
    model learns to answer with EOS alone; training supervises that EOS).
``tsv``
    Two columns ``source<TAB>target`` per line (CLang8 after the upstream ``run.sh``
    alignment of the Lang-8 sources with ``targets/clang8_en.detokenized.tsv``).

Sampling
--------
``sample: K`` (test sets) and ``n: K`` (training sets) take a seeded sample:
``random.Random(seed).sample(range(len(items)), K)``, then the chosen items are kept in
file order.  When ``K`` is null or not smaller than the number of items, everything is
kept (the ``size:`` check of a test set catches a short file).

Text normalisation (in this order): ``repair: mojibake``, ``unescape_ptb: true``,
``detokenize: true`` (EditEval-style, :func:`detokenize`; applies to source and every
reference/target).  Each writing record carries ``"detokenized": true|false``.

Record ids are ``<name>-<6-digit 1-based index>`` in output order.  Bad input (malformed
lines, empty sources, empty lines in line-aligned files, mismatched line counts,
undecodable bytes, a wrong ``size``) raises one :class:`WritingAlpacaError` naming the file
and line.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io as _io
import json
import logging
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import settings as S
from .download import verify_download
from .errors import WritingAlpacaError, located
from .io import atomic_path, parse_json_object, read_lines, read_text, write_jsonl
from .postprocess import TOKENIZERS

log = logging.getLogger(__name__)

TEST_FORMATS, TRAIN_FORMATS = S.TEST_FORMATS, S.TRAIN_FORMATS
WRITING_TASKS = ("grammar", "fluency", "clarity", "coherence", "simplification", "neutralization", "paraphrase")
WNC_COLUMNS = ("id", "src_tok", "tgt_tok", "src_raw", "tgt_raw", "src_POS_tags", "tgt_parse_tags")
WNC_LINE_WIDTHS = frozenset({5, 7})  # with or without the POS/parse tags (the WNC authors' loader)
STSB_COLUMNS = ("sentence1", "sentence2", "similarity_score")


# --------------------------------------------------------------------------- items


@dataclass
class Pair:
    """One parsed item before normalisation: a source and its references (or target)."""

    source: str
    references: list[str]
    path: Path
    lineno: int | None


@dataclass
class Generic:
    """One Alpaca-style item."""

    instruction: str
    input: str
    output: str


# --------------------------------------------------------------------------- M2


@dataclass(frozen=True)
class M2Edit:
    start: int
    end: int
    etype: str
    correction: str  # first alternative; "" = deletion
    annotator: int
    lineno: int

    @property
    def is_noop(self) -> bool:
        return self.start == -1 and self.end == -1


@dataclass
class AnnotatedSentence:
    """A sentence of an M2 file with its edits, as :func:`read_annotated_m2` reads it to build
    references (each edit's first correction); the scorer's own reading of a gold M2 file is
    :class:`writing_alpaca.score.m2.M2Sentence`."""

    source: str  # the S line without its "S " prefix
    lineno: int
    edits: list[M2Edit] = field(default_factory=list)

    @property
    def tokens(self) -> list[str]:
        return self.source.split()

    @property
    def annotators(self) -> list[int]:
        return sorted({e.annotator for e in self.edits})

    def corrected(self, annotator: int, path: Path | str = "<m2>") -> str:
        """The sentence after applying ``annotator``'s edits (unchanged if it has none)."""
        return apply_m2_edits(self.tokens, [e for e in self.edits if e.annotator == annotator], path)


def _parse_m2_edit(line: str, path: Path, lineno: int, n_tokens: int) -> M2Edit:
    fields = line[2:].split("|||")
    if len(fields) != 6:
        raise located(path, lineno, f"malformed M2 edit: expected 6 '|||'-separated fields, got {len(fields)}")
    span = fields[0].split()
    if len(span) != 2:
        raise located(path, lineno, f"malformed M2 edit span {fields[0]!r}: expected 'start end'")
    try:
        start, end, annotator = int(span[0]), int(span[1]), int(fields[5])
    except ValueError:
        raise located(path, lineno, "malformed M2 edit: span and annotator id must be integers") from None
    if not (start == end == -1) and not (0 <= start <= end <= n_tokens):
        raise located(path, lineno, f"M2 edit span {start} {end} is outside the sentence ({n_tokens} tokens)")
    if annotator < 0:
        raise located(path, lineno, f"negative annotator id {annotator}")
    correction = fields[2].split("||")[0].strip()
    if correction == "-NONE-":
        correction = ""
    return M2Edit(start, end, fields[1], correction, annotator, lineno)


def read_annotated_m2(path: str | Path) -> list[AnnotatedSentence]:
    """Read an M2 file into sentences with their edits (upstream order), strictly: a malformed
    line, span or annotator id is an error naming the file and line.

    This builds the test and training pairs (references = every annotator's corrected
    sentence).  Scoring reads the gold M2 file with :func:`writing_alpaca.score.m2.read_m2`
    instead, which keeps M2Scorer's own leniency (several ``S`` lines per block, edits beyond the
    sentence dropped, every alternative correction) so that F0.5 matches the reference scorer.
    """
    path = Path(path)
    sentences: list[AnnotatedSentence] = []
    current: AnnotatedSentence | None = None
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            current = None
            continue
        if line.startswith("S ") or line == "S":
            if current is not None:
                raise located(path, lineno, "M2 'S' line without a blank line after the previous sentence")
            source = line[2:]
            if not source.strip():
                raise located(path, lineno, "empty source sentence in M2 'S' line")
            current = AnnotatedSentence(source=source, lineno=lineno)
            sentences.append(current)
        elif line.startswith("A "):
            if current is None:
                raise located(path, lineno, "M2 'A' line outside a sentence block (no 'S' line before it)")
            current.edits.append(_parse_m2_edit(line, path, lineno, len(current.tokens)))
        else:
            raise located(path, lineno, f"malformed M2 line: expected 'S ...' or 'A ...', got {line[:40]!r}")
    if not sentences:
        raise located(path, None, "no sentences in M2 file")
    return sentences


def apply_m2_edits(tokens: Sequence[str], edits: Iterable[M2Edit], path: Path | str = "<m2>") -> str:
    """Apply one annotator's edits to the source tokens; overlapping edits are an error."""
    real = sorted((e for e in edits if not e.is_noop), key=lambda e: (e.start, e.end, e.lineno))
    out: list[str] = []
    pos = 0
    for edit in real:
        if edit.start < pos:
            raise located(
                path,
                edit.lineno,
                f"M2 edit {edit.start} {edit.end} overlaps an earlier edit of annotator {edit.annotator}",
            )
        out.extend(tokens[pos : edit.start])
        if edit.correction:
            out.extend(edit.correction.split())
        pos = edit.end
    out.extend(tokens[pos:])
    return " ".join(out)


def _m2_annotators(sentences: Sequence[AnnotatedSentence]) -> list[int]:
    ids = sorted({a for s in sentences for a in s.annotators})
    return ids or [0]


def _m2_test_pairs(path: Path) -> list[Pair]:
    sentences = read_annotated_m2(path)
    annotators = _m2_annotators(sentences)
    return [Pair(s.source, [s.corrected(a, path) for a in annotators], path, s.lineno) for s in sentences]


def m2_gold_texts(path: str | Path) -> tuple[list[str], list[str]]:
    """The sources of a gold M2 file and every annotator's corrected sentence, as the test
    records of an M2 set hold them (what its post-processing draws on)."""
    pairs = _m2_test_pairs(Path(path))
    return [p.source.strip() for p in pairs], [r.strip() for p in pairs for r in p.references]


def _m2_train_pairs(path: Path) -> list[Pair]:
    pairs = []
    for s in read_annotated_m2(path):
        present = s.annotators
        annotator = 0 if (not present or 0 in present) else present[0]
        pairs.append(Pair(s.source, [s.corrected(annotator, path)], path, s.lineno))
    return pairs


def copy_m2(src: str | Path, dst: str | Path) -> None:
    """Copy a gold M2 file verbatim, with LF newlines and a final newline, atomically."""
    text = read_text(src)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text and not text.endswith("\n"):
        text += "\n"
    with atomic_path(dst) as tmp:
        tmp.write_bytes(text.encode("utf-8"))


# --------------------------------------------------------------------------- text normalisation

_PTB_ESCAPES = {
    "-LRB-": "(",
    "-RRB-": ")",
    "-LSB-": "[",
    "-RSB-": "]",
    "-LCB-": "{",
    "-RCB-": "}",
    "-lrb-": "(",
    "-rrb-": ")",
    "-lsb-": "[",
    "-rsb-": "]",
    "-lcb-": "{",
    "-rcb-": "}",
}
_PTB_TOKEN_RE = re.compile("|".join(re.escape(k) for k in _PTB_ESCAPES))
# Characters that cp1252 maps into 0x80-0x9F, which appear when UTF-8 bytes were decoded as cp1252.
_CP1252_HIGH = "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ"
_MOJIBAKE_RE = re.compile(f"[\u00c2-\u00f4][\u0080-\u00bf{_CP1252_HIGH}]+")


def unescape_ptb(text: str) -> str:
    """Undo Penn-Treebank escapes: ``-LRB-`` -> ``(`` (and ``-RRB-``, ``-LSB-``, ...), ``\\/`` -> ``/``, ``\\*`` -> ``*``."""
    text = _PTB_TOKEN_RE.sub(lambda m: _PTB_ESCAPES[m.group()], text)
    return text.replace("\\/", "/").replace("\\*", "*")


def _redecode(chunk: str) -> str | None:
    """Bytes of ``chunk`` as cp1252 (latin-1 for the 5 bytes cp1252 leaves undefined), read as UTF-8."""
    raw = bytearray()
    for ch in chunk:
        try:
            raw += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:
                return None
            raw.append(ord(ch))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def repair_mojibake(line: str) -> str:
    """Repair UTF-8 text that was decoded as cp1252/latin-1 and re-encoded (double-encoded UTF-8).

    Each maximal run of a UTF-8 lead byte followed by continuation bytes, read as cp1252
    characters (``Ã©`` for ``é``, ``â€™`` for ``’``), is turned back into bytes and decoded as
    UTF-8; a run that does not decode is left as it is.  Correct non-ASCII text
    (``é``, ``ß``) never matches, so repairing a clean line changes nothing.  Sequences
    whose continuation bytes were lost upstream (WikiLarge has ``DelÃ mont``, ``â ''``) cannot
    be recovered and stay unchanged.
    """

    def fix(match: re.Match[str]) -> str:
        fixed = _redecode(match.group())
        return fixed if fixed is not None else match.group()

    return _MOJIBAKE_RE.sub(fix, line)


_PTB_QUOTES = re.compile(r"``|''")
_SPLIT_NT = re.compile(r"(\w) n't\b", re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def _moses_detokenizer() -> Any:
    try:
        from sacremoses import MosesDetokenizer
    except ImportError:  # pragma: no cover - sacremoses is a declared dependency of this stage
        raise WritingAlpacaError(
            "detokenize: true needs the 'sacremoses' package (pip install sacremoses==0.2.0)"
        ) from None
    return MosesDetokenizer(lang="en")


def detokenize(text: str) -> str:
    """EditEval-style detokenisation of PTB/Moses-tokenised English.

    PTB conventions are undone first (``-LRB-`` etc., ```` `` ```` / ``''`` -> ``"``,
    ``do n't`` -> ``don't``), then sacremoses' ``MosesDetokenizer(lang="en")`` joins
    punctuation and clitics (``society .`` -> ``society.``, ``Islam 's`` -> ``Islam's``).
    """
    text = unescape_ptb(text)
    text = _PTB_QUOTES.sub('"', text)
    text = _SPLIT_NT.sub(r"\1n't", text)
    return _moses_detokenizer().detokenize(text.split())


# --------------------------------------------------------------------------- spec access


def _get(spec: dict[str, Any], key: str, name: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in spec or spec[key] is None:
        raise WritingAlpacaError(f"{name}: spec needs '{key}' for format {spec.get('format')!r}")
    value = spec[key]
    if not isinstance(value, kind):
        raise WritingAlpacaError(f"{name}: spec '{key}' must be {getattr(kind, '__name__', kind)}, got {value!r}")
    return value


def _raw_path(raw: Path, rel: Any, name: str, key: str) -> Path:
    if not isinstance(rel, str) or not rel:
        raise WritingAlpacaError(f"{name}: spec '{key}' must be a non-empty relative path, got {rel!r}")
    path = raw / rel
    if not path.is_file():
        raise WritingAlpacaError(f"{name}: {path}: file not found (spec '{key}' is relative to {raw})")
    # what is parsed is what was downloaded: checked against the directory's MANIFEST.json
    verify_download(raw, [rel])
    return path


def _paths_list(spec: dict[str, Any], raw: Path, name: str, key: str) -> list[Path]:
    rels = _get(spec, key, name, list)
    if not rels:
        raise WritingAlpacaError(f"{name}: spec '{key}' is empty")
    return [_raw_path(raw, rel, name, key) for rel in rels]


def _int_or_none(spec: dict[str, Any], key: str, name: str) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise WritingAlpacaError(f"{name}: spec '{key}' must be a non-negative integer or null, got {value!r}")
    return value


def _bool(spec: dict[str, Any], key: str, name: str) -> bool:
    value = spec.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise WritingAlpacaError(f"{name}: spec '{key}' must be true or false, got {value!r}")
    return value


# --------------------------------------------------------------------------- readers


def _read_aligned(paths: Sequence[Path]) -> list[list[str]]:
    """Read line-aligned files; every file must have the same number of non-empty lines."""
    columns = []
    for path in paths:
        lines = read_lines(path)
        for lineno, line in enumerate(lines, start=1):
            if not line.strip():
                raise located(path, lineno, "empty line in a line-aligned file")
        if not lines:
            raise located(path, None, "file is empty")
        columns.append(lines)
    n = len(columns[0])
    for path, lines in zip(paths[1:], columns[1:]):
        if len(lines) != n:
            raise located(
                path,
                min(n, len(lines)) + 1,
                f"has {len(lines)} lines but {paths[0]} has {n}; line-aligned files must match",
            )
    return columns


def _parallel_pairs(src: Path, others: Sequence[Path]) -> list[Pair]:
    columns = _read_aligned([src, *others])
    return [Pair(columns[0][i], [col[i] for col in columns[1:]], src, i + 1) for i in range(len(columns[0]))]


def strip_iterater_markers(text: str) -> str:
    """Keep only the sentence of an IteraTeR(-V2) field: drop ``<intent>`` tags and ``<S> … </S>`` context."""
    if "<S>" in text and "</S>" in text:
        text = text[text.index("<S>") + 3 : text.index("</S>")]
    text = re.sub(r"^\s*<[a-z-]+>", "", text)
    return text.strip()


def _json_rows(path: Path) -> list[tuple[int | None, str, Any]]:
    """Rows of a JSON-lines file, or of one JSON array: ``(line or None, where, row)``."""
    text = read_text(path)
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise located(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(data, list):
            raise located(path, None, "expected a JSON array or JSON lines")
        return [(None, f"item {i} (0-based) of the JSON array: ", row) for i, row in enumerate(data)]
    lines = text.split("\n")  # not splitlines(): JSON strings may hold U+2028 and friends
    if lines and lines[-1] == "":
        lines.pop()
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            raise located(path, lineno, "empty line in a JSON-lines file")
        try:
            rows.append((lineno, "", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise located(path, lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    return rows


def _iterater_pairs(path: Path, label: str) -> list[Pair]:
    pairs = []
    for lineno, where, row in _json_rows(path):
        if not isinstance(row, dict):
            raise located(path, lineno, f"{where}expected a JSON object, got {type(row).__name__}")
        for key in ("before_sent", "after_sent", "labels"):
            if key not in row:
                raise located(path, lineno, f"{where}IteraTeR row has no '{key}' field")
        labels = row["labels"]
        matches = labels == label if isinstance(labels, str) else isinstance(labels, list) and label in labels
        before, after = row["before_sent"], row["after_sent"]
        if not isinstance(before, str) or not isinstance(after, str):
            raise located(path, lineno, f"{where}IteraTeR 'before_sent' and 'after_sent' must be strings")
        if matches and len(after) > 1:
            pairs.append(Pair(strip_iterater_markers(before), [strip_iterater_markers(after)], path, lineno))
    return pairs


def _stsb_pairs(path: Path) -> list[Pair]:
    text = read_text(path)
    reader = csv.reader(_io.StringIO(text, newline=""), dialect="excel")
    pairs = []
    try:
        for row in reader:
            lineno = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                raise located(path, lineno, "empty line in STS-B CSV")
            if len(row) != 3:
                raise located(
                    path, lineno, f"STS-B CSV row has {len(row)} columns, expected 3 ({', '.join(STSB_COLUMNS)})"
                )
            if lineno == 1 and tuple(c.strip() for c in row) == STSB_COLUMNS:
                continue
            try:
                score = float(row[2])
            except ValueError:
                raise located(path, lineno, f"STS-B similarity score {row[2]!r} is not a number") from None
            if score == 5.0:
                pairs.append(Pair(row[0], [row[1]], path, lineno))
    except csv.Error as exc:
        raise located(path, reader.line_num, f"malformed CSV: {exc}") from None
    return pairs


def _split_tsv(path: Path, columns: int, what: str) -> list[tuple[int, list[str]]]:
    rows = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            raise located(path, lineno, f"empty line in {what} TSV")
        cells = line.split("\t")
        if len(cells) != columns:
            raise located(path, lineno, f"{what} TSV line has {len(cells)} tab-separated columns, expected {columns}")
        rows.append((lineno, cells))
    return rows


def _wnc_pairs(path: Path) -> list[Pair]:
    """Every line of a WNC ``biased.word.*`` file, read as the WNC authors' loader reads it.

    ``rpryzant/neutralizing-bias`` (``src/shared/data.py``, ``get_examples``) strips the line,
    splits it on tabs and takes 7 columns (with the POS/parse tags) or 5 (without them); the
    first five are the same in both.  EditEval (``src/processors/wnc.py``) keeps every row of
    ``biased.word.test``: ``src_raw`` is the input, ``tgt_raw`` the single reference.  Upstream
    skips a line of any other width silently; here it is an error naming the line.
    """
    src_i, tgt_i = WNC_COLUMNS.index("src_raw"), WNC_COLUMNS.index("tgt_raw")
    widths = sorted(WNC_LINE_WIDTHS)
    pairs = []
    for lineno, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            raise located(path, lineno, "empty line in WNC TSV")
        cells = line.strip().split("\t")
        if len(cells) not in WNC_LINE_WIDTHS:
            raise located(
                path,
                lineno,
                f"WNC TSV line has {len(cells)} tab-separated columns, expected {widths[1]} "
                f"({', '.join(WNC_COLUMNS)}) or {widths[0]} (without the last two)",
            )
        pairs.append(Pair(cells[src_i], [cells[tgt_i]], path, lineno))
    return pairs


def _tsv_pairs(path: Path) -> list[Pair]:
    return [
        Pair(cells[0], [cells[1]], path, lineno) for lineno, cells in _split_tsv(path, 2, "two-column source/target")
    ]


def _alpaca_items(path: Path) -> list[Generic]:
    rows = _json_rows(path)
    items, empty = [], 0
    for lineno, where, row in rows:
        if not isinstance(row, dict):
            raise located(path, lineno, f"{where}expected an object with instruction/input/output")
        values = {}
        for key in ("instruction", "input", "output"):
            value = row.get(key, "" if key == "input" else None)
            if value is None:
                value = "" if key == "input" else None
            if not isinstance(value, str):
                raise located(path, lineno, f"{where}'{key}' must be a string, got {value!r}"[:200])
            values[key] = value
        if not values["instruction"].strip():
            raise located(path, lineno, f"{where}empty 'instruction'")
        if not values["output"].strip():
            empty += 1  # kept: the target is EOS alone
        items.append(Generic(**values))
    if empty:
        log.info("%s: %d item(s) with an empty output (kept: their target is EOS alone)", path, empty)
    if not items:
        raise located(path, None, "no instruction items")
    return items


# --------------------------------------------------------------------------- assembling


def seeded_sample(n_items: int, k: int | None, seed: int) -> list[int]:
    """Indices of a seeded sample of ``k`` items out of ``n_items``, in file order.

    ``random.Random(seed).sample(range(n_items), k)`` then sorted; ``k`` null or
    ``k >= n_items`` keeps every index.
    """
    if k is None or k >= n_items:
        return list(range(n_items))
    return sorted(random.Random(seed).sample(range(n_items), k))


def _normaliser(spec: dict[str, Any], name: str) -> tuple[Callable[[str], str], bool]:
    repair = spec.get("repair")
    if repair not in (None, "mojibake"):
        raise WritingAlpacaError(f"{name}: spec 'repair' must be 'mojibake' or null, got {repair!r}")
    unescape = _bool(spec, "unescape_ptb", name)
    detok = _bool(spec, "detokenize", name)
    steps: list[Callable[[str], str]] = []
    if repair == "mojibake":
        steps.append(repair_mojibake)
    if unescape:
        steps.append(unescape_ptb)
    if detok:
        steps.append(detokenize)

    def normalise(text: str) -> str:
        for step in steps:
            text = step(text)
        return text.strip()

    return normalise, detok


def _check_pairs(pairs: Sequence[Pair], name: str) -> None:
    for pair in pairs:
        if not pair.source.strip():
            raise located(pair.path, pair.lineno, f"{name}: empty source")


def _read_test_pairs(name: str, spec: dict[str, Any], raw: Path) -> tuple[list[Pair], Path | None]:
    fmt = spec.get("format")
    if fmt == "m2":
        path = _raw_path(raw, _get(spec, "path", name), name, "path")
        return _m2_test_pairs(path), path
    if fmt == "parallel":
        src = _raw_path(raw, _get(spec, "src", name), name, "src")
        refs = _paths_list(spec, raw, name, "refs")
        return _parallel_pairs(src, refs), None
    if fmt == "iterater":
        path = _raw_path(raw, _get(spec, "path", name), name, "path")
        return _iterater_pairs(path, _get(spec, "label", name)), None
    if fmt == "stsb":
        return _stsb_pairs(_raw_path(raw, _get(spec, "path", name), name, "path")), None
    if fmt == "wnc":
        return _wnc_pairs(_raw_path(raw, _get(spec, "path", name), name, "path")), None
    raise WritingAlpacaError(f"{name}: unknown test-set format {fmt!r} (expected one of {', '.join(TEST_FORMATS)})")


def build_test_records(
    name: str, spec: dict[str, Any], raw: str | Path, seed: int
) -> tuple[list[dict[str, Any]], Path | None]:
    """Normalised test records of one dataset, and the gold M2 path for M2 sets."""
    raw = Path(raw)
    task = _get(spec, "task", name)
    pairs, gold = _read_test_pairs(name, spec, raw)
    _check_pairs(pairs, name)
    k = _int_or_none(spec, "sample", name)
    pairs = [pairs[i] for i in seeded_sample(len(pairs), k, seed)]
    size = _int_or_none(spec, "size", name)
    if size is not None and len(pairs) != size:
        where = pairs[0].path if pairs else raw
        raise WritingAlpacaError(f"{name}: {where}: expected {size} test items (spec 'size'), found {len(pairs)}")
    normalise, detok = _normaliser(spec, name)
    postprocess = _postprocess(spec, name, fmt=spec.get("format"), detok=detok)
    # what the scorer compares, where it differs from what the model sees: the upstream
    # tokenisation of a detokenised set whose answers are post-processed into it
    gold_form = _normaliser(dict(spec, detokenize=False), name)[0] if postprocess and detok else None
    records = []
    for i, pair in enumerate(pairs, start=1):
        source = normalise(pair.source)
        if not source:
            raise located(pair.path, pair.lineno, f"{name}: empty source after normalisation")
        record = {
            "id": f"{name}-{i:06d}",
            "dataset": name,
            "task": task,
            "source": source,
            "references": [normalise(r) for r in pair.references],
            "detokenized": detok,
        }
        if gold_form is not None:
            record["gold_source"] = gold_form(pair.source)
            record["gold_references"] = [gold_form(r) for r in pair.references]
        records.append(record)
    return records, gold


def gold_side(record: dict[str, Any]) -> tuple[Any, Any]:
    """A test record's source and references as its scorer compares them: ``gold_source`` /
    ``gold_references`` where the set carries them, else what the model sees."""
    return record.get("gold_source", record.get("source")), record.get("gold_references", record.get("references"))


def _postprocess(spec: dict[str, Any], name: str, fmt: Any, detok: bool) -> str | None:
    """The test set's ``postprocess`` tokenizer (None: scored on the text the model sees)."""
    value = spec.get("postprocess")
    if value is None:
        if fmt == "m2" and detok:
            raise WritingAlpacaError(
                f"{name}: 'detokenize: true' on an M2 set needs 'postprocess' (the gold M2 is tokenised; "
                f"one of {', '.join(TOKENIZERS)})"
            )
        return None
    if value not in TOKENIZERS:
        raise WritingAlpacaError(
            f"{name}: spec 'postprocess' must be one of {', '.join(TOKENIZERS)} or null, got {value!r}"
        )
    if not _bool(spec, "tokenized", name):
        raise WritingAlpacaError(
            f"{name}: 'postprocess: {value}' re-tokenises answers like a tokenised gold, but the set has 'tokenized: false'"
        )
    return value


def build_train_records(name: str, spec: dict[str, Any], raw: str | Path, seed: int) -> list[dict[str, Any]]:
    """Normalised training records of one training set (writing pairs or generic items)."""
    raw = Path(raw)
    task = _get(spec, "task", name)
    fmt = spec.get("format")
    if fmt not in TRAIN_FORMATS:
        raise WritingAlpacaError(
            f"{name}: unknown training-set format {fmt!r} (expected one of {', '.join(TRAIN_FORMATS)})"
        )
    if (fmt == "alpaca") != (task == "generic"):
        raise WritingAlpacaError(
            f"{name}: format 'alpaca' goes with task 'generic' and only with it (got format {fmt!r}, task {task!r})"
        )
    n = _int_or_none(spec, "n", name)
    if fmt == "alpaca":
        items = _alpaca_items(_raw_path(raw, _get(spec, "path", name), name, "path"))
        chosen = seeded_sample(len(items), n, seed)
        _warn_short(name, n, len(items))
        return [
            {
                "id": f"{name}-{i:06d}",
                "task": "generic",
                "instruction": it.instruction,
                "input": it.input,
                "output": it.output,
            }
            for i, it in enumerate((items[j] for j in chosen), start=1)
        ]
    pairs = _read_train_pairs(name, spec, raw, fmt)
    _check_pairs(pairs, name)
    chosen = seeded_sample(len(pairs), n, seed)
    _warn_short(name, n, len(pairs))
    normalise, detok = _normaliser(spec, name)
    records = []
    for i, pair in enumerate((pairs[j] for j in chosen), start=1):
        source = normalise(pair.source)
        if not source:
            raise located(pair.path, pair.lineno, f"{name}: empty source after normalisation")
        records.append(
            {
                "id": f"{name}-{i:06d}",
                "task": task,
                "source": source,
                "target": normalise(pair.references[0]),
                "detokenized": detok,
            }
        )
    return records


def _warn_short(name: str, n: int | None, available: int) -> None:
    if n is not None and n > available:
        log.warning("%s: asked for n=%d items but the source has %d; keeping all of them", name, n, available)


def _read_train_pairs(name: str, spec: dict[str, Any], raw: Path, fmt: str) -> list[Pair]:
    if fmt == "m2":
        if "paths" in spec:
            paths = _paths_list(spec, raw, name, "paths")
        else:
            paths = [_raw_path(raw, _get(spec, "path", name), name, "path")]
        return [pair for path in paths for pair in _m2_train_pairs(path)]
    if fmt == "parallel":
        src = _raw_path(raw, _get(spec, "src", name), name, "src")
        if spec.get("tgt") is not None:
            tgt = _raw_path(raw, _get(spec, "tgt", name), name, "tgt")
        else:
            tgt = _paths_list(spec, raw, name, "refs")[0]
        return _parallel_pairs(src, [tgt])
    if fmt == "iterater":
        return _iterater_pairs(_raw_path(raw, _get(spec, "path", name), name, "path"), _get(spec, "label", name))
    if fmt == "wnc":
        return _wnc_pairs(_raw_path(raw, _get(spec, "path", name), name, "path"))
    return _tsv_pairs(_raw_path(raw, _get(spec, "path", name), name, "path"))


# --------------------------------------------------------------------------- CLI


def _spec_arg(value: str, name: str) -> dict[str, Any]:
    return parse_json_object(value, f"{name}: --spec")


def _raw_dir(value: str) -> Path:
    raw = Path(value)
    if not raw.is_dir():
        raise WritingAlpacaError(f"{raw}: raw source directory not found")
    return raw


def cmd_test(args: argparse.Namespace) -> int:
    spec = _spec_arg(args.spec, args.name)
    S.TestSet.from_dict(spec, f"test_sets.{args.name}")  # the fragment, as the Snakefile checked it
    records, gold = build_test_records(args.name, spec, _raw_dir(args.raw), args.seed)
    if args.m2_out:
        if gold is None:
            raise WritingAlpacaError(f"{args.name}: --m2-out given but the set is not in M2 format")
        copy_m2(gold, args.m2_out)
    n = write_jsonl(args.out, records)
    log.info("%s: wrote %d test records to %s", args.name, n, args.out)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    spec = _spec_arg(args.spec, args.name)
    S.TrainSet.from_dict(spec, f"train_sets.{args.name}")  # the fragment, as the Snakefile checked it
    records = build_train_records(args.name, spec, _raw_dir(args.raw), args.seed)
    n = write_jsonl(args.out, records)
    log.info("%s: wrote %d training records to %s", args.name, n, args.out)
    return 0


def build_free_records(name: str, instructions: Any) -> list[dict[str, Any]]:
    """Free instructions (config ``tables.table6.instructions``) as records ``decode`` answers:
    each its own ``instruction``, an empty ``input`` (the template's ``prompt_no_input``), no
    ``source`` or references (nothing is scored)."""
    if not isinstance(instructions, list) or not instructions:
        raise WritingAlpacaError(f"{name}: --instructions must be a non-empty JSON list of strings")
    records = []
    for i, text in enumerate(instructions, start=1):
        if not isinstance(text, str) or not text.strip():
            raise WritingAlpacaError(f"{name}: instruction {i} must be a non-empty string, got {text!r}")
        records.append({"id": f"{name}-{i:06d}", "task": "generic", "instruction": text.strip(), "input": ""})
    return records


def cmd_free(args: argparse.Namespace) -> int:
    try:
        instructions = json.loads(args.instructions)
    except json.JSONDecodeError as exc:
        raise WritingAlpacaError(f"{args.name}: --instructions is not JSON ({exc})") from None
    n = write_jsonl(args.out, build_free_records(args.name, instructions))
    log.info("%s: wrote %d free instructions to %s", args.name, n, args.out)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("data", help="parse test sets and training sources into normalised JSON lines")
    sub = parser.add_subparsers(dest="data_command", metavar="{test,train,free}")
    sub.required = True
    for command, func, what in (("test", cmd_test, "test set"), ("train", cmd_train, "training set")):
        p = sub.add_parser(command, help=f"normalise one {what}")
        p.add_argument("--name", required=True, help=f"{what} name (record ids are <name>-<index>)")
        p.add_argument(
            "--spec",
            required=True,
            help=f"JSON config fragment ({'test_sets' if command == 'test' else 'train_sets'}.<name>)",
        )
        p.add_argument("--raw", required=True, help="the source's download directory (spec paths are relative to it)")
        p.add_argument("--seed", type=int, required=True, help="seed for sampling")
        p.add_argument("--out", required=True, help="output JSON-lines file")
        if command == "test":
            p.add_argument("--m2-out", default=None, help="copy the gold M2 here (M2 sets)")
        p.set_defaults(func=func)
    p = sub.add_parser("free", help="write free instructions (no input, no reference) as records to decode")
    p.add_argument("--name", required=True, help="name of the set (record ids are <name>-<index>), e.g. table6")
    p.add_argument("--instructions", required=True, help='JSON list of instructions, e.g. ["Tell me about panda."]')
    p.add_argument("--out", required=True, help="output JSON-lines file")
    p.set_defaults(func=cmd_free)
