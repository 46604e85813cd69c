"""The layout detector trains offline on a generated dataset, keeps its best checkpoint and registers in MLflow."""

from __future__ import annotations

import socket

import pytest

from mathlabel.clients import model_registry
from stores.registry import MlflowModelRegistry, UntrustedModelError
from training.layout import MODEL_NAME, SIGNED_TAGS, LayoutTraining, download_weights, regions, train_layout_detector
from training.pages import CLASSES, write_yolo_dataset

pytestmark = pytest.mark.integration
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _block_network(monkeypatch) -> list:
    """Refuse every connection and name lookup beyond this machine (MLflow on 127.0.0.1 stays reachable); returns
    the list of attempts, which an offline run leaves empty."""
    attempts: list = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self, address):
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            attempts.append(address)
            raise OSError(f"network access attempted during an offline test: {address}")
        return connect(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host not in LOOPBACK and host is not None:
            attempts.append(("getaddrinfo", host))
            raise socket.gaierror(f"name lookup attempted during an offline test: {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    return attempts


def test_layout_detector_trains_offline_keeps_the_best_checkpoint_and_registers_it(
    clean_objects, settings, tmp_path, monkeypatch
):
    import mlflow

    write_yolo_dataset(clean_objects, "t1", train=12, val=4)
    attempts = _block_network(monkeypatch)

    config = LayoutTraining(dataset="input-data/layout/t1/", epochs=2, imgsz=320, batch=4, device="cpu",
                            workdir=tmp_path / "work")  # fmt: skip
    result = train_layout_detector(
        clean_objects, config, model_registry(settings), ultralytics_dir=settings.var_path / "ultralytics"
    )

    assert result["epochs"] == 2 and [row["epoch"] for row in result["history"]] == [1, 2]
    assert result["device"] == "cpu" and result["best_epoch"] in {1, 2}
    assert {"mAP50", "mAP50-95", "precision", "recall"} <= result["metrics"].keys()
    assert set(result["per_class_ap50"]) <= set(CLASSES)

    # The best checkpoint is in the object store, loads, and detects regions of the six classes on a page.
    key = result["checkpoint"]
    assert key == f"models/layout-detector/t1/{result['run']}/best.pt" and clean_objects.exists(key)
    weights = tmp_path / "best.pt"
    weights.write_bytes(clean_objects.read_bytes(key))
    page = tmp_path / "page.png"
    page.write_bytes(clean_objects.read_bytes("input-data/layout/t1/images/val/000000.png"))
    from ultralytics import YOLO

    model = YOLO(weights)
    assert model.names == dict(enumerate(CLASSES))
    # Two epochs from scratch give low confidences: a tiny threshold still shows the head's boxes and classes.
    found = regions(model.predict(page, imgsz=320, conf=1e-4, verbose=False)[0])
    assert found and all(r["cls"] == CLASSES[r["class_id"]] for r in found)
    assert all(0 <= r["box"][0] < r["box"][2] <= 1240 and 0 <= r["box"][1] < r["box"][3] <= 1754 for r in found)

    # MLflow: per-epoch metrics on the run, the best epoch's metrics, and a registered version that predicts.
    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    assert [m.step for m in client.get_metric_history(result["tracking_run_id"], "mAP50")] == [1, 2]
    assert client.get_run(result["tracking_run_id"]).data.metrics["best/mAP50"] == result["metrics"]["mAP50"]
    version = client.get_model_version(MODEL_NAME, result["registered_version"])
    assert version.tags["dataset_version"] == "t1" and version.tags["checkpoint"] == key
    assert (version.tags["epochs"], version.tags["imgsz"]) == ("2", "320")
    assert float(version.tags["mAP50"]) == result["metrics"]["mAP50"]
    # With a signing secret (production), only a version the pipeline signed is fetched: best.pt is a pickle.
    signed = MlflowModelRegistry(settings.mlflow_tracking_uri, signing_secret="pipeline-secret")
    uri = f"models:/{MODEL_NAME}/{version.version}"
    with pytest.raises(UntrustedModelError, match="carries no signature"):
        download_weights(uri, signed, tmp_path / "refused")
    signed.sign(signed.resolve(uri), SIGNED_TAGS)
    assert download_weights(uri, signed, tmp_path / "signed")[0].is_file()
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    served = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version.version}")
    predicted = served.predict([str(page)])
    assert len(predicted) == 1 and all(r["cls"] in CLASSES for r in predicted[0])

    # Labeling configured with the registered detector: its weights come from the registry, pages are read with it.
    from PIL import Image

    from mathlabel.clients import page_reader

    configured = settings.model_copy(update={"ocr": settings.ocr.model_copy(
        update={"layout_model": f"models:/{MODEL_NAME}/{version.version}"})})  # fmt: skip
    reader = page_reader(configured)
    assert reader.layout_version == f"{MODEL_NAME}-v{version.version}"
    assert reader.detector.imgsz == 320
    reader.detector.conf = 1e-4
    assert {r.cls for r in reader.detector.detect(Image.open(page))} <= set(CLASSES)
    reading = reader.read(Image.open(page))  # no confident problem box from 2 epochs: split by problem numbers
    assert reading.layout == f"{MODEL_NAME}-v{version.version}" and reading.problems

    # The default, auto: the champion when there is one, else no detector (also when the registry is down).
    auto = settings.model_copy(update={"ocr": settings.ocr.model_copy(update={"layout_model": "auto"})})
    assert page_reader(auto).detector is None
    client.set_registered_model_alias(MODEL_NAME, "champion", version.version)
    try:
        assert page_reader(auto).layout_version == f"{MODEL_NAME}-v{version.version}"
        down = auto.model_copy(update={"mlflow": auto.mlflow.model_copy(update={"tracking_uri": "http://127.0.0.1:9"})})
        assert page_reader(down).detector is None
    finally:
        client.delete_registered_model_alias(MODEL_NAME, "champion")

    assert attempts == [], f"network access was attempted: {attempts}"


def test_an_incomplete_dataset_is_refused_with_the_command_that_writes_it(clean_objects, settings):
    from training.errors import TrainingError

    clean_objects.write_bytes("input-data/layout/v9/images/train/000000.png", b"not a finished dataset")
    with pytest.raises(TrainingError, match=r"no manifest\.json.*mathlabel training pages --version v9"):
        train_layout_detector(clean_objects, LayoutTraining(dataset="input-data/layout/v9", epochs=1),
                              ultralytics_dir=settings.var_path / "ultralytics")  # fmt: skip
    with pytest.raises(ValueError, match="fp32 or bf16"):
        LayoutTraining(dataset="input-data/layout/v9", epochs=1, precision="fp16")


def test_an_interrupted_training_resumes_where_it_stopped(clean_objects, settings, tmp_path, monkeypatch):
    """A training stopped after its first epoch (a spot instance reclaimed, a worker restarted) goes on from epoch 2
    with the same run and checkpoint key, instead of starting over; a finished run is not resumed again."""
    from training import layout
    from training.errors import TrainingError

    write_yolo_dataset(clean_objects, "r1", train=8, val=2)
    work = tmp_path / "work"
    options = {"dataset": "input-data/layout/r1", "epochs": 2, "imgsz": 320, "batch": 4, "device": "cpu",
               "workdir": work}  # fmt: skip
    home = settings.var_path / "ultralytics"

    class Interrupted(Exception):
        pass

    recorded = layout._Progress.on_fit_epoch_end

    def stop_after_the_first_epoch(self, trainer):
        recorded(self, trainer)
        raise Interrupted

    monkeypatch.setattr(layout._Progress, "on_fit_epoch_end", stop_after_the_first_epoch)
    with pytest.raises(Interrupted):
        train_layout_detector(clean_objects, LayoutTraining(**options), ultralytics_dir=home)
    monkeypatch.undo()
    (run,) = [p.name for p in (work / "runs").iterdir()]
    assert clean_objects.exists(f"models/layout-detector/r1/{run}/best.pt")  # epoch 1's best, kept while training
    assert layout.resumable(work) and not layout.resumable(tmp_path / "elsewhere")

    resumed = train_layout_detector(clean_objects, LayoutTraining(**{**options, "epochs": 50, "imgsz": 640},
                                                                  resume=True), ultralytics_dir=home)  # fmt: skip
    assert resumed["run"] == run and resumed["checkpoint"] == f"models/layout-detector/r1/{run}/best.pt"
    assert [row["epoch"] for row in resumed["history"]] == [2] and resumed["epochs"] == 2  # the run's own 2 epochs
    assert resumed["imgsz"] == 320 and clean_objects.exists(resumed["checkpoint"])
    assert not layout.resumable(work)  # finished

    with pytest.raises(TrainingError, match="nothing to resume"):
        train_layout_detector(clean_objects, LayoutTraining(**options, resume=True), ultralytics_dir=home)
    with pytest.raises(TrainingError, match=r"no run with a weights/last\.pt"):
        train_layout_detector(clean_objects, LayoutTraining(**{**options, "workdir": tmp_path / "w2"}, resume=True),
                              ultralytics_dir=home)  # fmt: skip
    with pytest.raises(ValueError, match="workdir"):
        LayoutTraining(dataset="input-data/layout/r1", epochs=1, resume=True)
