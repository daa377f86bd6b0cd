"""Imports only point down the layers of ARCHITECTURE.md part 2 (parsed, not executed).

  data/      nothing of stitch but data/          (the bottom: loading, samplers, collection)
  networks/  nothing of stitch but networks/
  configs/   nothing of stitch but configs/
  algos/     algos/, data/, networks/, configs/
  train_offline.py, scripts/: anything
No library module imports a stitch module inside a function (the way a circle gets dodged).
"""
import ast
import os

import pytest

from tests.conftest import REPO

OURS = ("algos", "configs", "data", "networks", "scripts", "train_offline")
ALLOWED = {
    "data": {"data"},
    "networks": {"networks"},
    "configs": {"configs"},
    "algos": {"algos", "data", "networks", "configs"},
}


def _modules(package):
    folder = os.path.join(REPO, package)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".py"))


def stitch_imports(path):
    """(top-level package, line, inside a function?) of every import of a stitch module."""
    tree = ast.parse(open(path).read(), path)
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            names = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module]
            for name in names:
                top = name.split(".")[0]
                if top in OURS:
                    found.append((top, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down(package):
    upward, hidden = [], []
    for path in _modules(package):
        for top, line, in_function in stitch_imports(path):
            where = f"{os.path.relpath(path, REPO)}:{line} imports {top}"
            if top not in ALLOWED[package]:
                upward.append(where)
            if in_function:
                hidden.append(where)
    assert not upward, f"upward imports (allowed for {package}/: {sorted(ALLOWED[package])}): {upward}"
    assert not hidden, f"imports inside functions: {hidden}"


def test_the_checker_sees_an_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy\nfrom data import spec\n\ndef f():\n    from algos import trainer\n")
    assert stitch_imports(str(bad)) == [("data", 2, False), ("algos", 5, True)]


def test_importing_data_loads_no_algorithm():
    import subprocess
    import sys
    code = "import sys, data.dataset, data.samplers, data.collect; print(sorted(m for m in sys.modules if m.split('.')[0] in ('algos', 'networks', 'configs')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
