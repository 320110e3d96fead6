"""Every rule's conda environment holds what its command imports, and every environment's pins resolve.

conda is not installed on these machines, so the environments are checked without it:

- **Imports**: the workflow's dry runs (the paper's DAG, the rehearsal's, and one decoding on the
  vLLM backend) give every job's rule and shell command; each ``writing-alpaca ...`` command is
  mapped through the CLI's own parser to the function it runs, and from that function's module the
  package's imports are followed statically (module-level and lazy ones inside functions alike)
  to the third-party modules it may import. Those map to distributions (``importlib.metadata``);
  each must be among the distributions the rule's ``envs/*.yaml`` installs, its pins and their
  dependencies (from the installed metadata).
- **Resolution** (``test_every_environment_resolves``): ``pip install --dry-run --report`` of each
  environment's pip pins resolves, and installs the pinned versions.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO, snakemake
from writing_alpaca.codehash import third_party_imports

SRC = REPO / "src"
PACKAGE = "writing_alpaca"
ENVS = REPO / "envs"

#: Imports that a rule's command reaches in code it does not run with that environment, and why.
#: (environment file, distribution) -> reason.
#: Modules of distributions that the test's own environment (.venv) does not install: their name.
NOT_INSTALLED_HERE = {"vllm": "vllm", "wandb": "wandb", "mlflow": "mlflow"}
NOT_NEEDED = {
    ("train.yaml", "vllm"): "decodings with backend: vllm run in rule decode_vllm, whose env is envs/vllm.yaml",
    ("train.yaml", "wandb"): "training.report_to: wandb is opt-in: install wandb to use it (the trainer says so)",
    ("train.yaml", "mlflow"): "training.report_to: mlflow is opt-in: install mlflow to use it (the trainer says so)",
}


# ------------------------------------------------------------------------------ rules and commands


def rule_blocks() -> Iterator[tuple[str, str | None, str, str]]:
    """(rule, the rule it is made from by `use rule A as B` or None, its body, its file's name) of
    every rule in workflow/rules/*.smk."""
    block = re.compile(r"^(?:rule (\w+):|use rule (\w+) as (\w+) with:)$", re.M)
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text(encoding="utf-8")
        heads = list(block.finditer(text))
        for head, nxt in zip(heads, heads[1:] + [None]):
            body = text[head.end() : nxt.start() if nxt else len(text)]
            yield head.group(1) or head.group(3), head.group(2), body, smk.name


def rule_envs() -> dict[str, str]:
    """{rule: its conda env file name} from workflow/rules/*.smk (`use rule A as B` inherits A's)."""
    envs: dict[str, str] = {}
    inherits: dict[str, str] = {}
    for name, parent, body, _ in rule_blocks():
        conda = re.search(r"^    conda:\n\s+\"([^\"]+)\"", body, re.M)
        if conda:
            envs[name] = Path(conda.group(1)).name
        elif parent:
            inherits[name] = parent
    for name, parent in inherits.items():
        envs.setdefault(name, envs[parent])
    return envs


def dry_run_commands(*args: str) -> dict[str, set[tuple[str, ...]]]:
    """{rule: the `writing-alpaca` sub-commands its jobs run} in a dry run."""
    out = snakemake("all", "-n", "--printshellcmds", "--forceall", *args).stdout
    commands: dict[str, set[tuple[str, ...]]] = {}
    for chunk in re.split(r"\n(?=(?:local)?rule \w+:\n)", out):
        rule = re.match(r"(?:local)?rule (\w+):", chunk)
        shell = re.search(r"Shell command: (.+)", chunk)
        if not rule or not shell:
            continue
        for words in re.findall(r"(?:writing-alpaca|-m writing_alpaca) ((?:[a-z][a-z0-9_-]* ?){1,2})", shell.group(1)):
            commands.setdefault(rule.group(1), set()).add(tuple(words.split()))
    return commands


def command_function(words: tuple[str, ...]) -> tuple[str, str]:
    """(module, function) that `writing-alpaca WORDS ...` runs (the CLI's own parser says)."""
    import argparse

    from writing_alpaca.cli import build_parser

    parser = build_parser()
    for word in words:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or word not in actions[0].choices:
            break
        parser = actions[0].choices[word]
    func = parser.get_default("func")
    assert func is not None, f"writing-alpaca {' '.join(words)}: no command"
    return func.__module__, func.__name__


def command_imports(words: tuple[str, ...]) -> dict[str, str]:
    """What the command may import: its function's, and the CLI's (which imports every stage
    module to run its ``register``)."""
    from writing_alpaca.cli import STAGE_MODULES

    found = third_party_imports(*command_function(words))
    for stage in STAGE_MODULES:  # imported (top-level code) by build_parser; `register` only builds parsers
        for top, importer in third_party_imports(f"{PACKAGE}.{stage}").items():
            found.setdefault(top, importer)
    return found


# ------------------------------------------------------------------------------ the import graph
# writing_alpaca.codehash builds it (the rules' code versions use the same graph): third_party_imports


# ------------------------------------------------------------------------------ distributions


@cache
def _distribution_of() -> dict[str, list[str]]:
    return md.packages_distributions()


def distributions_of(top: str) -> set[str]:
    names = _distribution_of().get(top) or ([NOT_INSTALLED_HERE[top]] if top in NOT_INSTALLED_HERE else [])
    return {canonicalize_name(d) for d in names}


def _requirement_lines(lines: list[str], here: Path) -> list[str]:
    """Requirements of pip lines (``-r FILE`` relative to ``here``, as conda runs pip beside the env file)."""
    pins = []
    for line in lines:
        line = line.split("#")[0].strip()
        if line in ("-e ..", "-e ."):
            pins.append("writing-alpaca")
        elif line.startswith("-r "):
            path = (here / line[3:].strip()).resolve()
            pins.extend(_requirement_lines(path.read_text(encoding="utf-8").splitlines(), path.parent))
        elif line:
            pins.append(line)
    return pins


def env_pins(env_file: str) -> list[str]:
    """The pip requirements of an environment (``-e ..`` is this package)."""
    spec = yaml.safe_load((ENVS / env_file).read_text(encoding="utf-8"))
    pins = []
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            pins.extend(_requirement_lines(dep["pip"], ENVS))
    return pins


@cache
def installed_closure(names: frozenset[str]) -> frozenset[str]:
    """The distributions that installing ``names`` installs (their dependencies, no extras)."""
    environment = {**default_environment(), "extra": ""}
    seen, todo = set(), list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.distribution(name).requires or []
        except md.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(environment):
                todo.append(req.name)
    return frozenset(seen)


# ------------------------------------------------------------------------------ the tests


@pytest.fixture(scope="module")
def commands(tmp_path_factory) -> dict[str, set[tuple[str, ...]]]:
    vllm = tmp_path_factory.mktemp("envs") / "vllm.yaml"
    vllm.write_text("decodings:\n  greedy: {backend: vllm}\ndecoding: greedy\n")  # every table decodes on vLLM
    found: dict[str, set[tuple[str, ...]]] = {}
    for args in ((), ("--configfile", "rehearsal/config.yaml"), ("--configfile", "config.yaml", str(vllm))):
        for rule, words in dry_run_commands(*args).items():
            found.setdefault(rule, set()).update(words)
    return found


def test_every_rule_has_an_environment_and_runs_a_command(commands):
    envs = rule_envs()
    assert set(commands) <= set(envs), f"rules without a conda env: {sorted(set(commands) - set(envs))}"
    assert {
        "decode",
        "decode_vllm",
        "decode_free_vllm",
        "train",
        "train_baseline",
        "score",
        "rehearsal_standin",
    } <= set(commands)
    assert envs["decode_vllm"] == envs["decode_free_vllm"] == "vllm.yaml" and envs["decode"] == "train.yaml"


def test_every_rule_environment_installs_what_its_command_imports(commands):
    envs = rule_envs()
    problems = []
    for rule, invocations in sorted(commands.items()):
        env = envs[rule]
        pins = frozenset(canonicalize_name(Requirement(p).name) for p in env_pins(env))
        provided = installed_closure(pins)
        for words in sorted(invocations):
            module = ".".join(command_function(words))
            for top, importer in sorted(command_imports(words).items()):
                dists = distributions_of(top)
                assert dists, f"{importer} imports {top}, which no installed distribution provides"
                if dists & provided or any((env, d) in NOT_NEEDED for d in dists):
                    continue
                problems.append(
                    f"rule {rule} (envs/{env}): `writing-alpaca {' '.join(words)}` ({module}) reaches {importer}, "
                    f"which imports {top} (distribution {', '.join(sorted(dists))}), not installed by envs/{env}"
                )
    assert not problems, "\n".join(problems)


def test_the_import_graph_sees_lazy_imports():
    """The graph follows the functions a command may call and the imports inside them: scoring
    reaches spaCy and ERRANT, training DeepSpeed and peft; rendering a table reaches neither torch
    nor spaCy."""
    assert {"errant", "spacy"} <= set(command_imports(("score", "dataset")))
    assert {"deepspeed", "peft", "torch"} <= set(command_imports(("train",)))
    assert not {"torch", "spacy", "errant"} & set(command_imports(("render", "table2")))


@pytest.mark.parametrize("env_file", sorted(p.name for p in ENVS.glob("*.yaml")))
def test_every_environment_resolves(env_file, tmp_path):
    """pip resolves the environment's pins (metadata only, nothing installed) to those versions."""
    pins = [p for p in env_pins(env_file) if p != "writing-alpaca"]
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
        + pins,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, f"envs/{env_file}: pip cannot resolve its pins:\n{done.stderr[-4000:]}"
    resolved = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    for pin in pins:
        req = Requirement(pin)
        name = canonicalize_name(req.name)
        assert name in resolved and req.specifier.contains(resolved[name], prereleases=True), (
            env_file,
            pin,
            resolved.get(name),
        )
