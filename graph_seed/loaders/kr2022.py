"""kr-2022: the 435 standards of the combined table, enriched for K-9 from the ``k9/`` extraction."""

from __future__ import annotations

import re
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

from graph_seed import DATA_DIR
from graph_seed.codes import is_valid_code, normalize_code
from graph_seed.errors import SourceProblem
from graph_seed.loaders.common import Row, Sources, finish
from graph_seed.models import AchievementLevel, Curriculum, Edge, Standard, Term

CURRICULUM = "kr-2022"
NAME = "2022 개정 수학과 교육과정 (교육부 고시 제2022-33호 [별책 8])"

COMBINED = "kr-2022/standards_k12_combined.csv"
K9 = "kr-2022/k9"
BANDS = ["elementary_1-2", "elementary_3-4", "elementary_5-6", "middle_1-3"]
LEVEL_FILE_BANDS = ["elementary_1-2", "elementary_3-4", "elementary_5-6", "middle"]
LEVEL_FILE_DOMAINS = ["number_operation", "change_relation", "geometry_measurement", "data_possibility"]
HEURISTIC = f"{K9}/derived_prerequisites_heuristic.json"

# (list in the heuristic JSON, edge kind, confidence). The first list is rule-made (same 내용 요소, ascending
# order); the others were made by an LLM, hence lower confidence. None of them is official.
HEURISTIC_LISTS: list[tuple[str, str, float]] = [
    ("prerequisite_relations", "PREREQUISITE_OF", 0.3),
    ("grade_progression_relations", "PREREQUISITE_OF", 0.2),
    ("domain_bridge_relations", "PREREQUISITE_OF", 0.2),
    ("horizontal_relations", "RELATED_TO", 0.2),
    ("similarity_relations", "RELATED_TO", 0.2),
]
SEQUENCE_CONFIDENCE = 0.5

_AREA_NUMBER = re.compile(r"^\((\d+)\)\s*")
_SCHOOL_PREFIX = {"초등학교": "초", "중학교": "중", "고등학교": "고"}
_ASCII_WORD = "A-Za-z0-9²³"
# explanation_type (spaces removed) -> Standard field; 용어와 기호 notes on a standard join its considerations.
_EXPLANATION_FIELD = {"성취기준해설": "explanation", "적용시고려사항": "considerations", "용어와기호": "considerations"}


def load_kr2022(data_root: Path = DATA_DIR) -> Curriculum:
    """Load the 2022 revised curriculum from ``data_root/kr-2022``.

    Raises:
        GraphSeedError: a source file or a required column is missing.
        CurriculumValidationError: listing every bad row with its file, row and value.
    """
    src = Sources(CURRICULUM, Path(data_root))
    found: list[SourceProblem] = []
    standards = _combined(src)
    first: dict[str, dict[str, Any]] = {}  # code -> its fields (the first row, when a code is duplicated)
    for fields in standards:
        first.setdefault(fields["code"], fields)

    k9_ids = _k9_ids(src, first, found)
    _explanations(src, k9_ids, first, found)
    _achievement_levels(src, first, found)
    bands, domains = _reference(src)
    core_ideas = _core_ideas(src, domains, found)

    built = [Standard(**fields) for fields in standards]
    terms = _terms(src, bands, domains, built, found)
    edges = _sequence_edges(built) + _heuristic_edges(src, found)
    curriculum = Curriculum(
        id=CURRICULUM,
        name=NAME,
        source_hash=src.hash(),
        standards=built,
        edges=edges,
        terms=terms,
        core_ideas=core_ideas,
    )
    return finish(curriculum, found)


def _combined(src: Sources) -> list[dict[str, Any]]:
    columns = ["code", "school_level", "grade_group", "subject", "area", "content_element", "content"]
    standards: list[dict[str, Any]] = []
    order_in_group: dict[str, int] = defaultdict(int)
    for row in src.csv(COMBINED, columns):
        is_course = row["school_level"] == "고등학교"
        group = row["subject"] if is_course else row["grade_group"]
        match = _AREA_NUMBER.match(row["area"])
        order_in_group[group] += 1
        standards.append(
            {
                "code": normalize_code(row["code"], CURRICULUM),
                "text": row["content"],
                "school_level": row["school_level"],
                "group": group,
                "group_kind": "Course" if is_course else "GradeBand",
                "grade_group": row["grade_group"],
                "domain": _AREA_NUMBER.sub("", row["area"]),
                "domain_order": int(match.group(1)) if match else 0,
                "content_element": row["content_element"] or None,
                "order": order_in_group[group],
                "file": row.file,
                "row": row.row,
            }
        )
    return standards


def _k9_ids(src: Sources, first: dict[str, dict[str, Any]], found: list[SourceProblem]) -> dict[str, str]:
    """standard_id -> code, for the explanation files (which name standards by id only)."""
    ids: dict[str, str] = {}
    for row in src.csv(f"{K9}/achievement_standards/achievement_standards_all.csv", ["standard_id", "standard_code"]):
        code = normalize_code(row["standard_code"], CURRICULUM)
        if code not in first:
            found.append(row.problem(code, "K-9 standard missing from the combined table"))
        ids[row["standard_id"]] = code
    return ids


def _explanations(
    src: Sources, ids: dict[str, str], first: dict[str, dict[str, Any]], found: list[SourceProblem]
) -> None:
    texts: dict[tuple[str, str], list[str]] = defaultdict(list)
    for band in BANDS:
        relative = f"{K9}/achievement_standards/standard_explanations_{band}.csv"
        for row in src.csv(relative, ["standard_id", "explanation_type", "explanation_content"]):
            if row["standard_id"] == "0":
                continue  # a note on a whole 영역 of the grade band, attached to no standard
            kind = row["explanation_type"].replace(" ", "")
            if kind not in _EXPLANATION_FIELD:
                found.append(row.problem(row["explanation_type"], "unknown explanation_type"))
                continue
            code = ids.get(row["standard_id"])
            if code is None:
                found.append(row.problem(row["standard_id"], "explanation for an unknown standard_id"))
                continue
            if code in first and row["explanation_content"]:  # a code missing from the table is reported once
                texts[(code, _EXPLANATION_FIELD[kind])].append(row["explanation_content"])
    for (code, name), parts in texts.items():
        first[code][name] = "\n".join(parts)


def _achievement_levels(src: Sources, first: dict[str, dict[str, Any]], found: list[SourceProblem]) -> None:
    levels: dict[str, dict[str, str]] = defaultdict(dict)
    for band in LEVEL_FILE_BANDS:
        for domain in LEVEL_FILE_DOMAINS:
            relative = f"{K9}/achievement_levels/achievement_levels_{band}_{domain}.csv"
            for row in src.csv(relative, ["성취기준", "수준", "성취수준"]):
                code = normalize_code(row["성취기준"], CURRICULUM)
                level = row["수준"]
                if code not in first:
                    found.append(row.problem(code, "achievement level for an unknown code"))
                elif level in levels[code]:
                    found.append(row.problem(f"{code} {level}", "duplicate achievement level"))
                elif not row["성취수준"]:
                    found.append(row.problem(f"{code} {level}", "empty achievement level text"))
                else:
                    levels[code][level] = row["성취수준"]
    for code, by_level in levels.items():
        first[code]["achievement_levels"] = [
            AchievementLevel(level=level, text=text) for level, text in sorted(by_level.items())
        ]


def _reference(src: Sources) -> tuple[dict[str, str], dict[str, str]]:
    """level_id -> grade band name as the combined table writes it (초1-2 … 중1-3); domain_id -> 영역 name."""
    bands = {}
    for row in src.csv(f"{K9}/reference/school_levels.csv", ["level_id", "school_type", "grade_range"]):
        prefix = _SCHOOL_PREFIX.get(row["school_type"], row["school_type"])
        bands[row["level_id"]] = prefix + row["grade_range"].removesuffix("학년")
    domains = {
        row["domain_id"]: row["domain_name"]
        for row in src.csv(f"{K9}/reference/domains.csv", ["domain_id", "domain_name"])
    }
    return bands, domains


def _core_ideas(src: Sources, domains: dict[str, str], found: list[SourceProblem]) -> dict[str, list[str]]:
    ideas: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for row in src.csv(f"{K9}/content_system/core_ideas.csv", ["domain_id", "idea_content", "idea_order"]):
        if row["domain_id"] not in domains:
            found.append(row.problem(row["domain_id"], "core idea for an unknown domain_id"))
            continue
        order = int(row["idea_order"]) if row["idea_order"].isdigit() else 0
        ideas[domains[row["domain_id"]]].append((order, row["idea_content"]))
    return {name: [text for _, text in sorted(items)] for name, items in ideas.items()}


def _terms(
    src: Sources,
    bands: dict[str, str],
    domains: dict[str, str],
    standards: list[Standard],
    found: list[SourceProblem],
) -> list[Term]:
    by_band: dict[str, list[Standard]] = defaultdict(list)
    for standard in standards:
        by_band[standard.group].append(standard)
    terms: list[Term] = []
    columns = ["level_id", "domain_id", "term_type", "term_name", "term_description"]
    for band in BANDS:
        for row in src.csv(f"{K9}/terms_symbols/terms_symbols_{band}.csv", columns):
            group = bands.get(row["level_id"])
            if group is None:
                found.append(row.problem(row["level_id"], "term for an unknown level_id"))
                continue
            if row["domain_id"] not in domains:
                found.append(row.problem(row["domain_id"], "term for an unknown domain_id"))
                continue
            if row["term_type"] not in ("용어", "기호"):
                found.append(row.problem(row["term_type"], "term_type is neither 용어 nor 기호"))
                continue
            terms.append(
                Term(
                    name=row["term_name"],
                    kind=row["term_type"],
                    group=group,
                    domain=domains[row["domain_id"]],
                    description=row["term_description"] or None,
                    standards=_uses(row["term_name"], row["term_type"], by_band[group]),
                    file=row.file,
                    row=row.row,
                )
            )
    return terms


def _uses(name: str, kind: str, standards: list[Standard]) -> list[str]:
    """Codes of the band's standards whose text or 해설 uses the term.

    A word (용어) of two or more characters matches as a substring (Korean attaches particles: 소인수분해를). A
    one-character name (합, 각, ○) would match almost anything, so it links nothing. A symbol (기호) of two or more
    characters must appear as itself, not inside a longer Latin/number token (cm must not match cm²).
    """
    if len(name) < 2:
        return []
    if kind == "기호":
        pattern = re.compile(rf"(?<![{_ASCII_WORD}]){re.escape(name)}(?![{_ASCII_WORD}])")
        return [s.code for s in standards if pattern.search(s.text) or pattern.search(s.explanation or "")]
    return [s.code for s in standards if name in s.text or name in (s.explanation or "")]


def _sequence_edges(standards: list[Standard]) -> list[Edge]:
    """Consecutive standards of one 내용 요소 (K-9), in curriculum order: the earlier prepares the later.

    A row with a malformed or repeated code is left out of the chains: validation reports the row itself, and
    edges derived from it would only repeat that report.
    """
    chains: dict[tuple[str, str, str], list[Standard]] = defaultdict(list)
    seen: set[str] = set()
    for standard in standards:
        usable = is_valid_code(standard.code, CURRICULUM) and standard.code not in seen
        seen.add(standard.code)
        if usable and standard.group_kind == "GradeBand" and standard.content_element:
            chains[(standard.group, standard.domain, standard.content_element)].append(standard)
    edges = []
    for (_, _, element), chain in chains.items():
        chain.sort(key=lambda s: s.order)
        for before, after in pairwise(chain):
            edges.append(
                Edge(
                    kind="PREREQUISITE_OF",
                    source_code=before.code,
                    target_code=after.code,
                    source="sequence",
                    confidence=SEQUENCE_CONFIDENCE,
                    note=f"consecutive in 내용 요소 {element}",
                    file=after.file,
                    row=after.row,
                )
            )
    return edges


def _heuristic_edges(src: Sources, found: list[SourceProblem]) -> list[Edge]:
    data = src.json(HEURISTIC, [name for name, _, _ in HEURISTIC_LISTS])
    edges: list[Edge] = []
    seen: set[tuple[str, ...]] = set()
    for name, kind, confidence in HEURISTIC_LISTS:
        items = data[name]
        if not isinstance(items, list):
            found.append(SourceProblem(HEURISTIC, 0, name, "expected a list"))
            continue
        for index, item in enumerate(items, start=1):
            where = Row(HEURISTIC, index, {})
            if not isinstance(item, dict) or not item.get("source_code") or not item.get("target_code"):
                found.append(where.problem(name, "relation without source_code and target_code"))
                continue
            a = normalize_code(item["source_code"], CURRICULUM)
            b = normalize_code(item["target_code"], CURRICULUM)
            # RELATED_TO is one edge per unordered pair; a pair in both lists is kept once.
            key = (kind, a, b) if kind == "PREREQUISITE_OF" else (kind, *sorted((a, b)))
            if key in seen:
                continue
            seen.add(key)
            reasoning = str(item.get("reasoning") or "").strip() or None
            note = reasoning if name == "prerequisite_relations" else f"{name} (LLM): {reasoning or ''}".strip()
            edges.append(
                Edge(
                    kind=kind,
                    source_code=a,
                    target_code=b,
                    source="heuristic",
                    confidence=confidence,
                    note=note,
                    file=HEURISTIC,
                    row=index,
                )
            )
    return edges
