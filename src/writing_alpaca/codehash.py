"""What a command may run, found statically: the package's import and call graph, and from it
the version of the code a workflow job runs.

Snakemake reruns a job whose ``params`` changed, so every rule passes ``code=`` the
:func:`code_version` of the function its command runs (``workflow/rules/common.smk``'s
``code_version``): editing a scorer reruns the score jobs (and what reads their output); editing
a table's renderer reruns that table, never a training job; editing a comment, a docstring or the
layout of the code reruns nothing.

The graph is built from the source, without importing anything (the Snakefile's environment has
neither torch nor the scorers' libraries). From a module's function it follows what running it
may run: every package module it imports (their top-level code, parent packages' ``__init__``
included) and, through the names each reached body uses, the functions, classes and module-level
values it may call or read, with the imports inside them (lazy ones too). It is conservative: a
name a body mentions counts whether or not that branch runs. ``tests/test_envs.py`` uses the
same graph for the third-party modules a rule's command may import (:func:`third_party_imports`);
those are versioned by the rule's conda environment, not here.

The version is a sha256 over each reached part's name and its syntax tree (``ast.dump``: no line
numbers, comments or docstrings), so it is the same in every checkout of the same code.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = __name__.rpartition(".")[0]
SRC = Path(__file__).resolve().parent.parent

#: a reachable part of the package: (module, top-level name), or (module, None) for the module's
#: own top-level code (what importing it runs)
Part = tuple[str, "str | None"]

__all__ = ["VersionCache", "code_version", "module_file", "package_digest", "reached", "third_party_imports"]


@cache
def module_file(name: str) -> Path | None:
    """The source file of the package's module ``name`` (``writing_alpaca.score.m2``); None if
    there is none (``name`` names something inside a module, or another package)."""
    if name.split(".")[0] != PACKAGE:
        return None
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _strip_docstrings(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Pass()]


class _Module:
    """A package module's top-level definitions and import bindings, and what each part uses."""

    def __init__(self, name: str):
        self.name = name
        path = module_file(name)
        assert path is not None, name
        self.is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_bytes(), filename=str(path))
        _strip_docstrings(tree)
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
                    target = (sub, None) if module_file(sub) else (module, alias.name)
                    out.append((alias.asname or alias.name, target))
        return out

    def nodes(self, attr: str | None) -> list[ast.AST] | None:
        """The syntax of a part: the top-level code (``attr`` None), a definition, or the value
        assigned to a module-level variable; None for a name the module imports from elsewhere."""
        if attr is None:
            return self.top
        if attr in self.defs:
            return [self.defs[attr]]
        if attr in self.values:  # a variable: what it holds may be called (a table of functions)
            return [self.values[attr]]
        return None

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


@cache
def _part(part: Part) -> tuple[list[ast.AST] | None, tuple[Part, ...]]:
    """A part's syntax and the parts it leads to (its references; for a module's top-level code,
    the parent packages too; for a re-exported name, what it names), computed once."""
    name, attr = part
    mod = _module(name)
    nodes = mod.nodes(attr)
    if nodes is None:
        target = mod.bindings.get(attr)  # a name the module re-exports from another
        return None, (target,) if target else ()
    nxt = set(mod.references(nodes))
    if attr is None:
        parts = name.split(".")
        nxt.update((".".join(parts[:i]), None) for i in range(1, len(parts)))
    return nodes, tuple(sorted(nxt, key=lambda p: (p[0], p[1] or "")))


def _walk(module: str, function: str | None) -> Iterator[tuple[Part, _Module, list[ast.AST]]]:
    """Every part that running ``module.function`` may run, once each, with its syntax."""
    seen: set[Part] = set()
    todo: list[Part] = [(module, None), (module, function)]
    while todo:
        part = todo.pop()
        if part in seen or not module_file(part[0]):
            continue
        seen.add(part)
        nodes, nxt = _part(part)
        todo.extend(nxt)
        if nodes is not None:
            yield part, _module(part[0]), nodes


def reached(module: str, function: str | None = None) -> set[Part]:
    """The package parts that running ``module.function`` (or importing ``module``) may run."""
    return {part for part, _, _ in _walk(module, function)}


def third_party_imports(module: str, function: str | None = None) -> dict[str, str]:
    """{third-party top-level module: the package part that imports it} of everything that running
    ``module.function`` may run."""
    found: dict[str, str] = {}
    for (name, attr), mod, nodes in _walk(module, function):
        for top in mod.third_party(nodes):
            found.setdefault(top, f"{name}.{attr}" if attr else name)
    return found


@cache
def code_version(entry: str) -> str:
    """The version of the code that ``entry`` (``module:function``, the function a command runs)
    may run, with the ``register`` of its module (its options' defaults): the first 16 hex digits
    of a sha256 over each reached part's name and syntax tree."""
    module, _, function = entry.partition(":")
    if module_file(module) is None or function not in _module(module).defs:
        raise ValueError(f"{entry}: no function {function!r} in a module {module} of {PACKAGE}")
    parts: set[Part] = set()
    for start in (function, "register"):
        parts.update(part for part, _, _ in _walk(module, start))
    digest = hashlib.sha256()
    for part in sorted(parts, key=lambda p: (p[0], p[1] or "")):
        digest.update(_dump(part))
    return digest.hexdigest()[:16]


@cache
def _dump(part: Part) -> bytes:
    name, attr = part
    nodes = _part(part)[0] or []
    return f"{name}:{attr or ''}\n".encode() + b"".join(ast.dump(node).encode() + b"\n" for node in nodes)


def package_digest() -> str:
    """sha256 over every module file of the package (path and bytes): the key of :class:`VersionCache`."""
    digest = hashlib.sha256()
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        data = path.read_bytes()
        digest.update(b"%s\0%d\0" % (path.relative_to(SRC).as_posix().encode(), len(data)))
        digest.update(data)
    return digest.hexdigest()


class VersionCache:
    """:func:`code_version` of entries, kept in a JSON file for this exact package source (its
    :func:`package_digest`): building the graph costs seconds, reading the files milliseconds, and
    the Snakefile asks on every run. A cache that cannot be read or written is rebuilt or skipped."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.key = package_digest()
        self.versions: dict[str, str] = {}
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
            if stored.get("package") == self.key:
                self.versions = dict(stored["versions"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass

    def get(self, entry: str) -> str:
        if entry not in self.versions:
            self.versions[entry] = code_version(entry)
            self._save()
        return self.versions[entry]

    def _save(self) -> None:
        tmp = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"package": self.key, "versions": self.versions}, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError:  # a read-only checkout or a full disk: versions are recomputed next time
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
