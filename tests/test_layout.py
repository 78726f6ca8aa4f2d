"""The shape of the library: layers that import only downwards, modules and functions of a
readable size, a torch-free planning side."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from cstp.workflow.code import _imported

ROOT = Path(__file__).resolve().parents[1] / "cstp"
# Bottom to top; a module may import its own layer and the ones below it.
LAYERS = [
    ("cstp", "cstp.errors", "cstp.files", "cstp.specs", "cstp.distributed", "cstp.losses"),
    ("cstp.data",),
    ("cstp.sampling",),
    ("cstp.models",),
    ("cstp.engine", "cstp.bench"),
    ("cstp.workflow",),
    ("cstp.commands", "cstp.cli", "cstp.__main__"),
]


def layer(module: str) -> int:
    """The layer of the longest name in LAYERS that is `module` or a package above it."""
    matches = [
        (len(name), i)
        for i, names in enumerate(LAYERS)
        for name in names
        if module == name or module.startswith(f"{name}.")
    ]
    assert matches, module
    return max(matches)[1]


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def test_no_layer_imports_a_layer_above_it():
    wrong = []
    for name, path in modules():
        for imported in _imported(name, ast.parse(path.read_text()), ROOT):
            if layer(imported) > layer(name):
                wrong.append(f"{name} imports {imported}")
    assert not wrong


@pytest.mark.parametrize(("name", "path"), list(modules()), ids=lambda v: str(v))
def test_modules_and_functions_are_of_a_readable_size(name, path):
    text = path.read_text()
    assert text.count("\n") <= 400, f"{path}: {text.count(chr(10))} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= 60, f"{path}:{node.lineno} {node.name} is {length} lines"


def test_planning_a_study_imports_no_torch():
    code = (
        "import sys, yaml; from cstp.workflow.plan import Plan; import cstp.workflow.status; "
        "Plan.from_config(yaml.safe_load(open('config.yaml'))); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
