"""The layout's rules (README "Layout"), one test each, read from the source with `ast`:

    cli.py -> textgan.commands -> textgan.workflow -> similarity, textgan.{gan,index,ood,metrics}
           -> textgan.common

Imports inside functions count: a lazy import is still a dependency.
"""
import ast
from pathlib import Path

from helpers import ROOT

MAX_LINES = 400
SOURCES = [*sorted(ROOT.glob("textgan/**/*.py")), *sorted(ROOT.glob("similarity/**/*.py")), ROOT / "cli.py"]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    """module -> project modules it imports (module level and inside functions)."""
    mods = {module_name(p): p for p in SOURCES}
    graph = {m: set() for m in mods}
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            graph[m] |= {n for n in names if n in mods and n != m}
    return graph


def inside(module: str, *packages: str) -> bool:
    """`module` is one of `packages` or a submodule of one."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def breaches(allowed, importers: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """{module (of `importers`, default every module): its project imports that `allowed(module, dep)`
    refuses}."""
    out = {}
    for m, deps in import_graph().items():
        if importers is None or inside(m, *importers):
            if bad := sorted(d for d in deps if not allowed(m, d)):
                out[m] = bad
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(m, stack):
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n, stack + [n])):
                return c
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m, [m])):
            return c
    return None


def test_the_graph_sees_every_folder():
    # guards the rules below against passing on an empty or misread graph
    graph = import_graph()
    for pkg in ("cli", "similarity", "textgan.common", "textgan.gan", "textgan.index", "textgan.ood",
                "textgan.workflow", "textgan.commands"):
        assert any(inside(m, pkg) for m in graph), f"no module found under {pkg}"
    assert "textgan.common.errors" in graph["cli"], "cli.py's import of textgan.common.errors was not seen"


def test_common_imports_nothing_of_the_project():
    bad = breaches(lambda m, d: inside(d, "textgan.common"), ("textgan.common",))
    assert not bad, f"textgan.common must import nothing of the project (errors, artifacts, ... sit below all): {bad}"


def test_similarity_imports_only_common():
    bad = breaches(lambda m, d: inside(d, "similarity", "textgan.common"), ("similarity",))
    assert not bad, f"similarity may import only itself and textgan.common: {bad}"


def test_vector_layers_never_import_text_layers():
    text_side = ("similarity", "textgan.workflow", "textgan.commands", "cli")
    vector_side = ("textgan.gan", "textgan.index", "textgan.ood", "textgan.metrics")
    bad = breaches(lambda m, d: not inside(d, *text_side), vector_side)
    assert not bad, (f"textgan.gan, textgan.index, textgan.ood and textgan.metrics take vectors, never text: "
                     f"they must not import {', '.join(text_side)}: {bad}")


def test_only_workflow_and_commands_load_encoders():
    users = ("similarity", "textgan.workflow", "textgan.commands", "cli")
    bad = breaches(lambda m, d: inside(m, *users) or not inside(d, "similarity"))
    assert not bad, f"only textgan.workflow and textgan.commands (and cli.py) may import similarity: {bad}"


def test_only_cli_imports_commands():
    def allowed(m, d):
        if not inside(d, "textgan.commands"):
            return True
        # the command modules share textgan.commands.common, nothing else of each other
        return m == "cli" or (inside(m, "textgan.commands") and d in ("textgan.commands", "textgan.commands.common"))

    bad = breaches(allowed)
    assert not bad, f"only cli.py imports textgan.commands (command modules may import textgan.commands.common): {bad}"


def test_nothing_imports_the_cli():
    bad = breaches(lambda m, d: d != "cli")
    assert not bad, f"cli.py is the top: nothing may import it: {bad}"


def test_no_import_cycle():
    graph = import_graph()
    # a package's __init__ re-exporting its submodules is not a cycle of concepts
    for pkg in [m for m in graph if (ROOT / m.replace(".", "/") / "__init__.py").exists()]:
        for m in graph:
            if m.startswith(pkg + "."):
                graph[m].discard(pkg)
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in SOURCES
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (probably two concepts each; split them): {long}"


def test_every_validate_returns_none():
    """The project's verb: `validate()` raises or returns None, never `self` (a caller that chains
    `cfg = X(...).validate()` reads as if validating built something new)."""
    bad = []
    for p in SOURCES:
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "validate":
                returns = [r for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None]
                annotated = isinstance(node.returns, ast.Constant) and node.returns.value is None
                if returns or not annotated:
                    bad.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not bad, bad
