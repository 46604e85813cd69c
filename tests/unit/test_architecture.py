"""Rules of ARCHITECTURE.md that a parse of the code can hold: its layout table's "may import" column, no import
cycle, and DAG task bodies of a few lines. Imports count wherever they are: module level, inside functions, and under
``TYPE_CHECKING``."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mathlabel.config import PROJECT_ROOT

PACKAGES = ["labeling", "training", "graph_seed", "stores", "mathlabel", "review", "operators", "plugins", "dags"]
DOMAIN_PACKAGES = ["labeling", "training", "graph_seed", "stores", "review"]
# The graph's data model as labeling reads it ("graph_seed/ models"): the curriculum models, codes, the Cypher that
# reads the graph, and errors; not the loaders, the sources or the seeding.
GRAPH_MODELS = ("graph_seed.models", "graph_seed.codes", "graph_seed.cypher", "graph_seed.errors")
EVERYTHING = tuple(PACKAGES)
# ARCHITECTURE.md's layout table, "may import": the project packages (and airflow) each one may import besides itself.
MAY_IMPORT = {
    "stores": (),  # drivers only
    "graph_seed": ("stores",),
    "labeling": ("stores", *GRAPH_MODELS),
    "training": ("labeling", "stores"),
    "review": ("labeling", "stores", "graph_seed.queries", *GRAPH_MODELS),
    "mathlabel": ("labeling", "training", "graph_seed", "stores", "review"),  # everything but airflow
    "operators": ("airflow", "labeling", "training", "graph_seed", "stores", "mathlabel"),
    "plugins": ("airflow", "labeling", "training", "graph_seed", "stores", "mathlabel", "operators", "review"),
    "dags": ("airflow", *EVERYTHING),
}
# A task body is a few lines over the packages (imports and the docstring aside, nested statements counted).
MAX_TASK_STATEMENTS = 5
THIN_DAGS = ["batch_labeling.py", "curriculum_graph_seed.py", "nightly_retraining.py"]


def _module(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file; ``from a import b`` gives ``a.b`` (b may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _files(package: str) -> list[Path]:
    return sorted((PROJECT_ROOT / package).rglob("*.py"))


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_the_layout_table_allows(package):
    watched = ("airflow", *PACKAGES)
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in _files(package)
        for line, module in _imported(path)
        if module.split(".")[0] in watched
        and module.split(".")[0] != package
        and not any(_within(module, allowed) for allowed in MAY_IMPORT[package])
    ]
    assert offenders == [], f"{package}/ may import {MAY_IMPORT[package] or 'no project package'}:\n" + "\n".join(
        offenders
    )


@pytest.mark.parametrize("package", DOMAIN_PACKAGES)
def test_domain_packages_never_import_airflow_or_mathlabel(package):
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in _files(package)
        for line, module in _imported(path)
        if module.split(".")[0] in {"airflow", "mathlabel"}
    ]
    assert offenders == [], f"{package}/ imports upwards: {offenders}"


def _module_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (``from a import b`` resolved to ``a.b`` when that is one)."""
    modules = {_module(path): path for package in PACKAGES for path in _files(package)}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for _, module in _imported(path):
            while module and module not in modules:
                module = module.rpartition(".")[0]
            if module and module != name:
                targets.add(module)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in _module_graph().items():
        packages.setdefault(module.split(".")[0], set()).update(t.split(".")[0] for t in targets)
    assert _cycles({p: t - {p} for p, t in packages.items()}) == []


def test_no_import_cycle_between_modules():
    assert _cycles(_module_graph()) == []


def _is_task(function: ast.FunctionDef) -> bool:
    """Decorated ``@task``, ``@task(...)``, ``@task.branch`` and the like."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        while isinstance(target, ast.Attribute):
            target = target.value
        if isinstance(target, ast.Name) and target.id == "task":
            return True
    return False


def _statements(body: list[ast.stmt]) -> int:
    """Statements of a body and of the bodies nested in it, imports and a leading docstring aside."""
    count = 0
    for position, node in enumerate(body):
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if position == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        count += 1
        for field in ("body", "orelse", "finalbody", "handlers"):
            nested = getattr(node, field, None)
            if isinstance(nested, list) and nested and isinstance(nested[0], ast.stmt | ast.excepthandler):
                count += sum(_statements(h.body) + 1 for h in nested) if field == "handlers" else _statements(nested)
    return count


@pytest.mark.parametrize("name", THIN_DAGS)
def test_dag_task_bodies_are_a_few_lines_over_the_packages(name):
    tree = ast.parse((PROJECT_ROOT / "dags" / name).read_text(encoding="utf-8"))
    tasks = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and _is_task(node)]
    counts = {task.name: _statements(task.body) for task in tasks}
    assert counts and all(n <= MAX_TASK_STATEMENTS for n in counts.values()), counts


def test_importing_the_domain_packages_does_not_load_airflow_or_heavy_libraries():
    code = (
        "import sys, labeling.batch, graph_seed.seed, stores, mathlabel.cli;"
        "print(sorted(m for m in ('airflow', 'torch', 'ultralytics', 'great_expectations', 'langchain')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "[]"
