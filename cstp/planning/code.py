"""Which library code each kind of job runs, and a fingerprint of it that ignores what the
interpreter ignores (comments, docstrings, formatting).

A job's code is the modules its command imports, followed transitively through every `import`
of a `cstp` module (those inside functions included); each module counts by a hash of its syntax
tree without docstrings. The workflow names a stamp file by the fingerprint of each job kind, so a
real change to a module re-runs the jobs that import it, and nothing else.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from cstp.files import WriteError, write_text_atomic

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
    "table": "cstp.commands.table",
    "figure": "cstp.commands.figure",
}
# Bookkeeping that changes no output: the fingerprinting itself.
IGNORED = {"cstp.planning.code"}
# Bump when what _parse keeps changes, so that older cache entries are not read.
CACHE_FORMAT = 1


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


def _mentioned(name: str, is_package: bool, tree: ast.AST) -> list[str]:
    """Every module name that module `name`'s import statements mention anywhere in `tree`
    (relative imports resolved), whether or not it is a cstp module."""
    package = name if is_package else name.rpartition(".")[0]
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
    return sorted(found)


def _cstp_modules(mentioned: list[str], root: Path, files: dict | None = None) -> set[str]:
    """The cstp modules among `mentioned`, with the packages they are imported with (`files`:
    module_file's answers so far, by name)."""
    files = {} if files is None else files
    modules = set()
    for module in mentioned:
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # a module's packages are imported with it
            prefix = ".".join(parts[:i])
            if prefix not in files:
                files[prefix] = module_file(prefix, root)
            if files[prefix] is not None:
                modules.add(prefix)
    return modules


def _imported(name: str, tree: ast.AST, root: Path) -> set[str]:
    """The cstp modules (and their packages) that module `name` imports anywhere in `tree`."""
    is_package = module_file(name, root).name == "__init__.py"
    return _cstp_modules(_mentioned(name, is_package, tree), root)


def strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def _parse(path: Path, name: str) -> tuple[list[str], str]:
    """(the module names its imports mention, the hash of its syntax tree without docstrings)."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    mentioned = _mentioned(name, path.name == "__init__.py", tree)
    strip_docstrings(tree)
    digest = hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()[:16]
    return mentioned, digest


def cache_file() -> Path:
    """Where parsed modules are kept between processes: $XDG_CACHE_HOME/cstp (~/.cache/cstp)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cstp" / f"code-py{sys.version_info[0]}{sys.version_info[1]}.json"


@functools.cache
def _stored() -> dict[str, list]:
    try:
        stored = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return stored if isinstance(stored, dict) else {}


_unsaved: set[str] = set()
KEPT = 2000  # the newest parsed file versions the cache keeps


def _save() -> None:
    if _unsaved:
        stored = _stored()
        for key in list(stored)[: max(0, len(stored) - KEPT)]:
            del stored[key]
        with contextlib.suppress(OSError, WriteError):
            write_text_atomic(cache_file(), json.dumps(stored), "code cache")
        _unsaved.clear()


def _module(path: Path, name: str) -> tuple[list[str], str]:
    """_parse(path, name), kept by the content of the file and the module's name: every
    snakemake start and every job fingerprints mostly the same modules (a parse of all of them
    is about half a second here), so a file is parsed once per version on a machine. An
    unreadable or unwritable cache costs only the parse."""
    content = path.read_bytes()
    key = f"{CACHE_FORMAT} {name} {hashlib.sha256(content).hexdigest()}"
    stored = _stored()
    entry = stored.get(key)
    if not (isinstance(entry, list) and len(entry) == 2):
        stored[key] = list(_parse(path, name))
        _unsaved.add(key)
    mentioned, digest = stored[key]
    return mentioned, digest


def _walk(kind: str, root: Path) -> dict[str, tuple[Path, str]]:
    """Every cstp module a job of `kind` runs, by name: (its file, its source hash)."""
    if kind not in ENTRIES:
        raise KeyError(f"{kind!r} is not a kind of job ({', '.join(ENTRIES)})")
    entry = ENTRIES[kind].split(".")
    todo = ["cstp.cli", *(".".join(entry[:i]) for i in range(1, len(entry) + 1))]
    seen: dict[str, tuple[Path, str]] = {}
    files: dict[str, Path | None] = {}
    while todo:
        name = todo.pop()
        if name in seen or name in IGNORED:
            continue
        path = module_file(name, root)
        if path is None:
            continue
        mentioned, digest = _module(path, name)
        seen[name] = (path, digest)
        todo.extend(_cstp_modules(mentioned, root, files) - set(seen))
    _save()
    return dict(sorted(seen.items()))


def closure(kind: str, root: Path = ROOT) -> dict[str, Path]:
    """Every cstp module a job of `kind` runs, by name."""
    return {name: path for name, (path, _) in _walk(kind, root).items()}


def fingerprint(kind: str, root: Path = ROOT) -> dict:
    """{"kind", "digest", "modules": {module: hash}} of the code a job of `kind` runs."""
    modules = {name: digest for name, (_, digest) in _walk(kind, root).items()}
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
