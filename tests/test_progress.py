"""Progress reporting (writing_alpaca.progress) and the stages that use it: log lines, not bars,
when stderr is not a terminal (SLURM and Snakemake log files)."""

from __future__ import annotations

import logging
import pickle
import re

import pytest

from writing_alpaca.progress import Progress, format_seconds


class Clock:
    """A fake monotonic clock that counts how often it is read."""

    def __init__(self) -> None:
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def _lines(caplog, prefix: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(prefix)]


def test_log_lines_are_few_and_carry_rate_and_eta(caplog):
    clock = Clock()
    log = logging.getLogger("test.progress")
    with caplog.at_level(logging.INFO, logger="test.progress"):
        with Progress("decode toy", 1000, unit="instances", log=log, tty=False, clock=clock) as progress:
            for _ in range(1000):
                clock.now += 0.5  # 2 instances/s: 500 s in all
                progress.update()
    lines = _lines(caplog, "decode toy:")
    assert lines[0] == "decode toy: started, 1000 instances"
    assert lines[-1] == "decode toy: done, 1000 instances in 8m20s (2.00 instances/s)"
    middle = lines[1:-1]
    # a line needs 10% more done and 30 s since the last one: at most 10 lines, here 9 (10%..90%)
    assert len(middle) == 9
    assert middle[0] == "decode toy: 100/1000 instances (10%), 2.00 instances/s, elapsed 50s, ETA 7m30s"
    assert all(re.search(r"\(\d+%\), [\d.]+ instances/s, elapsed \S+, ETA \S+$", line) for line in middle)
    # cheap: the clock is read at the checkpoints (every 1%), not for every item
    assert clock.reads <= 110


def test_fast_work_logs_only_start_and_summary(caplog):
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="writing_alpaca.progress"):
        progress = Progress("score", 10_000, unit="sentences", tty=False, clock=clock)
        for _ in range(10_000):
            clock.now += 0.001  # 10 s in all: never 30 s between two lines
            progress.update()
        progress.close()  # already closed on reaching the total: no second summary
    lines = _lines(caplog, "score:")
    assert lines == ["score: started, 10000 sentences", "score: done, 10000 sentences in 10s (1000 sentences/s)"]


def test_slow_work_is_never_silent_for_long(caplog):
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="writing_alpaca.progress"):
        progress = Progress("decode 13B", 1000, unit="instances", tty=False, clock=clock, announce=False)
        for _ in range(30):
            clock.now += 120.0  # 1 hour for 3%: a line every 10 minutes, though 10% is far
            progress.update()
    lines = _lines(caplog, "decode 13B:")
    # the first checkpoint (1%, 20 min), then checked every update: one line per 10 minutes
    assert [line.split(" instances")[0] for line in lines] == [f"decode 13B: {n}/1000" for n in (10, 15, 20, 25, 30)]
    assert all("instances/s" in line and "ETA" in line for line in lines)


def test_unknown_total_bytes_and_disabled(caplog):
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="writing_alpaca.progress"):
        with Progress("download x.tar", None, unit="B", tty=False, clock=clock, announce=False) as progress:
            for _ in range(100):
                clock.now += 1.0
                progress.update(1 << 20)
        with Progress("quiet", 10, tty=False, enabled=False) as quiet:
            quiet.update(10)
    lines = _lines(caplog, "download x.tar:")
    assert lines[0] == "download x.tar: 30.0 MiB, 1.0 MiB/s, elapsed 30s"
    assert lines[-1] == "download x.tar: done, 100.0 MiB in 1m40s (1.0 MiB/s)"
    assert len(lines) == 4
    assert quiet.n == 10 and not _lines(caplog, "quiet:")


def test_failure_logs_no_summary_and_pickles_without_bar(caplog):
    with caplog.at_level(logging.INFO, logger="writing_alpaca.progress"):
        with pytest.raises(RuntimeError), Progress("boom", 10, tty=False, announce=False) as progress:
            progress.update(3)
            raise RuntimeError
    assert not _lines(caplog, "boom:")
    copy = pickle.loads(pickle.dumps(Progress("sent", 5, tty=False)))
    assert copy.stage == "sent" and copy._bar is None


def test_format_seconds():
    assert [format_seconds(s) for s in (0.4, 59, 61, 3599, 3600, 7500)] == [
        "0s",
        "59s",
        "1m01s",
        "59m59s",
        "1h00m",
        "2h05m",
    ]


# ----------------------------------------------------------------------------- the stages


def test_decode_logs_progress_with_instances_per_second(tmp_path, caplog):
    from _causal_lm_fixtures import GRAMMAR, TEMPLATE, eval_file, tiny_base
    from writing_alpaca.decode import decode

    out = tmp_path / "o.txt"
    with caplog.at_level(logging.INFO, logger="writing_alpaca.decode"):
        decode(
            eval_file(6),
            GRAMMAR,
            TEMPLATE,
            {"num_beams": 1, "batch_size": 2, "max_new_tokens": 4},
            out,
            tmp_path / "o.json",
            base=tiny_base(),
        )
    lines = _lines(caplog, "decode:")
    assert any(re.search(r"^decode: done, 6 instances in \S+ \([\d.]+ instances/s\)$", line) for line in lines), lines
    assert len(out.read_text(encoding="utf-8").splitlines()) == 6


def test_scorers_log_progress(tmp_path, caplog):
    from writing_alpaca.score import M2Scorer, gleu_corpus, sari_corpus
    from writing_alpaca.score.m2 import parse_m2

    gold = parse_m2("S This are a test .\nA 1 2|||R:VERB:SVA|||is|||REQUIRED|||-NONE-|||0\n\nS I like cat .\n")
    sources, hyps = ["This are a test .", "I like cat ."], ["This is a test .", "I like cats ."]
    refs = [["This is a test .", "I like cats ."]]
    with caplog.at_level(logging.INFO, logger="writing_alpaca.score"):
        M2Scorer(gold).score(hyps, "hyp.txt")
        gleu_corpus(sources, hyps, refs)
        sari_corpus(sources, hyps, refs)
    lines = _lines(caplog, "m2 hyp.txt:")
    assert len(lines) == 2 and lines[0] == "m2 hyp.txt: started, 2 sentences"
    assert re.search(r"^m2 hyp.txt: done, 2 sentences in \S+ \([\d.]+ sentences/s\)$", lines[1])
    for stage in ("gleu statistics", "sari statistics"):
        assert re.search(r"done, 2 sentences in \S+ \([\d.]+ sentences/s\)$", _lines(caplog, stage)[-1])


def test_bootstrap_logs_progress(tmp_path, caplog):
    from writing_alpaca.bootstrap import SariMetric, paired_bootstrap

    sources, refs = ["a b c", "d e f", "g h i"], [["a b x", "d e f", "g y i"]]
    (tmp_path / "a.txt").write_text("a b x\nd e f\ng h i\n", encoding="utf-8")
    (tmp_path / "b.txt").write_text("a b c\nd e f\ng h i\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="writing_alpaca"):
        paired_bootstrap(SariMetric(sources, refs), {"A": tmp_path / "a.txt", "B": tmp_path / "b.txt"}, 3, samples=50)
    lines = _lines(caplog, "bootstrap sari, 2 system(s) x 50:")
    assert lines[0].endswith("started, 100 samples") and re.search(r"done, 100 samples in \S+ \(", lines[-1])
