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
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import WritingAlpacaError, located
from ..io import read_text
from ..progress import Progress
from .common import BETA, EditCounts

log = logging.getLogger(__name__)

EPSILON = 0.001
INF = float("inf")

# An edit of the lattice: (type, start, end, original, correction, n_unchanged)
LatticeEdit = tuple[str, int, int, str, str, int]
# A gold edit: (start, end, original, corrections)
GoldEdit = tuple[int, int, str, list[str]]
Vertex = tuple[int, int]
Edge = tuple[Vertex, Vertex]


@dataclass
class M2Sentence:
    """One source sentence of a gold M2 file with its gold edits per annotator."""

    source: str
    annotators: dict[int, list[GoldEdit]] = field(default_factory=dict)
    lineno: int = 0


# --------------------------------------------------------------------------- gold M2


def parse_m2(text: str, path: str | os.PathLike = "<m2>") -> list[M2Sentence]:
    """Parse gold M2 text the way M2Scorer's ``load_annotation`` does.

    Blocks are separated by blank lines; a block's ``S`` line(s) give the
    source, ``A`` lines the edits (``noop`` edits and edits beyond the sentence
    are dropped but still register their annotator); ``-NONE-`` corrections
    mean deletion and ``||`` separates alternative corrections.  A sentence
    without any ``A`` line gets one annotator (0) with no edits.  (The test records'
    references are built by the strict reader :func:`writing_alpaca.data.read_annotated_m2`.)
    """
    sentences: list[M2Sentence] = []
    block: list[tuple[int, str]] = []
    lines = text.splitlines()
    for lineno, line in enumerate(lines + [""], start=1):
        if line.strip() == "":
            if block:
                sentences.extend(_parse_block(block, path))
                block = []
            continue
        block.append((lineno, line))
    return sentences


def _parse_block(block: list[tuple[int, str]], path) -> list[M2Sentence]:
    first_lineno, first = block[0]
    if not first.startswith("S "):
        raise located(path, first_lineno, "malformed M2: a block must start with an 'S ' line")
    sources = [line[2:].strip() for _, line in block if line.startswith("S ")]
    all_tokens = " ".join(sources).split()
    annotations: dict[int, list[GoldEdit]] = {}
    for lineno, line in block[1:]:
        if line.startswith("S ") or line.startswith("I "):
            continue
        if not line.startswith("A "):
            raise located(path, lineno, f"malformed M2: expected an 'A ' edit line, got {line[:40]!r}")
        fields = line[2:].split("|||")
        if len(fields) < 6:
            raise located(path, lineno, "malformed M2 edit: expected 6 '|||'-separated fields")
        try:
            span = fields[0].split()
            start, end = int(span[0]), int(span[1])
            annotator = int(fields[5])
        except (ValueError, IndexError):
            raise located(path, lineno, "malformed M2 edit: bad token offsets or annotator id") from None
        if fields[1] == "noop":
            start = end = -1
        corrections = [c.strip() if c != "-NONE-" else "" for c in fields[2].split("||")]
        original = " ".join(all_tokens[start:end])
        annotations.setdefault(annotator, []).append((start, end, original, corrections))
    out = []
    offset = 0
    for source in sources:
        offset += len(source.split())
        per_ann = {
            ann: [e for e in edits if 0 <= e[0] <= offset and 0 <= e[1] <= offset]
            for ann, edits in sorted(annotations.items())
        }
        if not per_ann:
            per_ann = {0: []}
        out.append(M2Sentence(source, per_ann, first_lineno))
    return out


def read_m2(path: str | os.PathLike) -> list[M2Sentence]:
    """Read and parse a gold M2 file (CRLF accepted)."""
    return parse_m2(read_text(path), path)


# --------------------------------------------------------------------------- lattice


def _lattice_edges(src: Sequence[str], hyp: Sequence[str], sub_cost: int) -> list[tuple[Edge, LatticeEdit]]:
    """Edges of the optimal-alignment lattice (backpointers reachable from the end cell)."""
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


def build_graph(src: Sequence[str], hyp: Sequence[str], max_unchanged_words: int = 2) -> _Graph:
    """The merged lattice with transitive arcs, exactly as M2Scorer builds it."""
    e1 = _lattice_edges(src, hyp, 1)
    e2 = _lattice_edges(src, hyp, 2)
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
        for vi in ins:
            eik = edits[(vi, vk)]
            dik = dist[(vi, vk)]
            for vj in outs:
                ekj = edits[(vk, vj)]
                d = dik + dist[(vk, vj)]
                if d < dist.get((vi, vj), INF):
                    eij = _merge_edits(eik, ekj)
                    if eij[5] <= max_unchanged_words:
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


def _best_edit_seq(g: _Graph, weights: dict[Edge, float]) -> list[tuple[int, int, str, str]]:
    """Bellman-Ford shortest path from (0, 0) to the last vertex; its non-noop edits (last first)."""
    best = {v: INF for v in g.vertices}
    best[(0, 0)] = 0
    back: dict[Vertex, Vertex] = {}
    edge_w = [(a, b, weights[(a, b)]) for a, b in g.edges]
    for _ in range(len(g.vertices) - 1):
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
    source: str, hypothesis: str, annotators: dict[int, list[GoldEdit]], max_unchanged_words: int = 2
) -> dict[int, tuple[int, int, int]]:
    """(correct, proposed, gold) of one hypothesis against each annotator."""
    src = source.split()
    hyp = hypothesis.split()
    if src == hyp:
        return {ann: (0, 0, len(gold)) for ann, gold in annotators.items()}
    graph = build_graph(src, hyp, max_unchanged_words)
    out: dict[int, tuple[int, int, int]] = {}
    done: dict[tuple, tuple[int, int, int]] = {}
    for ann, gold in annotators.items():
        key = tuple((g[0], g[1], g[2], tuple(g[3])) for g in gold)
        if key not in done:
            seq = _best_edit_seq(graph, _set_weights(graph, gold))
            done[key] = (_count_correct(seq, gold), len(seq), len(gold))
        out[ann] = done[key]
    return out


class M2Scorer:
    """Scores hypotheses against one gold M2 file; caches sentence results across systems."""

    def __init__(self, gold: Sequence[M2Sentence], max_unchanged_words: int = 2, beta: float = BETA):
        self.gold = list(gold)
        self.max_unchanged_words = max_unchanged_words
        self.beta = beta
        self._cache: dict[tuple[int, tuple[str, ...]], dict[int, tuple[int, int, int]]] = {}

    def counts(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike = "<hypothesis>") -> EditCounts:
        if len(hyp_lines) != len(self.gold):
            raise WritingAlpacaError(
                f"{hyp_path}: has {len(hyp_lines)} lines but the gold M2 has {len(self.gold)} sentences"
            )
        beta2 = self.beta * self.beta
        tot_c = tot_p = tot_g = 0.0
        per_sentence: list[tuple[int, int, int]] = []
        progress = Progress(f"m2 {hyp_path}", len(self.gold), unit="sentences", log=log)
        for idx, (sent, line) in enumerate(zip(self.gold, hyp_lines)):
            toks = tuple(line.split())
            key = (idx, toks)
            stats = self._cache.get(key)
            if stats is None:
                stats = sentence_stats(sent.source, " ".join(toks), sent.annotators, self.max_unchanged_words)
                self._cache[key] = stats
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
        tp, proposed, gold = int(tot_c), int(tot_p), int(tot_g)
        return EditCounts(tp, proposed - tp, gold - tp, per_sentence)

    def score(self, hyp_lines: Sequence[str], hyp_path: str | os.PathLike = "<hypothesis>") -> dict:
        return self.counts(hyp_lines, hyp_path).result(self.beta)


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
    counts = M2Scorer(sentences, max_unchanged_words, beta).counts(hyp_lines)
    result = counts.result(beta)
    if per_sentence:
        result["per_sentence"] = [list(t) for t in counts.per_sentence]
    return result
