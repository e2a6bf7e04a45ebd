"""The package's floor plan, checked on the source (README "Code layout"; issue 12).

Every module is parsed with `ast`, so imports inside functions count as much as those at the top.
- Data flows one way: a part imports only parts below it in `LAYERS` (never a sibling on its
  own level, never one above), so the parts cannot form a circle. `importlib.import_module` and
  `__import__` calls count too; one whose module name is built at run time is an error.
- `argparse` is imported, and `os.environ` written, only under `focusgan/cli/`: the library
  takes plain values and never sees the command line or changes the environment.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "focusgan"

# Top to bottom; parts on one line are siblings that must not import each other.
LAYERS = (
    ("__main__",),
    ("cli",),
    ("report",),
    ("experiment",),
    ("metrics",),
    ("training",),
    ("prepare",),
    ("video",),
    ("data", "models"),
    ("utils",),
    ("errors", "__init__"),
)
RANK = {part: i for i, parts in enumerate(LAYERS) for part in parts}


@functools.cache
def modules() -> dict[str, ast.Module]:
    """Every module of the package: dotted name -> parsed tree."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        out[".".join(rel.parts)] = ast.parse(path.read_text(), str(path))
    return out


def part(module: str) -> str:
    """The top-level part of a dotted module name: focusgan.data.dataset -> data."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def _package(name: str) -> str:
    """The package a module's relative imports start from: focusgan.data for both
    focusgan.data.dataset and focusgan.data.__init__ (a package's own `__init__.py`)."""
    return name.rpartition(".")[0]


def _text(node: ast.AST) -> str | None:
    """The string an expression spells out: a literal, a `+` of literals, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return None if left is None or right is None else left + right
    return None


def _dynamic_imports(name: str, tree: ast.Module) -> tuple[set[str], list[int]]:
    """The modules `tree` may load with `importlib.import_module` or `__import__` (under any
    name), and the lines of such calls whose module the check cannot read.

    In a module that mentions either function, every `focusgan` module it spells out as a
    string (a literal or a `+` of literals) counts as imported, and so does a call's relative
    literal (resolved against its `package` argument, else `name`'s package). A call whose
    argument is neither a literal nor a variable (which may hold any of those strings, e.g. a
    loop over a tuple of names) builds its module at run time and is reported."""
    nodes = list(ast.walk(tree))
    aliases = {
        a.asname
        for n in nodes
        if isinstance(n, ast.ImportFrom) and n.module == "importlib"
        for a in n.names
        if a.name == "import_module" and a.asname
    }
    loaders = {"import_module", "__import__", *aliases}

    def is_loader(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id in loaders) or (
            isinstance(node, ast.Attribute) and node.attr in loaders
        )

    if not aliases and not any(is_loader(n) for n in nodes):
        return set(), []
    strings = {t for n in nodes if (t := _text(n)) is not None}
    out = {t for t in strings if t == "focusgan" or t.startswith("focusgan.")}
    unreadable = []
    for node in nodes:
        if not (isinstance(node, ast.Call) and is_loader(node.func) and node.args):
            continue
        target = _text(node.args[0])
        if target is not None and target.startswith("."):
            package = node.args[1] if len(node.args) > 1 else None
            package = next((k.value for k in node.keywords if k.arg == "package"), package)
            base = _text(package) if package is not None else _package(name)
            if base is None:  # a package named at run time
                unreadable.append(node.lineno)
            else:
                out.add(importlib.util.resolve_name(target, base))
        elif target is None and not (isinstance(node.args[0], ast.Name) and out):
            unreadable.append(node.lineno)
    return out, unreadable


def imported(name: str, tree: ast.Module) -> set[str]:
    """Every module `tree` imports, anywhere in it (relative imports resolved against `name`),
    `import_module`/`__import__` calls included (see `_dynamic_imports`)."""
    out = _dynamic_imports(name, tree)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = importlib.util.resolve_name("." * node.level + base, _package(name))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def part_edges(trees: dict[str, ast.Module] | None = None) -> set[tuple[str, str, str]]:
    """(importing part, imported part, importing module) for imports across parts."""
    edges = set()
    for name, tree in (modules() if trees is None else trees).items():
        for target in imported(name, tree):
            if target == "focusgan" or target.startswith("focusgan."):
                a, b = part(name), part(target)
                known = b in RANK or (PACKAGE / b).is_dir() or (PACKAGE / f"{b}.py").exists()
                if a != b and known:
                    edges.add((a, b, name))
    return edges


def layer_violations(trees: dict[str, ast.Module] | None = None) -> list[str]:
    """Imports against the layer order, and dynamic imports the check cannot read."""
    wrong = [
        f"{module} ({a}) imports {b}"
        for a, b, module in part_edges(trees)
        if RANK.get(b, -1) <= RANK.get(a, len(LAYERS))
    ]
    for name, tree in (modules() if trees is None else trees).items():
        for line in _dynamic_imports(name, tree)[1]:
            wrong.append(f"{name} line {line}: a dynamic import of a module built at run time")
    return sorted(wrong)


def test_every_part_has_a_layer():
    parts = {part(name) for name in modules()}
    assert parts <= set(RANK), f"add {sorted(parts - set(RANK))} to LAYERS (and the README)"


def test_imports_only_go_down_so_the_parts_form_no_circle():
    wrong = layer_violations()
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_the_layer_check_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from focusgan.cli import main\n")
    assert "focusgan.cli" in imported("focusgan.data.x", tree)


def test_the_layer_check_resolves_relative_imports_of_a_package_init():
    """`from ..report import plots` in focusgan/data/__init__.py is focusgan.report.plots (the
    package is focusgan.data, not the empty name an `__init__` was once given)."""
    for name, code in (
        ("focusgan.data.__init__", "from ..report import plots\n"),
        ("focusgan.data.__init__", "def f():\n    from .. import report\n"),
        ("focusgan.__init__", "from . import report\n"),
        ("focusgan.__init__", "from .report.report import write_report\n"),
        ("focusgan.data.labels", "from ..report import plots\n"),
    ):
        wrong = layer_violations({name: ast.parse(code)})
        assert wrong == [f"{name} ({part(name)}) imports report"], (name, code)
    same = {"focusgan.data.__init__": ast.parse("from .dataset import read_info\n")}
    assert imported("focusgan.data.__init__", same["focusgan.data.__init__"]) == {
        "focusgan.data.dataset",
        "focusgan.data.dataset.read_info",
    }
    assert not layer_violations(same)


def test_the_layer_check_sees_import_module_strings():
    name = "focusgan.data.labels"
    for code in (
        "import importlib\nimportlib.import_module('focusgan.report.report')\n",
        "from importlib import import_module as load\nload('focusgan.report')\n",
        "import importlib\nimportlib.import_module('.report', package='focusgan')\n",
        "import importlib\nimportlib.import_module('..report.plots', 'focusgan.data')\n",
        "def f():\n    return __import__('focus' + 'gan.report.plots')\n",
        "import importlib\nfor m in ('focusgan.utils', 'focusgan.report'):\n"
        "    importlib.import_module(m)\n",
    ):
        assert layer_violations({name: ast.parse(code)}) == [f"{name} (data) imports report"], code
    for unreadable in (
        "import importlib, sys\nimportlib.import_module(sys.argv[1])\n",
        "import importlib, sys\nimportlib.import_module('.report', sys.argv[1])\n",
    ):
        assert layer_violations({name: ast.parse(unreadable)}) == [
            f"{name} line 2: a dynamic import of a module built at run time"
        ], unreadable
    ok = "import importlib\nimportlib.import_module('focusgan.utils.atomic')\n"
    assert not layer_violations({name: ast.parse(ok)})


def _writes_environ(tree: ast.Module) -> bool:
    def is_environ(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
            isinstance(node, ast.Name) and node.id == "environ"
        )

    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        if any(isinstance(t, ast.Subscript) and is_environ(t.value) for t in targets):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if f.attr in ("update", "setdefault", "pop", "clear", "popitem") and is_environ(
                f.value
            ):
                return True
            if f.attr in ("putenv", "unsetenv"):
                return True
    return False


def test_argparse_and_environment_writes_only_in_the_command_line_layer():
    outside = [n for n in modules() if part(n) not in ("cli", "__main__")]
    uses_argparse = [n for n in outside if "argparse" in imported(n, modules()[n])]
    writes_env = [n for n in outside if _writes_environ(modules()[n])]
    assert not uses_argparse, f"argparse outside focusgan/cli/: {uses_argparse}"
    assert not writes_env, f"os.environ written outside focusgan/cli/: {writes_env}"


def test_the_environment_check_can_fail():
    for code in (
        "import os\nos.environ['X'] = '1'\n",
        "import os\nos.environ.setdefault('X', '1')\n",
        "from os import environ\ndel environ['X']\n",
    ):
        assert _writes_environ(ast.parse(code)), code
    assert not _writes_environ(ast.parse("import os\nx = os.environ.get('X')\n"))


def test_the_command_line_starts_without_torch():
    """Every parser is built from options dataclasses that import no model code, so
    `focusgan --help` (and a prepare without the classifier) starts in a moment."""
    import subprocess
    import sys

    code = "import sys\nfrom focusgan.cli import build_parser\nbuild_parser()\nprint('torch' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
