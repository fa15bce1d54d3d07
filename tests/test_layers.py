"""The house has floors: wiring (settings, urls, asgi, routing) → doors (graph, dashboard, realtime) →
features (monitoring, connectors) → the domain core (portal). A module imports from its own floor and the
ones below, never above, and no import cycle exists. Every import counts, function-local ones included;
a function-local import is allowed only where Django needs one (``AppConfig.ready`` loads models after
the app registry) or an optional, platform-specific dependency does."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("portal", "dashboard", "graph", "realtime", "monitoring", "connectors")
WIRING = {"portal.settings", "portal.urls", "portal.asgi", "portal.routing"}
FLOORS = {"portal": 1, "monitoring": 2, "connectors": 2, "graph": 3, "dashboard": 3, "realtime": 3}
FLOOR_NAMES = {1: "core", 2: "features", 3: "doors", 4: "wiring"}


def floor_of(module: str) -> int:
    return 4 if module in WIRING else FLOORS[module.split(".")[0]]


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for inner in ast.walk(node)}
    return skipped


def _imports(module: str) -> list[tuple[str, int, str | None]]:
    """(imported module, line, enclosing function or None) for every import of our packages."""
    tree = ast.parse(MODULES[module].read_text())
    skipped = _type_checking_nodes(tree)
    found: list[tuple[str, int, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if id(child) in skipped:
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                visit(child, child.name if function is None else f"{function}.{child.name}")
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names = [child.module, *(f"{child.module}.{alias.name}" for alias in child.names)]
            for name in names:
                target = _resolve(name) if name.split(".")[0] in PACKAGES else None
                if target and target != module:
                    found.append((target, child.lineno, function))
            visit(child, function)

    visit(tree, None)
    return found


IMPORTS = {module: _imports(module) for module in MODULES}


def test_nothing_imports_upward():
    upward = sorted({f"{module}:{line} ({FLOOR_NAMES[floor_of(module)]}) imports {target} "
                    f"({FLOOR_NAMES[floor_of(target)]})"
                    for module, imports in IMPORTS.items() for target, line, _ in imports
                    if floor_of(target) > floor_of(module)})
    assert upward == []


def test_there_is_no_import_cycle():
    graph = defaultdict(set)
    for module, imports in IMPORTS.items():
        graph[module] |= {target for target, _, _ in imports}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def strongly_connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for neighbour in graph[node]:
            if neighbour not in index:
                strongly_connect(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in list(graph):
        if module not in index:
            strongly_connect(module)
    assert cycles == []


def test_function_local_imports_only_where_django_needs_them():
    """Imports inside functions or class bodies hide a module's real dependencies (and, often, a cycle)."""
    hidden = sorted({f"{module}:{line} in {function} imports {target}"
                     for module, imports in IMPORTS.items() for target, line, function in imports
                     if function is not None and not (module.endswith(".apps") and function.endswith(".ready"))})
    assert hidden == []


def test_the_agent_imports_nothing_of_the_server():
    """The agent installs and runs on its own (its own pyproject, psutil, websockets, cryptography)."""
    found = []
    for path in (REPO / "agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            found += [f"{path.relative_to(REPO)}: {name}" for name in names
                      if name.split(".")[0] in (*PACKAGES, "django", "channels", "strawberry")]
    assert found == []


# The parts behind an app's public services: doors (pages, GraphQL) call ``services`` and read through
# ``selectors``, so a rule a write keeps (rights, audit, validation) cannot be skipped by calling past it.
BEHIND_SERVICES = {"portal.actions.library", "portal.actions.scheduling", "portal.actions.requests",
                   "monitoring.polling", "monitoring.camera_checks", "monitoring.evaluation",
                   "monitoring.notifications", "connectors.engine", "connectors.records", "connectors.sync",
                   "connectors.pulseway_actions"}


def test_doors_write_through_each_apps_services():
    past = sorted({f"{module}:{line} imports {target}"
                   for module, imports in IMPORTS.items() if module.split(".")[0] in ("graph", "dashboard")
                   for target, line, _ in imports if target in BEHIND_SERVICES})
    assert past == []


def test_every_app_has_public_services():
    apps = {path.parent for path in REPO.glob("*/*/apps.py")} | {path.parent for path in REPO.glob("*/apps.py")}
    writing = {app for app in apps if (app / "models.py").exists() and app.name not in ("events", "realtime")}
    assert sorted(str(app.relative_to(REPO)) for app in writing if not (app / "services.py").exists()) == []
