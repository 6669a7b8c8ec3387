"""Code layout contracts: no import cycle anywhere, imports flow cli -> workflow -> core."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_graph() -> dict[str, set[str]]:
    """module -> project modules it imports (module level and inside functions)."""
    files = [*ROOT.glob("textgan/**/*.py"), *ROOT.glob("similarity/*.py"), ROOT / "cli.py"]
    mods = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p for p in files}
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


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(m, stack):
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (c := visit(n, stack + [n])):
                return c
        state[m] = 2
        return None

    for m in graph:
        if m not in state and (c := visit(m, [m])):
            return c
    return None


def test_no_import_cycle():
    graph = import_graph()
    # a package's __init__ re-exporting its submodules is not a cycle of concepts
    for pkg in [m for m in graph if (ROOT / m.replace(".", "/") / "__init__.py").exists()]:
        for m in graph:
            graph[m].discard(pkg) if m.startswith(pkg + ".") else None
    assert find_cycle(graph) is None, find_cycle(graph)


def test_nothing_imports_the_cli_and_the_gan_core_knows_no_text():
    graph = import_graph()
    assert not [m for m, deps in graph.items() if "cli" in deps]
    # the command modules are the CLI's: only cli.py and other command modules import them
    assert not [m for m, deps in graph.items() if not m.startswith(("cli", "textgan.commands"))
                and any(d.startswith("textgan.commands") for d in deps)]
    for m, deps in graph.items():
        if m.startswith("textgan.gan"):
            assert not {d for d in deps if d.startswith(("similarity", "textgan.workflow.core", "textgan.index.build"))}, m


def test_the_index_room_knows_no_encoder_and_no_workflow():
    graph = import_graph()
    rooms = [m for m in graph if m.startswith("textgan.index")]
    assert len(rooms) >= 10
    for m in rooms:
        assert not {d for d in graph[m] if d.startswith(("similarity", "textgan.workflow", "textgan.commands"))}, m
