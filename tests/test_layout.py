"""The shape of the library: layers that import only downwards, no import cycle between its
modules, modules and functions of a readable size, a torch-free planning side."""

import ast
import graphlib
import subprocess
import sys
from pathlib import Path

import pytest

from cstp.planning.code import _imported, module_file

ROOT = Path(__file__).resolve().parents[1] / "cstp"
# Bottom to top; a module may import its own layer and the ones below it.
LAYERS = [
    ("cstp", "cstp.errors", "cstp.files", "cstp.specs", "cstp.distributed", "cstp.losses"),
    ("cstp.data",),
    ("cstp.planning",),
    ("cstp.sampling",),
    ("cstp.models",),
    ("cstp.engine", "cstp.bench"),
    ("cstp.reporting",),
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


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports anywhere (inside functions too). A package's `__init__`
    counts where it imports something itself, except from the modules inside it (Python
    initialises a module's packages before the module, whatever the module imports)."""
    graph = {name: _imported(name, ast.parse(path.read_text()), ROOT) for name, path in modules()}
    faces = {n for n, path in modules() if path.name == "__init__.py" and not graph[n]}

    def packages(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))}

    return {name: found - faces - packages(name) - {name} for name, found in graph.items()}


def test_no_module_imports_itself_back_through_others():
    try:
        order = list(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")
    assert len(order) == len(list(modules()))


def test_the_cycle_check_sees_a_cycle():
    graph = import_graph()
    graph["cstp.planning.config"] = graph["cstp.planning.config"] | {"cstp.planning.plan"}
    with pytest.raises(graphlib.CycleError):
        list(graphlib.TopologicalSorter(graph).static_order())


def test_every_planning_module_imports_no_torch():
    names = [name for name, _ in modules() if name.startswith("cstp.planning")]
    code = f"import importlib, sys; [importlib.import_module(n) for n in {names!r}]; "
    code += "print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
    assert module_file("cstp.planning.plan", ROOT) is not None


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
        "import sys, yaml; from cstp.planning.plan import Plan; import cstp.planning.status; "
        "Plan.from_config(yaml.safe_load(open('config.yaml'))); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT.parent, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
