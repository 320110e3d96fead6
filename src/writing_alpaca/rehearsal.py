"""Seeded stand-ins for the sources the rehearsal cannot take from ``../shared/data``.

The rehearsal (``rehearsal/config.yaml``) runs the paper's whole DAG on the real test sets
and training files that ``../shared/data`` holds; for the six training sources it does not
hold, this module writes generated files of the real size, in the upstream file layout and
format, so that the real download code (``file:`` URLs, archive extraction) and the real
parsers read them exactly as they would read the upstream release::

    writing-alpaca rehearsal standins --out resources/rehearsal [--kinds wnc,clang8] [--scale 1.0] [--seed 42]

writes ``OUT/<kind>/...`` for every kind (all of them by default):

=============  ==================================================================  ===========================
kind           files (upstream name and layout)                                    items at scale 1 (real)
=============  ==================================================================  ===========================
wnc            ``bias_data.zip`` -> ``bias_data/WNC/biased.word.{train,dev,test}``   53,803 / 700 / 1,000 lines
wikilarge      ``data-simplification.tar.bz2`` ->                                    296,402 / 992 / 359 pairs
               ``data-simplification/wikilarge/wiki.full.aner.ori.{train,valid,test}.{src,dst}``
iterater_v2    ``sent-level.train.intents.json`` (JSON lines, HF ``wanyu/IteraTeR_v2``)  292,929 rows
alpaca         ``alpaca_data.json`` (one JSON array)                                 52,002 items
alpaca_gpt4    ``alpaca_gpt4_data.json`` (one JSON array, the same instructions)     52,002 items
clang8         ``clang8_source_target_en.spacy_tokenized.tsv`` (``run.sh`` output)   2,372,119 pairs
=============  ==================================================================  ===========================

Formats, as upstream:

* WNC: tab-separated, no header, 7 columns ``id, src_tok, tgt_tok, src_raw, tgt_raw,
  src_POS_tags, tgt_parse_tags`` (``*_tok`` lower-cased word pieces, ``##`` continuations),
  one word changed between ``src_raw`` and ``tgt_raw``; about 2 % of the lines have the 5
  columns without the tag columns (which the WNC authors' loader accepts too).
* WikiLarge: line-aligned, PTB-tokenised (``-LRB-``/``-RRB-``, ``\\/``), with a few
  double-encoded UTF-8 words (``CafÃ©``), as DRESS's release.
* IteraTeR-V2: one JSON object per line with the sentence-level IteraTeR-FULL keys
  (``before_sent``, ``before_sent_with_intent``, ``after_sent``, ``labels``, ``confidence``,
  ``doc_id``, ``revision_depth``; the last three as strings); ``before_sent_with_intent`` is
  ``<intent> prev prev <S> sentence </S> next next`` (the V2 README's context format); the
  labels are clarity, fluency, coherence, style, meaning-changed and others, and about 0.5 % of
  the rows delete their sentence (``after_sent`` a single space).
* Alpaca / GPT-4-Alpaca: one JSON array (indent 4) of ``{instruction, input, output}``, about
  40 % with an input, a few (26) with an empty output; GPT-4-Alpaca re-answers the same
  instructions at greater length.
* cLang-8: ``source<TAB>target`` per line, spaCy-tokenised (``do n't``), about 40 % of the
  targets unchanged.

Every file is a function of ``--seed`` and ``--scale`` only (archives carry fixed
timestamps), so two runs write the same bytes.  ``--scale`` multiplies every count (at
least 1 item each): the tests use a small scale.  The text is nonsense built from a fixed word
list; nothing is taken from any data set.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import WritingAlpacaError
from .io import atomic_dir

log = logging.getLogger(__name__)

#: Items per file at scale 1: the upstream releases' sizes.
REAL_SIZES: dict[str, dict[str, int]] = {
    # Pryzant et al. (2020): the one-word subset, 53,803 train / 700 dev / 1,000 test
    "wnc": {"train": 53_803, "dev": 700, "test": 1_000},
    # Zhang & Lapata (2017): WikiLarge 296,402 training pairs; DRESS valid 992 / test 359
    "wikilarge": {"train": 296_402, "valid": 992, "test": 359},
    # vipulraheja/IteraTeR README: IteraTeR_v2 train 292,929 (dev 34,029, test 39,511)
    "iterater_v2": {"train": 292_929},
    # Zhang et al. (2023), Table 3: Stanford Alpaca 52,002; GPT-4-LLM re-answers the same instructions
    "alpaca": {"train": 52_002},
    "alpaca_gpt4": {"train": 52_002},
    # google-research-datasets/clang8 README: English 2,372,119
    "clang8": {"train": 2_372_119},
}
KINDS = tuple(REAL_SIZES)
#: Items with an empty output in each Alpaca stand-in (at scale 1; "a few", as upstream).
EMPTY_OUTPUTS = 26
WNC_FIVE_COLUMN_SHARE = 0.02
ITERATER_LABELS = {
    "clarity": 0.42,
    "fluency": 0.26,
    "coherence": 0.09,
    "style": 0.04,
    "meaning-changed": 0.17,
    "others": 0.02,
}
ITERATER_DELETED_SHARE = 0.005
#: Fixed archive timestamps (zip: local time tuple; tar: POSIX seconds).
ZIP_DATE = (2019, 11, 11, 0, 0, 0)
TAR_MTIME = 1_500_000_000

# --------------------------------------------------------------------------- words

_FUNCTION = (
    "the the the a a an of of to to in in and and is was are were be has have had it this that "
    "for on with as by at from or but not which who their its his her they we you can will would "
    "there more also been one two all some many most other such only into than after before"
).split()
_CONTENT = (
    "band city river school government people system result study method model data paper work "
    "region village team season album film party report student teacher language family history "
    "company music game book road station church war law market water energy field group player "
    "court museum bridge island mountain coast century record series award council project design "
    "approach network analysis sample theory effect problem question answer process structure "
    "released formed located built founded written played elected used shown proposed reported "
    "described improved increased reduced developed published named considered moved won lost "
    "large small new old early late major local national public private main important different "
    "several similar significant popular recent original common simple natural social political "
    "first second third final best famous strong weak high low long short open free full real"
).split()
_SUBJECTIVE = (
    "brilliant notorious shameless infamous legendary controversial so-called radical heroic "
    "disgraceful terrible amazing tragic renowned acclaimed alleged extremist"
).split()
_NEUTRALISED = {"claimed": "said", "admitted": "stated", "insisted": "said", "refused": "declined"}
_ACCENTED = ("café", "Zürich", "Müller", "José", "Ångström", "naïve", "résumé", "São", "Łódź", "Gödel")
_SYLLABLES = ("ka", "lo", "mi", "ren", "ta", "vor", "sel", "di", "an", "ber", "co", "nu", "pra", "ste", "ul", "zan")
_TAGS = ("DT", "NN", "NNS", "NNP", "VBD", "VBZ", "JJ", "RB", "IN", "CC", "PRP", "CD", ".")
_DEPS = ("det", "nsubj", "ROOT", "amod", "dobj", "prep", "pobj", "compound", "advmod", "cc", "conj", "punct")
_VERBS = ("Write", "Explain", "Describe", "Generate", "List", "Rewrite", "Summarize", "Classify", "Suggest", "Compare")


def _coined(rng: random.Random, n: int) -> list[str]:
    """Invented words (proper-noun-like and plain), so that the vocabulary is not tiny."""
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))))
    return sorted(words)


class Words:
    """A seeded generator of nonsense English-like token sequences."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        coined = _coined(random.Random(7), 3000)
        self.names = [w.capitalize() for w in coined[:600]]
        vocab = _FUNCTION + _CONTENT + coined[600:]
        # Zipf-like weights: frequent function words, a long tail of invented ones
        weights = [1.0 / (i + 1) ** 0.9 for i in range(len(vocab))]
        self.vocab = vocab
        self.cum = []
        total = 0.0
        for w in weights:
            total += w
            self.cum.append(total)

    def tokens(self, lo: int = 6, hi: int = 28) -> list[str]:
        """One tokenised sentence (PTB/spaCy style: punctuation and clitics stand apart)."""
        rng = self.rng
        n = rng.randint(lo, hi)
        toks = rng.choices(self.vocab, cum_weights=self.cum, k=n)
        if rng.random() < 0.5:
            toks[rng.randrange(n)] = rng.choice(self.names)
        if rng.random() < 0.15:
            toks[rng.randrange(n)] = str(rng.randint(2, 2030))
        if n > 8 and rng.random() < 0.3:
            toks.insert(rng.randint(2, n - 2), ",")
        if rng.random() < 0.08:
            i = rng.randint(1, len(toks) - 1)
            toks[i:i] = [rng.choice(("do", "is", "was", "does")), "n't"]
        if rng.random() < 0.08:
            toks.insert(rng.randint(1, len(toks) - 1), "'s")
        toks[0] = toks[0].capitalize()
        toks.append(rng.choice((".", ".", ".", ".", "?", "!")))
        return toks


_NO_SPACE_BEFORE = {".", ",", "?", "!", "n't", "'s", ")", ";", ":"}


def detok(tokens: Sequence[str]) -> str:
    """Natural text of a token list (the inverse of the tokenisation :meth:`Words.tokens` writes)."""
    out: list[str] = []
    for tok in tokens:
        if out and tok not in _NO_SPACE_BEFORE and out[-1] != "(":
            out.append(" ")
        out.append(tok)
    return "".join(out)


def _edit(rng: random.Random, words: Words, tokens: list[str], edits: int) -> list[str]:
    """A corrected/revised version of ``tokens``: ``edits`` substitutions, deletions or insertions."""
    out = list(tokens)
    for _ in range(edits):
        body = len(out) - 1  # never touch the final punctuation
        if body < 2:
            break
        i = rng.randrange(body)
        op = rng.random()
        if op < 0.45:
            out[i] = rng.choices(words.vocab, cum_weights=words.cum, k=1)[0]
        elif op < 0.75 and body > 3:
            del out[i]
        else:
            out.insert(i, rng.choice(("the", "a", "of", "to", "in", "has", "been")))
    if out:
        out[0] = out[0][:1].upper() + out[0][1:]
    return out


# --------------------------------------------------------------------------- kinds


def _count(kind: str, split: str, scale: float) -> int:
    return max(1, round(REAL_SIZES[kind][split] * scale))


def _lines_bytes(lines: Iterable[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def _wordpieces(text_tokens: Sequence[str]) -> str:
    """Lower-cased word pieces, as BERT's tokenizer writes them: the same word, the same pieces."""
    pieces = []
    for tok in text_tokens:
        low = tok.lower()
        if len(low) > 8 and low.isalpha() and sum(map(ord, low)) % 2 == 0:
            cut = 3 + sum(map(ord, low)) % (len(low) - 5)
            pieces.extend((low[:cut], "##" + low[cut:]))
        else:
            pieces.append(low)
    return " ".join(pieces)


def _wnc_line(rng: random.Random, words: Words, index: int) -> str:
    toks = words.tokens(8, 30)
    body = len(toks) - 1
    i = rng.randrange(1, body) if body > 1 else 0
    if rng.random() < 0.3:
        verb = rng.choice(tuple(_NEUTRALISED))
        src, tgt = toks[:i] + [verb] + toks[i:], toks[:i] + [_NEUTRALISED[verb]] + toks[i:]
    else:  # a subjective adjective, removed by the neutralising edit
        src, tgt = toks[:i] + [rng.choice(_SUBJECTIVE)] + toks[i:], list(toks)
    src[0], tgt[0] = src[0][:1].upper() + src[0][1:], tgt[0][:1].upper() + tgt[0][1:]
    cells = [str(100_000_000 + index * 7919), _wordpieces(src), _wordpieces(tgt), detok(src), detok(tgt)]
    if rng.random() >= WNC_FIVE_COLUMN_SHARE:
        n_src = len(cells[1].split())
        cells.append(" ".join(rng.choice(_TAGS) for _ in range(n_src)))
        cells.append(" ".join(rng.choice(_DEPS) for _ in range(n_src)))
    return "\t".join(cells)


def _write_wnc(out: Path, scale: float, seed: int) -> list[str]:
    rng, words = random.Random(seed), Words(seed + 1)
    archive = out / "bias_data.zip"
    index = 0
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for directory in ("bias_data/", "bias_data/WNC/"):
            zf.writestr(zipfile.ZipInfo(directory, date_time=ZIP_DATE), b"")
        for split in ("train", "dev", "test"):
            lines = []
            for _ in range(_count("wnc", split, scale)):
                index += 1
                lines.append(_wnc_line(rng, words, index))
            info = zipfile.ZipInfo(f"bias_data/WNC/biased.word.{split}", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, _lines_bytes(lines))
    return [archive.name]


def _mojibake(word: str) -> str:
    """``word`` as double-encoded UTF-8 (its UTF-8 bytes read as cp1252, falling back to latin-1)."""
    out = []
    for byte in word.encode("utf-8"):
        try:
            out.append(bytes([byte]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(byte))
    return "".join(out)


def _ptb(rng: random.Random, toks: list[str]) -> list[str]:
    out = list(toks)
    if len(out) > 6 and rng.random() < 0.12:
        i = rng.randint(1, len(out) - 4)
        out[i:i] = ["-LRB-", rng.choice(("born", "formerly", "also")), rng.choice(out[:i] or ["it"]).lower(), "-RRB-"]
    if rng.random() < 0.03:
        out.insert(rng.randint(1, len(out) - 1), rng.choice(("and\\/or", "1\\/2", "km\\/h")))
    if rng.random() < 0.02:
        out[rng.randrange(len(out) - 1)] = _mojibake(rng.choice(_ACCENTED))
    return out


def _write_wikilarge(out: Path, scale: float, seed: int) -> list[str]:
    rng, words = random.Random(seed), Words(seed + 1)
    archive = out / "data-simplification.tar.bz2"
    members: list[tuple[str, bytes]] = []
    for split in ("train", "valid", "test"):
        src, dst = [], []
        for _ in range(_count("wikilarge", split, scale)):
            complex_ = _ptb(rng, words.tokens(12, 40))
            if rng.random() < 0.2:
                simple = list(complex_)  # simplifications may leave a sentence unchanged
            else:
                keep = rng.randint(max(4, len(complex_) // 2), len(complex_) - 1)
                simple = _edit(rng, words, complex_[:keep] + ["."], rng.randint(0, 2))
            src.append(" ".join(complex_))
            dst.append(" ".join(simple))
        stem = f"data-simplification/wikilarge/wiki.full.aner.ori.{split}"
        members += [(f"{stem}.src", _lines_bytes(src)), (f"{stem}.dst", _lines_bytes(dst))]
    with tarfile.open(archive, "w:bz2", compresslevel=9) as tar:
        for directory in ("data-simplification", "data-simplification/wikilarge"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, TAR_MTIME
            tar.addfile(info)
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(payload), 0o644, TAR_MTIME
            tar.addfile(info, io.BytesIO(payload))
    return [archive.name]


def _write_iterater_v2(out: Path, scale: float, seed: int) -> list[str]:
    rng, words = random.Random(seed), Words(seed + 1)
    labels, cum = list(ITERATER_LABELS), []
    total = 0.0
    for label in labels:
        total += ITERATER_LABELS[label]
        cum.append(total)
    n = _count("iterater_v2", "train", scale)
    path = out / "sent-level.train.intents.json"
    rows_written = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        doc = 0
        while rows_written < n:
            doc += 1
            doc_id = (
                f"{rng.randint(1000, 2299)}.{rng.randint(0, 99999):05d}"
                if rng.random() < 0.6
                else str(rng.randint(10**6, 10**8))
            )
            depth = str(rng.randint(1, 4))
            sentences = [detok(words.tokens(6, 30)) for _ in range(rng.randint(3, 12))]
            for i, sentence in enumerate(sentences):
                if rows_written >= n:
                    break
                label = rng.choices(labels, cum_weights=cum, k=1)[0]
                if rng.random() < ITERATER_DELETED_SHARE:
                    after = " "
                else:
                    after = " " + detok(_edit(rng, words, sentence.split(" "), rng.randint(1, 3)))
                before_ctx = " ".join(sentences[max(0, i - 2) : i]) or " "
                after_ctx = " ".join(sentences[i + 1 : i + 3]) or " "
                row = {
                    "before_sent": " " + sentence,
                    "before_sent_with_intent": f"<{label}> {before_ctx} <S> {sentence} </S> {after_ctx}",
                    "after_sent": after,
                    "labels": label,
                    "confidence": f"{rng.uniform(0.34, 0.9999):.8f}",
                    "doc_id": doc_id,
                    "revision_depth": depth,
                }
                fh.write(json.dumps(row, ensure_ascii=False))
                fh.write("\n")
                rows_written += 1
    return [path.name]


def _alpaca_items(scale: float, seed: int, gpt4: bool) -> list[dict[str, str]]:
    """The Alpaca stand-in's items; the GPT-4 one shares instructions and inputs (same seed)."""
    rng, words = random.Random(seed), Words(seed + 1)
    answers = random.Random(seed + (2 if gpt4 else 3))
    answer_words = Words(seed + (4 if gpt4 else 5))
    n = _count("alpaca", "train", scale)
    empty = set(random.Random(seed + 6).sample(range(n), min(n, max(1, round(EMPTY_OUTPUTS * scale)))))
    items = []
    for i in range(n):
        task = detok(words.tokens(3, 14))
        instruction = f"{rng.choice(_VERBS)} {task[:1].lower()}{task[1:]}"
        input_ = detok(words.tokens(5, 30)) if rng.random() < 0.4 else ""
        if i in empty:
            output = ""
        else:
            sentences = answers.randint(3, 12) if gpt4 else answers.randint(1, 4)
            output = " ".join(detok(answer_words.tokens(5, 25)) for _ in range(sentences))
            if gpt4 and answers.random() < 0.3:
                output += "\n\n" + "\n".join(
                    f"{k}. {detok(answer_words.tokens(3, 10))}" for k in range(1, answers.randint(3, 6))
                )
        items.append({"instruction": instruction, "input": input_, "output": output})
    return items


def _write_alpaca(out: Path, scale: float, seed: int, *, gpt4: bool = False) -> list[str]:
    path = out / ("alpaca_gpt4_data.json" if gpt4 else "alpaca_data.json")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(_alpaca_items(scale, seed, gpt4), fh, indent=4, ensure_ascii=False)
    return [path.name]


def _write_clang8(out: Path, scale: float, seed: int) -> list[str]:
    rng, words = random.Random(seed), Words(seed + 1)
    path = out / "clang8_source_target_en.spacy_tokenized.tsv"
    n = _count("clang8", "train", scale)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        batch: list[str] = []
        for _ in range(n):
            source = words.tokens(3, 22)
            target = source if rng.random() < 0.4 else _edit(rng, words, source, rng.randint(1, 3))
            batch.append(f"{' '.join(source)}\t{' '.join(target)}\n")
            if len(batch) >= 50_000:
                fh.write("".join(batch))
                batch.clear()
        fh.write("".join(batch))
    return [path.name]


WRITERS: dict[str, Callable[[Path, float, int], list[str]]] = {
    "wnc": _write_wnc,
    "wikilarge": _write_wikilarge,
    "iterater_v2": _write_iterater_v2,
    "alpaca": _write_alpaca,
    "alpaca_gpt4": lambda out, scale, seed: _write_alpaca(out, scale, seed, gpt4=True),
    "clang8": _write_clang8,
}


def write_standins(
    out: str | Path, kinds: Sequence[str] | None = None, scale: float = 1.0, seed: int = 42
) -> dict[str, list[str]]:
    """Write the stand-ins of ``kinds`` (default: all) under ``out/<kind>/``; return their file names.

    Each ``out/<kind>`` directory is written atomically (complete or absent).
    """
    kinds = list(kinds or KINDS)
    unknown = [k for k in kinds if k not in WRITERS]
    if unknown:
        raise WritingAlpacaError(
            f"rehearsal standins: unknown kind(s) {', '.join(unknown)} (known: {', '.join(KINDS)})"
        )
    if not (scale > 0):
        raise WritingAlpacaError(f"rehearsal standins: --scale must be > 0, got {scale}")
    written = {}
    for index, kind in enumerate(KINDS):
        if kind not in kinds:
            continue
        # alpaca and alpaca_gpt4 share their seed: GPT-4-LLM re-answers Alpaca's instructions
        kind_seed = seed * 100 + (KINDS.index("alpaca") if kind == "alpaca_gpt4" else index)
        with atomic_dir(Path(out) / kind) as tmp:
            written[kind] = WRITERS[kind](tmp, scale, kind_seed)
        log.info("rehearsal stand-in %s: %s in %s", kind, ", ".join(written[kind]), Path(out) / kind)
    return written


# --------------------------------------------------------------------------- CLI


def _cmd_standins(args: argparse.Namespace) -> int:
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
    write_standins(args.out, kinds, args.scale, args.seed)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("rehearsal", help="inputs of the rehearsal (rehearsal/config.yaml)")
    sub = parser.add_subparsers(dest="rehearsal_command", metavar="{standins}")
    sub.required = True
    p = sub.add_parser(
        "standins",
        help="write seeded stand-ins of the real size and upstream layout for the sources ../shared/data lacks",
        description="Write OUT/<kind>/... for each kind: " + ", ".join(KINDS) + ".",
    )
    p.add_argument("--out", required=True, help="output root (each kind goes to OUT/<kind>/, written atomically)")
    p.add_argument("--kinds", default=None, help=f"comma-separated kinds (default: all: {','.join(KINDS)})")
    p.add_argument("--scale", type=float, default=1.0, help="multiply every count (default 1: the real sizes)")
    p.add_argument("--seed", type=int, default=42, help="seed (default 42)")
    p.set_defaults(func=_cmd_standins)
