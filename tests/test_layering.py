"""The package's layering: no import cycles between its modules, and the pure layers stay free of MXNet."""
import ast
import pathlib

import oneshot_nas

ROOT = pathlib.Path(oneshot_nas.__file__).parent


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: pathlib.Path):
    """Modules of the package imported anywhere in ``path`` (function-level imports included)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("oneshot_nas"):
                out.add(target)
                out.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name.startswith("oneshot_nas"))
    return out


def graph():
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        # a module depends on the modules it names (a package's __init__ when it names the package); a
        # package's __init__ re-exporting its own modules is not a dependency between concepts
        edges[name] = {t for t in imports_of(path) if t in modules and t != name and not t.startswith(name + ".")}
    return edges


def test_no_import_cycles():
    edges = graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_lower_layers_do_not_import_upper_ones():
    edges = graph()
    lower = ("oneshot_nas.space", "oneshot_nas.options", "oneshot_nas.errors", "oneshot_nas.schedules",
             "oneshot_nas.nn", "oneshot_nas.costs")
    upper = ("oneshot_nas.training", "oneshot_nas.search", "oneshot_nas.deploy", "oneshot_nas.cli",
             "oneshot_nas.sampling", "oneshot_nas.benchmark", "oneshot_nas.rank_study")
    bad = [(m, t) for m, targets in edges.items() if m.startswith(lower) for t in targets if t.startswith(upper)]
    assert not bad, bad
    for pure in ("space.py", "options.py", "schedules.py"):
        assert "mxnet" not in (ROOT / pure).read_text().replace("MXNet", "")
