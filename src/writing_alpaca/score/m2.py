"""M2 F0.5 for CoNLL-2014: an exact, faster re-implementation of M2Scorer 3.2.

The algorithm is that of Dahlmeier & Ng (2012), with every behaviour of the
reference implementation (nusnlp/m2scorer ``scripts/levenshtein.py``) kept,
because a few of them change the counts on real data:

* the edit lattice is the union of the Levenshtein lattices with substitution
  cost 1 and 2 (edges present in both are kept twice, which matters for the
  gold weight ``-len(E)`` and for the epsilon penalties);
* transitive arcs are added Floyd-Warshall style over the sorted vertices,
  keeping a merged edit only if it spans at most ``max_unchanged_words``
  unchanged tokens; transitive no-op arcs are then removed in a single pass
  that skips the arc after each removal;
* edges that match a gold edit weigh ``-len(E)``, others get ``+0.001``
  (insertions are matched against gold insertions from both ends);
* the shortest path is found by Bellman-Ford over the edge list in its order
  (ties keep the first predecessor found); we stop once a pass changes nothing,
  which gives the same result as running all ``|V|-1`` passes;
* per sentence, the annotator whose edits maximise the running corpus F is
  chosen (ties: more correct edits, then fewer proposed + beta^2 * gold), in
  increasing annotator id order.

Speed comes from adjacency lists instead of the O(V^3) triple loop, the early
Bellman-Ford stop, and a cache of per-annotator counts keyed by sentence and
hypothesis tokens (shared by all systems scored in one process).

Bound.  M2Scorer's lattice has no limit: a hypothesis unrelated to its source
makes the transitive closure add an arc between almost every pair of vertices
(a 150-token line against a 17-token source took 112 s and 2 GB; 500 tokens
ran out of memory).  Each sentence therefore gets a budget, checked up front
and counted while building (``MAX_LATTICE_CELLS`` alignment cells,
``MAX_LATTICE_STEPS`` lattice edges + closure steps + Bellman-Ford
relaxations, ``MAX_LATTICE_EDGES`` merged arcs, ``MAX_LATTICE_CHARS``
characters of merged edit text).  Each budget is about twice (cells: four
times) what the costliest sentence of the 54 CoNLL-2014 system outputs in
shared/data/sysout needs, so every real output scores exactly as with
M2Scorer (tests/test_score_m2.py, tests/test_faults_scoring.py).  A sentence over budget is
scored by the fallback: the hypothesis proposes **one edit covering the
changed span** (the sentence minus the longest common token prefix and
suffix of source and hypothesis), matched against each annotator's gold edits
as usual.  This is what M2Scorer itself returns when the changed span holds
no unchanged token (merged arcs then always beat chains of unit edits), e.g.
for a hypothesis unrelated to its source; a warning names the hypothesis file
and the 1-based sentence number, and the result lists such sentences under
``bounded_sentences``.  Worst case per sentence (BENCHMARKS.md,
``benchmarks/bench_m2_length.py``, 2-core VM): about 10 s and 500 MB (measured
at most 7 s and 360 MB), freed after the sentence, so a 1,312-line file takes
at most about 1,312 x 10 s whatever it holds (docs/PAPER.md, "M2 scorer bound").
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import WritingAlpacaError, located
from ..progress import Progress
from .common import BETA, BOM, EditCounts, check_m2_span, read_text_checked

log = logging.getLogger(__name__)

EPSILON = 0.001
INF = float("inf")

# An edit of the lattice: (type, start, end, original, correction, n_unchanged)
LatticeEdit = tuple[str, int, int, str, str, int]
# A gold edit: (start, end, original, corrections)
GoldEdit = tuple[int, int, str, list[str]]
Vertex = tuple[int, int]
Edge = tuple[Vertex, Vertex]

#: per-sentence budget of the edit lattice (module docstring, "Bound").  The costliest
#: sentence of the 54 CoNLL-2014 system outputs in shared/data/sysout (seeda_BART.txt
#: sentence 333: 227 source tokens, 95 hypothesis tokens) needs 62,244 cells (of
#: jd18's sentence 333), 4.35 M steps, 249 k arcs and 70 M characters: about half of each.
MAX_LATTICE_CELLS = 250_000  # (len(source) + 1) * (len(hypothesis) + 1), checked up front
MAX_LATTICE_STEPS = 9_000_000  # lattice edges + closure steps + Bellman-Ford relaxations
MAX_LATTICE_EDGES = 500_000  # arcs of the alignment lattices and transitive arcs
MAX_LATTICE_CHARS = 140_000_000  # characters of merged edit text


class LatticeBudgetExceeded(Exception):
    """The edit lattice of one sentence went over its budget (internal: triggers the fallback)."""


class _Budget:
    __slots__ = ("steps", "edges", "chars", "max_steps", "max_edges", "max_chars")

    def __init__(self, max_steps: int, max_edges: int, max_chars: int):
        self.steps = self.edges = self.chars = 0
        self.max_steps, self.max_edges, self.max_chars = max_steps, max_edges, max_chars

    def step(self, n: int) -> None:
        self.steps += n
        if self.steps > self.max_steps:
            raise LatticeBudgetExceeded(f"more than {self.max_steps} lattice steps")

    def edge(self, ed: LatticeEdit) -> None:
        self.edges += 1
        self.chars += len(ed[3]) + len(ed[4])
        if self.edges > self.max_edges:
            raise LatticeBudgetExceeded(f"more than {self.max_edges} lattice arcs")
        if self.chars > self.max_chars:
            raise LatticeBudgetExceeded(f"more than {self.max_chars} characters of merged edits")


def _unbounded() -> _Budget:
    return _Budget(INF, INF, INF)  # type: ignore[arg-type]


@dataclass
class M2Sentence:
    """One source sentence of a gold M2 file with its gold edits per annotator."""

    source: str
    annotators: dict[int, list[GoldEdit]] = field(default_factory=dict)
    lineno: int = 0


# --------------------------------------------------------------------------- gold M2


def parse_m2(text: str, path: str | os.PathLike = "<m2>") -> list[M2Sentence]:
    """Parse gold M2 text the way M2Scorer's ``load_annotation`` does, refusing malformed input.

    Blocks are separated by blank lines; a block's ``S`` line gives the source,
    ``A`` lines the edits (``noop`` edits register their annotator without an
    edit); ``-NONE-`` corrections mean deletion and ``||`` separates alternative
    corrections.  A sentence without any ``A`` line gets one annotator (0) with
    no edits.  ``I`` lines are skipped, as by M2Scorer.  Refused, with the file
    and line: a block not starting with ``S``, a second ``S`` line in a block,
    any other line that is not an ``A`` line,
    and edits with negative offsets (other than ``noop``'s ``-1 -1``), start >
    end or offsets past the sentence's end.  A leading UTF-8 BOM is dropped
    (:func:`read_m2` warns).  (The test records' references are built by the
    strict reader :func:`writing_alpaca.data.read_annotated_m2`.)
    """
    sentences: list[M2Sentence] = []
    block: list[tuple[int, str]] = []
    if text.startswith(BOM):
        text = text[1:]
    lines = text.splitlines()
    for lineno, line in enumerate(lines + [""], start=1):
        if line.strip() == "":
            if block:
                sentences.append(_parse_block(block, path))
                block = []
            continue
        block.append((lineno, line))
    return sentences


def _parse_block(block: list[tuple[int, str]], path) -> M2Sentence:
    first_lineno, first = block[0]
    if not first.startswith("S "):
        raise located(path, first_lineno, f"malformed M2: a block must start with an 'S ' line, got {first[:40]!r}")
    source = first[2:].strip()
    tokens = source.split()
    n_tokens = len(tokens)
    annotations: dict[int, list[GoldEdit]] = {}
    for lineno, line in block[1:]:
        if line.startswith("S "):
            raise located(
                path,
                lineno,
                "malformed M2: a second 'S ' line in one block (sentences must be separated by a blank line)",
            )
        if line.startswith("I "):  # skipped by M2Scorer's load_annotation too
            continue
        if not line.startswith("A "):
            raise located(path, lineno, f"malformed M2: expected an 'A ' edit line, got {line[:40]!r}")
        fields = line[2:].split("|||")
        if len(fields) < 6:
            raise located(path, lineno, "malformed M2 edit: expected 6 '|||'-separated fields")
        try:
            span = fields[0].split()
            if len(span) != 2:
                raise ValueError
            start, end = int(span[0]), int(span[1])
            annotator = int(fields[5])
        except (ValueError, IndexError):
            raise located(path, lineno, "malformed M2 edit: bad token offsets or annotator id") from None
        if fields[1] == "noop":  # registers its annotator, proposes nothing
            annotations.setdefault(annotator, [])
            continue
        check_m2_span(path, lineno, start, end, n_tokens)
        corrections = [c.strip() if c != "-NONE-" else "" for c in fields[2].split("||")]
        original = " ".join(tokens[start:end])
        annotations.setdefault(annotator, []).append((start, end, original, corrections))
    per_ann = {ann: edits for ann, edits in sorted(annotations.items())}
    if not per_ann:
        per_ann = {0: []}
    return M2Sentence(source, per_ann, first_lineno)


def read_m2(path: str | os.PathLike) -> list[M2Sentence]:
    """Read and parse a gold M2 file (CRLF accepted; a leading BOM is dropped with a warning).

    A file without any sentence is refused.
    """
    sentences = parse_m2(read_text_checked(path), path)
    if not sentences:
        raise WritingAlpacaError(f"{path}: the gold M2 file holds no sentences")
    return sentences


# --------------------------------------------------------------------------- lattice


def _lattice_edges(
    src: Sequence[str], hyp: Sequence[str], sub_cost: int, limit: float = INF
) -> list[tuple[Edge, LatticeEdit]]:
    """Edges of the optimal-alignment lattice (backpointers reachable from the end cell).

    More than ``limit`` edges raise :class:`LatticeBudgetExceeded`.
    """
    n, m = len(src), len(hyp)
    # dist[i][j]; backpointer codes per cell: bit 1 = diagonal, 2 = deletion, 4 = insertion
    prev = list(range(m + 1))
    codes = [[0] * (m + 1) for _ in range(n + 1)]
    codes[0] = [0] + [4] * m
    for i in range(1, n + 1):
        cur = [i] + [0] * m
        row = codes[i]
        row[0] = 2
        s = src[i - 1]
        for j in range(1, m + 1):
            sub = prev[j - 1] if s == hyp[j - 1] else prev[j - 1] + sub_cost
            dele = prev[j] + 1
            ins = cur[j - 1] + 1
            best = sub if sub < dele else dele
            if ins < best:
                best = ins
            cur[j] = best
            row[j] = (1 if sub == best else 0) | (2 if dele == best else 0) | (4 if ins == best else 0)
        prev = cur
    edges: list[tuple[Edge, LatticeEdit]] = []
    seen = {(n, m)}
    stack = [(n, m)]
    while stack:
        if len(edges) > limit:
            raise LatticeBudgetExceeded(f"more than {limit} alignment-lattice edges")
        i, j = v = stack.pop()
        code = codes[i][j]
        if code & 1:
            a, b = src[i - 1], hyp[j - 1]
            e = ("noop", i - 1, i, a, b, 1) if a == b else ("sub", i - 1, i, a, b, 0)
            edges.append((((i - 1, j - 1), v), e))
            if (i - 1, j - 1) not in seen:
                seen.add((i - 1, j - 1))
                stack.append((i - 1, j - 1))
        if code & 2:
            edges.append((((i - 1, j), v), ("del", i - 1, i, src[i - 1], "", 0)))
            if (i - 1, j) not in seen:
                seen.add((i - 1, j))
                stack.append((i - 1, j))
        if code & 4:
            start = i  # M2Scorer inserts "from the beginning" in row 0: start 0 == i there too
            edges.append((((i, j - 1), v), ("ins", start, start, "", hyp[j - 1], 0)))
            if (i, j - 1) not in seen:
                seen.add((i, j - 1))
                stack.append((i, j - 1))
    return edges


def _merge_edits(e1: LatticeEdit, e2: LatticeEdit) -> LatticeEdit:
    """Concatenate two adjacent lattice edits (M2Scorer's ``merge_edits``)."""
    t1, t2 = e1[0], e2[0]
    if t1 == t2 and t1 in ("ins", "del", "noop"):
        typ = t1
    else:
        typ = "sub"
    # insertions contribute no original text, deletions no correction text
    if t2 == "ins":
        orig = e1[3]
    elif t1 == "ins":
        orig = e2[3]
    else:
        orig = e1[3] + " " + e2[3]
    if t2 == "del":
        corr = e1[4]
    elif t1 == "del":
        corr = e2[4]
    else:
        corr = e1[4] + " " + e2[4]
    return (typ, e1[1], e2[2], orig, corr, e1[5] + e2[5])


@dataclass
class _Graph:
    vertices: list[Vertex]
    edges: list[Edge]  # in M2Scorer's order, duplicates kept
    dist: dict[Edge, float]
    edits: dict[Edge, LatticeEdit]


def build_graph(
    src: Sequence[str], hyp: Sequence[str], max_unchanged_words: int = 2, budget: _Budget | None = None
) -> _Graph:
    """The merged lattice with transitive arcs, exactly as M2Scorer builds it.

    With a ``budget`` (see :func:`sentence_stats`), :class:`LatticeBudgetExceeded`
    is raised as soon as the lattice goes over it.
    """
    if budget is None:
        budget = _unbounded()
    e1 = _lattice_edges(src, hyp, 1, budget.max_edges)
    e2 = _lattice_edges(src, hyp, 2, budget.max_edges - len(e1))
    budget.step(len(e1) + len(e2))
    budget.edges += len(e1) + len(e2)
    edits: dict[Edge, LatticeEdit] = {}
    for edge, ed in e1:
        edits[edge] = ed
    for edge, ed in e2:
        edits.setdefault(edge, ed)
    edges = sorted([edge for edge, _ in e1] + [edge for edge, _ in e2])
    vset = {v for edge in edges for v in edge}
    if not vset:
        vset = {(len(src), len(hyp))}
    vertices = sorted(vset)
    dist: dict[Edge, float] = {edge: 1 for edge in edits}
    out_nb: dict[Vertex, set[Vertex]] = {v: set() for v in vertices}
    in_nb: dict[Vertex, set[Vertex]] = {v: set() for v in vertices}
    for a, b in edits:
        out_nb[a].add(b)
        in_nb[b].add(a)
    # transitive arcs (Floyd-Warshall order: k outer over sorted vertices)
    for vk in vertices:
        ins = sorted(in_nb[vk])
        outs = sorted(out_nb[vk])
        if not ins or not outs:
            continue
        budget.step(len(ins) * len(outs))
        for vi in ins:
            eik = edits[(vi, vk)]
            dik = dist[(vi, vk)]
            for vj in outs:
                ekj = edits[(vk, vj)]
                d = dik + dist[(vk, vj)]
                if d < dist.get((vi, vj), INF):
                    eij = _merge_edits(eik, ekj)
                    if eij[5] <= max_unchanged_words:
                        budget.edge(eij)
                        edge = (vi, vj)
                        edges.append(edge)
                        dist[edge] = d
                        edits[edge] = eij
                        out_nb[vi].add(vj)
                        in_nb[vj].add(vi)
    # remove transitive noop arcs; like M2Scorer's remove-while-iterating, the arc
    # following a removed one is not examined
    idx = 0
    while idx < len(edges):
        edge = edges[idx]
        ed = edits.get(edge)
        if ed is not None and ed[0] == "noop" and dist[edge] > 1:
            edges.remove(edge)
            dist[edge] = INF
            del edits[edge]
        idx += 1
    return _Graph(vertices, edges, dist, edits)


def _matches(ed: LatticeEdit, gold: GoldEdit) -> bool:
    return ed[1] == gold[0] and ed[2] == gold[1] and ed[3] == gold[2] and ed[4] in gold[3]


def _set_weights(g: _Graph, gold_edits: list[GoldEdit]) -> dict[Edge, float]:
    """Edge weights for one annotator (M2Scorer's ``set_weights``)."""
    weights = dict(g.dist)
    gold_weight = -len(g.edges)
    edits = g.edits
    by_span: dict[tuple[int, int], list[Edge]] = {}
    golds: dict[tuple[int, int], list[GoldEdit]] = {}
    for edge in g.edges:
        ed = edits[edge]
        by_span.setdefault((ed[1], ed[2]), []).append(edge)
    for gold in gold_edits:
        golds.setdefault((gold[0], gold[1]), []).append(gold)
    for span in sorted(by_span):
        span_edges = sorted(by_span[span])
        span_golds = golds.get(span, [])
        if span[0] != span[1]:  # deletion or substitution
            for edge in span_edges:
                ed = edits[edge]
                if any(_matches(ed, gold) for gold in span_golds):
                    weights[edge] = gold_weight
                elif ed[0] != "noop":
                    weights[edge] += EPSILON
            continue
        # insertions: match from both ends so that repeated insertions pair up in order
        lptr, rptr = 0, len(span_edges) - 1
        cur = lptr
        g_lptr, g_rptr = 0, len(span_golds) - 1
        while lptr <= rptr:
            edge = span_edges[cur]
            ed = edits[edge]
            from_left = cur == lptr
            order = range(g_lptr, g_rptr + 1) if from_left else range(g_rptr, g_lptr - 1, -1)
            matched = False
            for gi in order:
                if _matches(ed, span_golds[gi]):
                    matched = True
                    weights[edge] = gold_weight
                    if from_left:
                        g_lptr = gi + 1
                    else:
                        g_rptr = gi - 1
                    break
            if not matched and ed[0] != "noop":
                weights[edge] += EPSILON
            if matched:
                if from_left:
                    lptr += 1
                    while lptr < len(span_edges) and span_edges[lptr][0] != span_edges[cur][1]:
                        weights[span_edges[lptr]] += EPSILON
                        lptr += 1
                    cur = lptr
                else:
                    rptr -= 1
                    while rptr >= 0 and span_edges[rptr][1] != span_edges[cur][0]:
                        weights[span_edges[rptr]] += EPSILON
                        rptr -= 1
                    cur = rptr
            elif from_left:
                lptr += 1
                cur = rptr
            else:
                rptr -= 1
                cur = lptr
    return weights


def _best_edit_seq(
    g: _Graph, weights: dict[Edge, float], budget: _Budget | None = None
) -> list[tuple[int, int, str, str]]:
    """Bellman-Ford shortest path from (0, 0) to the last vertex; its non-noop edits (last first)."""
    if budget is None:
        budget = _unbounded()
    best = {v: INF for v in g.vertices}
    best[(0, 0)] = 0
    back: dict[Vertex, Vertex] = {}
    edge_w = [(a, b, weights[(a, b)]) for a, b in g.edges]
    for _ in range(len(g.vertices) - 1):
        budget.step(len(edge_w))
        changed = False
        for a, b, w in edge_w:
            d = best[a] + w
            if d < best[b]:
                best[b] = d
                back[b] = a
                changed = True
        if not changed:
            break
    seq = []
    v = g.vertices[-1]
    while v in back:
        u = back[v]
        ed = g.edits[(u, v)]
        if ed[0] != "noop":
            seq.append((ed[1], ed[2], ed[3], ed[4]))
        v = u
    return seq


def _count_correct(seq: list[tuple[int, int, str, str]], gold_edits: list[GoldEdit]) -> int:
    """M2Scorer's ``matchSeq``: in-order matching of proposed against gold edits."""
    correct = 0
    last = 0
    for e in reversed(seq):
        for i in range(last, len(gold_edits)):
            g = gold_edits[i]
            if e[0] == g[0] and e[1] == g[1] and e[2] == g[2] and e[3] in g[3]:
                correct += 1
                last = i + 1
    return correct


def sentence_stats(
    source: str,
    hypothesis: str,
    annotators: dict[int, list[GoldEdit]],
    max_unchanged_words: int = 2,
    bounded: bool = True,
) -> dict[int, tuple[int, int, int]]:
    """(correct, proposed, gold) of one hypothesis against each annotator.

    With ``bounded`` (the default) a sentence over the lattice budget is scored
    by the fallback (:func:`fallback_stats`); :func:`bounded_sentence_stats`
    also says whether that happened.
    """
    if not bounded:
        return _lattice_stats(source.split(), hypothesis.split(), annotators, max_unchanged_words, None)
    return bounded_sentence_stats(source, hypothesis, annotators, max_unchanged_words)[0]


def bounded_sentence_stats(
    source: str, hypothesis: str, annotators: dict[int, list[GoldEdit]], max_unchanged_words: int = 2
) -> tuple[dict[int, tuple[int, int, int]], str | None]:
    """Per-annotator counts within the lattice budget, and why the fallback was used (None if not)."""
    src = source.split()
    hyp = hypothesis.split()
    cells = (len(src) + 1) * (len(hyp) + 1)
    if cells > MAX_LATTICE_CELLS:
        reason = f"{len(src)} x {len(hyp)} tokens is more than {MAX_LATTICE_CELLS} alignment cells"
        return fallback_stats(src, hyp, annotators), reason
    budget = _Budget(MAX_LATTICE_STEPS, MAX_LATTICE_EDGES, MAX_LATTICE_CHARS)
    try:
        return _lattice_stats(src, hyp, annotators, max_unchanged_words, budget), None
    except LatticeBudgetExceeded as exc:
        return fallback_stats(src, hyp, annotators), str(exc)


def _lattice_stats(
    src: list[str],
    hyp: list[str],
    annotators: dict[int, list[GoldEdit]],
    max_unchanged_words: int,
    budget: _Budget | None,
) -> dict[int, tuple[int, int, int]]:
    if src == hyp:
        return {ann: (0, 0, len(gold)) for ann, gold in annotators.items()}
    graph = build_graph(src, hyp, max_unchanged_words, budget)
    out: dict[int, tuple[int, int, int]] = {}
    done: dict[tuple, tuple[int, int, int]] = {}
    for ann, gold in annotators.items():
        key = tuple((g[0], g[1], g[2], tuple(g[3])) for g in gold)
        if key not in done:
            seq = _best_edit_seq(graph, _set_weights(graph, gold), budget)
            done[key] = (_count_correct(seq, gold), len(seq), len(gold))
        out[ann] = done[key]
    return out


def fallback_edit(src: Sequence[str], hyp: Sequence[str]) -> tuple[int, int, str, str] | None:
    """The fallback's one proposed edit: the changed span, i.e. the sentence minus the common
    token prefix and suffix of source and hypothesis (None when they are equal)."""
    if list(src) == list(hyp):
        return None
    pre = 0
    limit = min(len(src), len(hyp))
    while pre < limit and src[pre] == hyp[pre]:
        pre += 1
    suf = 0
    while suf < limit - pre and src[len(src) - 1 - suf] == hyp[len(hyp) - 1 - suf]:
        suf += 1
    return (pre, len(src) - suf, " ".join(src[pre : len(src) - suf]), " ".join(hyp[pre : len(hyp) - suf]))


def fallback_stats(
    src: Sequence[str], hyp: Sequence[str], annotators: dict[int, list[GoldEdit]]
) -> dict[int, tuple[int, int, int]]:
    """Counts of the bounded fallback: the hypothesis proposes :func:`fallback_edit` only."""
    edit = fallback_edit(src, hyp)
    seq = [] if edit is None else [edit]
    return {ann: (_count_correct(seq, gold), len(seq), len(gold)) for ann, gold in annotators.items()}


class M2Scorer:
    """Scores hypotheses against one gold M2 file; caches sentence results across systems."""

    def __init__(self, gold: Sequence[M2Sentence], max_unchanged_words: int = 2, beta: float = BETA):
        self.gold = list(gold)
        self.max_unchanged_words = max_unchanged_words
        self.beta = beta
        self._cache: dict[tuple[int, tuple[str, ...]], tuple[dict[int, tuple[int, int, int]], str | None]] = {}
        #: 1-based numbers of the sentences of the last scored file that used the fallback
        self.bounded_sentences: list[int] = []

    def counts(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike = "<hypothesis>") -> EditCounts:
        if not self.gold:
            raise WritingAlpacaError("the gold M2 holds no sentences (empty corpus)")
        if not hyp_lines:
            raise WritingAlpacaError(f"{hyp_path}: the hypothesis file is empty (no sentences to score)")
        if len(hyp_lines) != len(self.gold):
            raise WritingAlpacaError(
                f"{hyp_path}: has {len(hyp_lines)} lines but the gold M2 has {len(self.gold)} sentences"
            )
        beta2 = self.beta * self.beta
        tot_c = tot_p = tot_g = 0.0
        per_sentence: list[tuple[int, int, int]] = []
        progress = Progress(f"m2 {hyp_path}", len(self.gold), unit="sentences", log=log)
        bounded: list[int] = []
        for idx, (sent, line) in enumerate(zip(self.gold, hyp_lines)):
            toks = tuple(line.split())
            key = (idx, toks)
            cached = self._cache.get(key)
            if cached is None:
                cached = bounded_sentence_stats(sent.source, " ".join(toks), sent.annotators, self.max_unchanged_words)
                self._cache[key] = cached
            stats, reason = cached
            if reason is not None:
                bounded.append(idx + 1)
                log.warning(
                    "%s: sentence %d: the M2 edit lattice is over its budget (%s); scored as one edit covering "
                    "the changed span (writing_alpaca.score.m2, 'Bound')",
                    hyp_path,
                    idx + 1,
                    reason,
                )
            best_f, best_c, best_p, best_g = -1.0, -1.0, INF, INF
            chosen = (0, 0, 0)
            for ann in sorted(stats):
                c, p, g = stats[ann]
                lc, lp, lg = tot_c + c, tot_p + p, tot_g + g
                denom = beta2 * lg + lp
                f = (1.0 + beta2) * lc / denom if denom else (1.0 if lc == 0 else 0.0)
                if (
                    best_f < f
                    or (best_f == f and best_c < lc)
                    or (best_f == f and best_c == lc and best_p + beta2 * best_g > lp + beta2 * lg)
                ):
                    best_f, best_c, best_p, best_g = f, lc, lp, lg
                    chosen = (c, p, g)
            tot_c += chosen[0]
            tot_p += chosen[1]
            tot_g += chosen[2]
            per_sentence.append((chosen[0], chosen[1] - chosen[0], chosen[2] - chosen[0]))
            progress.update()
        progress.close()
        self.bounded_sentences = bounded
        tp, proposed, gold = int(tot_c), int(tot_p), int(tot_g)
        return EditCounts(tp, proposed - tp, gold - tp, per_sentence)

    def score(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike = "<hypothesis>") -> dict:
        """P/R/F and counts; ``bounded_sentences`` (1-based) is added when any sentence used the fallback."""
        result = self.counts(hyp_lines, hyp_path).result(self.beta)
        if self.bounded_sentences:
            result["bounded_sentences"] = list(self.bounded_sentences)
        return result


def m2_score(
    hyp_lines: Sequence[str],
    gold: str | os.PathLike | Sequence[M2Sentence],
    max_unchanged_words: int = 2,
    beta: float = BETA,
    per_sentence: bool = False,
) -> dict:
    """M2Scorer 3.2 precision/recall/F (percentages) plus tp/fp/fn.

    ``gold`` is a path to a gold M2 file or its parsed sentences (``read_m2``).
    With ``per_sentence=True`` the result also holds ``per_sentence``: the
    (tp, fp, fn) of the annotator chosen for each sentence.
    """
    sentences = read_m2(gold) if isinstance(gold, (str, os.PathLike)) else gold
    scorer = M2Scorer(sentences, max_unchanged_words, beta)
    counts = scorer.counts(hyp_lines)
    result = counts.result(beta)
    if scorer.bounded_sentences:
        result["bounded_sentences"] = list(scorer.bounded_sentences)
    if per_sentence:
        result["per_sentence"] = [list(t) for t in counts.per_sentence]
    return result
