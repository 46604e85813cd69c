"""Champion aliases of the text labeler: one per curricula set, each a name MLflow accepts."""

import re

import pytest

from training.promotion import champion_alias

MLFLOW_ALIAS = re.compile(r"^[\w\-]*$")  # mlflow.utils.validation._REGISTERED_MODEL_ALIAS_REGEX


@pytest.mark.parametrize(
    ("curricula", "alias"),
    [
        (["kr-2022"], "champion-kr-2022"),
        (["us-ccss"], "champion-us-ccss"),
        (["kr-2022", "kr-2015"], "champion-kr-2022--kr-2015"),
    ],
)
def test_each_curricula_set_has_its_own_alias_that_mlflow_accepts(curricula, alias):
    assert champion_alias(curricula) == alias and MLFLOW_ALIAS.match(alias)


def test_the_base_name_is_configurable():
    assert champion_alias(["kr-2022"], "prod") == "prod-kr-2022"


@pytest.mark.parametrize("curricula", [[], [""], ["kr.2022"], ["kr+2015"], ["a--b"]])
def test_curricula_that_cannot_name_an_alias_are_refused(curricula):
    with pytest.raises(ValueError):
        champion_alias(curricula)
