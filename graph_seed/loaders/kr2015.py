"""kr-2015: the 129 standards of the 2015 curriculum that the project has (61 middle school, 27 elementary, 41 고1)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from graph_seed import DATA_DIR
from graph_seed.codes import normalize_code
from graph_seed.errors import SourceProblem
from graph_seed.loaders.common import Sources, finish
from graph_seed.models import Curriculum, Standard

CURRICULUM = "kr-2015"
NAME = "2015 개정 수학과 교육과정 (교육부 고시 제2015-74호), 부분"

MIDDLE = "kr-2015/middle_standards.csv"
OTHERS = "kr-2015/elementary_highschool_standards_partial.csv"

# The 2015 curriculum's 영역, by the two domain digits of a code, per school level.
AREAS: dict[str, dict[str, str]] = {
    "elementary": {"01": "수와 연산", "02": "도형", "03": "측정", "04": "규칙성", "05": "자료와 가능성"},
    "middle": {"01": "수와 연산", "02": "문자와 식", "03": "함수", "04": "기하", "05": "확률과 통계"},
    "high": {"01": "문자와 식", "02": "기하", "03": "수와 연산", "04": "함수", "05": "확률과 통계"},
}
_CODE = re.compile(r"^(?P<prefix>[2469]수|10수학)(?P<area>\d{2})-\d{2}$")
_PREFIX_LEVEL = {"2수": "elementary", "4수": "elementary", "6수": "elementary", "9수": "middle", "10수학": "high"}
_PREFIX_BAND = {"2수": "초1-2", "4수": "초3-4", "6수": "초5-6", "9수": "중1-3"}
_GRADE_BAND = {1: "초1-2", 2: "초1-2", 3: "초3-4", 4: "초3-4", 5: "초5-6", 6: "초5-6"}
_HIGH_COURSE = "수학"  # 고1 common course, code prefix 10수학


def load_kr2015(data_root: Path = DATA_DIR) -> Curriculum:
    """Load the partial 2015 revised curriculum from ``data_root/kr-2015``.

    Raises:
        GraphSeedError: a source file or a required column is missing.
        CurriculumValidationError: listing every bad row with its file, row and value.
    """
    src = Sources(CURRICULUM, Path(data_root))
    found: list[SourceProblem] = []
    fields: list[dict[str, Any]] = []
    for row in src.csv(MIDDLE, ["code", "area", "content"]):
        code = normalize_code(row["code"], CURRICULUM)
        area, order = _area(code)
        if area is not None and row["area"] != area:
            found.append(row.problem(row["area"], f"area does not match the code's domain digits ({code}: {area})"))
        fields.append(
            _standard(code, row["content"], "중학교", "중1-3", "GradeBand", "중1-3", row["area"], order)
            | {"file": row.file, "row": row.row}
        )
    for row in src.csv(OTHERS, ["code", "school", "grade", "content"]):
        code = normalize_code(row["code"], CURRICULUM)
        area, order = _area(code)
        if row["school"] == "고등학교":
            placed = ("고등학교", _HIGH_COURSE, "Course", "고공통")
        elif row["school"] == "초등학교":
            grade = int(row["grade"].removesuffix("학년")) if row["grade"].removesuffix("학년").isdigit() else 0
            band = _GRADE_BAND.get(grade)
            if band is None:
                found.append(row.problem(row["grade"], "elementary grade is not 1학년 … 6학년"))
                continue
            match = _CODE.match(code)
            if match and _PREFIX_BAND.get(match["prefix"]) != band:
                found.append(row.problem(row["grade"], f"grade does not match the code's grade band ({code})"))
            placed = ("초등학교", band, "GradeBand", band)
        else:
            found.append(row.problem(row["school"], "school is neither 초등학교 nor 고등학교"))
            continue
        fields.append(_standard(code, row["content"], *placed, area or "", order) | {"file": row.file, "row": row.row})

    order_in_group: dict[str, int] = defaultdict(int)
    standards = []
    for item in fields:
        order_in_group[item["group"]] += 1
        standards.append(Standard(**item, order=order_in_group[item["group"]]))
    curriculum = Curriculum(id=CURRICULUM, name=NAME, source_hash=src.hash(), standards=standards)
    return finish(curriculum, found)


def _area(code: str) -> tuple[str | None, int]:
    """The 2015 영역 a code's domain digits name, and its order; (None, 0) for a code that does not parse."""
    match = _CODE.match(code)
    if not match:
        return None, 0
    area = AREAS[_PREFIX_LEVEL[match["prefix"]]].get(match["area"])
    return area, int(match["area"]) if area else 0


def _standard(
    code: str,
    text: str,
    school_level: str,
    group: str,
    group_kind: str,
    grade_group: str,
    domain: str,
    domain_order: int,
) -> dict[str, Any]:
    return {
        "code": code,
        "text": text,
        "school_level": school_level,
        "group": group,
        "group_kind": group_kind,
        "grade_group": grade_group,
        "domain": domain,
        "domain_order": domain_order,
    }
