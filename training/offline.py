"""Ultralytics, offline: nothing is downloaded, ever (training and the page reader's layout detector both use it).

``configure_ultralytics`` sets ``YOLO_OFFLINE=1`` (Ultralytics' ``ONLINE`` is False: no pip update check, no analytics,
no auto-install), ``YOLO_AUTOINSTALL=false`` and ``YOLO_CONFIG_DIR`` (its ``settings.json`` lives in a folder of ours,
``<var>/ultralytics`` from the CLI), turns off its analytics ``sync`` and its experiment-tracker integrations in those
settings (the registry logs training through callbacks of ours), drops ``ULTRALYTICS_API_KEY`` (which would stream the
run to Ultralytics Platform), and copies local fonts to the ``Arial.ttf`` / ``Arial.Unicode.ttf`` that Ultralytics
otherwise fetches from GitHub at every dataset check. The model registry's client telemetry is turned off with
``MLFLOW_DISABLE_TELEMETRY=true``. These variables are set process-wide, on purpose: a training process is an offline
process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Any

# Ultralytics' settings keys of its experiment-tracker integrations, all off.
_INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")


def _local_font(unicode: bool) -> Path:
    """A TTF to stand in for Arial: Nanum Gothic (has Hangul) for the Unicode one when installed, else DejaVu Sans,
    which matplotlib always ships."""
    if unicode:
        from training.pages import font_file

        with contextlib.suppress(RuntimeError):
            return Path(font_file("gothic"))
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def configure_ultralytics(config_dir: Path) -> Path:
    """Make Ultralytics run offline with its settings under ``config_dir``; returns its settings folder.

    Call before Ultralytics is first imported: it reads ``YOLO_CONFIG_DIR`` and ``YOLO_OFFLINE`` at import. When it
    was imported earlier, the folder it chose then is kept (the fonts are placed there) and its online flags are
    turned off in place. Idempotent.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.pop("ULTRALYTICS_API_KEY", None)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    imported = "ultralytics.utils" in sys.modules
    if not imported:
        config_dir.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir.resolve())

    import ultralytics.utils as yolo_utils

    if imported:
        for name in ("ultralytics.utils", "ultralytics.utils.checks", "ultralytics.utils.events"):
            module = sys.modules.get(name)
            if module is not None and getattr(module, "ONLINE", False):
                module.ONLINE = False
    home = Path(yolo_utils.USER_CONFIG_DIR)
    for name, unicode in (("Arial.ttf", False), ("Arial.Unicode.ttf", True)):
        if not (home / name).is_file():
            shutil.copyfile(_local_font(unicode), home / name)
    wanted: dict[str, Any] = {"sync": False, "api_key": "", **dict.fromkeys(_INTEGRATIONS, False)}
    wanted |= {key: str(home / key.removesuffix("_dir")) for key in ("datasets_dir", "weights_dir", "runs_dir")}
    if any(yolo_utils.SETTINGS.get(key) != value for key, value in wanted.items()):
        yolo_utils.SETTINGS.update(wanted)
    return home
