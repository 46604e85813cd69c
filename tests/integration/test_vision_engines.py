"""Page files with Ultralytics loaded: its Pillow wrapper must not change how a bad page is refused."""

import io

import pytest
from PIL import Image

from labeling.vision import PageError, open_image

pytestmark = pytest.mark.integration


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def test_a_corrupt_image_is_refused_even_after_ultralytics_wrapped_pillow(monkeypatch):
    """Ultralytics replaces Image.open with a wrapper that, on an unidentified image, reaches for a HEIF plugin that
    is not installed: the file must still be refused as unreadable, not crash the batch or try to install."""
    monkeypatch.setenv("YOLO_AUTOINSTALL", "false")
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    import ultralytics.utils.patches  # noqa: F401  (installs the wrapper)

    with pytest.raises(PageError, match=r"not a readable PNG or JPEG image \(cannot identify image file\)"):
        open_image("corrupt.png", b"\x89PNG\r\n\x1a\n this is not an image")
