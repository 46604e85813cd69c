"""A curriculum spec has one spelling: content hashes, label documents and queries all use it."""

import pytest

from labeling.index import curriculum_id, expand_curricula
from labeling.steps import BatchConfig


@pytest.mark.parametrize("spelling", ["kr", "kr-2022,kr-2015", " kr-2015, kr-2022", "kr,kr-2015", ["kr-2015", "kr"]])
def test_every_spelling_of_the_korean_curricula_is_one_id(spelling):
    assert expand_curricula(spelling) == ["kr-2022", "kr-2015"]
    assert curriculum_id(spelling) == "kr-2022,kr-2015"


def test_curricula_of_several_families_keep_one_order():
    assert curriculum_id("us-ccss, kr-2015,kr-2022") == curriculum_id("kr,us-ccss") == "kr-2022,kr-2015,us-ccss"
    assert curriculum_id(" us-ccss ") == "us-ccss"


def test_a_run_config_normalises_the_curriculum_its_params_give():
    cfg = BatchConfig("run", "2026-11-22", " kr-2015, kr-2022", "v1", top_k=5, auto_accept_score=0.6,
                      max_text_chars=100)  # fmt: skip
    assert cfg.curriculum == "kr-2022,kr-2015"
