"""How the last item of a list shows that an answer was cut off, or that it was not: the list evidence of the
truncation rules (junk.py) and of the truncation model's candidate filter (ending_model.py).

A list's items are written alike: if each earlier item opens with a heading and a colon, or ends on a full
stop, a last item that lacks it and is short was cut inside it ("4. Be act", "7. Use", "3. 5 x" after "2. 8 x 7
= ?"). The other way round, the last item of a list whose items mostly end without a stop reads unfinished to a
language model (one more item could follow) but is finished unless it is much shorter than the items before it.
"""
from __future__ import annotations

import re

from .textshape import LIST_ITEM

# A list item's heading: "**Focus groups**:", "Research your options:".
_ITEM_HEAD = re.compile(r"[^:：\n]{2,60}[:：]")
# The last item of such a list with no heading is this short at most (in words): a heading cut before its colon.
_HEADLESS_ITEM_WORDS = 4
# A bullet with nothing after it ("-" and "*" alone are rules, numbers end on a full stop).
_EMPTY_ITEM = re.compile(r"\s*[+•·▪●○◦]\s*")
_NUMBER_ALONE, _NUMBERED_ITEM = re.compile(r"\s*(\d{1,3})[.)、]?\s*"), re.compile(r"\s*(\d{1,3})[.)、]\s*\S")
_NUMBER = re.compile(r"\s*[(（]?(\d{1,3})")
ENDS_SENTENCE = re.compile(r"[.!?。！？][\"'”’)）」』]*$")
_ENDS_STOP = re.compile(r"[.!?。！？:：;；][\"'”’)）」』]*\s*$")
# A last item under this share of the median length of the items before it is short: cut items mostly are,
# finished ones seldom (chosen on bench/truncation_dev.py: 0 of 1,280 uncut answers and of 1,107 answers with
# their final stop removed flagged, 11 of 524 cuts the other rules miss caught).
SHORT_ITEM_SHARE = 0.6


def _kind(line: str) -> str:
    """A list's marker kind: numbered, or the bullet character."""
    return "number" if _NUMBER.match(line) else line.strip()[:1]


def _siblings(text: str, last_line: str) -> list[str]:
    """The bodies of the list items of `last_line`'s kind before it; for a numbered item, only those of its own
    list (numbered up to it without a gap), not of an earlier list in the same answer."""
    kind = _kind(last_line)
    items = [(m, line) for line in text[:len(text) - len(last_line)].split("\n")
             if (m := LIST_ITEM.match(line)) and _kind(line) == kind]
    number = _NUMBER.match(last_line)
    if number:
        expected, own = int(number.group(1)) - 1, []
        for m, line in reversed(items):
            found = _NUMBER.match(line)
            if not found or int(found.group(1)) != expected:
                break
            own.append((m, line))
            expected -= 1
        items = own
    return [line[m.end():].strip() for m, line in items]


def _last_item(text: str, last_line: str) -> tuple[str, list[str]] | None:
    """The body of `last_line` as a list item and its siblings' bodies, or None when it is no list item."""
    item = LIST_ITEM.match(last_line)
    return (last_line[item.end():].strip(), _siblings(text, last_line)) if item else None


def _short(body: str, siblings: list[str]) -> bool:
    lengths = sorted(len(s) for s in siblings)
    return len(body) < SHORT_ITEM_SHARE * lengths[(len(lengths) - 1) // 2]


def empty_last_item(text: str, last_line: str) -> bool:
    """A last line that is a bullet alone, or only the number that follows the item before it ("4. 五行打油诗"
    then "5")."""
    if "\n" not in text:
        return False
    if _EMPTY_ITEM.fullmatch(last_line):
        return True
    alone = _NUMBER_ALONE.fullmatch(last_line)
    item = alone and _NUMBERED_ITEM.match(text[:-len(last_line)].rstrip().rpartition("\n")[2])
    return bool(item) and int(alone.group(1)) == int(item.group(1)) + 1


def headless_last_item(text: str, last_line: str) -> str | None:
    """A list whose items all open with a heading and a colon ("2. Attend a meeting: Most clubs …"), ending
    on a short item without one ("4. Be act"): the last item was cut inside its heading."""
    item = LIST_ITEM.match(last_line)
    if not item or ":" in last_line or "：" in last_line or len(last_line.split()) > _HEADLESS_ITEM_WORDS + 1:
        return None
    earlier = [m for m in map(LIST_ITEM.match, text.split("\n")[:-1]) if m]
    if len(earlier) >= 2 and all(_ITEM_HEAD.match(m.string, m.end()) for m in earlier):
        return "the last list item lacks the heading every other one has"
    return None


def short_unstopped_last_item(text: str, last_line: str) -> str | None:
    """A list whose items (two or more of the last one's kind) all end on a full stop, ending on a much shorter
    item without one ("6. Let the egg cook … yolk.\\n7. Use",
    "3. 走: 行走、步行、漫步。\\n4. 看: 观察、注视")."""
    found = last_line[-1:].isalnum() and _last_item(text, last_line)
    if not found:
        return None
    body, siblings = found
    if len(siblings) >= 2 and all(ENDS_SENTENCE.search(s) for s in siblings) and _short(body, siblings):
        return "the last list item is much shorter than the others and lacks the full stop they have"
    return None


def unstopped_list_end(text: str) -> bool:
    """The last item of a list whose items (two or more of its kind before it) mostly end without a stop (a
    title list may hold a question), and that is not much shorter than they are: finished, though a model
    reading it expects one more item."""
    found = _last_item(text, text[text.rfind("\n") + 1:])
    if not found:
        return False
    body, siblings = found
    stopped = sum(bool(_ENDS_STOP.search(s)) for s in siblings)
    return len(siblings) >= 2 and 2 * stopped < len(siblings) and not _short(body, siblings)
