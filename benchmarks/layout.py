"""Layout detector mAP on generated pages it never saw: issue 6's "mAP50 >= 0.90 on >= 200 held-out pages".

    .venv/bin/python benchmarks/layout.py --pages 200 --seed 11 > benchmarks/results/layout.json

Evaluates the detector the page reader would use (``ocr.layout_model``: by default the registry's
``layout-detector@champion``; ``MATHLABEL_OCR__LAYOUT_MODEL=<best.pt or models:/ URI>`` for another). The held-out
pages are written once, as the validation split of a dataset ``heldout-s<seed>-<pages>`` in the object store
(``training.pages.write_yolo_dataset`` with no training pages; page seeds come from this seed, so a detector trained on
a dataset of another seed never saw them), and validated with Ultralytics at the detector's training image size.
Needs the object store and, for the default, MLflow (``mathlabel services up``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    streams = [h for h in logging.getLogger("ultralytics").handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(sys.stderr) for h in streams]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        for handler, stream in zip(streams, previous, strict=True):
            handler.setStream(stream)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="cpu, or 0 for the first GPU")
    args = parser.parse_args()

    from mathlabel.clients import layout_detector, object_store
    from mathlabel.config import get_settings
    from training.layout import fetch_dataset
    from training.pages import write_yolo_dataset

    settings = get_settings()
    detector = layout_detector(settings)
    if detector is None:
        raise SystemExit(f"no layout detector: ocr.layout_model is {settings.ocr.layout_model!r} and resolves to none")
    objects = object_store(settings)
    version = f"heldout-s{args.seed}-{args.pages}"
    started = time.perf_counter()
    manifest = write_yolo_dataset(objects, version, train=0, val=args.pages, seed=args.seed)
    generated = time.perf_counter() - started
    prefix = manifest["prefix"]
    with tempfile.TemporaryDirectory(prefix="layout-bench-") as folder:
        root = Path(folder)
        data_file, _ = fetch_dataset(objects, prefix, root, splits=("val",))
        started = time.perf_counter()
        with _stdout_to_stderr():  # Ultralytics prints its progress to stdout, where the JSON goes
            metrics = detector.model.val(
                data=str(data_file), split="val", imgsz=detector.imgsz, batch=args.batch,
                device=args.device, plots=False, verbose=False, project=str(root / "runs"), name="val",
            )  # fmt: skip
        validated = time.perf_counter() - started
    names = metrics.names
    per_class = {
        names[int(c)]: round(float(ap), 4) for c, ap in zip(metrics.ap_class_index, metrics.box.ap50, strict=True)
    }
    report = {
        "detector": detector.version,
        "imgsz": detector.imgsz,
        "dataset": prefix,
        "pages": args.pages,
        "noisy_pages": manifest["noisy_pages"]["val"],
        "regions": manifest["regions"]["val"],
        "mAP50": round(float(metrics.box.map50), 4),
        "mAP50-95": round(float(metrics.box.map), 4),
        "precision": round(float(metrics.box.mp), 4),
        "recall": round(float(metrics.box.mr), 4),
        "ap50_per_class": per_class,
        "device": args.device,
        "inference_ms_per_page": round(float(metrics.speed["inference"]), 1),
        "seconds_generating": round(generated, 1),
        "seconds_validating": round(validated, 1),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
