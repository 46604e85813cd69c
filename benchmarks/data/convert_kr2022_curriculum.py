"""Two Korean test sets from the curriculum's own texts: 성취수준 descriptors; 성취기준 해설 and 적용 시 고려 사항.

Why: the only Korean benchmark set is one the project wrote itself. These texts were written by the curriculum's
authors, each tied to one standard, so they give an independent check of Korean retrieval. Two of the three kinds
of text are also part of the standards' own retrieval documents (``achievement_levels`` and ``explanation``), so a
benchmark on them must hold that field out of the index; ``considerations`` (적용 시 고려 사항) is not indexed.

Deterministic; run from the repository root: ``.venv/bin/python benchmarks/data/convert_kr2022_curriculum.py``.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
K9 = ROOT.parent / "shared/data/curricula/kr-2022/k9"
KNOWN = ROOT / "graph_seed/data/kr-2022/standards_k12_combined.csv"
OUT = ROOT / "benchmarks/data"

# file band -> (school, first grade of the band)
LEVEL_BANDS = {
    "elementary_1-2": ("초등학교", 1),
    "elementary_3-4": ("초등학교", 3),
    "elementary_5-6": ("초등학교", 5),
    "middle": ("중학교", 1),
}
EXPLANATION_BANDS = {
    "elementary_1-2": ("초등학교", 1),
    "elementary_3-4": ("초등학교", 3),
    "elementary_5-6": ("초등학교", 5),
    "middle_1-3": ("중학교", 1),
}
DOMAINS = ["number_operation", "change_relation", "geometry_measurement", "data_possibility"]
# explanation_type (spaces removed) -> the graph field the seed stores it in (graph_seed/loaders/kr2022.py)
EXPLANATION_FIELD = {"성취기준해설": "explanation", "적용시고려사항": "considerations"}


def code_of(raw: str) -> str:
    """A code in the project's spelling: no brackets, no spaces (K-9 codes need nothing more)."""
    return raw.strip().strip("[]").replace(" ", "")


def record_id(prefix: str, text: str) -> str:
    """An id from the text alone, so it carries no label."""
    return f"{prefix}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def drop_standard_sentences(rows: list[dict], sentences: dict[str, str]) -> tuple[list[dict], int]:
    """Drop texts that repeat their standard's own sentence: that sentence is always indexed, so no hold-out
    could keep them from matching themselves."""
    kept = [r for r in rows if r["text"] != sentences[r["labels"][0]]]
    return kept, len(rows) - len(kept)


def dedupe(rows: list[dict]) -> tuple[list[dict], int, int]:
    """Keep one record per exact text; drop a text that belongs to several standards (its label is ambiguous).

    Returns the kept rows, the number of same-standard duplicates removed and of ambiguous texts dropped."""
    by_text: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_text[row["text"]].append(row)
    kept, repeats, ambiguous = [], 0, 0
    for group in by_text.values():
        if len({tuple(r["labels"]) for r in group}) > 1:
            ambiguous += 1
            continue
        repeats += len(group) - 1
        kept.append(group[0])
    return kept, repeats, ambiguous


def levels(known: dict[str, str]) -> tuple[list[dict], dict[str, int]]:
    rows = []
    for band, (school, grade) in LEVEL_BANDS.items():
        for domain in DOMAINS:
            for row in read_csv(K9 / f"achievement_levels/achievement_levels_{band}_{domain}.csv"):
                code = code_of(row["성취기준"])
                text = row["성취수준"].strip()
                if code not in known:
                    raise ValueError(f"unknown code {code} in {band}_{domain}")
                if text:
                    rows.append(
                        {"text": text, "labels": [code], "school": school, "grade": grade, "level": row["수준"]}
                    )
    out, counts = _finish(rows, known, "kr22lv")
    return out, {"rows": len(rows), **counts}


def _finish(rows: list[dict], known: dict[str, str], prefix: str) -> tuple[list[dict], dict[str, int]]:
    """Rows without the texts the index always holds and without repeats, each with its id; and what was dropped."""
    distinct, same_as_standard = drop_standard_sentences(rows, known)
    kept, repeats, ambiguous = dedupe(distinct)
    out = [{"id": record_id(prefix, r["text"]), **r} for r in kept]
    counts = {"same_as_standard_sentence": same_as_standard, "same_standard_duplicates": repeats}
    return out, counts | {"ambiguous_dropped": ambiguous}


def explanations(known: dict[str, str]) -> tuple[list[dict], dict[str, int]]:
    ids = {
        r["standard_id"]: code_of(r["standard_code"])
        for r in read_csv(K9 / "achievement_standards/achievement_standards_all.csv")
    }
    rows, no_standard = [], 0
    for band, (school, grade) in EXPLANATION_BANDS.items():
        for row in read_csv(K9 / f"achievement_standards/standard_explanations_{band}.csv"):
            kind = row["explanation_type"].replace(" ", "")
            text = row["explanation_content"].strip()
            if row["standard_id"] == "0" or kind not in EXPLANATION_FIELD:
                no_standard += 1  # notes on a whole 영역 (incl. every 용어와 기호 row): no single standard
                continue
            code = ids[row["standard_id"]]
            if code not in known:
                raise ValueError(f"unknown code {code} for standard_id {row['standard_id']}")
            if text:
                field = EXPLANATION_FIELD[kind]
                rows.append({"text": text, "labels": [code], "school": school, "grade": grade, "field": field})
    out, counts = _finish(rows, known, "kr22ex")
    return out, {"rows_with_standard": len(rows), "domain_notes_skipped": no_standard, **counts}


def write(path: Path, records: list[dict]) -> None:
    records = sorted(records, key=lambda r: r["id"])
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def main() -> None:
    known = {code_of(r["code"]): r["content"].strip() for r in read_csv(KNOWN)}  # code -> standard sentence
    for name, build in (("kr2022_levels", levels), ("kr2022_explanations", explanations)):
        records, stats = build(known)
        write(OUT / f"{name}.jsonl", records)
        per_school: dict[str, int] = defaultdict(int)
        for r in records:
            per_school[r["school"]] += 1
        codes = {c for r in records for c in r["labels"]}
        print(name, len(records), "records,", len(codes), "standards,", dict(per_school), stats)


if __name__ == "__main__":
    main()
