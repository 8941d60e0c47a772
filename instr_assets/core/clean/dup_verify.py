"""Precise check of near-duplicate candidates, and star clustering of the candidates that pass.

MinHash LSH (near_dedup.py) only proposes candidate pairs; this module decides on the texts themselves, message
by message, so that a conversation counts as a copy only when every turn is one.

Two texts are copies when, after casefolding, curly quotes and Chinese full-width punctuation read as their
ASCII twins, and whitespace collapsed:
- their edit distance (optimal string alignment: a substitution, insertion, deletion or adjacent
  transposition is one edit; Levenshtein where that is already within budget) minus their length difference
  is at most e + sqrt(e) for e = `max_edit_ratio` x the shorter length (typos spread over a conversation land
  unevenly on its messages), plus one edit for texts of `min_typo_chars` or more (so one typo in a short
  prompt or answer passes), and the shorter is at least `min_length_ratio` of the longer: a copy with a few
  typos, or one with a sentence added or removed (a length difference that is one block of edits);
- their numbers agree: the same digits in the same order when their lengths differ by less than a sentence
  (`_BLOCK_CHARS`), otherwise the shorter's digits appear in order in the longer (an added sentence may
  bring new ones). So "What is 12 + 7?" and "What is 13 + 7?" are different pairs;
- (Chinese) no value swapped: with few edits, not all of them in runs of adjacent Han characters, and no
  character replaced by the same other, next to the same character, twice over the conversation (see
  `_han_value_edits`); no message whose only edits turn dictionary words into other words, none of them a
  homophone an input method would offer (中国州/美国州, see `_words_swapped`); and not one and the same change
  made at two places or more (韦顿 -> 弗雷斯 throughout);
- their named values agree: a capitalised word inside a sentence or opening a short line that is no sentence
  (a title, a field's value: "Name: Peter"), an all-caps word, or a quoted string
  ("...", “...”, '...', 《...》, 「...」) of 3+ characters (2 if not ASCII) of the one must occur in the
  other, casefolded, or be typos away from one of its names (up to half the characters) or words (a third;
  a Latin phrase word by word); past a sentence of length difference, only the shorter's names are looked
  for in the longer.
  A copy that was lower-cased still matches, a prompt about Paris does not match one about Rome;
- (short English texts) they differ by fewer than two whole words (see word_changes.py): "A horse is eating
  hay." and "The horses are eating hay." are two answers.

Conversations are copies when they have the same roles in the same order and every message pair is.

Clustering is star-shaped, not single linkage: rows are visited in preference order (best first); a row not
yet taken becomes a representative and takes every candidate neighbour that is still free and verifies
against it. A chain A~B~C therefore never puts C with A unless C verifies against A itself.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import polars as pl
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Levenshtein

from .near_dedup import NearDupRules, candidate_pairs, minhash_signatures
from .word_changes import words_rewritten

Conversation = Sequence[tuple[str, str]]  # (role, content) per message

_DIGITS = re.compile(r"\d+")
_DIGITS_AND_HAN_NUMERALS = re.compile(r"[\d零〇一二两三四五六七八九十百千万亿]+")
# Texts shorter than this (folded) are short answers, where a Chinese numeral is the value itself (十号风球 and
# 八号风球 answer different questions). In longer texts 一 and 十 are mostly words (一个, 十分), and a typo on
# one of them must not make a copy look like a different text.
_SHORT_ANSWER_CHARS = 20
# Share of a line's characters that edits must change for the line to count as replaced (see _lines_within_budget).
_BLOCK_JOIN = 2
_REPLACED_LINE = 0.3
# Names: a capitalised word inside a sentence (after a word and a space, a comma and a space, or a Han
# character; not after ". ", a line break or a list number, where any word is capitalised), or an all-caps word.
# (The capital comes first in both alternatives, the look-behinds and the word boundary after it: the engine then
# skips straight to capitals, 3x faster than trying each alternative at every position.)
_NAME_WORD = re.compile(r"[A-Z](?:(?:(?<=[^\W_] [A-Z])|(?<=, [A-Z])|(?<=[\u3400-\u9fff][A-Z]))[A-Za-z'-]*"
                        r"|(?<=\b[A-Z])[A-Z0-9]+\b)")
# The first word of a short line that is no sentence (a title, a list entry, a field's value after a short
# label; not a lead-in ending in a colon): "Bitcoin and Cryptocurrency Technologies", "Name: Peter".
_LINE_NAME = re.compile(r"^(?:[^\n:]{1,30}: ?)?([A-Z][A-Za-z'-]*)(?=[^\n.!?:]{0,60}$)", re.M)
# Quoted strings, not the text between a closing and the next opening quote: no space just inside the quotes.
# (Curly quotes are straight by then: see _PUNCT_TWINS.)
_QUOTED = re.compile(r"\"(\S[^\"\n]{0,78}\S)\"|'(\S[^'\n]{0,78}\S)'(?!\w)|《([^》\n]{1,80})》|「([^」\n]{1,80})」")
_PUNCT_TWINS = (("“", '"'), ("”", '"'), ("‘", "'"), ("’", "'"), ("，", ","), ("。", "."), ("；", ";"), ("：", ":"),
                 ("？", "?"), ("！", "!"), ("（", "("), ("）", ")"), ("、", ","))
# Words of folded text, a Latin run apart from the Han characters around it ("用python写" -> 用, python, 写).
_WORD = re.compile(r"[a-z0-9]+|[^\W\da-z_]+")
# Names this long without word breaks (Chinese) are found when some window of the other text is this similar
# (rapidfuzz's partial_ratio: 100 x (1 - insertions and deletions / both lengths); one typo in 8 characters
# is 88).
_LONG_NAME, _LONG_NAME_SCORE = 8, 80
_HAN = re.compile(r"[\u3400-\u9fff]")
# A Chinese value swap is a few edits (2-3 a name, per occurrence); past this many, typos are spread about.
_SWAP_CHECK_EDITS = 6
# A length difference of this many characters or more is an added or removed block (a sentence), not typos.
_BLOCK_CHARS = 10
# Chinese words: the most common entries of wordfreq's Chinese list (offline data in the package), 2-4 Han
# characters long. A value swapped for another of its kind (中国/美国, 北京/南京) turns a word into a word; a
# slip of the input method (现在/现再) or a random character seldom does.
_ZH_VOCABULARY_SIZE = 50_000
_ZH_WORD = re.compile(r"[\u3400-\u9fff]{2,4}")
# Texts with more substitutions than this are not read as a value swapped throughout.
_MAX_SWAP_SUBSTITUTIONS = 24


@dataclass(frozen=True)
class VerifyRules:
    # Edit budget: edits beyond the length difference, as a share of the shorter text's length.
    max_edit_ratio: float = 0.07
    # Texts at least this long (folded) get one extra edit: one typo in a short prompt, or in a three-character
    # answer (新加坡/心加坡); shorter ones must match ('是' and '否', 'No' and 'So').
    min_typo_chars: int = 3
    # A copy with a sentence added or removed keeps at least this share of the longer text's length.
    min_length_ratio: float = 0.2


def _ascii_twins(text: str) -> str:
    """Curly quotes and Chinese full-width punctuation as their ASCII twins (a switched input method types
    either). One str.replace per twin present is ~10x faster than str.translate on non-ASCII text."""
    if text.isascii():
        return text
    for twin, ascii_twin in _PUNCT_TWINS:
        if twin in text:
            text = text.replace(twin, ascii_twin)
    return text


def fold(text: str) -> str:
    """Casefolded, punctuation twins as ASCII, every whitespace run one space, stripped: the form copies are
    compared in."""
    return _folded(_ascii_twins(text))


def _folded(twins: str) -> str:
    return " ".join(twins.casefold().split())


def _digits(text: str, han_numerals: bool = False) -> str:
    """The text's digits in order. Compared whole, a typo between two numbers (2017年7月 -> 20177月) or
    inside one (1a9) changes nothing, a different number (12 -> 13) does. With `han_numerals`, Chinese
    numerals count too."""
    return "".join((_DIGITS_AND_HAN_NUMERALS if han_numerals else _DIGITS).findall(text))


def _subsequence(short: str, long: str) -> bool:
    rest = iter(long)
    return all(c in rest for c in short)


def _names(text: str) -> set[str]:
    """Named values of `text` (not folded, its punctuation twins as ASCII), casefolded."""
    names = {next(g for g in groups if g).casefold() for groups in _QUOTED.findall(text)}
    names.update(word.casefold() for word in _NAME_WORD.findall(text))
    if "\n" in text or ":" in text:
        names.update(word.casefold() for word in _LINE_NAME.findall(text))
    # One or two Latin characters ('A', 'CO', "x") say too little to tell a typo from another value; two Han
    # characters are a word.
    return {n for n in names if len(n) >= 3 or (len(n) == 2 and not n.isascii())}


def _typo_of(name: str, word: str, share: int = 3) -> bool:
    """Typos, not another value: at most 1/`share` of the longer one's characters edited (Paris/Pairs,
    Malawi/Malwia; not Paris/Rome), half of a Chinese name of 4+ characters (海豚湾恋人/豚湾恋入)."""
    size = len(max(name, word, key=len))
    limit = max(1, size // 2 if size >= 4 and not name.isascii() else size // share)
    return OSA.distance(name, word, score_cutoff=limit) <= limit


def _names_found(names: set[str], others: set[str], folded: str) -> bool:
    """Each name occurs in the other text (folded), or is typos away from one of its names (a half of the
    characters) or words (a third); a Latin phrase word by word, so that "good morning" is not found in
    "good evening"."""
    missing = [n for n in names if n not in folded]
    if not missing:
        return True
    words = set(_WORD.findall(folded))

    def found(name: str) -> bool:
        parts = _WORD.findall(name)
        if len(parts) > 1 and name.isascii():
            return all(p in words or any(_typo_of(p, w) for w in words) for p in parts)
        # Against the other's names, up to half the characters may be typos (Your/Ykurr, GPUs/GPh): a value
        # swapped for another is rarely that close. Against any of its words, a third. A long name (a quoted
        # Chinese phrase) may have lost its quotes to a typo: look for it in the text.
        return any(_typo_of(name, w, 2) for w in others) or any(_typo_of(name, w) for w in words) or (
            len(name) >= _LONG_NAME and fuzz.partial_ratio(name, folded, score_cutoff=_LONG_NAME_SCORE) > 0)
    return all(found(n) for n in missing)


def _han_value_edits(fa: str, fb: str) -> tuple[bool, list[tuple[str, str, str]]]:
    """(whether every edit lies in a run of 2+ adjacent edits on Han characters, the Han characters
    substituted, each with its neighbours) between two folded texts a few edits apart. A Chinese named value
    has no capital to tell it: swapped, it is such a run (北京 -> 上海, 北京 -> 哈尔滨), or the same
    substitution at each of its occurrences in the same company (美国 -> 英国). A typo (a homophone picked, a
    character dropped, doubled or two swapped) is one edit, or a transposition, and rarely the same twice."""
    ops = Levenshtein.editops(fa, fb)
    runs, run = [], [ops[0]]
    for op in ops[1:]:
        if op.src_pos - run[-1].src_pos <= 1 and op.dest_pos - run[-1].dest_pos <= 1:
            run.append(op)
        else:
            runs.append(run)
            run = [op]
    runs.append(run)

    def value(run) -> bool:
        src = fa[run[0].src_pos:run[-1].src_pos + 1]
        dest = fb[run[0].dest_pos:run[-1].dest_pos + 1]
        swapped = len(run) == 2 and len(src) == len(dest) == 2 and src == dest[::-1]
        return len(run) >= 2 and not swapped and bool(_HAN.search(src + dest))
    # A substitution with the character after it, and with the one before: a name keeps the rest of itself
    # (美国 -> 英国 everywhere), while a frequent typo (的 -> 地) lands among other characters each time.
    substituted = []
    for op in (op for op in ops if op.tag == "replace"):
        x, y = fa[op.src_pos], fb[op.dest_pos]
        if _HAN.match(x) and _HAN.match(y):
            substituted += [(x, y, fa[op.src_pos + 1:op.src_pos + 2]), (x, y, "<" + fa[op.src_pos - 1:op.src_pos])]
    return len(ops) >= 2 and all(map(value, runs)), substituted


@lru_cache(maxsize=1)
def _zh_words() -> frozenset[str]:
    from wordfreq import top_n_list

    return frozenset(w for w in top_n_list("zh", _ZH_VOCABULARY_SIZE) if _ZH_WORD.fullmatch(w))


@lru_cache(maxsize=8192)
def _readings(char: str) -> frozenset[str]:
    """The pinyin readings of a Han character, without tones (pypinyin's offline dictionary)."""
    from pypinyin import Style, pinyin

    return frozenset(pinyin(char, style=Style.NORMAL, heteronym=True)[0])


def _word_for_word(fa: str, fb: str, i: int) -> bool:
    """Whether the character substituted at position i of two same-length texts is inside a word on both
    sides, the same window of 2-4 characters ("中国" -> "美国", "流经中国州" -> "流经美国州")."""
    words = _zh_words()
    return any(fa[start:start + size] in words and fb[start:start + size] in words
               for size in (2, 3, 4) for start in range(max(0, i - size + 1), min(i, len(fa) - size) + 1))


def _words_swapped(fa: str, fb: str) -> bool:
    """(Chinese) Whether two folded texts of the same length differ only by substitutions of Han characters,
    each of which turns a word into another word and is no homophone: a named value changed (中国 -> 美国
    wherever it is written), not a typo. An input method offers the characters of one reading together, so a
    slip to a homophone (他们/她们, 那里/哪里, 权力/权利) is a typo even where it makes a word. Substitutions of
    one character are compared where they stand, so that texts whose best alignment has insertions and
    deletions are not taken for substituted ones."""
    if len(fa) != len(fb):
        return False
    at = [i for i, (x, y) in enumerate(zip(fa, fb)) if x != y]
    if not at or len(at) > _MAX_SWAP_SUBSTITUTIONS:
        return False
    # Two characters swapped (数字 -> 字数, 人工 -> 工人) is a typo, however wordy the result.
    if any(j == i + 1 and fa[i] == fb[j] and fa[j] == fb[i] for i, j in zip(at, at[1:])):
        return False
    return (Levenshtein.distance(fa, fb, score_cutoff=len(at)) == len(at)
            and all(_HAN.match(fa[i]) and _HAN.match(fb[i]) and not _readings(fa[i]) & _readings(fb[i])
                    and _word_for_word(fa, fb, i) for i in at))


def _changes(fa: str, fb: str) -> list[tuple[str, str]]:
    """The changed spans between two folded texts as (old, new) pairs, adjacent edits merged into one."""
    blocks: list[list[int]] = []
    for op in Levenshtein.opcodes(fa, fb):
        if op.tag == "equal":
            continue
        if blocks and blocks[-1][1] == op.src_start and blocks[-1][3] == op.dest_start:
            blocks[-1][1], blocks[-1][3] = op.src_end, op.dest_end
        else:
            blocks.append([op.src_start, op.src_end, op.dest_start, op.dest_end])
    return [(fa[i1:i2], fb[j1:j2]) for i1, i2, j1, j2 in blocks]


def text_edits(a: str, b: str, rules: VerifyRules) -> int | None:
    """Edits beyond the length difference between two texts that are copies (see the module docstring), or
    None when they are not."""
    return conversation_edits([("", a)], [("", b)], rules)


def _lines_within_budget(a: str, b: str, rules: VerifyRules) -> bool:
    """Whether no line of one text was replaced by another line in the other (texts with the same number of
    lines). The budget of a whole message is large for a long one: a reading-comprehension prompt that asks
    another question about the same passage rewrites one short line, which spread typos never do. A line
    pair is replaced when its edits beyond the length difference exceed both its own budget and
    `_REPLACED_LINE` of its shorter line. Texts whose line counts differ are left to the whole-text check."""
    lines_a, lines_b = [x for x in a.split("\n") if x.strip()], [x for x in b.split("\n") if x.strip()]
    if len(lines_a) != len(lines_b) or len(lines_a) < 2:
        return True
    for la, lb in zip(lines_a, lines_b):
        fa, fb = _folded(la), _folded(lb)
        if fa == fb or _edits_within_budget(fa, fb, rules) is not None:
            continue
        if Levenshtein.distance(fa, fb) - abs(len(fa) - len(fb)) > _REPLACED_LINE * min(len(fa), len(fb)):
            return False
    return True


def _lengths_fit(fa: str, fb: str, rules: VerifyRules) -> bool:
    return min(len(fa), len(fb)) >= rules.min_length_ratio * max(len(fa), len(fb))


def _edits_within_budget(fa: str, fb: str, rules: VerifyRules) -> int | None:
    """Edits beyond the length difference between two folded texts, or None when the lengths do not fit or
    the edits exceed the budget (see the module docstring)."""
    if fa == fb:
        return 0
    if not _lengths_fit(fa, fb, rules):
        return None
    short, long = sorted((len(fa), len(fb)))
    # Edits spread at random over a conversation land unevenly on its messages: a standard deviation of slack.
    expected = rules.max_edit_ratio * short
    budget = int(expected + math.sqrt(expected)) + (short >= rules.min_typo_chars)
    gap = long - short
    limit = gap + budget
    # Levenshtein (a transposition is two edits) is banded under a cutoff and so far faster than OSA here:
    # OSA <= Levenshtein <= 2 x OSA, so it settles most pairs, and OSA runs only between the two bounds.
    distance = Levenshtein.distance(fa, fb, score_cutoff=2 * limit)
    if limit < distance <= 2 * limit:
        distance = OSA.distance(fa, fb, score_cutoff=limit)
    if distance > limit:
        return None
    # A length difference beyond typos is free only as one block (a sentence added or removed): words dropped
    # all over a short answer ("the horses are eating hay." / "horses eat hay.") make another answer.
    if gap > budget and distance - _longest_block(fa, fb) > budget:
        return None
    return distance - gap


def _longest_block(fa: str, fb: str) -> int:
    """The longest run of characters inserted or deleted in one place, in an optimal alignment of the two
    texts; runs of one kind separated by up to `_BLOCK_JOIN` aligned characters count as one (an inserted
    sentence may happen to align a space or a letter with the text around it)."""
    longest, run, last = 0, 0, None
    for op in Levenshtein.editops(fa, fb):
        if op.tag == "replace":
            continue
        at = op.src_pos if op.tag == "delete" else op.dest_pos
        run = run + 1 if last is not None and last[0] == op.tag and 0 < at - last[1] <= _BLOCK_JOIN + 1 else 1
        last = (op.tag, at)
        longest = max(longest, run)
    return longest


def _values_agree(a: str, fa: str, b: str, fb: str) -> bool:
    """Whether the numbers and named values of texts a, b (punctuation twins as ASCII; fa, fb folded) agree."""
    if abs(len(fa) - len(fb)) < _BLOCK_CHARS:
        # Typos only: the same numbers, and the names of each in the other.
        short = max(len(fa), len(fb)) < _SHORT_ANSWER_CHARS
        if _digits(a, short) != _digits(b, short):
            return False
        names_a, names_b = _names(a), _names(b)
        return _names_found(names_a, names_b, fb) and _names_found(names_b, names_a, fa)
    # A block added to the longer: all the shorter's numbers and names must reappear in it.
    (shorter, _), (longer, longer_folded) = ((a, fa), (b, fb)) if len(fa) <= len(fb) else ((b, fb), (a, fa))
    return (_subsequence(_digits(shorter), _digits(longer))
            and _names_found(_names(shorter), _names(longer), longer_folded))


def conversation_edits(a: Conversation, b: Conversation, rules: VerifyRules) -> int | None:
    """Total edits over the messages when every message of `a` is a copy of the same-role message of `b`,
    else None."""
    return _prepared_edits(_prepare(a), _prepare(b), rules)


def _prepare(conversation: Conversation) -> tuple[tuple[str, str, str], ...]:
    """(role, text with punctuation twins as ASCII, folded text) per message."""
    return tuple((role, twins, _folded(twins)) for role, twins in
                 ((role, _ascii_twins(text)) for role, text in conversation))


def _prepared_edits(a, b, rules: VerifyRules) -> int | None:
    if len(a) != len(b) or any(ra != rb for (ra, _, _), (rb, _, _) in zip(a, b)):
        return None
    # The cheap checks on every message first (edits are counted in C); values are read only of conversations
    # whose every message is within its edit budget.
    edits = [_edits_within_budget(fa, fb, rules) for (_, _, fa), (_, _, fb) in zip(a, b)]
    if None in edits or not all(fa == fb or _values_agree(ta, fa, tb, fb) for (_, ta, fa), (_, tb, fb) in zip(a, b)):
        return None
    if not all(fa == fb or _lines_within_budget(ta, tb, rules) for (_, ta, fa), (_, tb, fb) in zip(a, b)):
        return None
    # Short English texts that differ in whole words are other answers (or other prompts).
    if words_rewritten((fa, fb) for (_, _, fa), (_, _, fb) in zip(a, b)):
        return None
    # A Chinese value swapped for another word of its kind in any message makes another pair.
    if any(fa != fb and _HAN.search(fa) and _words_swapped(fa, fb) for (_, _, fa), (_, _, fb) in zip(a, b)):
        return None
    # So does one Chinese name replaced by another at every place it stands (韦顿 -> 弗雷斯 twice, 印度 -> 亚太地区
    # throughout): typos spread over a text are not all the same change.
    changes = [c for (_, _, fa), (_, _, fb) in zip(a, b) if fa != fb and _HAN.search(fa) for c in _changes(fa, fb)]
    if len(changes) >= 2 and len(set(changes)) == 1 and _HAN.search("".join(changes[0])) and (
            len(changes[0][0]) + len(changes[0][1]) >= 3):
        return None
    substituted: Counter = Counter()
    for (_, _, fa), (_, _, fb) in zip(a, b):
        if (fa != fb and abs(len(fa) - len(fb)) < _BLOCK_CHARS and _HAN.search(fa)
                and Levenshtein.distance(fa, fb, score_cutoff=_SWAP_CHECK_EDITS) <= _SWAP_CHECK_EDITS):
            run_only, pairs = _han_value_edits(fa, fb)
            if run_only:
                return None
            substituted.update(pairs)
    # The same character replaced twice next to the same one (over all messages) is a value changed throughout,
    # not two typos.
    if substituted and max(substituted.values()) >= 2:
        return None
    return sum(edits)


def star_clusters(n: int, first: np.ndarray, second: np.ndarray, conversation: Callable[[int], Conversation],
                  rules: VerifyRules) -> tuple[np.ndarray, np.ndarray]:
    """(representative, edits) of n rows in preference order, from candidate pairs first[i] < second[i]:
    representative[i] is i for a row that stays, else the better row it is a copy of; edits[i] counts the
    edits between them (0 for representatives)."""
    rep = np.arange(n)
    edits = np.zeros(n, dtype=np.int64)
    taken = np.zeros(n, dtype=bool)
    prepared: dict[int, tuple] = {}  # each row is folded once, however many pairs it is in

    def get(i: int) -> tuple:
        if i not in prepared:
            prepared[i] = _prepare(conversation(i))
        return prepared[i]

    order = np.lexsort((second, first))
    for a, b in zip(first[order].tolist(), second[order].tolist()):
        # Pairs come by their better row, so a row's own status is settled before its pairs are.
        if rep[a] != a or taken[b]:
            continue
        found = _prepared_edits(get(a), get(b), rules)
        if found is not None:
            rep[b], edits[b], taken[b] = a, found, True
    return rep, edits


def conversation_text(conversation: Conversation) -> str:
    """What candidates are found on: every message's content, one per line."""
    return "\n".join(text for _, text in conversation)


def shared_part_keys(prompts: pl.Series, responses: pl.Series) -> list[np.ndarray]:
    """uint64 hashes of the (normalized) prompts and of the responses: rows that share one are candidates even
    when the other part changed a lot (see near_dedup.candidate_pairs' shared_keys)."""
    return [prompts.hash().to_numpy(), responses.hash().to_numpy()]


def near_duplicate_representatives(conversations: Sequence[Conversation], near: NearDupRules,
                                   rules: VerifyRules) -> tuple[np.ndarray, np.ndarray]:
    """`star_clusters` over conversations in preference order, candidates from MinHash LSH on their texts
    (in memory; the cleaning stage does the same over part files)."""
    sig = minhash_signatures([conversation_text(c) for c in conversations], near)
    split = [("\n".join(t for r, t in c if r != "assistant"), "\n".join(t for r, t in c if r == "assistant"))
             for c in conversations]
    shared = shared_part_keys(pl.Series([p for p, _ in split], dtype=pl.Utf8),
                              pl.Series([r for _, r in split], dtype=pl.Utf8))
    first, second = candidate_pairs(sig, near, shared)
    return star_clusters(len(conversations), first, second, conversations.__getitem__, rules)


def validate(rules: VerifyRules) -> None:
    """Raise ValueError naming the offending field ('near_dup_verify.<field>: ...')."""
    for name in ("max_edit_ratio", "min_length_ratio"):
        v = getattr(rules, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ValueError(f"near_dup_verify.{name}: {v!r} must be a number in [0, 1]")
    if isinstance(rules.min_typo_chars, bool) or not isinstance(rules.min_typo_chars, int) or rules.min_typo_chars < 0:
        raise ValueError(f"near_dup_verify.min_typo_chars: {rules.min_typo_chars!r} must be a non-negative integer")
