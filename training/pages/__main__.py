"""Command line of the page generator: write a synthetic layout dataset to the configured object store."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from posixpath import join

from training.pages.dataset import write_yolo_dataset


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m training.pages --version v1 --train 200 --val 50``: write a dataset to the configured store."""
    parser = argparse.ArgumentParser(prog="python -m training.pages", description=write_yolo_dataset.__doc__)
    parser.add_argument("--version", required=True, help="dataset version, e.g. v1 (input-data/layout/<version>/)")
    parser.add_argument("--train", type=int, default=200, help="training pages")
    parser.add_argument("--val", type=int, default=50, help="validation pages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--imgsz", type=int, default=None, help="image size the trainer should use (recorded only)")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from mathlabel.clients import object_store
    from mathlabel.config import get_settings

    objects = object_store(get_settings())
    with tqdm(total=args.train + args.val, unit="page", desc=f"layout {args.version}") as bar:
        manifest = write_yolo_dataset(
            objects, args.version, train=args.train, val=args.val, seed=args.seed, imgsz_hint=args.imgsz,
            progress=bar.update,
        )  # fmt: skip
    summary = {k: manifest[k] for k in ("prefix", "pages", "noisy_pages")} | {"regions": manifest["regions"]["total"]}
    print(json.dumps(summary | {"uri": objects.uri(join(manifest["prefix"], "data.yaml"))}, ensure_ascii=False))


if __name__ == "__main__":
    main()
