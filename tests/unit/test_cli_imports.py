"""The CLI starts without loading what only some commands need: `mathlabel --help` answers at once."""

import subprocess
import sys

from mathlabel.config import PROJECT_ROOT

HEAVY = ("great_expectations", "mlflow", "torch", "ultralytics", "rapidocr", "kiwipiepy", "sklearn", "pandas",
         "airflow", "langchain", "pydantic_settings")  # fmt: skip


def test_mathlabel_help_loads_no_heavy_module():
    code = (
        "import sys; from mathlabel.cli import app\n"
        "for args in (['--help'], ['label', '--help']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert "Usage" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"
