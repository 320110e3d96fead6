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

import ast
import importlib.metadata as md
import json
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO, snakemake

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


def rule_envs() -> dict[str, str]:
    """{rule: its conda env file name} from workflow/rules/*.smk (`use rule A as B` inherits A's)."""
    envs: dict[str, str] = {}
    inherits: dict[str, str] = {}
    block = re.compile(r"^(?:rule (\w+):|use rule (\w+) as (\w+) with:)$", re.M)
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text(encoding="utf-8")
        heads = list(block.finditer(text))
        for head, nxt in zip(heads, heads[1:] + [None]):
            body = text[head.end() : nxt.start() if nxt else len(text)]
            name = head.group(1) or head.group(3)
            conda = re.search(r"^    conda:\n\s+\"([^\"]+)\"", body, re.M)
            if conda:
                envs[name] = Path(conda.group(1)).name
            elif head.group(2):
                inherits[name] = head.group(2)
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


def _module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


class _Module:
    """A package module's top-level definitions and import bindings, and what each part imports."""

    def __init__(self, name: str):
        self.name = name
        path = _module_file(name)
        self.is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        self.defs: dict[str, ast.AST] = {}
        self.values: dict[str, ast.AST] = {}  # module-level variables: what is assigned to them
        self.bindings: dict[str, tuple[str, str | None]] = {}  # local name -> (package module, attribute)
        top: list[ast.AST] = []
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.defs[node.name] = node
                top.extend(node.decorator_list)
                if isinstance(node, ast.ClassDef):  # a class body runs at import, its methods do not
                    top.extend(n for n in node.body if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
            elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(target, ast.Name):
                        self.values[target.id] = node.value
                # at import, a call in the value runs its callee (not the functions it is given)
                top.extend(item.func for item in ast.walk(node.value) if isinstance(item, ast.Call))
            elif not (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)):
                top.append(node)
        self.top = top
        for node in tree.body:
            for item in ast.walk(node) if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else ():
                for local, target in self._targets(item):
                    self.bindings[local] = target

    def _absolute(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        parts = self.name.split(".")
        anchor = parts[: len(parts) - node.level + (1 if self.is_package else 0)]
        return ".".join(anchor + ([node.module] if node.module else []))

    def _targets(self, node: ast.AST) -> list[tuple[str, tuple[str, str | None]]]:
        """Package bindings an import statement makes: (local name, (module, attribute or None))."""
        out = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    out.append((alias.asname or alias.name.split(".")[0], (alias.name, None)))
        elif isinstance(node, ast.ImportFrom):
            module = self._absolute(node)
            if module.split(".")[0] == PACKAGE:
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    target = (sub, None) if _module_file(sub) else (module, alias.name)
                    out.append((alias.asname or alias.name, target))
        return out

    def third_party(self, nodes: list[ast.AST]) -> set[str]:
        found = set()
        for node in nodes:
            for item in ast.walk(node):
                if isinstance(item, ast.Import):
                    found.update(a.name.split(".")[0] for a in item.names)
                elif isinstance(item, ast.ImportFrom) and not item.level:
                    found.add((item.module or "").split(".")[0])
        return {t for t in found if t and t != PACKAGE and t not in sys.stdlib_module_names and t != "__future__"}

    def references(self, nodes: list[ast.AST]) -> set[tuple[str, str | None]]:
        """The parts of the package that ``nodes`` may run: local definitions they name, package
        names they import or name through a binding (``module.attr`` on a bound module too)."""
        out: set[tuple[str, str | None]] = set()
        for node in nodes:
            local = {}
            for item in ast.walk(node):
                for name, target in self._targets(item):
                    local[name] = target  # importing runs the module, naming the binding runs the rest
                    out.add((target[0], None))
            # `set_defaults(func=_cmd)` names the function a sub-command runs, it does not run it
            commands = {id(k.value) for k in ast.walk(node) if isinstance(k, ast.keyword) and k.arg == "func"}
            for item in ast.walk(node):
                if id(item) in commands:
                    continue
                if isinstance(item, ast.Name):
                    target = local.get(item.id) or self.bindings.get(item.id)
                    if target is not None:
                        out.add(target)
                    elif item.id in self.defs or item.id in self.values:
                        out.add((self.name, item.id))
                elif isinstance(item, ast.Attribute) and isinstance(item.value, ast.Name):
                    target = local.get(item.value.id) or self.bindings.get(item.value.id)
                    if target is not None and target[1] is None:
                        out.add((target[0], item.attr))
        return out


@cache
def _module(name: str) -> _Module:
    return _Module(name)


def third_party_imports(module: str, function: str | None = None) -> dict[str, str]:
    """{third-party top-level module: the package part that imports it} of everything that running
    ``module.function`` may run: every package module it imports (their top-level code, parent
    packages' ``__init__`` included) and, through the names each reached body uses, the functions
    and classes it may call, with the imports inside them (lazy ones too)."""
    seen: set[tuple[str, str | None]] = set()
    todo: list[tuple[str, str | None]] = [(module, None), (module, function)]
    found: dict[str, str] = {}
    while todo:
        name, attr = todo.pop()
        if (name, attr) in seen or not _module_file(name):
            continue
        seen.add((name, attr))
        mod = _module(name)
        if attr is None:
            parts = name.split(".")
            todo.extend((".".join(parts[:i]), None) for i in range(1, len(parts)))
            nodes = mod.top
        elif attr in mod.defs:
            nodes = [mod.defs[attr]]
        elif attr in mod.values:  # a variable: what it holds may be called (a table of functions)
            nodes = [mod.values[attr]]
        else:
            target = mod.bindings.get(attr)  # a name the module re-exports from another
            todo.extend([target] if target else [])
            continue
        for top in mod.third_party(nodes):
            found.setdefault(top, f"{name}.{attr}" if attr else name)
        todo.extend(mod.references(nodes))
    return found


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
