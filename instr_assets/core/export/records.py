"""One pair in each export format. A pair arrives as a row of stratified_splits; its `messages` hold the whole
conversation (an optional system turn, then user and assistant turns alternating, with tool results after an
assistant turn that calls a tool, ending with the assistant), so every format is built from them and a
multi-turn pair keeps all its turns. Tool use is written as ingest/turns.py keeps it: a call is an assistant
turn holding `<tool_call>` blocks, a result is a `tool` turn, the tools offered a `<tools>` block in the system
message."""
from __future__ import annotations

import json

from ..ingest.turns import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TOOLS_CLOSE, TOOLS_OPEN

# ShareGPT speaker names, as LLaMA-Factory documents them (the `from` values of its default tags).
SHAREGPT_FROM = {"user": "human", "assistant": "gpt", "call": "function_call", "tool": "observation"}
# Which role may follow which: the rule every format here relies on.
_NEXT_ROLES = {None: {"user"}, "user": {"assistant"}, "assistant": {"user", "tool"}, "tool": {"tool", "assistant"}}


class ExportError(ValueError):
    """A pair no export can hold as it is (its turns are out of order); the message names the pair and the turn."""


class NotInFormat(Exception):
    """A valid pair that one format cannot hold (Alpaca has no tool turns): it is left out of that format's files
    only, and listed with this reason code."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _turns(pair: dict) -> tuple[str, list[dict]]:
    """The system prompt ('' when none) and the other turns, checked to be in an order every format can read."""
    messages = list(pair["messages"] or [])
    system = messages.pop(0)["content"] if messages and messages[0]["role"] == "system" else ""
    for i, m in enumerate(messages):
        allowed = _NEXT_ROLES.get(messages[i - 1]["role"] if i else None, set())
        if m["role"] not in allowed:
            raise ExportError(f"pair {pair['pair_id']}: turn {i} has role {m['role']!r}, expected "
                              f"{' or '.join(repr(r) for r in sorted(allowed)) or 'nothing'} after the turn before it")
    if not messages or messages[-1]["role"] != "assistant":
        raise ExportError(f"pair {pair['pair_id']}: the conversation must end with an assistant turn")
    return system, messages


def tool_calls(content: str) -> tuple[str, list[dict]]:
    """An assistant turn's text before its `<tool_call>` blocks, and the calls ({"name", "arguments"[, "id"]})."""
    said, *blocks = content.split(TOOL_CALL_OPEN)
    return said.strip(), [json.loads(b.split(TOOL_CALL_CLOSE)[0]) for b in blocks]


def split_tools(system: str) -> tuple[str, str]:
    """The system prompt without its `<tools>` block, and the block's JSON list as text ('' when none)."""
    head, sep, rest = system.partition(TOOLS_OPEN)
    if not sep:
        return system, ""
    return head.strip(), rest.split(TOOLS_CLOSE)[0].strip()


def openai_record(pair: dict) -> dict:
    """{"messages": [{"role", "content"}, ...]}: every turn, the system turn included when there is one."""
    _turns(pair)
    return {"messages": [{"role": m["role"], "content": m["content"]} for m in pair["messages"]]}


def sharegpt_record(pair: dict) -> dict:
    """{"conversations": [{"from", "value"}, ...], "system", "tools"}: LLaMA-Factory's ShareGPT, which wants human
    and observation turns at odd positions and gpt and function_call turns at even ones, a call as its JSON and
    the tools as a JSON list in their own column."""
    system, turns = _turns(pair)
    system, tools = split_tools(system)
    conversation = []
    for i, m in enumerate(turns):
        role, value = m["role"], m["content"]
        if role == "tool" and turns[i - 1]["role"] == "tool":
            raise NotInFormat("consecutive_tool_results")  # two observations in a row break the odd/even rule
        if role == "assistant" and TOOL_CALL_OPEN in value:
            said, calls = tool_calls(value)
            if said:
                raise NotInFormat("tool_call_with_text")  # a function_call turn holds the calls only
            role, value = "call", json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
        conversation.append({"from": SHAREGPT_FROM[role], "value": value})
    return {"conversations": conversation, "system": system, "tools": tools, "pair_id": pair["pair_id"]}


def alpaca_record(pair: dict) -> dict:
    """{"instruction", "input", "output", "system", "history"}. A single-turn pair keeps its instruction and input
    apart; a conversation puts its last user turn in `instruction` and the earlier turns in `history` as
    [user, assistant] pairs (LLaMA-Factory's Alpaca history), not the transcript that `input` holds upstream."""
    system, turns = _turns(pair)
    if any(m["role"] == "tool" for m in turns):
        raise NotInFormat("tool_turns")
    if len(turns) == 2:
        instruction, input_text = pair["instruction"], pair["input"] or ""
    else:
        instruction, input_text = turns[-2]["content"], ""
    history = [[turns[i]["content"], turns[i + 1]["content"]] for i in range(0, len(turns) - 2, 2)]
    return {"instruction": instruction, "input": input_text, "output": turns[-1]["content"], "system": system,
            "history": history, "pair_id": pair["pair_id"]}
