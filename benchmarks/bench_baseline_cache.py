"""Benchmark the Table-7 baselines' tokenised training sets (T5 seq2seq, GECToR) at cLang-8 scale.

The stand-in is ``bench_tokenise.py``'s (``--pairs`` seeded grammar pairs, 2.37M by default, as
the workflow's instruction records); the base models are the package's tiny T5 and RoBERTa
(``baselines build-tiny``) with tokenizers of the real models' sizes (T5: 32,100; RoBERTa:
50,265), trained locally on the first 200,000 records.  Nothing is downloaded.

Each phase runs in its own process, as a rank would, and reports its peak resident memory
(``VmHWM``, which counts the memory-mapped Arrow pages it touched; ``RssAnon``, its private part):

- ``build``: rank 0's first attempt (``seq2seq.training_set`` / ``gector.training_set``:
  copy the lines into Arrow, tokenise, and for GECToR align every pair into edit tags, with
  ``--workers`` processes; their peak is reported separately);
- ``read``: every other rank, and every rank of a retry: open the cache memory-mapped and, as
  the trainer does, count the GECToR tags (vocabulary) and sub-words, then ``--read-batches``
  random micro-batches of the paper configuration's size (T5: through the trainer's collator; GECToR: rows, tag ids, padding
  and the gold tensors of the training loop).

    .venv/bin/python benchmarks/bench_baseline_cache.py --kind gector --pairs 2370000 --workers 2
    .venv/bin/python benchmarks/bench_baseline_cache.py --kind seq2seq --pairs 2370000 --workers 2

Prints a Markdown table; ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from bench_tokenise import TOKENIZER_SENTENCES, _cpu_seconds, _gib, _machine, _rank_imports, _status, write_standin  # noqa: E402

#: the real models' vocabulary sizes (t5-large, roberta-large)
VOCAB = {"seq2seq": 32_100, "gector": 50_265}
#: the paper configuration's micro-batches (config.yaml training.baselines)
MICRO_BATCH = {"seq2seq": 16, "gector": 32}
#: the paper configuration's settings that shape the rows (config.yaml training.baselines)
HP = {
    "seq2seq": {"source_prefix": "", "max_source_length": 128, "max_target_length": 128},
    "gector": {"skip_correct": False, "max_length": 80, "verb_forms": "lemminflect"},
}


def write_base(kind: str, data: Path, out: Path) -> None:
    from writing_alpaca.baselines.tiny import build_tiny

    corpus = out.with_suffix(".corpus.jsonl")
    with open(data, encoding="utf-8") as src, open(corpus, "w", encoding="utf-8") as dst:
        dst.writelines(itertools.islice(src, TOKENIZER_SENTENCES))
    spec = {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "vocab": VOCAB[kind]}
    build_tiny(kind, {"kind": kind, "build_tiny": spec}, [corpus], 0, out)
    corpus.unlink()


def _load(kind: str, base: Path):
    if kind == "seq2seq":
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(base))
    from writing_alpaca.baselines.gector import _load_tokenizer

    return _load_tokenizer(base)


def phase_build(args: argparse.Namespace) -> dict[str, Any]:
    from writing_alpaca.baselines import gector, seq2seq
    from writing_alpaca.baselines.gector_tags import load_verb_forms

    imported = _rank_imports()
    tokenizer = _load(args.kind, args.base)
    hp = HP[args.kind]
    verbs = load_verb_forms(hp["verb_forms"]) if args.kind == "gector" else None
    shutil.rmtree(args.cache, ignore_errors=True)  # a first attempt: nothing cached
    os.environ["OMP_NUM_THREADS"] = str(args.workers)  # the job's threads: the tokenising processes
    started, cpu = time.monotonic(), _cpu_seconds()
    if args.kind == "seq2seq":
        tokenised = seq2seq.training_set(hp, args.data, args.base, tokenizer, args.cache)
    else:
        tokenised = gector.training_set(hp, args.data, args.base, tokenizer, args.cache, verbs)
    seconds, cpu = time.monotonic() - started, _cpu_seconds() - cpu
    status = _status()
    size = sum(p.stat().st_size for p in tokenised.path.rglob("*") if p.is_file())
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "examples": tokenised.info["examples"],
        "records": tokenised.info["records"],
        "workers": tokenised.info["workers"],
        "cache_bytes": size,
        "path": str(tokenised.path),
        "imports_kib": imported["VmRSS"],
        "vmhwm_kib": status["VmHWM"],
        "rss_anon_kib": status["RssAnon"],
        "worker_maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }


def phase_read(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import pyarrow.compute as pc

    from writing_alpaca.baselines import gector, seq2seq
    from writing_alpaca.training import cache

    imported = _rank_imports()
    tokenizer = _load(args.kind, args.base)
    started, cpu = time.monotonic(), _cpu_seconds()
    dataset = cache.open_cached(args.path).dataset
    opened = time.monotonic() - started
    rng = np.random.default_rng(0)
    tokens = 0
    if args.kind == "gector":
        labels = gector.label_vocab(gector.tag_counts(dataset), 5000)
        label_id = {tag: i for i, tag in enumerate(labels)}
        lengths = pc.list_value_length(dataset.data.column("input_ids")).to_numpy()
        counted = time.monotonic() - started
        for _ in range(args.read_batches):
            batch = rng.integers(0, len(dataset), MICRO_BATCH[args.kind]).tolist()
            rows = dataset[batch]
            input_ids, _attention = gector._pad_batch(rows["input_ids"], tokenizer.pad_token_id)
            tag_ids = [[label_id.get(t, 1) for t in tags] for tags in rows["tags"]]
            gector._gold(rows["positions"], tag_ids, input_ids.shape, 0)
            tokens += int(lengths[batch].sum())
    else:
        counted = opened
        collate = seq2seq._Collator(tokenizer.pad_token_id)
        for _ in range(args.read_batches):
            batch = collate(dataset.__getitems__(rng.integers(0, len(dataset), MICRO_BATCH[args.kind]).tolist()))
            tokens += int(batch["attention_mask"].sum())
    seconds, cpu = time.monotonic() - started, _cpu_seconds() - cpu
    status = _status()
    return {
        "open_seconds": round(opened, 3),
        "vocabulary_seconds": round(counted, 2),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "batches": args.read_batches,
        "tokens": tokens,
        "imports_kib": imported["VmRSS"],
        "vmhwm_kib": status["VmHWM"],
        "rss_anon_kib": status["RssAnon"],
    }


PHASES = {"build": phase_build, "read": phase_read}


def _run_phase(name: str, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    command = [sys.executable, str(HERE), "--phase", name, "--kind", args.kind, "--pairs", str(args.pairs)]
    command += ["--seed", str(args.seed), "--workdir", str(args.workdir), *extra]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=sorted(VOCAB), required=True)
    parser.add_argument("--pairs", type=int, default=2_370_000, help="pairs in the stand-in (cLang-8: 2.37M)")
    parser.add_argument("--workers", type=int, default=2, help="tokenising processes (the job's threads)")
    parser.add_argument("--read-batches", type=int, default=20_000, help="random micro-batches the reading rank takes")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-tokenise"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.data = args.workdir / f"standin-{args.pairs}-{args.seed}.jsonl"
    args.base = args.workdir / f"base-{args.kind}-{args.pairs}-{args.seed}"
    args.cache = args.workdir / f"cache-{args.kind}"

    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    if not args.data.is_file():
        write_standin(args.data, args.pairs, args.seed)
    if not (args.base / "config.json").is_file():
        write_base(args.kind, args.data, args.base)
    load_before = os.getloadavg()[0]
    build = _run_phase("build", args, ["--workers", str(args.workers)])
    read = _run_phase("read", args, ["--path", build["path"], "--read-batches", str(args.read_batches)])
    load = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    print(
        f"\n{args.kind}: {build['records']:,} records, {build['examples']:,} examples; cache "
        f"{build['cache_bytes'] / 2**30:.2f} GiB; machine: {_machine()}; 1-min load average {load[0]} before, "
        f"{load[1]} after\n"
    )
    print("| process | wall s | CPU s | peak RSS (VmHWM) | private (RssAnon) |")
    print("|---|---:|---:|---|---|")
    print(
        f"| rank 0, first attempt: build ({build['workers']} processes) | {build['seconds']:,} | "
        f"{build['cpu_seconds']:,} | {_gib(build['vmhwm_kib'])}; each worker ≤ {_gib(build['worker_maxrss_kib'])} | "
        f"{_gib(build['rss_anon_kib'])} |"
    )
    print(
        f"| every other rank: open ({read['open_seconds']} s), vocabulary ({read['vocabulary_seconds']} s), "
        f"{read['batches']:,} micro-batches of {MICRO_BATCH[args.kind]} | {read['seconds']:,} | {read['cpu_seconds']:,} | "
        f"{_gib(read['vmhwm_kib'])} | {_gib(read['rss_anon_kib'])} |"
    )
    if args.json:
        args.json.write_text(json.dumps({"build": build, "read": read, "load_average": load}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
