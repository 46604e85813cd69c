"""The fault suite: each hostile or clumsy input is dropped among good files, and one run must label every good
problem exactly once and quarantine the bad input with its reason (issue 16). Any change must keep it passing.

A case names what it drops, the problems of its own that must be labeled (beside the good files'), and the inputs
that must be quarantined, each with a piece of its reason. "Quarantined" means: ``quarantine/<date>/...`` holds an
``.error.json`` naming the input, and the run report lists it with that reason.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import pytest

from labeling.batch import CurriculumIndex, run_batch
from labeling.intake import claim_files
from mathlabel.config import get_settings
from mathlabel.runs import batch_config
from tests.hostile import huge_png, truncated_png, zip_bomb, zip_of
from tests.pdfs import one_page_pdf

pytestmark = pytest.mark.integration


def jsonl(*records: dict) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


TRIANGLE = "삼각형의 세 내각의 크기의 합을 구하시오."
PRIMES = "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오."
GOOD = {
    "good.jsonl": jsonl({"id": "g-1", "text": PRIMES}, {"id": "g-2", "text": TRIANGLE}),
    "good.csv": f"id,text\ng-3,{TRIANGLE}\n".encode(),
}
GOOD_KEYS = {"good.jsonl#g-1", "good.jsonl#g-2", "good.csv#g-3"}
HOSTILE_NAME = "-<img src=x onerror=alert(1)> $(touch pwned); '\"\u202egpj.jsonl"


@dataclass
class Case:
    drop: dict[str, bytes]
    labeled: set[str] = field(default_factory=set)  # problem keys of the case's own that must be labeled
    quarantined: dict[str, str] = field(default_factory=dict)  # input name -> a piece of its reason
    link: str = ""  # a symbolic link of this name in incoming/ to a problem file outside the store


CASES = {
    "malformed-jsonl-line": Case(
        {"lines.jsonl": jsonl({"id": "l-1", "text": PRIMES}) + b'{"id": "l-2", "text": \n'},
        labeled={"lines.jsonl#l-1"},
        quarantined={"lines.jsonl": "1 of 2 records failed validation"},
    ),
    "cp949-csv": Case({"kr.csv": f"id,text\nk-1,{TRIANGLE}\n".encode("cp949")}, labeled={"kr.csv#k-1"}),
    "utf-16": Case(
        {"wide.jsonl": json.dumps({"id": "w-1", "text": TRIANGLE}, ensure_ascii=False).encode("utf-16")},
        quarantined={"wide.jsonl": "not valid UTF-8 or CP949 text"},
    ),
    "bom": Case({"bom.csv": f"\ufeffid,text\nb-1,{TRIANGLE}\n".encode()}, labeled={"bom.csv#b-1"}),
    "1mb-record": Case(
        {"big.jsonl": jsonl({"id": "m-1", "text": PRIMES}, {"id": "m-2", "text": TRIANGLE * 50_000})},
        labeled={"big.jsonl#m-1"},
        quarantined={"big.jsonl": "1 of 2 records failed validation"},
    ),
    "zip-slip": Case(
        {
            "slip.zip": zip_of(
                {"../../escaped.jsonl": jsonl({"id": "x-1"}), "inner.jsonl": jsonl({"id": "s-1", "text": TRIANGLE})}
            )
        },
        labeled={"slip.zip.d/inner.jsonl#s-1"},
        quarantined={"slip.zip": "member(s) of the archive refused"},
    ),
    "zip-bomb": Case({"bomb.zip": zip_bomb()}, quarantined={"bomb.zip": "archive expands beyond"}),
    "giant-png": Case({"giant.png": huge_png(20_000, 20_000)}, quarantined={"giant.png": "20000x20000"}),
    "truncated-png": Case({"cut.png": truncated_png()}, quarantined={"cut.png": "cut.png"}),
    "broken-pdf": Case({"broken.pdf": b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog"}, quarantined={"broken.pdf": "pdf"}),
    "100-inch-pdf-page": Case({"poster.pdf": one_page_pdf(7200, 7200)}, quarantined={"poster.pdf": "15000x15000"}),
    "hostile-file-name": Case({HOSTILE_NAME: jsonl({"id": "h-1", "text": PRIMES})}, labeled={f"{HOSTILE_NAME}#h-1"}),
    "u2028-in-a-record": Case(
        {"seps.jsonl": jsonl({"id": "u-1", "text": f"{TRIANGLE}\u2028{PRIMES}"}, {"id": "u-2", "text": PRIMES})},
        labeled={"seps.jsonl#u-1", "seps.jsonl#u-2"},
    ),
    "symlink-to-a-file-outside": Case({}, quarantined={"linked.jsonl": "symbolic link"}, link="linked.jsonl"),
    "same-id-in-two-files": Case(
        {"twin.jsonl": jsonl({"id": "g-1", "text": TRIANGLE})}, labeled={"twin.jsonl#g-1"}
    ),  # good.jsonl's g-1, another problem: each is kept under its own key
}


@pytest.fixture(scope="module")
def index(seeded_graph):
    return CurriculumIndex(seeded_graph, "kr-2022")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_input_among_good_files_is_quarantined_and_every_good_problem_labeled_once(
    case, clean_objects, clean_labels, index, settings, tmp_path, request
):
    objects, labels = clean_objects, clean_labels
    for name, data in {**GOOD, **case.drop}.items():
        objects.write_bytes(f"incoming/{name}", data)
    outside = tmp_path / "outside.jsonl"
    if case.link:
        outside.write_bytes(jsonl({"id": "outside-1", "text": PRIMES}))
        (settings.var_path / "objects" / "incoming" / case.link).symlink_to(outside)
    cfg = batch_config(get_settings(), f"faults-{request.node.callspec.id}")

    from mathlabel.clients import page_reader

    summary = run_batch(claim_files(objects, cfg.run_id, run_date=cfg.run_date), objects=objects, labels=labels,
                        index=index, cfg=cfg, reader=lambda: page_reader(settings))  # fmt: skip

    keys = Counter(doc["problem_key"] for doc in labels.find_labels())
    assert keys == Counter(GOOD_KEYS | case.labeled)  # every good problem once, nothing else
    assert summary["labeled"] == len(GOOD_KEYS | case.labeled)
    errors = {}
    for key in objects.list("quarantine"):
        if key.endswith(".error.json"):
            error = json.loads(objects.read_bytes(key))
            errors[error["file"]] = error
    report = json.loads(objects.read_bytes(summary["report"]))
    listed = {item["file"]: item for item in report["quarantine"]}
    html = objects.read_bytes(summary["report_html"]).decode()
    for name, reason in case.quarantined.items():
        assert name in errors, f"no .error.json names {name}: {sorted(errors)}"
        said = errors[name]["reason"] + " " + json.dumps(errors[name]["records"], ensure_ascii=False)
        assert reason.lower() in said.lower(), said
        assert name in listed and listed[name]["reason"], f"the run report leaves {name} out: {sorted(listed)}"
        assert name in html
    assert set(errors) == set(case.quarantined)  # no good input was quarantined
    assert objects.list("processing") == []  # every input is filed: processed or quarantined
    assert "<img src=x" not in html  # a hostile name is text in the report, never markup
    if case.link:  # the link was never followed: its target is untouched, its problem never read
        assert outside.read_bytes() == jsonl({"id": "outside-1", "text": PRIMES})
        assert "outside-1" not in json.dumps(errors, ensure_ascii=False)
    assert not any("escaped" in k for k in objects.list("") if not k.startswith("quarantine/"))  # no zip slip
