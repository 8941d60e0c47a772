"""Conversation turns: roles, text contents, tool calls, and the checks that make a list of turns one pair.

Tool use is kept inside the (role, content) messages every later stage reads, so nothing downstream needs a
new column and every chat template that knows the `tool` role can render it:

- a tool call is an assistant turn whose content is the call as JSON between `<tool_call>` and `</tool_call>`
  lines (after any text the assistant said with it; one block per call), so training supervises it like any
  other answer;
- a tool's result is a turn with role `tool`, its content the result text as given;
- the tools a conversation offers are a `<tools>` block (a JSON list) at the end of its system message.
"""
from __future__ import annotations

import json

from ..text import compose_user

ROLE_ALIASES = {
    "human": "user", "user": "user", "prompter": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant", "bing": "assistant",
    "system": "system",
    # LLaMA-Factory's ShareGPT names for a tool's answer; 'tool' and 'function' are OpenAI's.
    "observation": "tool", "tool": "tool", "function": "tool",
}
CALL_ROLES = {"function_call", "tool_call"}  # ShareGPT turns that are an assistant's call of a tool

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"
TOOLS_OPEN, TOOLS_CLOSE = "<tools>", "</tools>"

TRANSCRIPT_LABELS = {"user": "User", "assistant": "Assistant", "tool": "Tool"}


class Reject(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def text_field(obj: dict, key: str, required: bool = True) -> str:
    if key not in obj or obj[key] is None:
        if required:
            raise Reject("missing_field", f"field '{key}' is missing")
        return ""
    value = obj[key]
    if not isinstance(value, str):
        raise Reject("wrong_type", f"field '{key}' is a {type(value).__name__}, expected a string")
    return value


def content_text(value, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        # OpenAI-style content parts: keep text parts, refuse anything else rather than drop it silently.
        texts = []
        for part in value:
            if isinstance(part, dict) and part.get("type", "text") == "text":
                t = part.get("text", part.get("value"))
                if isinstance(t, str):
                    texts.append(t)
                    continue
            raise Reject("non_text_content", f"{where}: content part {str(part)[:80]!r} is not text")
        return "".join(texts)
    raise Reject("wrong_type", f"{where}: content is a {type(value).__name__}, expected a string")


def _json_value(value, where: str, reason: str):
    """`value` parsed when it is JSON text (arguments and tool lists often come as strings), else as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as e:
        raise Reject(reason, f"{where} is not valid JSON: {e}") from None


def tool_call_text(call, where: str) -> str:
    """One call as its `<tool_call>` block: {"name", "arguments"[, "id"]}, arguments parsed when JSON text."""
    call = _json_value(call, where, "bad_tool_call")
    if not isinstance(call, dict):
        raise Reject("bad_tool_call", f"{where} is a {type(call).__name__}, expected an object")
    fn = call.get("function") if isinstance(call.get("function"), dict) else call  # OpenAI nests it
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        raise Reject("bad_tool_call", f"{where} has no function name")
    out = {"name": fn["name"], "arguments": _json_value(fn.get("arguments", {}), f"{where}: arguments",
                                                         "bad_tool_call")}
    if isinstance(call.get("id"), str):
        out["id"] = call["id"]  # links the call to its result when several run at once
    return f"{TOOL_CALL_OPEN}\n{json.dumps(out, ensure_ascii=False)}\n{TOOL_CALL_CLOSE}"


def tools_block(tools, where: str) -> str:
    """The tools on offer as a `<tools>` block; '' when there are none."""
    tools = _json_value(tools, where, "bad_tools")
    if tools in (None, "", []):
        return ""
    if not isinstance(tools, list):
        raise Reject("bad_tools", f"{where} is a {type(tools).__name__}, expected a list of tools")
    return f"{TOOLS_OPEN}\n{json.dumps(tools, ensure_ascii=False)}\n{TOOLS_CLOSE}"


def with_tools(turns: list[dict], tools, where: str) -> list[dict]:
    """`turns` with the tools block appended to their system message (one is added when there is none)."""
    block = tools_block(tools, where)
    if not block:
        return turns
    if turns and turns[0]["role"] == "system":
        system = turns[0]["content"]
        return [{"role": "system", "content": f"{system}\n\n{block}" if system else block}] + turns[1:]
    return [{"role": "system", "content": block}] + turns


def _message(t: dict, role_key: str, content_key: str, where: str) -> dict:
    raw_role = t.get(role_key)
    name = str(raw_role).lower()
    if name in CALL_ROLES:
        return {"role": "assistant", "content": tool_call_text(t.get(content_key), f"{where} ({raw_role})"),
                "call": True}
    role = ROLE_ALIASES.get(name)
    if role is None:
        raise Reject("unsupported_role", f"{where} has role {raw_role!r}")
    value = t.get(content_key)
    calls = t.get("tool_calls") or ([t["function_call"]] if t.get("function_call") else [])
    if role != "assistant" or not calls:
        return {"role": role, "content": content_text(value, where)}
    # An OpenAI assistant message that calls tools: what it said (often nothing), then each call.
    if not isinstance(calls, list):
        raise Reject("bad_tool_call", f"{where}: tool_calls is a {type(calls).__name__}, expected a list")
    said = content_text(value, where) if value is not None else ""
    blocks = [tool_call_text(c, f"{where}: tool_calls[{k}]") for k, c in enumerate(calls)]
    return {"role": "assistant", "content": "\n".join(([said] if said else []) + blocks), "call": True}


def turns_from_list(items, role_key: str, content_key: str, where: str) -> list[dict]:
    """Turns as {"role", "content"}, with "call": True on an assistant turn that calls a tool."""
    if not isinstance(items, list):
        raise Reject("wrong_type", f"'{where}' is not a list")
    out = []
    for i, t in enumerate(items):
        if not isinstance(t, dict):
            raise Reject("wrong_type", f"{where}[{i}] is not an object")
        out.append(_message(t, role_key, content_key, f"{where}[{i}]"))
    return out


def single_turn(instruction: str, input_text: str, response: str, system: str = "") -> dict:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": compose_user(instruction, input_text)},
        {"role": "assistant", "content": response},
    ]
    return {"messages": messages, "system": system, "instruction": instruction, "input": input_text,
            "response": response}


def _check_order(turns: list[dict]) -> None:
    """User and assistant alternate, starting with the user; a tool's result follows a call or another
    result, and the assistant speaks after the results."""
    for i, t in enumerate(turns):
        prev = turns[i - 1] if i else None
        role = t["role"]
        if prev is None:
            ok, expected = role == "user", "user"
        elif prev["role"] == "user":
            ok, expected = role == "assistant", "assistant"
        elif prev["role"] == "assistant":
            ok = role == "user" or (role == "tool" and prev.get("call", False))
            expected = "user or tool" if prev.get("call") else "user"
        else:  # after a tool's result
            ok, expected = role in ("tool", "assistant"), "tool or assistant"
        if not ok:
            raise Reject("bad_turn_order", f"turn {i} is '{role}', expected '{expected}'")


def from_turns(turns: list[dict]) -> dict:
    system = ""
    if turns and turns[0]["role"] == "system":
        system = turns[0]["content"]
        turns = turns[1:]
    if not turns:
        raise Reject("no_turns", "conversation has no user/assistant turns")
    _check_order(turns)
    if turns[-1]["role"] != "assistant":
        raise Reject("no_final_response", f"conversation ends with a {turns[-1]['role']} turn and no response")
    turns = [{"role": t["role"], "content": t["content"]} for t in turns]
    messages = ([{"role": "system", "content": system}] if system else []) + turns
    # `messages` is the conversation; the flat fields must say the same thing: the response is the last turn,
    # answering the last user turn, so that turn is the instruction and the turns before it are its input (the
    # context it needs). Tool calls and results between the last user turn and the answer are in `messages` only.
    last_user = max(i for i, t in enumerate(turns) if t["role"] == "user")
    return {"messages": messages, "system": system, "instruction": turns[last_user]["content"],
            "input": render_transcript(turns[:last_user]), "response": turns[-1]["content"]}


def render_transcript(turns: list[dict]) -> str:
    """Earlier turns of a conversation as plain text, one labelled turn per paragraph ('' for none)."""
    return "\n\n".join(f"{TRANSCRIPT_LABELS[t['role']]}: {t['content']}" for t in turns)
