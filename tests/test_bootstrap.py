"""Tests of `writing-alpaca analyse bootstrap` (paired bootstrap resampling, writing_alpaca.bootstrap).

Real outputs come from ../shared/data/sysout (CoNLL-2014 submissions, JFLEG and TurkCorpus
systems; see its PROVENANCE.md).  Exactness is checked against the scorers themselves: the
score of a bootstrap sample must equal the official scorer run on the resampled corpus.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pytest

from _score_fixtures import SYSOUT, sysout
from writing_alpaca import analyse, bootstrap
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.score import M2Scorer, gleu_corpus, read_m2, sari_corpus, sari_from_stats, score_dataset
from writing_alpaca.score.common import prf
from writing_alpaca.score.gleu import corpus_gleu_from_stats

# --------------------------------------------------------------------------------------
# Fixtures: normalised test sets (results/data/test/{dataset}.jsonl) built from shared data
# --------------------------------------------------------------------------------------


def write_jsonl(path: Path, sources: list[str], references: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i, src in enumerate(sources):
            refs = [r[i] for r in references]
            fh.write(json.dumps({"id": f"x-{i}", "task": "t", "source": src, "references": refs}) + "\n")
    return path


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bootstrap")
    conll_src = lines(sysout("conll14", "refs", "source.txt"))
    write_jsonl(root / "conll14.jsonl", conll_src, [])
    jfleg = sysout("jfleg-test", "refs")
    write_jsonl(root / "jfleg.jsonl", lines(jfleg / "test.src"), [lines(jfleg / f"test.ref{k}") for k in range(4)])
    turk = sysout("turkcorpus", "refs")
    write_jsonl(
        root / "turk.jsonl",
        lines(turk / "test.truecase.detok.orig"),
        [lines(turk / f"test.truecase.detok.simp.{k}") for k in range(8)],
    )
    return root


# paths only (collection must not touch the data): the tests that read them are marked real_data
CONLL_GOLD = SYSOUT / "conll14" / "refs" / "official-2014.combined.m2"
CONLL = {name: SYSOUT / "conll14" / f"st14_{name}.txt" for name in ("CAMB", "CUUI", "AMU", "INPUT")}
JFLEG = {name: SYSOUT / "jfleg-test" / f"{name}.txt" for name in ("jd18_transformer-ens", "jg16_sparse+wikilm")}
TURK = {name: SYSOUT / "turkcorpus" / f"{name}.txt" for name in ("ACCESS", "DMASS-DCSS", "PBMT-R")}


# --------------------------------------------------------------------------------------
# Vectorised corpus metrics agree with the scorers' own formulas
# --------------------------------------------------------------------------------------


def test_f_beta_matches_prf_including_empty_counts():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, size=(500, 3)).astype(float)
    counts[:4] = [[0, 0, 0], [0, 0, 3], [0, 2, 0], [2, 0, 0]]  # the conventions' corner cases
    got = bootstrap.f_beta_from_counts(counts)
    want = [100 * prf(*row)[2] for row in counts.tolist()]
    assert got == pytest.approx(want, abs=1e-12)
    # nothing proposed and nothing to find: P = R = 1; no proposal but gold edits: R = 0;
    # only wrong proposals: P = 0; only right ones: P = R = 1
    assert got[:4].tolist() == [100.0, 0.0, 0.0, 100.0]


def test_sari_from_sums_matches_sari_from_stats():
    rng = np.random.default_rng(1)
    stats = rng.integers(0, 6, size=(300, 4, 9))
    stats[:20, :, 1] = 0  # no added n-grams: P = 0
    got = bootstrap.sari_from_sums(stats.astype(float))
    assert got == pytest.approx([sari_from_stats(s)["sari"] for s in stats], abs=1e-9)


def test_gleu_from_sums_matches_corpus_gleu_from_stats():
    rng = np.random.default_rng(2)
    stats = rng.integers(1, 30, size=(200, 10))
    stats[:10, 4] = 0  # a zero statistic gives GLEU 0
    got = bootstrap.gleu_from_sums(stats.astype(float)[:, None, :])  # one reference sampling each
    assert got == pytest.approx([100 * corpus_gleu_from_stats(s) for s in stats.tolist()], abs=1e-9)
    assert np.all(got[:10] == 0.0)


# --------------------------------------------------------------------------------------
# Bootstrap samples are the scorer on the resampled corpus (brute force, a few samples)
# --------------------------------------------------------------------------------------


@pytest.mark.real_data
def test_sari_sample_equals_sari_of_the_resampled_corpus(data_dir):
    metric, n = bootstrap.load_metric("sari", data_dir / "turk.jsonl")
    hyps = lines(TURK["ACCESS"])
    stats = metric.statistics(hyps, TURK["ACCESS"])
    indices = bootstrap.resample_indices(n, 4, seed=7)
    scores = bootstrap.bootstrap_scores(metric, stats, indices)
    for b, idx in enumerate(indices):
        refs = [[r[i] for i in idx] for r in metric.references]
        want = sari_corpus([metric.sources[i] for i in idx], [hyps[i] for i in idx], refs)["sari"]
        assert scores[b] == pytest.approx(want, abs=1e-9)


@pytest.mark.real_data
def test_gleu_sample_equals_official_gleu_with_one_reference(tmp_path):
    # With one reference the official script's reference sampling has no choice to make, so
    # the bootstrap score of a sample is exactly the official GLEU of the resampled corpus.
    jfleg = sysout("jfleg-test", "refs")
    src, ref = lines(jfleg / "test.src")[:120], lines(jfleg / "test.ref0")[:120]
    hyps = lines(JFLEG["jg16_sparse+wikilm"])[:120]
    data = write_jsonl(tmp_path / "j.jsonl", src, [ref])
    metric, n = bootstrap.load_metric("gleu", data)
    stats = metric.statistics(hyps, "h")
    indices = bootstrap.resample_indices(n, 3, seed=3)
    scores = bootstrap.bootstrap_scores(metric, stats, indices)
    for b, idx in enumerate(indices):
        want = gleu_corpus([src[i] for i in idx], [hyps[i] for i in idx], [[ref[i] for i in idx]])["gleu"]
        assert scores[b] == pytest.approx(want, abs=1e-9)


@pytest.mark.real_data
def test_m2_sample_equals_m2scorer_with_one_annotator(tmp_path):
    # Keep annotator 0 only: the per-sentence annotator choice is then trivial, so the sample
    # score is exactly M2Scorer on the resampled gold and outputs.
    gold = read_m2(CONLL_GOLD)[:150]
    for sent in gold:
        sent.annotators = {0: sent.annotators[0]}
    hyps = lines(CONLL["CUUI"])[:150]
    metric = bootstrap.EditMetric("m2", M2Scorer(gold))
    stats = metric.statistics(hyps, "h")
    indices = bootstrap.resample_indices(len(gold), 3, seed=5)
    scores = bootstrap.bootstrap_scores(metric, stats, indices)
    for b, idx in enumerate(indices):
        want = M2Scorer([gold[i] for i in idx]).score([hyps[i] for i in idx])["f0.5"]
        assert scores[b] == pytest.approx(want, abs=1e-9)


# --------------------------------------------------------------------------------------
# Full runs on real outputs
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def conll_result(data_dir):
    return bootstrap.run_bootstrap(data_dir / "conll14.jsonl", "m2", CONLL, m2_path=CONLL_GOLD, samples=1000, seed=42)


@pytest.mark.real_data
def test_observed_scores_are_the_scorers(conll_result, data_dir):
    for name in ("CAMB", "INPUT"):  # the others: the same code path (and 2 s of M2 each)
        want = score_dataset(data_dir / "conll14.jsonl", CONLL[name], "m2", m2=CONLL_GOLD)["score"]
        assert conll_result["systems"][name]["score"] == pytest.approx(want, abs=1e-9)
    # the official CoNLL-2014 ranking: CAMB 37.33, CUUI 36.79, AMU 35.01
    assert round(conll_result["systems"]["CAMB"]["score"], 2) == 37.33
    assert conll_result["n_sentences"] == 1312 and conll_result["samples"] == 1000


@pytest.mark.real_data
def test_intervals_contain_the_observed_values(conll_result):
    for name, system in conll_result["systems"].items():
        lo, hi = system["ci"]
        assert lo <= system["score"] <= hi, name
    for pair in conll_result["pairs"]:
        lo, hi = pair["ci"]
        assert lo <= pair["delta"] <= hi, pair
        s = conll_result["systems"]
        assert pair["delta"] == pytest.approx(s[pair["a"]]["score"] - s[pair["b"]]["score"])
        assert pair["a_wins"] + pair["b_wins"] + pair["ties"] == pytest.approx(1.0)
    assert len(conll_result["pairs"]) == 6  # every pair of the 4 systems, in the given order


@pytest.mark.real_data
def test_real_systems_against_the_unchanged_input_are_significant(conll_result):
    for name in ("CAMB", "CUUI", "AMU"):
        pair = bootstrap.pair_result(conll_result, name, "INPUT")
        # INPUT scores F0.5 = 0 on every sample, every real system > 0: the smallest p there is
        assert pair["p_value"] == pytest.approx(1 / 1001) and pair["significant"]
        assert pair["a_wins"] == 1.0 and pair["ci"][0] > 30
    # the top two submissions are 0.54 F0.5 apart on 1,312 sentences: not significant
    close = bootstrap.pair_result(conll_result, "CAMB", "CUUI")
    assert 0.1 < close["p_value"] < 1.0 and not close["significant"]
    assert close["ci"][0] < 0 < close["ci"][1]


@pytest.mark.real_data
def test_pair_result_orientation(conll_result):
    ab = bootstrap.pair_result(conll_result, "CAMB", "AMU")
    ba = bootstrap.pair_result(conll_result, "AMU", "CAMB")
    assert ba["delta"] == -ab["delta"] and ba["ci"] == [-ab["ci"][1], -ab["ci"][0]]
    assert (ba["a_wins"], ba["b_wins"]) == (ab["b_wins"], ab["a_wins"])
    assert ba["p_value"] == ab["p_value"]
    assert bootstrap.pair_result(conll_result, "CAMB", "nobody") is None


@pytest.mark.real_data
def test_deterministic_under_the_seed_and_paired_across_systems(data_dir):
    data = data_dir / "turk.jsonl"
    run = lambda hyps, seed: bootstrap.run_bootstrap(data, "sari", hyps, samples=300, seed=seed)  # noqa: E731
    first, again, other = run(TURK, 11), run(TURK, 11), run(TURK, 12)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert first["systems"]["ACCESS"]["ci"] != other["systems"]["ACCESS"]["ci"]
    assert first["systems"]["ACCESS"]["score"] == other["systems"]["ACCESS"]["score"]
    # the samples depend only on (n, samples, seed): dropping a system changes no other result
    two = run({k: TURK[k] for k in ("ACCESS", "PBMT-R")}, 11)
    assert bootstrap.pair_result(two, "ACCESS", "PBMT-R") == bootstrap.pair_result(first, "ACCESS", "PBMT-R")
    assert two["systems"]["ACCESS"] == first["systems"]["ACCESS"]


# --------------------------------------------------------------------------------------
# Hand-checked extremes
# --------------------------------------------------------------------------------------

# Five sentences, one gold edit each (annotator 0).
HAND_M2 = """\
S He go home .
A 1 2|||R:VERB:SVA|||goes|||REQUIRED|||-NONE-|||0

S She like tea .
A 1 2|||R:VERB:SVA|||likes|||REQUIRED|||-NONE-|||0

S I has a dog .
A 1 2|||R:VERB:SVA|||have|||REQUIRED|||-NONE-|||0

S They was late .
A 1 2|||R:VERB:SVA|||were|||REQUIRED|||-NONE-|||0

S It rain today .
A 1 2|||R:VERB:SVA|||rains|||REQUIRED|||-NONE-|||0
"""
CORRECTED = ["He goes home .", "She likes tea .", "I have a dog .", "They were late .", "It rains today ."]
UNCHANGED = ["He go home .", "She like tea .", "I has a dog .", "They was late .", "It rain today ."]


@pytest.fixture()
def hand(tmp_path):
    gold = tmp_path / "gold.m2"
    gold.write_text(HAND_M2, encoding="utf-8")
    data = write_jsonl(tmp_path / "hand.jsonl", UNCHANGED, [])
    perfect = tmp_path / "perfect.txt"
    perfect.write_text("\n".join(CORRECTED) + "\n", encoding="utf-8")
    copy = tmp_path / "copy.txt"
    copy.write_text("\n".join(UNCHANGED) + "\n", encoding="utf-8")
    return data, gold, perfect, copy


def test_strictly_better_on_every_sentence_gives_the_smallest_p(hand):
    data, gold, perfect, copy = hand
    # perfect: tp=1 on every sentence -> F0.5 = 100 on every sample; copy: tp=0, fn>0 -> F0.5 = 0.
    # delta_b = delta = 100 always, so |delta_b - delta| >= |delta| never holds: p = 1 / (B + 1).
    result = bootstrap.run_bootstrap(data, "m2", {"perfect": perfect, "copy": copy}, m2_path=gold, samples=200, seed=1)
    (pair,) = result["pairs"]
    assert (pair["delta"], pair["ci"]) == (100.0, [100.0, 100.0])
    assert pair["p_value"] == pytest.approx(1 / 201) and pair["p_one_sided"] == pytest.approx(1 / 201)
    assert pair["significant"] and pair["a_wins"] == 1.0
    assert result["systems"]["perfect"]["ci"] == [100.0, 100.0]


def test_identical_systems_are_never_significant(hand):
    data, gold, perfect, _ = hand
    result = bootstrap.run_bootstrap(data, "m2", {"a": perfect, "b": perfect}, m2_path=gold, samples=200, seed=1)
    (pair,) = result["pairs"]
    assert pair["delta"] == 0.0 and pair["ci"] == [0.0, 0.0]
    assert pair["p_value"] == 1.0 and pair["p_one_sided"] == 1.0
    assert pair["ties"] == 1.0 and not pair["significant"]


@pytest.mark.real_data
def test_one_sided_p_is_at_most_two_sided(data_dir):
    result = bootstrap.run_bootstrap(data_dir / "turk.jsonl", "sari", TURK, samples=500, seed=3)
    for pair in result["pairs"]:
        assert 1 / 501 <= pair["p_one_sided"] <= pair["p_value"] <= 1.0


# --------------------------------------------------------------------------------------
# 1,000 samples of GLEU on JFLEG (speed: benchmarks/bench_bootstrap.py, BENCHMARKS.md)
# --------------------------------------------------------------------------------------


@pytest.mark.real_data
def test_gleu_1000_samples_of_jfleg_centre_on_the_published_score(data_dir):
    metric, n = bootstrap.load_metric("gleu", data_dir / "jfleg.jsonl")
    stats = metric.statistics(lines(JFLEG["jd18_transformer-ens"]), "h")  # 747 x (500 samplings x 10)
    scores = bootstrap.bootstrap_scores(metric, stats, bootstrap.resample_indices(n, 1000, seed=0))
    assert scores.shape == (1000,)
    full = metric.scores(stats.sum(axis=0, keepdims=True))[0]
    assert full == pytest.approx(59.797, abs=1e-3)  # the NAACL 2018 ensemble's published 0.597967
    assert abs(float(np.median(scores)) - full) < 1.0


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    analyse.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_writes_the_json_the_rule_expects(hand, tmp_path):
    data, gold, perfect, copy = hand
    out = tmp_path / "results/analysis/bootstrap/table4/hand.json"
    argv = ["analyse", "bootstrap", "--data", str(data), "--metric", "m2", "--m2", str(gold)]
    argv += ["--hyps", f"perfect={perfect}", f"copy={copy}", "--samples", "50", "--seed", "4"]
    argv += ["--decoding", "greedy", "--out", str(out)]
    assert cli(argv) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["kind"] == "paired_bootstrap"
    assert (result["dataset"], result["decoding"], result["metric"], result["seed"]) == ("hand", "greedy", "m2", 4)
    assert list(result["systems"]) == ["perfect", "copy"]
    assert result["systems"]["perfect"]["hyp"] == str(perfect)


def test_cli_errors(hand, tmp_path):
    data, gold, perfect, _ = hand
    base = ["analyse", "bootstrap", "--data", str(data), "--metric", "m2", "--out", str(tmp_path / "o.json")]
    with pytest.raises(WritingAlpacaError, match="expected NAME=FILE"):
        cli([*base, "--m2", str(gold), "--hyps", str(perfect)])
    with pytest.raises(WritingAlpacaError, match="given twice"):
        cli([*base, "--m2", str(gold), "--hyps", f"a={perfect}", f"a={perfect}"])
    with pytest.raises(WritingAlpacaError, match="needs --m2"):
        cli([*base, "--hyps", f"a={perfect}"])
    short = tmp_path / "short.txt"
    short.write_text("He goes home .\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=r"short\.txt: has 1 lines but the test set has 5 records"):
        cli([*base, "--m2", str(gold), "--hyps", f"a={short}"])
    with pytest.raises(WritingAlpacaError, match="--alpha must be in"):
        cli([*base, "--m2", str(gold), "--hyps", f"a={perfect}", "--alpha", "1.5"])
    assert not (tmp_path / "o.json").exists()


# --------------------------------------------------------------------------------------
# Workflow: the bootstrap rule's config
# --------------------------------------------------------------------------------------


def test_significance_reference_must_be_a_table_system(tmp_path):
    import yaml

    from conftest import snakemake

    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"tables": {"table4": {"significance": {"reference": "alpaca-13b-x"}}}}))
    proc = snakemake("-n", f"--configfile={cfg}", "all", check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stdout
    assert "tables.table4.significance.reference: 'alpaca-13b-x' is not one of the table's systems" in proc.stdout


def test_paper_dry_run_has_one_bootstrap_per_table4_test_set():
    import yaml

    from conftest import REPO, snakemake

    paper = yaml.safe_load((REPO / "config.yaml").read_text())
    out = snakemake("-n", "--profile", "profiles/slurm", "all").stdout
    jobs = set(re.findall(r"wildcards: table=(\w+), dataset=(\w+)", out))
    assert jobs == {("table4", d) for d in paper["tables"]["table4"]["test_sets"]}
    # every system of Table 4 is resampled together, with the configured samples, alpha and seed
    cmd = next(line for line in out.splitlines() if "analyse bootstrap" in line and "--dataset conll14" in line)
    for s in paper["tables"]["table4"]["systems"]:
        assert f"{s}=results/hypotheses/{s}/{paper['decoding']}/conll14.txt" in cmd
    assert "--samples 1000 --seed 42 --alpha 0.05" in cmd and "--m2 results/data/test/conll14.m2" in cmd
