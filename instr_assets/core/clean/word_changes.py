"""Short English texts compared word by word: a typo copy, or another way of saying it?

Two short answers to one prompt ("A horse is eating hay." / "The horses are eating hay.") are few character
edits apart, yet different answers: they differ in whole words. A typo copy changes letters inside words,
and what it leaves is seldom a word again, let alone one several edits away. So the two texts are aligned
word by word (casefolded), and each run of differing words is a word change when, on both sides, it is
nothing but English words (wordfreq's list; one letter only for "a" and "i") and more than a typo apart
(joined, over a quarter of their letters edited, and at least two); it counts its longer side's words,
and a run of as many words on both sides is taken word for word. A run that adds or drops a sentence or
a list item (it holds . ! ? : ; or a number) is a block, not a change. Two word changes over the messages
of two conversations make two answers (or two prompts: "concepts: train, station, arrive" / "…: station, stop,
train").
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from rapidfuzz.distance import OSA, Levenshtein

# Texts longer than this many tokens are left to the character budget: over a long text, two swapped words
# are a small share, and more likely a reworded copy than another answer.
SHORT_TEXT_TOKENS = 24
_SHORT_TEXT_CHARS = 20 * SHORT_TEXT_TOKENS  # longer is surely more tokens: not tokenized at all
WORD_CHANGES = 2
_TOKEN = re.compile(r"[a-z0-9']+|[.!?:;]")
_BLOCK_MARK = re.compile(r"[.!?:;]|\d+")
_EN_VOCABULARY_SIZE = 50_000
_HAN = re.compile(r"[\u3400-\u9fff]")


@lru_cache(maxsize=1)
def _en_words() -> frozenset[str]:
    from wordfreq import top_n_list

    return frozenset(w for w in top_n_list("en", _EN_VOCABULARY_SIZE) if len(w) >= 2 or w in ("a", "i"))


def _changed_words(old: list[str], new: list[str]) -> int:
    """The word changes of one run of differing tokens: its longer side's words, or none (see the module
    docstring)."""
    words = _en_words()
    if not old or not new:  # words added or dropped
        added = old or new
        plain = not any(_BLOCK_MARK.fullmatch(t) for t in added) and all(t in words for t in added)
        return len(added) if plain else 0
    old_words = [t for t in old if not _BLOCK_MARK.fullmatch(t)]
    new_words = [t for t in new if not _BLOCK_MARK.fullmatch(t)]
    if not old_words or not new_words or not all(t in words for t in old_words + new_words):
        return 0
    joined_old, joined_new = "".join(old_words), "".join(new_words)
    limit = max(1, len(max(joined_old, joined_new, key=len)) // 4)
    far = OSA.distance(joined_old, joined_new, score_cutoff=limit) > limit
    return max(len(old_words), len(new_words)) if far else 0


def _run_changes(old: list[str], new: list[str]) -> int:
    """Word changes in a run of differing tokens: word for word where both sides have as many, else the run
    as one."""
    if len(old) == len(new):
        return sum(_changed_words([a], [b]) for a, b in zip(old, new))
    return _changed_words(old, new)


def word_changes(fa: str, fb: str) -> int:
    """The word changes between two folded short texts (no Han); 0 for longer texts and texts with Han
    characters, which are left to the character budget."""
    if max(len(fa), len(fb)) > _SHORT_TEXT_CHARS or _HAN.search(fa) or _HAN.search(fb):
        return 0
    ta, tb = _TOKEN.findall(fa), _TOKEN.findall(fb)
    if max(len(ta), len(tb)) > SHORT_TEXT_TOKENS:
        return 0
    changes, run = 0, None  # run: (start in ta, end in ta, start in tb, end in tb) of adjacent differing blocks
    for op in [*Levenshtein.opcodes(ta, tb), None]:
        if op is not None and op.tag != "equal":
            run = (op.src_start, op.src_end, op.dest_start, op.dest_end) if run is None else (
                run[0], op.src_end, run[2], op.dest_end)
            continue
        if run is not None:
            changes += _run_changes(ta[run[0]:run[1]], tb[run[2]:run[3]])
            run = None
    return changes


def words_rewritten(pairs: Iterable[tuple[str, str]]) -> bool:
    """Whether the messages of two conversations (folded, paired) differ by two word changes or more in all:
    another answer, or another short prompt, not a copy with typos."""
    total = 0
    for fa, fb in pairs:
        if fa != fb:
            total += word_changes(fa, fb)
            if total >= WORD_CHANGES:
                return True
    return False
