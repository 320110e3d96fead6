"""Scorers of the paper's four metrics, each matching its official implementation.

* ``m2``: M2Scorer 3.2 P/R/F0.5 (CoNLL-2014) — :func:`m2_score`, :class:`M2Scorer`
* ``errant``: errant 3.0.2 ``errant_parallel`` + ``errant_compare`` (BEA-2019) —
  :func:`errant_score`, :class:`ErrantScorer`
* ``gleu``: the official JFLEG ``gleu.py`` (500 seeded iterations) — :func:`gleu_corpus`
* ``sari``: EASSE ``corpus_sari`` with its defaults — :func:`sari_corpus`

Command line (each prints one JSON object, scores in percent)::

    writing-alpaca score m2 --hyp H --m2 GOLD.m2 [--dataset NAME]
    writing-alpaca score errant --hyp H --m2 GOLD.m2 [--src S] [--spacy-model NAME] [--cache DIR] [--dataset NAME]
    writing-alpaca score gleu --src S --hyp H --refs R0 R1 ... [--dataset NAME]
    writing-alpaca score sari --src S --hyp H --refs R0 R1 ... [--dataset NAME]
    writing-alpaca score dataset --data TEST.jsonl --hyp ANSWERS.txt --metric m2|errant|gleu|sari \
        [--postprocess nltk|ptb|spacy] [--hyp-out HYP.txt] [--m2 GOLD.m2] [--spacy-model NAME] \
        [--cache DIR] --out X.json

``--dataset NAME`` (a key of ``test_sets`` in config.yaml; ``--config FILE ...`` to use other
config files) treats ``--hyp`` as a system's raw answers and applies that test set's
post-processing (:mod:`writing_alpaca.postprocess`) first, exactly as the workflow does; the
gold files are the official ones, as without it. ``score dataset`` is the workflow's job: it
post-processes the answers with ``--postprocess`` against the records' ``gold_source``, writes
the hypotheses it scored to ``--hyp-out`` and scores them against ``gold_references`` / the M2.

Heavy libraries (spaCy, errant, sacrebleu) are imported only when a scorer runs.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import os
import sys
from collections.abc import Callable

from .. import settings as S
from ..data import gold_side
from ..errors import WritingAlpacaError, located
from ..io import read_jsonl, write_json, write_lines
from ..postprocess import TOKENIZERS, Postprocessor, dataset_postprocess, m2_postprocessor
from .common import read_aligned, read_lines_checked, require_file
from .errant_scorer import DEFAULT_SPACY_MODEL, ErrantScorer, errant_score
from .gleu import gleu_corpus, gleu_files
from .m2 import M2Scorer, m2_score, read_m2
from .sari import sari_corpus, sari_files, sari_from_stats, sari_sentence_stats

__all__ = [
    "METRICS",
    "HEADLINE",
    "M2Scorer",
    "ErrantScorer",
    "m2_score",
    "errant_score",
    "gleu_corpus",
    "gleu_files",
    "sari_corpus",
    "sari_files",
    "sari_sentence_stats",
    "sari_from_stats",
    "read_m2",
    "score_dataset",
    "register",
]

log = logging.getLogger(__name__)

METRICS = S.METRICS  # the config's `metric` values (writing_alpaca.settings)
HEADLINE = {"m2": "f0.5", "errant": "f0.5", "gleu": "gleu", "sari": "sari"}


def _references_by_set(records: list[dict], data_path: str | os.PathLike) -> tuple[list[str], list[list[str]]]:
    """Gold sources and reference sets (``refs[k][i]``) of normalised test records."""
    sources: list[str] = []
    per_record: list[list[str]] = []
    for lineno, rec in enumerate(records, start=1):
        src, refs = gold_side(rec)
        if not isinstance(src, str):
            raise located(data_path, lineno, "record has no string 'source' / 'gold_source'")
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise located(data_path, lineno, "record needs a non-empty list of string 'references' / 'gold_references'")
        if per_record and len(refs) != len(per_record[0]):
            raise located(
                data_path,
                lineno,
                f"record has {len(refs)} references but the first record has {len(per_record[0])}; "
                "GLEU and SARI need the same number of references for every sentence",
            )
        sources.append(src)
        per_record.append(refs)
    n_refs = len(per_record[0]) if per_record else 0
    return sources, [[refs[k] for refs in per_record] for k in range(n_refs)]


def dataset_postprocessor(records: list[dict], tokenizer: str | None, data_path: str | os.PathLike) -> Postprocessor:
    """The post-processing of a normalised test set (its records' gold sources and references)."""
    if tokenizer is None:
        return Postprocessor(None)
    sources, refs = _references_by_set(records, data_path) if records else ([], [])
    return Postprocessor(tokenizer, sources, (r for col in refs for r in col))


def score_dataset(
    data: str | os.PathLike,
    hyp: str | os.PathLike,
    metric: str,
    m2: str | os.PathLike | None = None,
    spacy_model: str = DEFAULT_SPACY_MODEL,
    cache: str | os.PathLike | None = None,
    postprocess: str | None = None,
    hyp_out: str | os.PathLike | None = None,
) -> dict:
    """Score a system's answers on a normalised test set: ``{"metric", "score", ...fields}``.

    The answers are post-processed for the set first (``postprocess``: its tokenizer, or None
    for natural-text scoring); ``hyp_out`` receives the hypotheses as scored.
    """
    if metric not in METRICS:
        raise WritingAlpacaError(f"unknown metric {metric!r} (choose from {', '.join(METRICS)})")
    records = read_jsonl(data)
    if not records:
        raise WritingAlpacaError(f"{data}: no test records to score (empty corpus)")
    answers = read_lines_checked(hyp)
    if len(answers) != len(records):
        raise WritingAlpacaError(f"{hyp}: has {len(answers)} lines but {data} has {len(records)} records")
    postprocessor = dataset_postprocessor(records, postprocess, data)
    hyp_lines = postprocessor(answers, str(hyp))
    if hyp_out is not None:
        with _writing(hyp_out, "the scored hypotheses"):
            write_lines(hyp_out, hyp_lines)
    if metric in ("m2", "errant"):
        if m2 is None:
            raise WritingAlpacaError(f"metric {metric} needs --m2 GOLD.m2")
        require_file(m2)
        if metric == "m2":
            fields = M2Scorer(read_m2(m2)).score(hyp_lines, hyp)
        else:
            fields = ErrantScorer(m2, spacy_model=spacy_model, cache_dir=cache).score(hyp_lines, hyp)
    else:
        sources, refs = _references_by_set(records, data)
        fields = (gleu_corpus if metric == "gleu" else sari_corpus)(sources, hyp_lines, refs)
    return {
        "metric": metric,
        "score": fields[HEADLINE[metric]],
        **fields,
        "postprocess": postprocess,
        "answers": postprocessor.answers_form,
    }


# --------------------------------------------------------------------------- CLI


@contextlib.contextmanager
def _writing(path: str | os.PathLike, what: str):
    """Turn an OSError while writing ``path`` (disk full, permissions, ...) into one clear error."""
    try:
        yield
    except OSError as exc:
        reason = "disk full (no space left on device)" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise WritingAlpacaError(f"{path}: cannot write {what}: {reason}") from None


def _print(result: dict) -> int:
    with _writing("<stdout>", "the score"):
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


def _hyp_lines(args: argparse.Namespace, make: Callable[[str | None], Postprocessor]) -> list[str]:
    """``--hyp``'s lines; with ``--dataset``, a system's answers post-processed as that test set's."""
    lines = read_lines_checked(args.hyp)
    if args.dataset is None:
        return lines
    return make(dataset_postprocess(args.dataset, args.config))(lines, args.hyp)


def _cmd_m2(args: argparse.Namespace) -> int:
    gold = read_m2(args.m2)
    scorer = M2Scorer(gold, max_unchanged_words=args.max_unchanged_words, beta=args.beta)
    return _print(scorer.score(_hyp_lines(args, lambda tok: m2_postprocessor(tok, args.m2)), args.hyp))


def _cmd_errant(args: argparse.Namespace) -> int:
    require_file(args.m2)
    sources = read_lines_checked(args.src) if args.src else None
    scorer = ErrantScorer(
        args.m2, sources, spacy_model=args.spacy_model, cache_dir=args.cache, jobs=args.jobs, src_path=args.src
    )
    hyp = _hyp_lines(args, lambda tok: m2_postprocessor(tok, args.m2, scorer.sources if sources is not None else None))
    return _print(scorer.score(hyp, args.hyp))


def _text_columns(args: argparse.Namespace) -> tuple[list[str], list[str], list[list[str]]]:
    cols = read_aligned([args.src, args.hyp, *args.refs])
    src, refs = cols[0], cols[2:]
    hyp = cols[1]
    if args.dataset is not None:
        pp = Postprocessor(dataset_postprocess(args.dataset, args.config), src, (r for col in refs for r in col))
        hyp = pp(hyp, args.hyp)
    return src, hyp, refs


def _cmd_gleu(args: argparse.Namespace) -> int:
    src, hyp, refs = _text_columns(args)
    return _print(gleu_corpus(src, hyp, refs))


def _cmd_sari(args: argparse.Namespace) -> int:
    src, hyp, refs = _text_columns(args)
    return _print(sari_corpus(src, hyp, refs))


def _cmd_dataset(args: argparse.Namespace) -> int:
    result = score_dataset(
        args.data, args.hyp, args.metric, args.m2, args.spacy_model, args.cache, args.postprocess, args.hyp_out
    )
    with _writing(args.out, "the score file"):
        write_json(args.out, result)
    log.info("%s %s = %.4f -> %s", args.hyp, args.metric, result["score"], args.out)
    return 0


def register(subparsers) -> None:
    """Add ``score {m2,errant,gleu,sari,dataset}`` to the CLI."""
    parser = subparsers.add_parser("score", help="score system outputs (M2, ERRANT, GLEU, SARI)")
    sub = parser.add_subparsers(dest="score_command", metavar="METRIC")
    sub.required = True

    p = sub.add_parser("m2", help="M2Scorer 3.2 P/R/F0.5 against a gold M2 file")
    p.add_argument("--hyp", required=True, help="system output, one sentence per line")
    p.add_argument("--m2", required=True, help="gold M2 file")
    p.add_argument("--max-unchanged-words", type=int, default=2)
    p.add_argument("--beta", type=float, default=0.5)
    p.set_defaults(func=_cmd_m2)

    p = sub.add_parser("errant", help="errant_compare P/R/F0.5 of the edits errant_parallel extracts")
    p.add_argument("--hyp", required=True, help="system output, one sentence per line")
    p.add_argument("--m2", required=True, help="gold M2 file")
    p.add_argument("--src", help="tokenised sources (default: the S lines of the gold M2)")
    p.add_argument("--spacy-model", default=DEFAULT_SPACY_MODEL)
    p.add_argument("--cache", help="directory for cached spaCy parses of the sources")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.set_defaults(func=_cmd_errant)

    for name, func, what in (("gleu", _cmd_gleu, "official JFLEG GLEU"), ("sari", _cmd_sari, "EASSE corpus SARI")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--src", required=True, help="source sentences, one per line")
        p.add_argument("--hyp", required=True, help="system output, one sentence per line")
        p.add_argument("--refs", required=True, nargs="+", help="reference files, line-aligned with --src")
        p.set_defaults(func=func)

    for p in sub.choices.values():
        p.add_argument(
            "--dataset",
            metavar="NAME",
            help="--hyp holds a system's raw answers: apply test set NAME's post-processing (config.yaml) first",
        )
        p.add_argument("--config", nargs="+", metavar="FILE", help="config files for --dataset (default: config.yaml)")

    p = sub.add_parser("dataset", help="score one system's answers on a normalised test set and write JSON")
    p.add_argument("--data", required=True, help="normalised test records (JSONL)")
    p.add_argument("--hyp", required=True, help="the system's answers, one line per record")
    p.add_argument(
        "--postprocess", choices=TOKENIZERS, help="the test set's post-processing tokenizer (none: natural text)"
    )
    p.add_argument("--hyp-out", help="write the post-processed hypotheses (what was scored) here")
    p.add_argument("--metric", required=True, choices=METRICS)
    p.add_argument("--m2", help="gold M2 (m2 and errant)")
    p.add_argument("--spacy-model", default=DEFAULT_SPACY_MODEL)
    p.add_argument("--cache", help="directory for cached spaCy parses (errant)")
    p.add_argument("--out", required=True, help="output JSON")
    p.set_defaults(func=_cmd_dataset)
