"""Run a ``mathlabel`` job as a subprocess of this worker, with its interpreter and settings (local training).

A training runs in a process of its own: Ultralytics and PyTorch set process-wide state (offline variables, threads)
and hold gigabytes that the worker's task process should not keep after the job ends.
"""

from __future__ import annotations

import subprocess
import sys

TAIL_CHARS = 4000


def mathlabel_command(*args: str) -> list[str]:
    """``python -m mathlabel ARGS`` with the interpreter this task runs on."""
    return [sys.executable, "-m", "mathlabel", *args]


def run_job(args: list[str], what: str) -> None:
    """Run ``mathlabel ARGS``; its output tails go to the task log.

    Raises:
        RuntimeError: the job exited with an error (its last error line says why; the task may retry).
    """
    command = mathlabel_command(*args)
    print("running: " + " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    print(done.stdout[-TAIL_CHARS:], done.stderr[-TAIL_CHARS:])
    if done.returncode != 0:
        raise RuntimeError(f"{what} exited with {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
