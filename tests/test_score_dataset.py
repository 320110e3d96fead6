"""``writing-alpaca score dataset``: scoring against normalised test records."""

from __future__ import annotations

import argparse
import json

import pytest

from _score_fixtures import sysout
from writing_alpaca import score
from writing_alpaca.errors import WritingAlpacaError
from writing_alpaca.io import read_json, read_lines, write_jsonl
from writing_alpaca.score import score_dataset


def _records(sources, ref_sets, dataset="toy"):
    return [
        {
            "id": f"{dataset}-{i:06d}",
            "dataset": dataset,
            "task": "simplification",
            "source": s,
            "references": [refs[i] for refs in ref_sets],
        }
        for i, s in enumerate(sources)
    ]


def _run(argv):
    parser = argparse.ArgumentParser()
    score.register(parser.add_subparsers())
    args = parser.parse_args(["score", "dataset", *argv])
    return args.func(args)


@pytest.mark.real_data
def test_sari_dataset_matches_easse(tmp_path):
    d = sysout("turkcorpus", "refs")
    src = read_lines(d / "test.truecase.detok.orig")
    refs = [read_lines(d / f"test.truecase.detok.simp.{k}") for k in range(8)]
    data = tmp_path / "turk.jsonl"
    write_jsonl(data, _records(src, refs))
    out = tmp_path / "scores" / "turk.json"
    assert (
        _run(
            [
                "--data",
                str(data),
                "--hyp",
                str(sysout("turkcorpus", "ACCESS.txt")),
                "--metric",
                "sari",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    result = read_json(out)
    assert result["metric"] == "sari" and result["score"] == result["sari"]
    assert round(result["sari"], 3) == 41.381


@pytest.mark.real_data
def test_gleu_dataset(tmp_path):
    d = sysout("jfleg-dev")
    src = read_lines(d / "refs" / "dev.src")
    refs = [read_lines(d / "refs" / f"dev.ref{k}") for k in range(4)]
    data = tmp_path / "jfleg.jsonl"
    write_jsonl(data, _records(src, refs))
    result = score_dataset(data, d / "jd18_transformer-ens.txt", "gleu")
    assert round(result["score"], 4) == 54.1276


def test_m2_dataset(tmp_path):
    gold = tmp_path / "t.m2"
    gold.write_text("S a b c .\nA 1 2|||X|||B|||REQUIRED|||-NONE-|||0\n\nS d e .\n", encoding="utf-8")
    data = tmp_path / "t.jsonl"
    write_jsonl(
        data,
        [
            {"id": "1", "source": "a b c .", "references": ["a B c ."]},
            {"id": "2", "source": "d e .", "references": ["d e ."]},
        ],
    )
    hyp = tmp_path / "h.txt"
    hyp.write_text("a B c .\nd e !", encoding="utf-8")
    out = tmp_path / "s.json"
    assert _run(["--data", str(data), "--hyp", str(hyp), "--metric", "m2", "--m2", str(gold), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert (result["tp"], result["fp"], result["fn"]) == (1, 1, 0)
    assert result["score"] == pytest.approx(100 * 1.25 * 0.5 / (0.25 * 0.5 + 1))


def test_dataset_errors(tmp_path):
    data = tmp_path / "t.jsonl"
    write_jsonl(
        data, [{"id": "1", "source": "a", "references": ["b"]}, {"id": "2", "source": "c", "references": ["d", "e"]}]
    )
    hyp = tmp_path / "h.txt"
    hyp.write_text("a\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=r"h\.txt: has 1 lines but .*t\.jsonl has 2 records"):
        score_dataset(data, hyp, "sari")
    hyp.write_text("a\nc\n", encoding="utf-8")
    with pytest.raises(WritingAlpacaError, match=r"t\.jsonl:2: record has 2 references"):
        score_dataset(data, hyp, "gleu")
    with pytest.raises(WritingAlpacaError, match="needs --m2"):
        score_dataset(data, hyp, "m2")
