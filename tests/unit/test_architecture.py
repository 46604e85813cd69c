"""Rules of ARCHITECTURE.md that a grep can hold."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mathlabel.config import PROJECT_ROOT

DOMAIN_PACKAGES = ["labeling", "training", "graph_seed", "stores", "mathlabel"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", DOMAIN_PACKAGES)
def test_domain_packages_never_import_airflow(package):
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if any(name == "airflow" or name.startswith("airflow.") for name in _imports(path))
    ]
    assert offenders == [], f"{package}/ imports airflow in {offenders}"


def test_importing_the_domain_packages_does_not_load_airflow_or_heavy_libraries():
    code = (
        "import sys, labeling.batch, graph_seed.seed, stores, mathlabel.cli;"
        "print(sorted(m for m in ('airflow', 'torch', 'ultralytics', 'great_expectations', 'langchain')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "[]"
