"""Benchmark the tokenised-training-set cache (writing_alpaca.training.cache) at cLang-8 scale.

A seeded cLang-8-like stand-in: ``--pairs`` grammar-correction pairs (2.37M by default, the size
of cLang-8), 15-25 words a side, drawn Zipf-like from a 30,000-word pseudo-English vocabulary;
six in ten targets differ from their source by one to three word edits.  The records are the
workflow's instruction records (``{id, task, instruction, input, output}``) and the tokenizer
is the package's LLaMA-style byte-level BPE (``model.train_tokenizer``) trained locally with a
LLaMA-sized 32,000-token vocabulary.  Nothing is downloaded.

Each phase runs in its own process, as a rank would, and reports its peak resident memory
(``VmHWM``, which also counts the memory-mapped Arrow pages it touched; ``RssAnon`` is the
private part: what each rank costs beyond the page cache the ranks share):

- ``build``: what rank 0 does on a run's first attempt: copy the JSONL lines into Arrow and tokenise them
  into the Arrow cache (``--workers`` processes; their peak is reported separately);
- ``read``: what every other rank (and every rank of a retry) does: open the cache memory-mapped
  and go through one epoch in random order, micro-batches of 4 through the trainer's collator;
- ``legacy`` (``--legacy N``): the former per-rank path (all records into Python lists,
  ``build_examples``) on the first N pairs, extrapolated linearly to ``--pairs``.

    .venv/bin/python benchmarks/bench_tokenise.py --pairs 2370000 --workers 2 --legacy 200000

Prints a Markdown table; ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
VOCAB = 30_000
TOKENIZER_VOCAB = 32_000
TOKENIZER_SENTENCES = 200_000
MICRO_BATCH = 4
CUTOFF_LEN = 256


# ------------------------------------------------------------------------- the stand-in data


def _vocabulary(rng: random.Random) -> list[str]:
    onsets = [
        "",
        "b",
        "c",
        "d",
        "f",
        "g",
        "h",
        "j",
        "k",
        "l",
        "m",
        "n",
        "p",
        "r",
        "s",
        "t",
        "v",
        "w",
        "y",
        "br",
        "ch",
        "cl",
        "dr",
        "fl",
        "gr",
        "pl",
        "pr",
        "sh",
        "sl",
        "st",
        "str",
        "th",
        "tr",
        "wh",
    ]
    vowels = ["a", "e", "i", "o", "u", "ea", "ee", "ai", "ou", "oo", "ie", "y"]
    codas = ["", "", "n", "r", "s", "t", "l", "d", "ng", "st", "ck", "nd", "rt", "m"]
    words: set[str] = set()
    while len(words) < VOCAB:
        syllables = rng.choices([1, 2, 3, 4], weights=[30, 40, 22, 8])[0]
        words.add("".join(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas) for _ in range(syllables)))
    return sorted(words, key=lambda w: (len(w), w))  # short words first: the frequent ones


def _sentences(rng: Any, words: list[str], n: int) -> list[list[str]]:
    import numpy as np

    weights = 1.0 / (np.arange(len(words)) + 2.7)
    lengths = rng.integers(15, 26, size=n)
    ids = rng.choice(len(words), size=int(lengths.sum()), p=weights / weights.sum())
    out, at = [], 0
    for length in lengths.tolist():
        out.append([words[i] for i in ids[at : at + length].tolist()])
        at += length
    return out


def _text(tokens: list[str]) -> str:
    text = " ".join(tokens)
    return text[0].upper() + text[1:] + "."


def write_standin(path: Path, pairs: int, seed: int) -> None:
    """``pairs`` instruction records of the grammar task (``results/instructions/*.jsonl`` format)."""
    import numpy as np

    from writing_alpaca.format import PROMPTS

    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    words = _vocabulary(rng)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for start in range(0, pairs, 100_000):
            for i, source in enumerate(_sentences(nrng, words, min(100_000, pairs - start)), start=start):
                target = list(source)
                if rng.random() < 0.6:
                    for _ in range(rng.randint(1, 3)):
                        op, at = rng.random(), rng.randrange(len(target))
                        if op < 0.5:
                            target[at] = words[rng.randrange(2000)]
                        elif op < 0.75 and len(target) > 15:
                            del target[at]
                        else:
                            target.insert(at, words[rng.randrange(200)])
                record = {
                    "id": f"clang8-{i}",
                    "task": "grammar",
                    "instruction": PROMPTS["grammar"],
                    "input": _text(source),
                    "output": _text(target),
                }
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def write_tokenizer(out: Path, data: Path) -> None:
    """A LLaMA-sized (32,000) byte-level BPE trained on the first records of the stand-in, prompts
    included (LLaMA's vocabulary knows the template's English words: ~50 tokens, not ~120 bytes)."""
    from writing_alpaca.format import render_prompt
    from writing_alpaca.model import train_tokenizer

    def texts():
        with open(data, encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if n >= TOKENIZER_SENTENCES:
                    return
                record = json.loads(line)
                yield render_prompt(record["instruction"], record["input"])
                yield record["output"]

    tokenizer = train_tokenizer(texts(), TOKENIZER_VOCAB)
    tokenizer.save_pretrained(str(out))


# ------------------------------------------------------------------------- measurements


def _status() -> dict[str, int]:
    """VmHWM, VmRSS, RssAnon, RssFile of this process, in KiB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0])
    return fields


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children (the tokenising workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _rank_imports() -> dict[str, int]:
    """What a training rank has imported before it tokenises (torch, transformers, datasets)."""
    import datasets  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    return _status()


def phase_build(args: argparse.Namespace) -> dict[str, Any]:
    from writing_alpaca.format import TEMPLATE
    from writing_alpaca.hashing import sha256_file
    from writing_alpaca.training import cache
    from writing_alpaca.training.config import Template
    from writing_alpaca.training.modelling import load_tokenizer

    imported = _rank_imports()
    tokenizer = load_tokenizer(args.tokenizer)
    started, cpu = time.monotonic(), _cpu_seconds()
    fingerprint = cache.cache_fingerprint(
        sha256_file(args.data),
        cache.tokenizer_identity(args.tokenizer, tokenizer),
        Template.from_dict(TEMPLATE),
        CUTOFF_LEN,
        False,
    )
    digest_seconds = time.monotonic() - started
    out = cache.cache_path(args.cache, fingerprint)
    shutil.rmtree(args.cache, ignore_errors=True)  # a first attempt: nothing cached
    info = cache.build(
        args.data,
        tokenizer,
        Template.from_dict(TEMPLATE),
        CUTOFF_LEN,
        False,
        out,
        workers=args.workers,
        fingerprint=fingerprint,
    )
    status = _status()
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest worker
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "phase": "build",
        "seconds": round(time.monotonic() - started, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu, 1),
        "digest_seconds": round(digest_seconds, 1),
        "tokenise_seconds": info["seconds"],
        "records": info["records"],
        "examples": info["examples"],
        "workers": info["workers"],
        "path": str(out),
        "cache_bytes": size,
        "imports": imported,
        "status": status,
        "children_maxrss_kib": children if info["workers"] > 1 else 0,
    }


def phase_read(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from writing_alpaca.training import cache
    from writing_alpaca.training.examples import padding_collator
    from writing_alpaca.training.modelling import load_tokenizer

    imported = _rank_imports()
    collate = padding_collator(load_tokenizer(args.tokenizer))  # as the trainer's, before the clock starts
    path = args.path
    started, cpu = time.monotonic(), _cpu_seconds()
    tokenised = cache.open_cached(path)
    opened = time.monotonic() - started
    after_open = _status()
    loader = torch.utils.data.DataLoader(
        tokenised.dataset,
        batch_size=MICRO_BATCH,
        shuffle=True,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(0),
    )
    tokens = batches = 0
    for batch in loader:
        tokens += int(batch["attention_mask"].sum())
        batches += 1
        if args.read_batches and batches >= args.read_batches:
            break
    return {
        "phase": "read",
        "open_seconds": round(opened, 2),
        "epoch_seconds": round(time.monotonic() - started - opened, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu, 1),
        "batches": batches,
        "tokens": tokens,
        "imports": imported,
        "after_open": after_open,
        "status": _status(),
    }


def phase_legacy(args: argparse.Namespace) -> dict[str, Any]:
    import itertools

    from writing_alpaca.format import TEMPLATE
    from writing_alpaca.training.config import Template
    from writing_alpaca.training.examples import build_examples, load_instruction_records
    from writing_alpaca.training.modelling import load_tokenizer

    imported = _rank_imports()
    subset = Path(args.cache).parent / f"legacy-{args.legacy}.jsonl"
    with open(args.data, encoding="utf-8") as src, open(subset, "w", encoding="utf-8") as dst:
        dst.writelines(itertools.islice(src, args.legacy))
    tokenizer = load_tokenizer(args.tokenizer)
    started, cpu = time.monotonic(), _cpu_seconds()
    examples = build_examples(load_instruction_records(subset), tokenizer, Template.from_dict(TEMPLATE), CUTOFF_LEN)
    seconds = time.monotonic() - started
    subset.unlink()
    return {
        "phase": "legacy",
        "records": args.legacy,
        "examples": len(examples),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(_cpu_seconds() - cpu, 1),
        "imports": imported,
        "status": _status(),
    }


PHASES = {"build": phase_build, "read": phase_read, "legacy": phase_legacy}


def _run_phase(name: str, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    command = [
        sys.executable,
        str(HERE),
        "--phase",
        name,
        "--workdir",
        str(args.workdir),
        "--pairs",
        str(args.pairs),
        "--seed",
        str(args.seed),
        *extra,
    ]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _gib(kib: int) -> str:
    return f"{kib / 2**20:.2f} GiB"


def _machine() -> str:
    from writing_alpaca.systems import hardware_description

    mem = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return f"{hardware_description()}, {mem / 2**20:.0f} GiB RAM"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2_370_000, help="pairs in the stand-in (cLang-8: 2.37M)")
    parser.add_argument("--workers", type=int, default=2, help="tokenising processes (the job's threads)")
    parser.add_argument("--legacy", type=int, default=0, help="also measure the former in-memory path on N pairs")
    parser.add_argument(
        "--read-batches", type=int, default=0, help="micro-batches the reading rank takes (0: an epoch)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-tokenise"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.data = args.workdir / f"standin-{args.pairs}-{args.seed}.jsonl"
    args.tokenizer = args.workdir / f"tokenizer-{args.pairs}-{args.seed}"
    args.cache = args.workdir / "checkpoints"

    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if not args.data.is_file():
        write_standin(args.data, args.pairs, args.seed)
    generated = time.monotonic() - started
    if not (args.tokenizer / "tokenizer.json").is_file():
        write_tokenizer(args.tokenizer, args.data)
    print(
        f"stand-in: {args.data} ({args.data.stat().st_size / 2**20:.0f} MiB, {generated:.0f} s); "
        f"tokenizer {args.tokenizer}",
        file=sys.stderr,
    )

    load_before = os.getloadavg()[0]
    results = {"build": _run_phase("build", args, ["--workers", str(args.workers)])}
    results["read"] = _run_phase(
        "read", args, ["--read-batches", str(args.read_batches), "--path", results["build"]["path"]]
    )
    if args.legacy:
        results["legacy"] = _run_phase("legacy", args, ["--legacy", str(args.legacy)])

    results["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
    b, r = results["build"], results["read"]
    per_token = r["tokens"] / max(1, r["batches"] * MICRO_BATCH)
    print(
        f"\n{args.pairs:,} pairs, {b['examples']:,} examples, {per_token:.1f} tokens per example "
        f"(cutoff_len {CUTOFF_LEN}); cache {b['cache_bytes'] / 2**30:.2f} GiB; machine: {_machine()}; "
        f"1-min load average {results['load_average'][0]} before, {results['load_average'][1]} after\n"
    )
    print(
        "| process | what it does | wall time | CPU time | peak RSS (VmHWM) | of which private (RssAnon) | after imports |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| rank 0, first attempt | sha256 of the data ({b['digest_seconds']} s) + tokenise {b['records']:,} records "
        f"({b['workers']} process(es)) into Arrow | {b['seconds']} s | {b['cpu_seconds']} s | {_gib(b['status']['VmHWM'])} | "
        f"{_gib(b['status']['RssAnon'])} (end) | {_gib(b['imports']['VmRSS'])} |"
    )
    if b["children_maxrss_kib"]:
        print(
            f"| its largest tokenising worker | `datasets.map(num_proc={b['workers']})` | | | "
            f"{_gib(b['children_maxrss_kib'])} | | |"
        )
    print(
        f"| every other rank, every retry | open memory-mapped ({r['open_seconds']} s), "
        f"{r['batches']:,} random micro-batches of {MICRO_BATCH} | {r['epoch_seconds']} s | {r['cpu_seconds']} s | {_gib(r['status']['VmHWM'])} | "
        f"{_gib(r['status']['RssAnon'])} | {_gib(r['imports']['VmRSS'])} |"
    )
    if args.legacy:
        legacy = results["legacy"]
        scale = args.pairs / legacy["records"]
        extra = legacy["status"]["VmHWM"] - legacy["imports"]["VmRSS"]
        print(
            f"| before: every rank, every attempt | `build_examples` on {legacy['records']:,} records "
            f"(x {scale:.1f} for {args.pairs:,}) | {legacy['seconds']} s (≈ {legacy['seconds'] * scale / 60:.0f} min) | "
            f"{legacy['cpu_seconds']} s | "
            f"{_gib(legacy['status']['VmHWM'])} (≈ {_gib(legacy['imports']['VmRSS'] + extra * scale)}) | | "
            f"{_gib(legacy['imports']['VmRSS'])} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
