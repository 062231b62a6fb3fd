"""The package's import graph: no cycles, and each layer of the design imports only the layers below it.

The layers, lowest first, as docs/design.md draws them. A module may import
its own layer's modules and any lower layer's, never a higher one's.
Imports are read from the source (top-level and inside functions alike).
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "aigc_np"

LAYERS = [
    ("core", ["aigc_np.layers", "aigc_np.losses", "aigc_np.optimizers", "aigc_np.gradcheck",
              "aigc_np.initializers"]),
    ("infrastructure", ["aigc_np.data", "aigc_np.io", "aigc_np.plotting", "aigc_np.progress", "aigc_np.threads"]),
    ("models", ["aigc_np.models", "aigc_np.text"]),
    ("evaluation", ["aigc_np.evaluation"]),
    ("kinds", ["aigc_np.kinds", "aigc_np.plan"]),
    ("loop", ["aigc_np.checkpoint", "aigc_np.runfolder", "aigc_np.training"]),
    ("serve", ["aigc_np.serve"]),
    ("cli", ["aigc_np.cli", "aigc_np.__main__"]),
    ("course", ["aigc_np.course"]),
    ("tools", ["aigc_np.tools"]),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set:
    """The aigc_np modules ``path`` imports (``from . import x`` counts as importing x)."""
    name, is_package = module_name(path), path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    # A module's own packages are always initialized before it: importing a sibling through them
    # ("from . import base") is an edge to the sibling, not to the package.
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return {m for m in found if m in modules and m != name and m not in ancestors}


def graph() -> dict:
    return {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int:
    if module == "aigc_np":
        return -1
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{module} belongs to no layer of docs/design.md; add it to LAYERS")


def cycles(edges: dict) -> list:
    """Every strongly connected group of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))
    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_the_package_has_no_import_cycle():
    found = cycles({m: {t for t in targets if t != "aigc_np"} for m, targets in graph().items()})
    assert not found, f"import cycles: {found}"


def test_each_layer_imports_only_itself_and_the_layers_below():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in graph().items() for t in sorted(targets)
              if t != "aigc_np" and layer_of(t) > layer_of(m)]
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def test_the_checks_catch_a_cycle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert layer_of("aigc_np.cli.train") > layer_of("aigc_np.kinds.text") > layer_of("aigc_np.layers.dense")
    with pytest.raises(AssertionError, match="belongs to no layer"):
        layer_of("aigc_np.nowhere")
