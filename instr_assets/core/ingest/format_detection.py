"""`format: auto`: the record format of a source told from its file, where only one format fits.

A Natural Instructions task file is told by its top-level `Definition` and `Instances`. Any other source is told
by its first record that parses as an object, from the keys that each format requires; a record that fits
none, or several (say `conversations` and `messages`), is an error that names the keys it has, so the entry
must say its format. Later records are not looked at here: one that does not fit the detected format is
rejected by unify with its reason, as in a declared format.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from .conversation_shapes import TURN_KEY_PAIRS
from .json_reader import RawRecord

# How far into a .json file to look for the keys of a Natural Instructions task before parsing it whole.
_TASK_KEYS_WINDOW = 65_536


def _keyed_turns(obj: dict) -> bool:
    turns = obj.get("conversation")
    return isinstance(turns, list) and bool(turns) and isinstance(turns[0], dict) and any(
        all(k in turns[0] for k in pair) for pair in TURN_KEY_PAIRS)


def _role_list(obj: dict, key: str, role_key: str) -> bool:
    items = obj.get(key)
    return isinstance(items, list) and bool(items) and all(isinstance(t, dict) and role_key in t for t in items)


# format -> whether a record has that format's shape
RECORD_SHAPES: dict[str, Callable[[dict], bool]] = {
    "sharegpt": lambda o: _role_list(o, "conversations", "from"),
    "messages": lambda o: _role_list(o, "messages", "role"),
    "keyed_turns": _keyed_turns,
    "oasst": lambda o: isinstance(o.get("prompt"), dict) and "replies" in o["prompt"]
    or ("message_id" in o and "parent_id" in o),
    "alpaca": lambda o: "instruction" in o and "output" in o,
    "self_instruct": lambda o: "instruction" in o and isinstance(o.get("instances"), list),
    "squad": lambda o: isinstance(o.get("paragraphs"), list),
}


class FormatUndetected(ValueError):
    pass


def is_task_file(path: Path, text_head: str) -> bool:
    """Whether a .json file is a Natural Instructions task: one object with Definition and Instances."""
    if path.suffix.lower() != ".json" or not text_head.lstrip("\ufeff \t\r\n").startswith("{"):
        return False
    return '"Definition"' in text_head and '"Instances"' in text_head


def record_format(records: Iterator[RawRecord]) -> str:
    """The one format whose shape the first object record has."""
    for rec in records:
        if rec.error is not None or not isinstance(rec.value, dict):
            continue
        fits = [fmt for fmt, shape in RECORD_SHAPES.items() if shape(rec.value)]
        if len(fits) == 1:
            return fits[0]
        keys = ", ".join(sorted(map(str, rec.value))[:20])
        if not fits:
            raise FormatUndetected(f"its first record ({rec.locator}, keys: {keys}) has the shape of no known "
                                   f"format ({', '.join(RECORD_SHAPES)}); set 'format' (for other columns: "
                                   "tabular with a columns map)")
        raise FormatUndetected(f"its first record ({rec.locator}, keys: {keys}) fits several formats "
                               f"({', '.join(fits)}); set 'format'")
    raise FormatUndetected("it has no record that parses as an object to tell the format from")


def head_text(path: Path) -> str:
    with open(path, "rb") as fh:
        return fh.read(_TASK_KEYS_WINDOW).decode("utf-8", "replace")

