"""Planted near-duplicates and hard negatives for the cleaning benchmark (bench/clean_data.py), as issue 9
defines them.

A near copy is the same pair as a person or a scraper would make it again:
  typos             - 1-5% of the conversation's characters edited the way people mistype: English, a key next
                      to the right one on a QWERTY keyboard, a dropped, an extra or a doubled letter, two letters
                      swapped; Chinese, a similar-sounding or similar-looking character picked from the IME, a
                      dropped, doubled or swapped character, full-width punctuation typed as its ASCII twin or
                      its neighbour
  sentence_added    - one real sentence inserted into the response at a sentence boundary
  sentence_removed  - one sentence of the response left out
  short_prompt_typo - one typo in a 10-40 character instruction (no input), the response unchanged
Typos never touch digits, capitalised or all-caps words, or quoted text (numbers and named values stay intact),
and two typos never sit next to each other (which would read as one longer change).

A hard negative shares most of its text with the original and is still another pair:
  other_answer      - the same prompt with another real answer (which keeps the original's opening sentence,
                      when that is short, half of the time)
  number_changed    - the same text with one number changed (one of its digits)
  name_changed      - the same text with a named value changed at every occurrence: a proper noun inside an
                      English sentence replaced with another from the pool (not one with the same first letter),
                      a Chinese country, city or continent replaced with another of its kind
"""
from __future__ import annotations

import bisect
import random
import re
from typing import Sequence

NEAR_VARIANTS = {"typos": 0.6, "sentence_added": 0.125, "sentence_removed": 0.125, "short_prompt_typo": 0.15}
FAR_VARIANTS = {"other_answer": 1 / 3, "number_changed": 1 / 3, "name_changed": 1 / 3}
TYPO_RATE = (0.01, 0.05)  # share of the conversation's characters edited in a 'typos' copy
SHORT_PROMPT = (10, 40)  # instruction length of a 'short_prompt_typo' copy
# An added or removed sentence is at least this long, so that it reads as a sentence and not as a typo.
MIN_SENTENCE = {"en": 20, "zh": 10}

# --------------------------------------------------------------------------------------------- typos
_KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEAR_KEYS = {
    c: "".join(_KEYBOARD[rr][j] for rr in (row - 1, row, row + 1) if 0 <= rr < 3
               for j in (col - 1, col, col + 1) if 0 <= j < len(_KEYBOARD[rr]) and _KEYBOARD[rr][j] != c)
    for row, keys in enumerate(_KEYBOARD) for col, c in enumerate(keys)}
# Groups of characters a Chinese IME offers together (same pinyin) or that look alike.
_ZH_GROUPS = ("的地得", "在再", "做作坐", "已以", "那哪", "他她它", "像象向", "须需", "进近", "是事", "会回汇",
              "和合", "其期", "到道", "分份", "型形", "常长", "时实", "发法", "成城", "力利立", "定订", "度渡",
              "理里", "经精", "候后", "种重", "练炼", "未末", "题提", "式试", "心新", "意义", "即既", "带戴",
              "权全", "部步", "现限", "买卖", "辨辩", "历厉", "竟竞", "记纪", "致至", "期其", "化话", "位为")
_ZH_SIMILAR: dict[str, str] = {}
for _group in _ZH_GROUPS:
    for _c in _group:
        _ZH_SIMILAR[_c] = "".join(dict.fromkeys(_ZH_SIMILAR.get(_c, "") + _group.replace(_c, "")))
# Full-width punctuation typed with the input method switched (its ASCII twin) or a neighbouring key.
_ZH_PUNCT = {"，": ",、", "。": ".，", "：": ":，", "；": ";，", "？": "?", "！": "!", "、": "，,"}
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN_START = re.compile(r"[A-Za-z]")
# Where typos may go: letters of all-lower-case English words; Han characters and punctuation in Chinese.
_EN_WORD = re.compile(r"(?<![\w'-])[a-z]{2,}(?![\w'-])")  # not part of 'Well-known', a name to the cleaner
_ZH_SITE = re.compile(r"[\u4e00-\u9fff，。：；？！、]")
# Quoted text is a named value: left as it is.
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|'[^'\n]*'(?!\w)|《[^》\n]*》|「[^」\n]*」")


def _typo_sites(text: str, zh: bool) -> list[int]:
    quoted = [m.span() for m in _QUOTED.finditer(text)]

    def free(i: int) -> bool:
        return not quoted or not any(a <= i < b for a, b in quoted)
    if zh:  # not between two digits (dropped, it would join two numbers), nor just before a Latin word
        return [i for i in (m.start() for m in _ZH_SITE.finditer(text)) if free(i) and not (
            text[i - 1:i].isdigit() and text[i + 1:i + 2].isdigit()) and not _LATIN_START.match(text, i + 1)]
    return [i for m in _EN_WORD.finditer(text) if free(m.start()) for i in range(m.start(), m.end())]


def _typo_en(text: str, i: int, r: random.Random) -> str:
    c = text[i]
    op = r.random()
    if op < 0.35:  # the key next to the right one
        return text[:i] + r.choice(_NEAR_KEYS[c]) + text[i + 1:]
    if op < 0.6:  # a letter dropped
        return text[:i] + text[i + 1:]
    if op < 0.75:  # a neighbouring key hit as well
        return text[:i] + c + r.choice(_NEAR_KEYS[c]) + text[i + 1:]
    if op < 0.9 and text[i + 1:i + 2].isalpha() and text[i + 1] != c:  # two letters swapped
        return text[:i] + text[i + 1] + c + text[i + 2:]
    return text[:i] + c + text[i:]  # a letter doubled


def _typo_zh(text: str, i: int, r: random.Random, used: set) -> str:
    c = text[i]
    if c in _ZH_PUNCT:
        return text[:i] + r.choice(_ZH_PUNCT[c]) + text[i + 1:]
    if c in _ZH_SIMILAR and r.random() < 0.8:
        # One IME slip per character pair: the same replacement twice is a changed term, not a typo.
        choices = [x for x in _ZH_SIMILAR[c] if (c, x) not in used]
        if choices:
            x = r.choice(choices)
            used.add((c, x))
            return text[:i] + x + text[i + 1:]
    op = r.random()
    if op < 0.4:  # a character dropped
        return text[:i] + text[i + 1:]
    if op < 0.7 and _HAN.match(text[i + 1:i + 2]) and text[i + 1] != c:  # two characters swapped
        return text[:i] + text[i + 1] + c + text[i + 2:]
    return text[:i] + c + text[i:]  # a character doubled


def add_typos(text: str, k: int, zh: bool, r: random.Random, used: set | None = None) -> tuple[str, int]:
    """(`text` with up to k typos more than two characters apart, how many were made). `used` collects the
    Chinese character replacements made so far over a conversation."""
    sites = _typo_sites(text, zh)
    if zh:  # most Chinese typos are IME picks: characters with similar twins come first more often
        sites = [i for i in sites if text[i] in _ZH_SIMILAR] * 2 + sites
    chosen: list[int] = []
    for i in r.sample(sites, min(len(sites), 3 * k)):
        if len(chosen) == k:
            break
        if all(abs(i - j) > 2 for j in chosen):
            chosen.append(i)
    used = set() if used is None else used
    for i in sorted(chosen, reverse=True):  # right to left, so the sites to the left stay where they were
        text = _typo_zh(text, i, r, used) if zh else _typo_en(text, i, r)
    return text, len(chosen)


# --------------------------------------------------------------------------------------------- sentences
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_BREAK.split(text) if s]


def _joined(parts: list[str], zh: bool) -> str:
    return ("" if zh else " ").join(parts)


def _sentence_added(resp: str, lang: str, pool: Sequence[str], r: random.Random) -> tuple[str, int]:
    parts = _sentences(resp)
    for _ in range(50):  # a real sentence no longer than the response (a copy at most doubles)
        s = pool[r.randrange(len(pool))]
        if MIN_SENTENCE[lang] <= len(s) <= len(resp):
            break
    parts.insert(r.randint(0, len(parts)), s)
    return _joined(parts, lang == "zh"), len(s)


def _sentence_removed(resp: str, lang: str, r: random.Random) -> tuple[str, int] | None:
    parts = _sentences(resp)
    options = [i for i, s in enumerate(parts) if len(s) >= MIN_SENTENCE[lang]]
    if len(parts) < 3 or not options:
        return None
    i = r.choice(options)
    return _joined(parts[:i] + parts[i + 1:], lang == "zh"), len(parts[i])


# --------------------------------------------------------------------------------------------- near copies
def near_copy(variant: str, instr: str, inp: str, resp: str, lang: str, pool: Sequence[str],
              r: random.Random) -> tuple[str, str, str, str, int]:
    """(variant, instruction, input, response, edits) of a near copy; the variant falls back to 'typos' when
    the pair cannot carry the one asked for. Edits: typos made, or the added or removed sentence's length."""
    zh = lang == "zh"
    if variant == "sentence_added":
        resp, edits = _sentence_added(resp, lang, pool, r)
        return variant, instr, inp, resp, edits
    if variant == "sentence_removed":
        removed = _sentence_removed(resp, lang, r)
        if removed:
            return variant, instr, inp, removed[0], removed[1]
        variant = "typos"
    if variant == "short_prompt_typo":
        new_instr, made = add_typos(instr, 1, zh, r)
        if made:
            return variant, new_instr, inp, resp, made
        variant = "typos"
    parts = [instr, inp, resp]
    size = sum(map(len, parts))
    # At least one typo, never past the top rate; each lands in a part drawn by its length, as it would.
    k = max(1, min(int(TYPO_RATE[1] * size), round(r.uniform(*TYPO_RATE) * size)))
    per_part = [0, 0, 0]
    for j in r.choices(range(3), weights=list(map(len, parts)), k=k):
        per_part[j] += 1
    used: set = set()
    edits = 0
    for j in range(3):
        parts[j], made = add_typos(parts[j], per_part[j], zh, r, used)
        edits += made
    return "typos", *parts, edits


# --------------------------------------------------------------------------------------------- hard negatives
_NUMBER = re.compile(r"\d+")
_EN_NAME = re.compile(r"(?<=[a-z,] )[A-Z][a-z]{2,}\b")  # a capitalised word inside a sentence
_ZH_PLACES = (("中国", "美国", "日本", "英国", "法国", "德国", "印度", "俄罗斯", "加拿大", "韩国", "澳大利亚", "意大利"),
              ("北京", "上海", "广州", "深圳", "天津", "南京", "杭州", "成都", "武汉", "西安", "重庆", "香港", "台湾",
               "澳门"),
              ("欧洲", "亚洲", "非洲", "美洲"))
_ZH_KIND = {name: group for group in _ZH_PLACES for name in group}
ZH_NAME = re.compile("|".join(sorted(_ZH_KIND, key=len, reverse=True)))


def en_names(sentence_pool: Sequence[str]) -> list[str]:
    """Capitalised words found inside the pool's English sentences and never written there in lower case
    (proper nouns, not 'Long' or 'Almond' after a comma), sorted: the other values a template may take."""
    lower = {w for s in sentence_pool for w in re.findall(r"\b[a-z]+\b", s)}
    return sorted({m for s in sentence_pool for m in _EN_NAME.findall(s) if m.lower() not in lower})


def _number_changed(parts: list[str], r: random.Random) -> tuple[list[str], int] | None:
    found = [(k, m) for k, text in enumerate(parts) for m in _NUMBER.finditer(text)]
    if not found:
        return None
    k, m = r.choice(found)
    digits = m.group()
    j = r.randrange(len(digits))
    lowest = 1 if j == 0 and len(digits) > 1 else 0  # no leading zero
    digits = digits[:j] + r.choice([d for d in "0123456789"[lowest:] if d != digits[j]]) + digits[j + 1:]
    text = parts[k]
    return parts[:k] + [text[:m.start()] + digits + text[m.end():]] + parts[k + 1:], 1


def _name_changed(parts: list[str], zh: bool, names: Sequence[str], r: random.Random) -> tuple[list[str], int] | None:
    found = sorted({m for text in parts for m in (ZH_NAME if zh else _EN_NAME).findall(text)})
    if not zh:  # proper nouns only: a capitalised common word ('Rate') is written in lower case elsewhere too
        found = [m for m in found if names[min(bisect.bisect_left(names, m), len(names) - 1)] == m]
    if not found:
        return None
    old = r.choice(found)
    others = _ZH_KIND[old] if zh else names
    new = old
    for _ in range(100):  # another value, not a typo of this one
        if new != old and new[0] != old[0]:
            break
        new = r.choice(others)
    if zh:
        edited = [text.replace(old, new) for text in parts]
    else:
        word = re.compile(rf"\b{old}\b")
        edited = [word.sub(new, text) for text in parts]
    return edited, sum(text.count(old) for text in parts)


def _other_answer(resp: str, zh: bool, pool: Sequence[str], r: random.Random) -> str:
    fresh = [pool[r.randrange(len(pool))] for _ in range(r.randint(3, 8))]
    opening = _sentences(resp)[0]
    # The same opening, when it is a small part of the answer: a long one would make the original a part of
    # the new answer, which is the original with sentences added.
    if r.random() < 0.5 and len(opening) <= len(resp) / 3:
        fresh[0] = opening
    return _joined(fresh, zh)


def hard_negative(variant: str, instr: str, inp: str, resp: str, lang: str, pool: Sequence[str],
                  names: Sequence[str], r: random.Random) -> tuple[str, str, str, str, int | None]:
    """(variant, instruction, input, response, values changed) of a hard negative; falls back to
    'other_answer' when the pair has no number or name to change."""
    zh = lang == "zh"
    parts = [instr, inp, resp]
    changed = (_number_changed(parts, r) if variant == "number_changed"
               else _name_changed(parts, zh, names, r) if variant == "name_changed" else None)
    if changed:
        (instr, inp, resp), count = changed
        return variant, instr, inp, resp, count
    return "other_answer", instr, inp, _other_answer(resp, zh, pool, r), None
