"""Pages and images through the drop-folder steps, with real Tesseract/RapidOCR and the embedded stores."""

import io
import json
import zipfile

import pytest
from PIL import Image

from labeling.batch import CurriculumIndex, run_batch
from labeling.intake import claim_files
from mathlabel.clients import page_reader
from mathlabel.config import get_settings
from mathlabel.runs import batch_config
from tests.hostile import huge_png, png
from tests.pdfs import one_page_pdf
from training.pages import generate_page

pytestmark = pytest.mark.integration

TWO_PROBLEMS = 36  # a generated page (clean) with problems 17 and 18, in one column


@pytest.fixture
def index(seeded_graph):
    return CurriculumIndex(seeded_graph, "kr-2022")


@pytest.fixture
def reader(settings):
    return lambda: page_reader(settings)


def _run(objects, labels, index, reader, run_id, **kwargs):
    cfg = batch_config(get_settings(), run_id, **kwargs)
    return run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg,
                     reader=reader)  # fmt: skip


def test_a_page_with_two_problems_becomes_two_label_documents(clean_objects, clean_labels, index, reader):
    objects, labels = clean_objects, clean_labels
    page = generate_page(TWO_PROBLEMS, noise=False)
    truth = [p["text"] for p in page.problems]
    assert len(truth) == 2
    objects.write_bytes("incoming/worksheet.png", png(page.image))

    summary = _run(objects, labels, index, reader, "run-page")

    assert (summary["labeled"], summary["quarantined"], summary["pages_read"]) == (2, 0, 1)
    docs = sorted(labels.find_labels(), key=lambda d: d["problem_id"])
    assert [d["problem_id"] for d in docs] == ["worksheet.png#p1-1", "worksheet.png#p1-2"]
    assert [d["problem_key"] for d in docs] == [d["problem_id"] for d in docs]  # a page problem's id names its file
    for doc, text in zip(docs, truth, strict=True):
        first_words = text.split()[:2]
        assert all(word in doc["input"]["text"] for word in first_words), (doc["input"]["text"], text)
        assert doc["input"]["ocr"]["confidence"] > 0.5 and "tesseract" in doc["model_versions"]["ocr"]
        assert doc["model_versions"]["layout"] == "projection-v1"
        assert {r["cls"] for r in doc["input"]["regions"]} >= {"text"}
        assert doc["input"]["page"]["page"] == 1 and doc["input"]["page"]["problems"] == 2
        crop_key = doc["input"]["page"]["crop"].split("/objects/", 1)[1]
        with Image.open(io.BytesIO(objects.read_bytes(crop_key))) as crop:
            assert crop.height < page.image.height / 2  # one problem, not the page
        assert doc["labels"] and doc["candidates"]
    top_box, second_box = (d["input"]["page"]["box"] for d in docs)
    assert top_box[3] <= second_box[1]  # reading order: the first problem is above the second
    assert objects.list("processing") == [] and any(k.endswith("worksheet.png") for k in objects.list("processed"))

    objects.write_bytes("incoming/worksheet.png", png(page.image))  # the same page again: nothing is read or written
    again = _run(objects, labels, index, reader, "run-page-again")
    assert (again["labeled"], again["skipped"], again["pages_read"]) == (0, 2, 0)
    assert labels.count_labels() == 2


def test_bad_images_are_quarantined_with_reasons_and_good_inputs_go_on(clean_objects, clean_labels, index, reader):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/corrupt.png", b"\x89PNG\r\n\x1a\n this is not an image")
    objects.write_bytes("incoming/blank.png", png(Image.new("RGB", (1240, 1754), "white")))
    objects.write_bytes("incoming/huge.png", huge_png(20_000, 20_000))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../x.png", png(Image.new("RGB", (10, 10), "black")))
        zf.writestr(
            "set.jsonl",
            json.dumps({"id": "z-1", "text": "삼각형의 세 내각의 크기의 합을 구하시오."}, ensure_ascii=False),
        )
    objects.write_bytes("incoming/bundle.zip", archive.getvalue())

    summary = _run(objects, labels, index, reader, "run-bad")

    assert summary["labeled"] == 1 and labels.get_label("bundle.zip.d/set.jsonl#z-1@lexical-bm25-v3") is not None
    errors = {k.rsplit("/", 1)[1]: json.loads(objects.read_bytes(k)) for k in objects.list("quarantine")
              if k.endswith(".error.json")}  # fmt: skip
    assert "not a readable PNG or JPEG" in errors["corrupt.png.error.json"]["reason"]
    assert "blank" in errors["blank.png.error.json"]["reason"]
    assert "20000x20000" in errors["huge.png.error.json"]["reason"]
    refused = errors["bundle.zip.error.json"]["records"]
    assert [r["id"] for r in refused] == ["../../x.png"] and "unsafe path" in refused[0]["reason"]
    assert not any("x.png" in k for k in objects.list("") if not k.startswith("quarantine/"))  # never written out
    assert objects.list("processing") == []  # every input is processed or quarantined


def test_a_record_with_an_image_is_read_as_one_problem_and_its_image_filed_with_it(
    clean_objects, clean_labels, index, reader
):
    objects, labels = clean_objects, clean_labels
    page = generate_page(TWO_PROBLEMS, noise=False)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("images/문제1.png", png(page.image))  # json.dumps writes it "\ubb38\uc81c1.png"
        zf.writestr("images/문제1.png.meta.json", '{"grade": 2}')  # metadata of a record's image: in the record
        zf.writestr("set.jsonl", "\n".join([
            json.dumps({"id": "img-1", "image": "images/문제1.png", "school": "중학교", "grade": 1}),
            json.dumps({"id": "img-2", "image": "images/missing.png"}),
        ]))  # fmt: skip
    objects.write_bytes("incoming/set.zip", archive.getvalue())

    summary = _run(objects, labels, index, reader, "run-record-image")

    assert (summary["labeled"], summary["quarantined"]) == (1, 1)
    doc = labels.get_label("set.zip.d/set.jsonl#img-1@lexical-bm25-v3")
    assert doc["metadata"]["grade"] == 1 and doc["input"]["page"]["problems"] == 1
    assert all(word in doc["input"]["text"] for word in page.problems[1]["text"].split()[:2])  # both problems, one text
    errors = {k.rsplit("/", 1)[1]: json.loads(objects.read_bytes(k)) for k in objects.list("quarantine")
              if k.endswith(".error.json")}  # fmt: skip
    assert "not found" in errors["set.jsonl.error.json"]["records"][0]["reason"]
    assert "give its school, grade and course in that record" in errors["문제1.png.meta.json.error.json"]["reason"]
    assert [k for k in labels.find_labels() if "#p" in k["problem_id"]] == []  # the image was not labeled as a page
    assert objects.list("processing") == []
    assert any(k.endswith("images/문제1.png") for k in objects.list("processed"))


def test_a_pdf_page_by_page_with_a_blank_page_quarantined(clean_objects, clean_labels, index, reader, tmp_path):
    objects, labels = clean_objects, clean_labels
    first = generate_page(TWO_PROBLEMS, noise=False).image
    pdf = tmp_path / "set.pdf"
    first.save(pdf, save_all=True, append_images=[Image.new("RGB", first.size, "white")], resolution=150)
    objects.write_bytes("incoming/set.pdf", pdf.read_bytes())

    summary = _run(objects, labels, index, reader, "run-pdf")

    assert (summary["labeled"], summary["quarantined"]) == (2, 1)
    assert {d["problem_id"] for d in labels.find_labels()} == {"set.pdf#p1-1", "set.pdf#p1-2"}
    (error_key,) = [k for k in objects.list("quarantine") if k.endswith(".error.json")]
    (record,) = json.loads(objects.read_bytes(error_key))["records"]
    assert record["record"] == 2 and "blank" in record["reason"]


GOOD = {
    "a.jsonl": [{"id": "a-1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오."}],
    "b.jsonl": [{"id": "b-1", "text": "삼각형의 세 내각의 크기의 합을 구하시오."},
                {"id": "b-2", "text": "두 수 12와 18의 최대공약수를 구하시오."}],
}  # fmt: skip


def _drop_good_files(objects) -> set[str]:
    """Write the good problem files into incoming/; the problem keys they hold."""
    for name, records in GOOD.items():
        objects.write_bytes(
            f"incoming/{name}", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
        )
    return {f"{name}#{r['id']}" for name, records in GOOD.items() for r in records}


def _errors(objects) -> dict[str, dict]:
    return {k.rsplit("/", 1)[1]: json.loads(objects.read_bytes(k)) for k in objects.list("quarantine")
            if k.endswith(".error.json")}  # fmt: skip


def test_a_pdf_page_too_large_to_render_is_quarantined_and_the_files_beside_it_are_labeled(
    clean_objects, clean_labels, index, reader
):
    """A 100 x 100 inch page would be 15000 x 15000 pixels at the render DPI: refused before it is rendered."""
    objects, labels = clean_objects, clean_labels
    good = _drop_good_files(objects)
    objects.write_bytes("incoming/poster.pdf", one_page_pdf(7200, 7200))

    summary = _run(objects, labels, index, reader, "run-poster")

    assert (summary["labeled"], summary["files_processed"], summary["files_quarantined"]) == (3, 2, 1)
    assert {d["problem_key"] for d in labels.find_labels()} == good
    reason = _errors(objects)["poster.pdf.error.json"]["reason"]
    assert "poster.pdf page 1" in reason and "15000x15000 pixels" in reason
    assert any(k.endswith("/poster.pdf") for k in objects.list("quarantine"))
    assert objects.list("processing") == []


def test_any_error_preparing_one_file_quarantines_it_with_the_reason_and_the_others_go_on(
    clean_objects, clean_labels, index, reader, monkeypatch
):
    """An error nothing foresaw (here the PIL bomb error a renderer once raised) is the file's, not the run's."""
    from labeling import page_input

    def bomb(name, data):
        raise Image.DecompressionBombError("Image size (225000000 pixels) exceeds limit of 178956970 pixels")

    monkeypatch.setattr(page_input, "pdf_page_count", bomb)
    objects, labels = clean_objects, clean_labels
    good = _drop_good_files(objects)
    objects.write_bytes("incoming/odd.pdf", one_page_pdf(595, 842))

    summary = _run(objects, labels, index, reader, "run-odd")

    assert (summary["labeled"], summary["files_processed"], summary["files_quarantined"]) == (3, 2, 1)
    assert {d["problem_key"] for d in labels.find_labels()} == good
    reason = _errors(objects)["odd.pdf.error.json"]["reason"]
    assert reason.startswith("odd.pdf: cannot be prepared (DecompressionBombError: Image size (225000000 pixels)")
    assert objects.list("processing") == []


def test_an_image_that_cannot_be_read_when_its_chunk_is_labeled_is_quarantined_not_raised(
    clean_objects, clean_labels, index, reader
):
    from labeling.batch import label_chunk, prepare_file

    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/p.png", png(generate_page(TWO_PROBLEMS, noise=False).image))
    objects.write_bytes("incoming/set.jsonl", b'{"id": "i-1", "image": "p.png"}\n{"id": "t-1", "text": "1+1"}\n')
    cfg = batch_config(get_settings(), "run-changed-image")
    keys = claim_files(objects, cfg.run_id)
    prepared = [prepare_file(k, objects=objects, suite=index.suite(cfg.max_text_chars), cfg=cfg) for k in keys]
    (chunk,) = [c for p in prepared for c in p.chunks]
    objects.write_bytes(f"{cfg.processing}/p.png", b"\x89PNG\r\n\x1a\n truncated")  # changed after it was checked

    result = label_chunk(chunk, objects=objects, labels=labels, index=index, cfg=cfg, reader=reader)

    assert (result.labeled, result.quarantined) == (1, 1)
    (record,) = json.loads(objects.read_bytes(result.error_key))["records"]
    assert record["id"] == "i-1" and "not a readable PNG or JPEG" in record["reason"]


def test_a_page_files_metadata_sidecar_gives_its_problems_school_and_grade(clean_objects, clean_labels, index, reader):
    """``<page>.meta.json`` beside a page gives its problems school/grade (over the run's Params); a bad one sends
    the page to quarantine with it and the reason; one without its page is quarantined alone."""
    objects, labels = clean_objects, clean_labels
    page_png = png(generate_page(TWO_PROBLEMS, noise=False).image)
    objects.write_bytes("incoming/중2.png", page_png)
    objects.write_bytes("incoming/중2.png.meta.json", json.dumps({"school": "중", "grade": 2}).encode())
    objects.write_bytes("incoming/bad.png", page_png)
    objects.write_bytes("incoming/bad.png.meta.json", json.dumps({"school": "중학교", "grade": 5}).encode())
    objects.write_bytes("incoming/alone.pdf.meta.json", b'{"grade": 1}')

    summary = _run(objects, labels, index, reader, "run-meta", defaults={"school": "초등학교"})

    docs = labels.find_labels()
    assert {d["problem_id"] for d in docs} == {"중2.png#p1-1", "중2.png#p1-2"} and summary["labeled"] == 2
    assert all((d["metadata"]["school"], d["metadata"]["grade"]) == ("중학교", 2) for d in docs)  # the sidecar wins
    errors = {k.rsplit("/", 1)[1]: json.loads(objects.read_bytes(k)) for k in objects.list("quarantine")
              if k.endswith(".error.json")}  # fmt: skip
    assert "grade 5 does not exist in 중학교" in errors["bad.png.error.json"]["reason"]
    assert "named by bad.png, which was quarantined" in errors["bad.png.meta.json.error.json"]["reason"]
    assert "without its page file" in errors["alone.pdf.meta.json.error.json"]["reason"]
    assert any(k.endswith("/중2.png.meta.json") for k in objects.list("processed"))
    assert objects.list("processing") == []

    # The same page again: skipped with the same metadata, read and relabeled when its sidecar changes.
    objects.write_bytes("incoming/중2.png", page_png)
    objects.write_bytes("incoming/중2.png.meta.json", json.dumps({"school": "중", "grade": 2}).encode())
    again = _run(objects, labels, index, reader, "run-meta-2", defaults={"school": "초등학교"})
    assert (again["skipped"], again["labeled"], again["pages_read"]) == (2, 0, 0)
    objects.write_bytes("incoming/중2.png", page_png)
    objects.write_bytes("incoming/중2.png.meta.json", json.dumps({"school": "중", "grade": 3}).encode())
    changed = _run(objects, labels, index, reader, "run-meta-3")
    assert (changed["labeled"], changed["pages_read"]) == (2, 1)
    assert {d["metadata"]["grade"] for d in labels.find_labels()} == {3}
