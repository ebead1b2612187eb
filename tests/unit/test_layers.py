"""The house's layers: no import cycle between the modules or the packages of
``src/onsale``, and ``events/`` at the bottom (it imports no other domain).

Imports are read with :mod:`ast` from every module, at the top and inside
functions alike (a function-level import is still a dependency, only a late
one). Imports under ``if TYPE_CHECKING:`` are exempt: they are annotations,
never run, and a type may name a layer above (``http.runtime_of`` returns a
``Runtime``).

The nodes of the package graph are the domain packages (admin, checkout,
events, inventory, monitoring, queue, web) and each top-level module
(``http``, ``redis``, ``runtime``...) on its own.

On the tree before the events package (main at e1311fc) this failed::

    test_no_cycle_between_packages: assert [['admin', 'checkout', 'http',
      'inventory', 'monitoring', 'queue', 'redis', 'runtime']] == []
    test_the_graph_is_read: assert 'onsale.events.policy' in
      {'onsale.admin.policy', 'onsale.errors'}
    test_the_server_secret_is_unwrapped_in_one_place: ['onsale.checkout.routes',
      'onsale.checkout.service', 'onsale.inventory.routes', 'onsale.runtime']
      != ['onsale.tokens']

(its module cycle http -> runtime -> inventory.service -> inventory.seatmap
-> http ran through an ``if TYPE_CHECKING`` import, exempt here.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import onsale

SRC = Path(onsale.__file__).parent
DOMAINS = (
    "admin",
    "checkout",
    "events",
    "inventory",
    "monitoring",
    "payments",
    "queue",
    "tickets",
    "web",
)
# What events/ may import besides itself: the shared modules at the top level
# and the metric helpers (monitoring.timing / metrics import no domain).
EVENTS_MAY_IMPORT = ("onsale.monitoring.timing", "onsale.monitoring.metrics")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        if "migrations" in rel.parts:
            continue  # alembic loads them by file; nothing imports them
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(nodes: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """Every node below ``nodes``, except the bodies of ``if TYPE_CHECKING:``."""
    for node in nodes:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk(node.orelse)
            continue
        yield node
        yield from _walk(ast.iter_child_nodes(node))


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The onsale modules ``path`` imports (``from onsale.x import y`` names
    ``onsale.x.y`` when that is a module, else ``onsale.x``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _walk([tree]):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("onsale"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not node.module.startswith("onsale"):
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in modules else node.module)
    return {m for m in found if m in modules}


def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def package_of(module: str) -> str:
    """``onsale.queue.store`` -> ``queue``; a top-level module is its own."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def package_graph(modules: dict[str, set[str]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, deps in modules.items():
        a = package_of(module)
        edges.setdefault(a, set()).update(package_of(d) for d in deps if package_of(d) != a)
    return edges


def test_the_graph_is_read() -> None:
    """The reader sees real edges (a test that cannot fail would pass here too)."""
    g = graph()
    assert "onsale.events.policy" in g["onsale.inventory.policy"]
    assert "onsale.queue.store" in g["onsale.runtime"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_cycle_between_modules() -> None:
    assert cycles(graph()) == []


def test_no_cycle_between_packages() -> None:
    packages = package_graph(graph())
    assert cycles(packages) == []
    assert set(DOMAINS) <= set(packages)


def test_events_imports_no_other_domain() -> None:
    for module, deps in graph().items():
        if package_of(module) != "events":
            continue
        for dep in deps:
            pkg = package_of(dep)
            assert pkg == "events" or pkg not in DOMAINS or dep in EVENTS_MAY_IMPORT, (
                f"{module} imports {dep}"
            )


def test_the_server_secret_is_unwrapped_in_one_place() -> None:
    """tokens.Signer owns the secret; every other module is handed the signer
    (before: five modules called ``secret_key.reveal()``)."""
    unwrapping = sorted(
        name
        for name, path in _modules().items()
        if "secret_key.reveal()" in path.read_text(encoding="utf-8")
        or "secret.reveal()" in path.read_text(encoding="utf-8")
    )
    assert unwrapping == ["onsale.tokens"]
