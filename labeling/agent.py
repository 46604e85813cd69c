"""The reviewing agent's LLM half: a LangChain agent that may look things up in the curriculum graph before it
chooses among the candidates and names what a person should check.

Its tools read the task's ``CurriculumIndex`` (the graph export of the target curricula): ``search_standards``
(the retriever over a query of the agent's own), ``get_standard`` (a standard's text, breadcrumbs, 해설 and grade
band) and ``neighbours`` (prerequisites, the standards that build on it, related ones). Its final answer is
structured output whose ``code`` is a ``Literal`` of the candidates, so neither a tool result nor text inside the
problem can smuggle in a label; an invalid answer is sent back to the model to correct, a bounded number of times,
and then rejected.
The acceptance rules (``labeling.acceptance``) weigh the answer: any concern the agent names sends the label to review.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from labeling.index import CurriculumIndex
from labeling.llm import SYSTEM as JUDGE_SYSTEM
from labeling.llm import prompt, rejected
from labeling.retrieval import Candidate, breadcrumbs
from labeling.schemas import Problem

SYSTEM = (
    JUDGE_SYSTEM.replace("Answer only with the structured choice.", "")
    + "You may use the tools to read the curriculum graph (search standards, read one, see its neighbours) "
    "before answering. Then answer with the structured verdict: the candidate that fits best, and as concerns "
    "anything a reviewer should check (the problem mixes topics, fits a prerequisite better, the metadata "
    "disagrees with the content). Leave concerns empty when the choice is clear."
)
MAX_STEPS = 12  # model and tool turns together, corrections of invalid answers included


def verdict_schema(codes: list[str]) -> type[BaseModel]:
    """The agent's final answer: ``code`` can only be one of ``codes``."""
    return create_model(
        "ReviewVerdict",
        code=(Literal[tuple(codes)], Field(description="the chosen candidate's code")),  # type: ignore[valid-type]
        confidence=(float, Field(ge=0.0, le=1.0, description="how sure you are, 0 to 1")),
        reason=(str, Field(max_length=500, description="one sentence: why this standard")),
        concerns=(
            list[str],
            Field(default_factory=list, max_length=5, description="what a reviewer should check; empty if none"),
        ),
    )


def graph_tools(index: CurriculumIndex, limit: int = 5) -> list[Any]:
    """The agent's read-only tools over the target curricula; each answers JSON."""
    from langchain.tools import tool

    def describe(code: str) -> dict[str, Any]:
        row = index.by_code.get(code.strip())
        if row is None:
            return {"error": f"{code!r} is not a standard of {index.curriculum}"}
        keep = ("code", "text", "curriculum", "grade_band", "grade_group", "explanation", "content_element")
        return {k: row[k] for k in keep if row.get(k)} | {"where": " > ".join(breadcrumbs(row))}

    @tool
    def search_standards(query: str) -> str:
        """Search the target curricula's achievement standards by words or a problem text; best matches first."""
        ranked = index.retriever.rank([Problem(id="agent-search", text=query[:2000])], limit)[0]
        return json.dumps(
            [{"code": c.code, "text": c.text, "score": round(c.score, 3)} for c in ranked], ensure_ascii=False
        )

    @tool
    def get_standard(code: str) -> str:
        """Read one achievement standard: its text, where it sits in the curriculum, its grade band and 해설."""
        return json.dumps(describe(code), ensure_ascii=False)

    def brief(codes: list[str]) -> list[dict[str, str]]:
        return [{"code": c, "text": index.by_code[c]["text"]} for c in sorted(codes) if c in index.by_code]

    @tool
    def neighbours(code: str) -> str:
        """The standards a standard builds on (prerequisites), those that build on it (successors), and related ones."""
        code = code.strip()
        if code not in index.by_code:
            return json.dumps(describe(code), ensure_ascii=False)
        found = {
            "prerequisites": brief(index.prerequisites.get(code, [])),
            "successors": brief(index.successors.get(code, [])),
            "related": brief(index.related.get(code, [])),
        }
        return json.dumps(found, ensure_ascii=False)

    return [search_standards, get_standard, neighbours]


class ReviewAgent:
    """Chooses among the candidates with tools over the graph; the same ``choose`` contract as ``LLMJudge``.

    ``choose`` returns ``{"code", "confidence", "reason", "concerns", "tool_calls"}``, or ``{"error"}`` when no
    valid answer came within ``MAX_STEPS``.
    """

    def __init__(self, chat_model: Any, index: CurriculumIndex, version: str) -> None:
        self.chat_model = chat_model
        self.index = index
        self.version = version
        self.tools = graph_tools(index)

    def choose(
        self, problem: Problem, candidates: list[Candidate], context: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        from langchain.agents import create_agent
        from langchain.agents.structured_output import ToolStrategy

        codes = [c.code for c in candidates]
        if not codes:
            return {"error": "no candidates to choose from"}
        agent = create_agent(
            self.chat_model,
            tools=self.tools,
            system_prompt=SYSTEM,
            response_format=ToolStrategy(verdict_schema(codes)),
        )
        (_, _), (_, data) = prompt(problem, candidates, context or {})
        try:
            state = agent.invoke({"messages": [("human", data)]}, {"recursion_limit": MAX_STEPS})
        except Exception as exc:  # step limit, provider error, unusable output: never a label
            return rejected(problem, exc)
        verdict = state.get("structured_response")
        if verdict is None or verdict.code not in codes:
            return {"error": "answer outside the candidates"}
        calls = [call["name"] for m in state["messages"] for call in getattr(m, "tool_calls", None) or []]
        return {
            "code": verdict.code,
            "confidence": verdict.confidence,
            "reason": verdict.reason,
            "concerns": [c[:300] for c in verdict.concerns],
            "tool_calls": [name for name in calls if name != "ReviewVerdict"],
        }
