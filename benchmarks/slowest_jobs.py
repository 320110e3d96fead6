"""The slowest jobs of a finished run, from its benchmark files (results/benchmarks/<stage>/<rule>/*.tsv).

    python benchmarks/slowest_jobs.py [RESULTS_DIR] [--top N]

Prints one Markdown row per job: wall seconds, CPU seconds, peak RSS (MB), stage, rule and wildcards,
the slowest first, then the totals. Used for BENCHMARKS.md's rehearsal section (the per-stage and
per-system sums are results/tables/costs.md, rule render_costs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from writing_alpaca.costs import load_benchmark


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", default="results")
    parser.add_argument("--top", type=int, default=5)
    args = parser.parse_args()
    files = sorted((Path(args.results) / "benchmarks").rglob("*.tsv"))
    jobs = [load_benchmark(path) for path in files]
    jobs.sort(key=lambda job: -job.wall)
    print("| wall s | CPU s | peak RSS MB | stage | rule | wildcards |")
    print("| ---: | ---: | ---: | --- | --- | --- |")
    for job in jobs[: args.top]:
        wildcards = ", ".join(f"{k}={v}" for k, v in job.wildcards.items())
        cpu = f"{job.cpu:.0f}" if job.cpu is not None else "-"
        rss = f"{job.max_rss:.0f}" if job.max_rss is not None else "-"
        print(f"| {job.wall:.0f} | {cpu} | {rss} | {job.stage} | {job.rule} | {wildcards} |")
    cpu_total = sum(job.cpu or 0.0 for job in jobs)
    print(f"\n{len(jobs)} jobs: {sum(job.wall for job in jobs):.0f} job-wall s, {cpu_total:.0f} CPU s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
