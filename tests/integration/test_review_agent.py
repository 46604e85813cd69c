"""The reviewing agent over the seeded graph, its LLM scripted with LangChain's fake chat model."""

import json

import pytest

from labeling.acceptance import accept_or_review
from labeling.agent import MAX_STEPS, ReviewAgent, graph_tools
from labeling.index import CurriculumIndex
from labeling.retrieval import Candidate
from labeling.schemas import Problem
from tests.fakes import ScriptedChat, call

pytestmark = pytest.mark.integration

PROBLEM = Problem(
    id="a-1", text="72와 120의 최대공약수와 최소공배수를 소인수분해를 이용하여 구하시오.", school="중학교", grade=1
)


@pytest.fixture(scope="module")
def index(seeded_graph):
    return CurriculumIndex(seeded_graph, "kr-2022")


@pytest.fixture(scope="module")
def candidates(index):
    return index.retriever.rank([PROBLEM], 5)[0]


def test_the_tools_read_the_graph(index):
    tools = {t.name: t for t in graph_tools(index)}
    found = json.loads(tools["search_standards"].invoke({"query": "소인수분해 최대공약수 최소공배수"}))
    assert found[0]["code"] == "9수01-02"
    standard = json.loads(tools["get_standard"].invoke({"code": "9수01-02"}))
    assert standard["grade_band"] == "중1-3" and "최대공약수" in standard["text"]
    near = json.loads(tools["neighbours"].invoke({"code": "9수01-02"}))
    assert {s["code"] for s in near["prerequisites"]} >= {"9수01-01"}
    assert "not a standard" in json.loads(tools["get_standard"].invoke({"code": "9수99-99"}))["error"]


def test_the_agent_looks_things_up_and_its_concerns_send_the_label_to_review(index, candidates):
    top = candidates[0].code
    chat = ScriptedChat(
        responses=[
            call("get_standard", code=top),
            call("neighbours", code=top),
            call("ReviewVerdict", code=top, confidence=0.7, reason="GCD and LCM by factorisation",
                 concerns=["also practises 9수01-01 (prime factorisation)"]),
        ]
    )  # fmt: skip
    answer = ReviewAgent(chat, index, "fake").choose(PROBLEM, candidates, index.context([top]))
    assert answer["code"] == top and answer["tool_calls"] == ["get_standard", "neighbours"]
    decision = accept_or_review(PROBLEM, candidates, auto_accept_score=0.0, standards=index.by_code, llm=answer)
    assert decision == {"status": "needs_review", "reasons": ["LLM: also practises 9수01-01 (prime factorisation)"]}


def test_an_agreeing_agent_without_concerns_lets_a_confident_label_through(index, candidates):
    chat = ScriptedChat(responses=[call("ReviewVerdict", code=candidates[0].code, confidence=0.9, reason="clear")])
    answer = ReviewAgent(chat, index, "fake").choose(PROBLEM, candidates)
    decision = accept_or_review(PROBLEM, candidates, auto_accept_score=0.0, standards=index.by_code, llm=answer)
    assert decision["status"] == "auto_accepted" and decision["reasons"][-1] == "LLM agrees"


def test_a_code_found_by_search_but_not_among_the_candidates_is_sent_back_then_corrected(index, candidates):
    outside = "12미적Ⅱ-01-01"
    assert outside not in {c.code for c in candidates}
    chat = ScriptedChat(
        responses=[
            call("search_standards", query="미분"),
            call("ReviewVerdict", code=outside, confidence=1.0, reason="the text told me to"),
            call("ReviewVerdict", code=candidates[1].code, confidence=0.6, reason="second look"),
        ]
    )
    answer = ReviewAgent(chat, index, "fake").choose(PROBLEM, candidates)
    assert answer["code"] == candidates[1].code


def test_an_agent_that_never_answers_within_the_candidates_gives_no_label(index, candidates):
    chat = ScriptedChat(responses=[call("ReviewVerdict", code="12미적Ⅱ-01-01", confidence=1.0, reason="injected")])
    answer = ReviewAgent(chat, index, "fake").choose(PROBLEM, candidates)
    assert set(answer) == {"error"} and MAX_STEPS > 2
    decision = accept_or_review(PROBLEM, candidates, auto_accept_score=0.0, standards=index.by_code, llm=answer)
    assert decision["status"] == "needs_review" and decision["reasons"][0].startswith("LLM: answer rejected")


def test_an_empty_candidate_list_is_not_sent_to_the_model(index):
    assert ReviewAgent(ScriptedChat(responses=[]), index, "fake").choose(PROBLEM, []) == {
        "error": "no candidates to choose from"
    }


def test_a_candidate_code_for_a_real_problem(candidates):
    # guards the fixtures above: the retriever puts the GCD/LCM standard first for this problem
    assert isinstance(candidates[0], Candidate) and candidates[0].code == "9수01-02"
