"""The mathlabel CLI's graph commands against the embedded FalkorDB."""

import json
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from mathlabel.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_seed_then_stats_shows_every_curriculum(stack):
    seeded = runner.invoke(app, ["seed"])
    assert seeded.exit_code == 0, seeded.output
    stats = runner.invoke(app, ["graph", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    counts = json.loads(stats.output)
    assert {cid: c["standards"] for cid, c in counts.items()} == {"kr-2022": 435, "kr-2015": 129, "us-ccss": 480}
    assert counts["us-ccss"]["edges"]["PREREQUISITE_OF"] == {"coherence-map": 757}
    again = runner.invoke(app, ["seed", "--curriculum", "kr-2015"])
    assert again.exit_code == 0 and "unchanged kr-2015@" in again.output


def test_seed_of_a_curriculum_with_bad_files_writes_nothing_and_says_why(stack, clean_objects):
    clean_objects.write_bytes("curriculum/kr-2015/middle_standards.csv", b"code,area,grade_band,content\n")
    result = runner.invoke(app, ["seed", "--curriculum", "kr-2015", "--force"])
    assert result.exit_code == 1
    assert "kr-2015" in result.output and "nothing was written" in result.output


def test_unknown_curriculum_is_refused(stack):
    result = runner.invoke(app, ["seed", "--curriculum", "fr-2020"])
    assert result.exit_code == 1 and "unknown curriculum" in result.output


def test_bench_reads_image_records_by_ocr_and_scores_them_like_text(seeded_graph, tmp_path):
    from training.pages import generate_page

    page = generate_page(3, noise=False)  # one problem: 연필 and 지우개 prices, change from 4,000원
    page.image.save(tmp_path / "q1.png")
    records = [
        {"id": "t-1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오.", "labels": ["9수01-01"]},
        {"id": "i-1", "image": "q1.png", "labels": ["9수01-01"]},
        {"id": "i-2", "image": "missing.png", "labels": ["9수01-01"]},
    ]
    test = tmp_path / "test.jsonl"
    test.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")

    result = runner.invoke(app, ["bench", "--test", str(test), "--curriculum", "kr-2022", "--json"])

    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert (metrics["n"], metrics["images"], metrics["skipped_records"]) == (2, 1, 1)
    assert metrics["seconds_per_image"] > 0 and 0 <= metrics["top1"] <= 1
    assert "missing.png" in result.stderr


def test_bench_with_examples_scores_the_cold_start_that_indexes_them(seeded_graph, tmp_path):
    def write(name, rows):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return str(path)

    colours = "{} has 25 red {}, 34 blue {}, 18 green {} and 41 yellow {}. How many {}?"
    test = write("test.jsonl", [
        {"id": f"t-{i}", "text": colours.format(name, *[thing] * 5), "labels": ["2.NBT.B.6"], "grade": 2}
        for i, (name, thing) in enumerate([("Tom", "marbles"), ("Ann", "beads"), ("Bo", "stickers")])
    ])  # fmt: skip
    examples = write("verified.jsonl", [
        {"id": "e-1", "text": colours.format("Sam", *["pens"] * 5), "labels": ["2.NBT.B.6"]},
        {"id": "e-2", "text": colours.format("Kim", *["cards"] * 5), "labels": ["2.NBT.B.6"]},
    ])  # fmt: skip

    def bench(*extra):
        result = runner.invoke(app, ["bench", "--test", test, "--curriculum", "us-ccss", "--json", *extra])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout.strip().splitlines()[-1])

    cold, taught = bench(), bench("--examples", examples)
    assert (cold["example_records"], taught["example_records"]) == (0, 2)
    assert cold["top1"] < 1 and taught["top1"] == 1
    both = runner.invoke(app, ["bench", "--test", test, "--examples", examples, "--train", examples])
    assert both.exit_code == 2 and "leave out --train" in both.output


def test_label_takes_metadata_for_problems_without_it_and_refuses_bad_values(
    seeded_graph, clean_objects, clean_labels, tmp_path
):
    problems = tmp_path / "set.jsonl"
    problems.write_text(
        json.dumps({"id": "cli-1", "text": "두 일차방정식의 그래프의 교점을 구하시오."}, ensure_ascii=False)
    )

    bad = runner.invoke(app, ["label", str(problems), "--school", "중학교", "--grade", "5"])
    assert bad.exit_code == 2 and "grade 5 does not exist in 중학교" in bad.output
    wrong_course = runner.invoke(app, ["label", str(problems), "--course", "미적분학 개론"])
    assert wrong_course.exit_code == 2 and "is not in kr-2022" in wrong_course.output
    assert clean_labels.find_labels() == []

    done = runner.invoke(app, ["label", str(problems), "--school", "중", "--grade", "2"])
    assert done.exit_code == 0, done.output
    (doc,) = clean_labels.find_labels()
    assert (doc["metadata"]["school"], doc["metadata"]["grade"]) == ("중학교", 2)


def test_one_curriculum_spelled_three_ways_labels_a_problem_once(seeded_graph, clean_objects, clean_labels, tmp_path):
    problems = tmp_path / "set.jsonl"
    record = {"id": "kr-1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오."}
    problems.write_text(json.dumps(record, ensure_ascii=False))

    counts = []
    for spelling in ("kr", "kr-2022,kr-2015", " kr-2015, kr-2022"):
        done = runner.invoke(app, ["label", str(problems), "--curriculum", spelling, "--json"])
        assert done.exit_code == 0, done.output
        summary = json.loads(done.stdout)
        counts.append((summary["labeled"], summary["skipped"]))

    assert counts == [(1, 0), (0, 1), (0, 1)]  # the same content hash: labeled once, then skipped
    (doc,) = clean_labels.find_labels()
    assert doc["curriculum"] == "kr-2022,kr-2015"


def test_label_takes_a_page_files_metadata_sidecar_along(seeded_graph, clean_objects, clean_labels, tmp_path):
    from training.pages import generate_page

    page = tmp_path / "scan.png"
    generate_page(36, noise=False).image.save(page)
    (tmp_path / "scan.png.meta.json").write_text(json.dumps({"school": "중학교", "grade": 3}))

    done = runner.invoke(app, ["label", str(page)])

    assert done.exit_code == 0, done.output
    docs = clean_labels.find_labels()
    assert docs and all((d["metadata"]["school"], d["metadata"]["grade"]) == ("중학교", 3) for d in docs)


def test_label_says_a_file_it_cannot_read_is_quarantined_and_why(seeded_graph, clean_objects, clean_labels, tmp_path):
    from tests.pdfs import one_page_pdf

    poster = tmp_path / "poster.pdf"
    poster.write_bytes(one_page_pdf(7200, 7200))  # 100 x 100 inches

    done = runner.invoke(app, ["label", str(poster)])

    assert done.exit_code == 0, done.output
    assert "0 processed, 1 quarantined" in done.output
    assert (
        "quarantined, with why:\n    poster.pdf: no readable page (poster.pdf page 1 at 150 dpi is "
        "15000x15000 pixels" in done.output
    ), done.output
    assert any(k.endswith("/poster.pdf") for k in clean_objects.list("quarantine")) and not clean_labels.find_labels()
    assert clean_objects.list("processing") == []


@pytest.fixture
def label_docs(settings):
    """The embedded label store alone (one SQLite file, no service to start), emptied first."""
    import shutil

    from mathlabel.clients import label_store

    shutil.rmtree(settings.var_path / "labelstore", ignore_errors=True)
    return label_store(settings)


def _machine(problem_id: str, version: str, run_id: str, code: str, score: float, status: str, *reasons: str) -> dict:
    return {"_id": f"{problem_id}@{version}", "problem_id": problem_id, "model_version": version, "run_id": run_id,
            "curriculum": "kr-2022", "labels": [code], "candidates": [{"code": code, "score": score}],
            "decision": {"status": status, "reasons": list(reasons)}}  # fmt: skip


def test_labels_get_shows_the_champions_label_then_the_verification_and_lists_the_other_versions(label_docs, settings):
    from labeling.schemas import Problem
    from labeling.verification import verification_doc

    cold = settings.labeling.model_version
    label_docs.upsert_labels([
        _machine("p1", cold, "r1", "9수01-02", 0.55, "needs_review", "top score 0.55 is below"),
        _machine("p1", "text-labeler-v3", "r2", "9수01-02", 0.74, "auto_accepted", "top score 0.74 ≥ 0.60"),
    ])  # fmt: skip

    def get(*args):
        result = runner.invoke(app, ["labels", "get", "p1", "--json", *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    champion = get()
    assert champion["document"]["_id"] == "p1@text-labeler-v3" and champion["current"] is True
    assert [v["id"] for v in champion["other_versions"]] == [f"p1@{cold}"]

    problem = Problem(id="p1", text="180을 소인수분해하시오.", labels=["9수01-01"])
    at = datetime.now(UTC)
    verification = verification_doc(problem, curriculum="kr-2022", verified_by="ann", source_uri="x", record=1, at=at)
    label_docs.upsert_labels([verification])
    verified = get()
    assert verified["document"]["_id"] == verification["_id"] and verified["document"]["labels"] == ["9수01-01"]
    assert {v["id"] for v in verified["other_versions"]} == {"p1@text-labeler-v3", f"p1@{cold}"}
    assert {v["status"] for v in verified["other_versions"]} == {"auto_accepted", "needs_review"}

    exact = get("--model-version", cold)
    assert exact["document"]["_id"] == f"p1@{cold}" and exact["current"] is False

    shown = runner.invoke(app, ["labels", "get", "p1"])
    assert shown.exit_code == 0 and f"{verification['_id']}: the current label document of p1" in shown.output
    assert "p1@text-labeler-v3" in shown.output.split("other versions of p1")[1]
    missing = runner.invoke(app, ["labels", "get", "p2"])
    assert missing.exit_code == 1 and "no label document 'p2'" in missing.output


def test_labels_get_takes_a_key_a_document_id_or_a_record_id_one_problem_set_uses(label_docs):
    docs = [_machine(f"{s}.jsonl#p7", "m", "r1", "9수01-02", 0.7, "auto_accepted") for s in ("a", "b")]
    label_docs.upsert_labels([d | {"problem_id": "p7", "problem_key": d["problem_id"]} for d in docs] + [
        _machine("q1", "m", "r1", "9수01-01", 0.8, "auto_accepted") | {"batch_id": "c.jsonl", "_id": "q1@m"},
    ])  # fmt: skip

    def get(ref, *args):
        return runner.invoke(app, ["labels", "get", ref, "--json", *args])

    ambiguous = get("p7")  # a record id two problem sets use: which problem is not for the CLI to guess
    assert ambiguous.exit_code == 2 and "a.jsonl#p7" in ambiguous.stderr and "b.jsonl#p7" in ambiguous.stderr
    by_key = json.loads(get("b.jsonl#p7").stdout)
    assert by_key["document"]["_id"] == "b.jsonl#p7@m" and by_key["other_versions"] == []
    by_doc_id = json.loads(get("a.jsonl#p7@m").stdout)
    assert by_doc_id["document"]["_id"] == "a.jsonl#p7@m" and by_doc_id["current"] is True
    # one set's id names its problem; a document from before keys (bare id, its key computed) is found by either
    assert json.loads(get("q1").stdout)["document"]["_id"] == "q1@m"
    assert json.loads(get("c.jsonl#q1", "--model-version", "m").stdout)["document"]["_id"] == "q1@m"


def test_labels_list_filters_by_run_status_reason_and_curriculum(label_docs):
    disagree = "the record's labels say 9수01-01; the model chose 9수01-02"
    label_docs.upsert_labels([
        _machine("a", "m", "r1", "9수01-02", 0.74, "needs_review", disagree),
        _machine("b", "m", "r1", "9수01-01", 0.81, "auto_accepted", "top score 0.81 ≥ 0.60"),
        _machine("c", "m", "r2", "9수02-01", 0.40, "needs_review", "top score 0.40 is below the threshold", disagree),
        _machine("d", "m", "r2", "9수02-01", 0.90, "auto_accepted", "x") | {"curriculum": "kr-2015"},
    ])  # fmt: skip

    def ids(*args):
        result = runner.invoke(app, ["labels", "list", "--json", *args])
        assert result.exit_code == 0, result.output
        return sorted(row["id"] for row in json.loads(result.stdout))

    assert ids("--run", "r1") == ["a@m", "b@m"]
    assert ids("--status", "needs_review") == ["a@m", "c@m"]
    assert ids("--reason", "RECORD'S LABELS", "--run", "r2") == ["c@m"]
    assert ids("--curriculum", "kr-2015") == ["d@m"]
    assert len(ids("--limit", "3")) == 3

    table = runner.invoke(app, ["labels", "list", "--run", "r1", "--status", "needs_review"])
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0].split() == ["id", "status", "code", "score", "first", "reason"]
    assert table.stdout.splitlines()[1].split()[:4] == ["a@m", "needs_review", "9수01-02", "0.74"]
    assert disagree in table.stdout
    refused = runner.invoke(app, ["labels", "list", "--status", "accepted"])
    assert refused.exit_code == 2 and "needs_review" in refused.output


def test_a_label_the_records_labels_contradict_goes_to_review(seeded_graph, clean_objects, clean_labels, tmp_path):
    record = {"id": "given-1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오.", "school": "중학교",
              "grade": 1, "labels": ["9수01-02"]}  # fmt: skip
    problems = tmp_path / "given.jsonl"
    problems.write_text(json.dumps(record, ensure_ascii=False))
    done = runner.invoke(app, ["label", str(problems)])
    assert done.exit_code == 0, done.output

    listed = runner.invoke(app, ["labels", "list", "--reason", "the record's labels say", "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert row["problem_id"] == "given-1" and row["status"] == "needs_review" and row["code"] != "9수01-02"
    assert f"the record's labels say 9수01-02; the model chose {row['code']}" in row["reasons"]


def test_label_files_its_input_as_the_drop_folder_does_and_says_where_the_report_is(
    seeded_graph, clean_objects, clean_labels, settings, tmp_path
):
    import re
    from pathlib import Path
    from urllib.parse import urlparse

    records = [
        {"id": "q-1", "text": "삼각형의 세 내각의 크기의 합을 구하시오."},
        {"id": "q-2", "text": "x", "school": "대학교"},
    ]
    problems = tmp_path / "mixed.jsonl"
    problems.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")

    done = runner.invoke(app, ["label", str(problems)])

    assert done.exit_code == 0, done.output
    day = r"\d{4}-\d{2}-\d{2}"
    quarantined = clean_objects.list("quarantine")  # as for a dropped file: no folder of the run in the path
    expected = rf"quarantine/{day}/mixed\.jsonl\.(error\.json|rejected\.jsonl)"
    assert len(quarantined) == 2 and all(re.fullmatch(expected, key) for key in quarantined), quarantined
    (processed,) = clean_objects.list("processed")
    assert re.fullmatch(rf"processed/{day}/mixed\.jsonl", processed)
    assert list((settings.var_path / "objects" / "incoming").iterdir()) == []  # no folder of the run left behind
    html_path = next(line.split()[0] for line in done.stdout.splitlines() if line.strip().endswith(".html (and .json)"))
    uri = next(line.strip() for line in done.stdout.splitlines() if line.strip().startswith("file://"))
    assert Path(html_path).is_file() and Path(urlparse(uri).path) == Path(html_path)
    assert "needs review" in done.stdout and "unknown school" in Path(html_path).read_text(encoding="utf-8")
    raw = runner.invoke(app, ["label", str(problems), "--json"])
    assert raw.exit_code == 0 and json.loads(raw.stdout)["skipped"] == 1


@pytest.mark.parametrize("suffix", ["png", "pdf"])
def test_labeling_the_same_page_file_twice_by_cli_changes_nothing(
    seeded_graph, clean_objects, clean_labels, tmp_path, suffix
):
    from training.pages import generate_page

    page = tmp_path / f"scan.{suffix}"
    generate_page(36, noise=False).image.save(page)  # one page, two problems (a PIL-written PDF for .pdf)

    first = runner.invoke(app, ["label", str(page), "--json"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["label", str(page), "--json"])
    assert second.exit_code == 0, second.output

    # the summary is the output's last JSON document (the first run's OCR engines may print a line before it)
    summaries = [json.loads(r.stdout[r.stdout.index("{\n") :]) for r in (first, second)]
    counts = [(s["labeled"], s["skipped"]) for s in summaries]
    assert counts == [(2, 0), (0, 2)]
    assert sorted(d["problem_id"] for d in clean_labels.find_labels()) == [f"scan.{suffix}#p1-1", f"scan.{suffix}#p1-2"]


def test_label_says_a_zip_bomb_and_refused_members_are_quarantined_and_why(
    seeded_graph, clean_objects, clean_labels, tmp_path
):
    from tests.hostile import zip_bomb, zip_of

    bomb, bundle = tmp_path / "bomb.zip", tmp_path / "bundle.zip"
    bomb.write_bytes(zip_bomb())
    record = {"id": "z-1", "text": "12의 약수를 모두 구하시오."}
    bundle.write_bytes(zip_of({"../../x.jsonl": b"{}", "a.jsonl": json.dumps(record, ensure_ascii=False).encode()}))

    refused = runner.invoke(app, ["label", str(bomb)])
    unpacked = runner.invoke(app, ["label", str(bundle)])

    assert refused.exit_code == 0 and unpacked.exit_code == 0, refused.output + unpacked.output
    assert "files                   1 (0 processed, 1 quarantined" in refused.output
    assert "quarantined, with why:\n    bomb.zip: unusable zip archive: bomb.zip: archive expands" in refused.output
    assert (
        "quarantined, with why:\n    bundle.zip: 1 member(s) of the archive refused\n"
        "      member ../../x.jsonl: unsafe path in archive" in unpacked.output
    ), unpacked.output
    assert [d["problem_key"] for d in clean_labels.find_labels()] == ["bundle.zip.d/a.jsonl#z-1"]
