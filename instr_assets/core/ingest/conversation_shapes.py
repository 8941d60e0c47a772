"""Conversions of the record shapes that are neither role lists nor flat pairs: keyed turns (Firefly), an
OpenAssistant path, and a Natural Instructions instance."""
from __future__ import annotations

from .turns import Reject, from_turns, single_turn, text_field

# (user key, assistant key) pairs recognised in keyed turns, in order of preference.
TURN_KEY_PAIRS = (("human", "assistant"), ("user", "assistant"), ("human", "gpt"), ("user", "bot"),
                  ("question", "answer"), ("prompt", "response"), ("input", "output"))

OASST_ROLES = {"prompter": "user", "assistant": "assistant"}


def _turn_keys(items: list[dict], user_key: str | None, assistant_key: str | None) -> tuple[str, str]:
    """The declared keys, else the first known pair whose user key is in every turn and whose assistant key is
    in some turn (a turn missing its answer is then rejected by name, not as an unknown shape)."""
    if user_key is not None:
        return user_key, assistant_key
    for u, a in TURN_KEY_PAIRS:
        if all(u in t for t in items) and any(a in t for t in items):
            return u, a
    raise Reject("unknown_turn_keys", f"turn 0 has keys {sorted(items[0])}, none of the known user/assistant pairs "
                                      f"({', '.join('/'.join(p) for p in TURN_KEY_PAIRS)}); set user_key and "
                                      "assistant_key")


def convert_keyed_turns(obj: dict, key: str = "conversation", user_key: str | None = None,
                        assistant_key: str | None = None) -> dict:
    items = obj.get(key)
    if not isinstance(items, list):
        raise Reject("wrong_type" if key in obj else "missing_field",
                     f"'{key}' is not a list of turns" if key in obj else f"field '{key}' is missing")
    if not items:
        raise Reject("no_turns", "conversation has no turns")
    if not all(isinstance(t, dict) for t in items):
        raise Reject("wrong_type", f"{key}[{next(i for i, t in enumerate(items) if not isinstance(t, dict))}] "
                                   "is not an object")
    u, a = _turn_keys(items, user_key, assistant_key)
    system = text_field(obj, "system", False) or text_field(items[0], "system", False)
    turns = [{"role": "system", "content": system}] if system else []
    for i, t in enumerate(items):
        try:
            turns.append({"role": "user", "content": text_field(t, u)})
            last = i == len(items) - 1
            answer = text_field(t, a, required=not last)  # only the last turn may lack its answer
        except Reject as r:
            raise Reject(r.reason, f"{key}[{i}]: {r.detail}") from None
        if answer or t.get(a) is not None:
            turns.append({"role": "assistant", "content": answer})
    return from_turns(turns)


def convert_oasst_path(obj: dict, langs: list[str] | None = None, branches: str = "all") -> dict:
    if "orphan" in obj:
        msg = obj["orphan"] if isinstance(obj["orphan"], dict) else {}
        raise Reject("oasst_orphan", f"message {msg.get('message_id')!r} of tree {obj.get('tree')!r}: its parent "
                                     f"{msg.get('parent_id')!r} is not in the tree")
    path = obj.get("path")
    if not isinstance(path, list) or not path:
        raise Reject("missing_field", "no message path")
    if branches == "best" and obj.get("lower_ranked"):
        raise Reject("oasst_lower_ranked", f"reply {obj['lower_ranked'][0]!r} is not the best-ranked among its "
                                           "siblings (branches: best)")
    turns = []
    for i, msg in enumerate(path):
        where = f"message {i} ({msg.get('message_id')!r})"
        if msg.get("deleted") is True:
            raise Reject("oasst_deleted", f"{where} is marked deleted")
        if msg.get("review_result") is False:
            raise Reject("oasst_review_failed", f"{where} failed its review")
        if langs is not None and isinstance(msg.get("lang"), str) and msg["lang"] not in langs:
            raise Reject("language_not_selected", f"{where} is in {msg['lang']!r}, not in langs {langs}")
        role = OASST_ROLES.get(str(msg.get("role")))
        if role is None:
            raise Reject("unsupported_role", f"{where} has role {msg.get('role')!r}")
        try:
            turns.append({"role": role, "content": text_field(msg, "text")})
        except Reject as r:
            raise Reject(r.reason, f"{where}: {r.detail}") from None
    return from_turns(turns)


def convert_natural_instruction(obj: dict) -> dict:
    definition = obj.get("Definition")
    if isinstance(definition, list) and definition and all(isinstance(d, str) for d in definition):
        definition = "\n".join(definition)  # Natural Instructions v2 keeps it as a list of one string
    if not isinstance(definition, str):
        raise Reject("missing_field", "the task has no 'Definition' text")
    inst = obj.get("instance")
    if not isinstance(inst, dict):
        raise Reject("missing_field", "instance is missing")
    outputs = inst.get("output")
    outputs = [outputs] if isinstance(outputs, str) else outputs
    k = obj.get("output_index", 0)
    if not isinstance(outputs, list) or len(outputs) <= k:
        raise Reject("missing_field", "the instance has no output")
    response = text_field({"output": outputs[k]}, "output")
    out = single_turn(definition, text_field(inst, "input", False), response)
    if obj.get("outputs") == "first" and len(outputs) > 1:
        out["detail"] = f"the first of {len(outputs)} accepted outputs (outputs: each makes a pair of every one)"
    return out
