"""The problem-record suite's Great Expectations context: built once per process, shared by every suite."""

import great_expectations as gx
import pytest

from labeling.validation import ProblemSuite

pytestmark = pytest.mark.integration


def test_two_suites_validate_through_one_context_built_once(monkeypatch):
    built = []
    real = gx.get_context
    monkeypatch.setattr(gx, "get_context", lambda *args, **kwargs: built.append(1) or real(*args, **kwargs))
    short = ProblemSuite(max_text_chars=10, known_codes={"9수01-01"}, known_courses={"수학"})
    long = ProblemSuite(max_text_chars=100, known_codes={"9수01-02"}, known_courses={"수학"})
    records = [{"id": "p-1", "text": "x" * 20, "labels": ["9수01-01"]}]

    assert short.failures(records) == {0: ["text has 20 characters; the limit is 10"]}
    assert long.failures(records) == {0: ["labels not in the target curriculum: 9수01-01"]}
    assert len(built) <= 1  # none when an earlier test of this process built it
    assert short.context is long.context
