"""The package's floor plan, checked on the source (README "Code layout"; issue 12).

Every module is parsed with `ast`, so imports inside functions count as much as those at the top.
- Data flows one way: a part imports only parts below it in `LAYERS` (never a sibling on its
  own level, never one above), so the parts cannot form a circle.
- `argparse` is imported, and `os.environ` written, only under `focusgan/cli/`: the library
  takes plain values and never sees the command line or changes the environment.
"""

from __future__ import annotations

import ast
import functools
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


def imported(name: str, tree: ast.Module) -> set[str]:
    """Every module `tree` imports, anywhere in it (relative imports resolved against `name`)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".")[: -node.level] if not name.endswith("__init__") else []
                base = ".".join([*package, base]).strip(".")
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def part_edges() -> set[tuple[str, str, str]]:
    """(importing part, imported part, importing module) for imports across parts."""
    edges = set()
    for name, tree in modules().items():
        for target in imported(name, tree):
            if target == "focusgan" or target.startswith("focusgan."):
                a, b = part(name), part(target)
                known = b in RANK or (PACKAGE / b).is_dir() or (PACKAGE / f"{b}.py").exists()
                if a != b and known:
                    edges.add((a, b, name))
    return edges


def test_every_part_has_a_layer():
    parts = {part(name) for name in modules()}
    assert parts <= set(RANK), f"add {sorted(parts - set(RANK))} to LAYERS (and the README)"


def test_imports_only_go_down_so_the_parts_form_no_circle():
    wrong = sorted(
        f"{module} ({a}) imports {b}"
        for a, b, module in part_edges()
        if RANK.get(b, -1) <= RANK.get(a, len(LAYERS))
    )
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)


def test_the_layer_check_sees_imports_inside_functions():
    tree = ast.parse("def f():\n    from focusgan.cli import main\n")
    assert "focusgan.cli" in imported("focusgan.data.x", tree)


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
