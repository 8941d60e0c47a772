"""Randomness injection in the manner of EDA: word swap, insertion and deletion, and character noise.

Its children are marked operator="noise": they are meant to differ (robustness to typos and word order), so they
are excluded from meaning-preservation review; the gates still apply. Only unprotected words of the request
are touched (protect.py). Chinese is split into words by jieba.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from .protect import protected_mask

NOISE_KINDS = ("swap", "insert", "delete", "char")
_EN_TOKEN = re.compile(r"[A-Za-z]+|[^A-Za-z]")


@dataclass(frozen=True)
class NoiseRates:
    # Share of the editable words swapped, inserted (a copy of a word of the sentence) or deleted.
    word_rate: float = 0.1
    # Share of the editable letters hit by a typo (adjacent swap, drop or doubling).
    char_rate: float = 0.03


def _tokens(text: str, lang: str) -> list[str]:
    if lang == "zh":
        from .synonyms import load_jieba

        return list(load_jieba().cut(text))
    return _EN_TOKEN.findall(text)


def _editable(tokens: list[str], mask: list[bool]) -> list[int]:
    out, pos = [], 0
    for i, tok in enumerate(tokens):
        if tok.strip() and (tok.isalpha() or len(tok) > 1) and not any(mask[pos:pos + len(tok)]):
            out.append(i)
        pos += len(tok)
    return out


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:] if kind == "drop" else word[:i] + word[i] + word[i:]


def inject_noise(instruction: str, lang: str, rng: random.Random,
                 rates: NoiseRates = NoiseRates()) -> tuple[str | None, str]:
    """(noisy instruction, which kind) or (None, why not)."""
    if lang not in ("en", "zh"):
        return None, f"no tokenizer for language {lang!r}"
    tokens = _tokens(instruction, lang)
    editable = _editable(tokens, protected_mask(instruction))
    if len(editable) < 2:
        return None, "fewer than two editable words"
    kind = rng.choice(NOISE_KINDS if lang == "en" else ("swap", "insert", "delete"))
    n = max(1, round(rates.word_rate * len(editable)))
    if kind == "swap":
        for _ in range(n):
            a, b = rng.sample(editable, 2)
            tokens[a], tokens[b] = tokens[b], tokens[a]
    elif kind == "insert":
        for _ in range(n):
            word, at = tokens[rng.choice(editable)], rng.choice(editable)
            tokens[at] = (word + " " + tokens[at]) if lang == "en" else word + tokens[at]
    elif kind == "delete":
        for i in rng.sample(editable, min(n, len(editable) - 1)):
            tokens[i] = ""
    else:
        letters = sum(len(tokens[i]) for i in editable)
        for i in rng.sample(editable, min(len(editable), max(1, round(rates.char_rate * letters)))):
            tokens[i] = _typo(tokens[i], rng)
    text = re.sub(r" {2,}", " ", "".join(tokens)).strip()
    return (text, kind) if text != instruction else (None, "no change")
