"""Which library code each kind of job runs, and a fingerprint of it that ignores what the
interpreter ignores (comments, docstrings, formatting).

A job's code is the modules its command imports, followed transitively through every `import`
of a `cstp` module (those inside functions included); each module counts by a hash of its syntax
tree without docstrings. The workflow names a stamp file by the fingerprint of each job kind, so a
real change to a module re-runs the jobs that import it, and nothing else.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "cstp"
ROOT = Path(__file__).resolve().parents[1]  # the installed cstp/ folder
# The command module of each kind of job (every job also runs cstp.cli).
ENTRIES = {
    "synth": "cstp.commands.synth",
    "scan": "cstp.commands.data",
    "cache": "cstp.commands.cache",
    "pretrain": "cstp.commands.pretrain",
    "finetune": "cstp.commands.finetune",
    "evaluate": "cstp.commands.evaluate",
    "features": "cstp.commands.features",
    "table": "cstp.commands.plan",
    "figure": "cstp.commands.figure",
}
# Bookkeeping that changes no output: the fingerprinting itself.
IGNORED = {"cstp.workflow.code"}


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """cstp.a.b -> root/a/b.py or root/a/b/__init__.py; None when it is not a cstp module."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(name: str, tree: ast.AST, root: Path) -> set[str]:
    """The cstp modules (and their packages) that module `name` imports anywhere in `tree`."""
    package = name if module_file(name, root).name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = set()
    for module in found:
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # a module's packages are imported with it
            prefix = ".".join(parts[:i])
            if module_file(prefix, root) is not None:
                modules.add(prefix)
    return modules


def strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


@functools.cache
def _module(path: str, _mtime: int, name: str, root: str) -> tuple[frozenset[str], str]:
    """(the cstp modules it imports, its source hash), parsed once per file version: the
    workflow fingerprints seven kinds of job over mostly the same modules at every start."""
    tree = ast.parse(Path(path).read_text(), filename=path)
    imports = frozenset(_imported(name, tree, Path(root))) if name else frozenset()
    strip_docstrings(tree)
    digest = hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()[:16]
    return imports, digest


def closure(kind: str, root: Path = ROOT) -> dict[str, Path]:
    """Every cstp module a job of `kind` runs, by name."""
    if kind not in ENTRIES:
        raise KeyError(f"{kind!r} is not a kind of job ({', '.join(ENTRIES)})")
    entry = ENTRIES[kind].split(".")
    todo = ["cstp.cli", *(".".join(entry[:i]) for i in range(1, len(entry) + 1))]
    seen: dict[str, Path] = {}
    while todo:
        name = todo.pop()
        if name in seen or name in IGNORED:
            continue
        path = module_file(name, root)
        if path is None:
            continue
        seen[name] = path
        imports, _ = _module(str(path), path.stat().st_mtime_ns, name, str(root))
        todo.extend(imports - set(seen))
    return dict(sorted(seen.items()))


def fingerprint(kind: str, root: Path = ROOT) -> dict:
    """{"kind", "digest", "modules": {module: hash}} of the code a job of `kind` runs."""
    modules = {
        name: _module(str(path), path.stat().st_mtime_ns, name, str(root))[1]
        for name, path in closure(kind, root).items()
    }
    text = "\n".join(f"{name} {digest}" for name, digest in modules.items())
    return {
        "kind": kind,
        "digest": hashlib.sha256(text.encode()).hexdigest()[:10],
        "modules": modules,
    }


def changed(recorded: dict, current: dict) -> list[str]:
    """The modules whose code differs between two fingerprints (added and removed included)."""
    old, new = recorded.get("modules", {}), current["modules"]
    return sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
