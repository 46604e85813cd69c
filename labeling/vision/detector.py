"""A trained Ultralytics layout detector (``YoloLayout``), loaded from a ``best.pt``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from labeling.vision.layout import Region

if TYPE_CHECKING:
    from PIL import Image


class YoloLayout:
    """A trained Ultralytics layout detector (``training.layout``), from a ``best.pt`` file.

    Args:
        weights: path of the checkpoint.
        version: what label documents record, e.g. ``layout-detector-v3``.
        imgsz: inference image size (the training size).
        conf: boxes below this confidence are dropped.
    """

    def __init__(self, weights: str | Path, version: str, *, imgsz: int = 640, conf: float = 0.25) -> None:
        from ultralytics import YOLO  # the caller has configured Ultralytics offline (mathlabel.clients)

        self.model = YOLO(str(weights))
        self.version = version
        self.imgsz = imgsz
        self.conf = conf

    def detect(self, image: Image.Image) -> list[Region]:
        result = self.model.predict(image.convert("RGB"), imgsz=self.imgsz, conf=self.conf, verbose=False)[0]
        names = result.names
        regions = []
        for box, cls, conf in zip(
            result.boxes.xyxy.tolist(), result.boxes.cls.tolist(), result.boxes.conf.tolist(), strict=True
        ):
            x0, y0, x1, y1 = (round(v) for v in box)
            regions.append(Region(names[int(cls)], (x0, y0, x1, y1), round(float(conf), 4)))
        return regions
