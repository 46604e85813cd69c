"""LangChain fake chat models for tests of the LLM boundary (never used by the default path)."""

from itertools import count

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage

_ids = count(1)


class ScriptedChat(FakeMessagesListChatModel):
    """A fake chat model that can be bound to tools: it replays scripted messages, tool calls included, and starts
    over when the script runs out."""

    def bind_tools(self, tools, **kwargs):
        return self


def call(name: str, **args) -> AIMessage:
    """An assistant turn that calls the tool (or structured-output schema) ``name`` with ``args``."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{next(_ids)}"}])
