"""OpenAssistant message trees cut into conversations: one per root-to-leaf path.

Every path is a record, also those through a reply that is not the best-ranked among its siblings: the record
lists such replies under `lower_ranked`, and unify keeps them unless the entry says `branches: best`, which
rejects them as 'oasst_lower_ranked' (accounted for, not dropped). A path that ends with an unanswered prompt
is still a record; unify rejects it as 'no_final_response', so every message is accounted for.

Two layouts are read. Nested trees (an export's `{"message_tree_id", "prompt": {..., "replies": [...]}}`) give
their paths where they lie. Flat messages (one record per message with `message_id`, `parent_id` and
`message_tree_id`, as in the oasst1/oasst2 message files) are gathered first and joined into trees at the end;
a message whose parent is never found, or whose `message_id` repeats, becomes a record unify rejects.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import NamedTuple

from .json_reader import RawRecord


class PathRecord(NamedTuple):
    locator: str
    line: int | None
    text: str | None  # the record to convert (JSON), or the raw text of a record that failed
    error: str | None


def _message_fields(message: dict) -> dict:
    return {k: v for k, v in message.items() if k != "replies"}


def lower_ranked(replies: list[dict]) -> set[int]:
    """Indices of the assistant replies that are not the best-ranked (lowest `rank`) among `replies`; none when
    no reply has a rank."""
    ranked = [(r["rank"], i) for i, r in enumerate(replies) if r.get("role") == "assistant"
              and isinstance(r.get("rank"), (int, float)) and not isinstance(r["rank"], bool)]
    if not ranked:
        return set()
    best = min(ranked)[1]
    return {i for i, r in enumerate(replies) if r.get("role") == "assistant" and i != best}


def _tree_paths(root: dict) -> Iterator[tuple[list[dict], list]]:
    """(messages, ids of the lower-ranked replies among them) of each root-to-leaf path of a nested tree, depth
    first in reply order (no recursion: trees may be deep)."""
    stack = [(root, [], [])]
    while stack:
        node, above, below_best = stack.pop()
        path = above + [_message_fields(node)]
        replies = node.get("replies")
        children = [r for r in replies if isinstance(r, dict)] if isinstance(replies, list) else []
        if not children:
            yield path, below_best
        alternatives = lower_ranked(children)
        stack.extend((child, path, below_best + [child.get("message_id")] * (i in alternatives))
                     for i, child in reversed(list(enumerate(children))))


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)


class TreeCollector:
    """Records of one source in, path records out: nested trees at once, flat messages at the end."""

    def __init__(self):
        self._flat: dict[str, list[tuple[RawRecord, dict]]] = {}  # tree id -> its messages, in file order

    def add(self, rec: RawRecord) -> Iterator[PathRecord]:
        value = rec.value
        if rec.error is not None:
            yield PathRecord(rec.locator, rec.line, rec.text, rec.error)
        elif isinstance(value, dict) and isinstance(value.get("prompt"), dict):
            tree = value.get("message_tree_id") or value["prompt"].get("message_id")
            for k, (path, lower) in enumerate(_tree_paths(value["prompt"])):
                yield PathRecord(f"{rec.locator} path {k}", rec.line,
                                 _dumps({"tree": tree, "path": path, "lower_ranked": lower}), None)
        elif isinstance(value, dict) and "message_id" in value and "parent_id" in value:
            tree = str(value.get("message_tree_id") or "(no message_tree_id)")
            self._flat.setdefault(tree, []).append((rec, value))
        else:
            kind = "object" if isinstance(value, dict) else type(value).__name__
            yield PathRecord(rec.locator, rec.line, rec.text,
                             f"record is a JSON {kind} that is neither a message tree (with 'prompt') nor a message "
                             "(with 'message_id' and 'parent_id')")

    def finish(self) -> Iterator[PathRecord]:
        for tree, messages in self._flat.items():
            yield from _flat_tree_paths(tree, messages)


def _flat_tree_paths(tree: str, messages: list[tuple[RawRecord, dict]]) -> Iterator[PathRecord]:
    by_id: dict[str, tuple[RawRecord, dict]] = {}
    children: dict[str | None, list[str]] = {}
    for rec, msg in messages:
        mid = str(msg["message_id"])
        if mid in by_id:
            yield PathRecord(rec.locator, rec.line, rec.text,
                             f"message_id {mid!r} repeats (first at {by_id[mid][0].locator})")
            continue
        by_id[mid] = (rec, msg)
        parent = msg.get("parent_id")
        children.setdefault(None if parent is None else str(parent), []).append(mid)
    reached: set[str] = set()
    k = 0
    stack = [(mid, [], []) for mid in reversed(children.get(None, []))]
    while stack:
        mid, above, below_best = stack.pop()
        reached.add(mid)
        rec, msg = by_id[mid]
        path = above + [msg]
        below = children.get(mid, [])
        if not below:
            root_rec = by_id[str(path[0]["message_id"])][0]
            yield PathRecord(f"tree {tree} path {k}", root_rec.line,
                             _dumps({"tree": tree, "path": path, "lower_ranked": below_best}), None)
            k += 1
        alternatives = lower_ranked([by_id[child][1] for child in below])
        stack.extend((child, path, below_best + [child] * (i in alternatives))
                     for i, child in reversed(list(enumerate(below))))
    for mid, (rec, msg) in by_id.items():
        if mid not in reached:
            yield PathRecord(rec.locator, rec.line, _dumps({"tree": tree, "orphan": msg}), None)
