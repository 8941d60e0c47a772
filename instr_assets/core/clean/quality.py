"""Quality filters for instruction/response pairs, each returning None (fine) or (reason_code, detail).

The filters expect normalized text (see `text.normalize_text`) but tolerate raw text: full-width and ASCII
punctuation are both recognized. `quality_issue` runs them in a fixed order and reports the first issue.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

DEFAULT_BLOCKLIST = Path(__file__).resolve().parents[2] / "data" / "blocklist.txt"

Issue = tuple[str, str]


@dataclass(frozen=True)
class QualityRules:
    """Thresholds of the quality filters.

    Length is counted in non-space characters for Chinese (a Han character carries about a word) and in
    whitespace-separated words for English and other languages.
    """

    min_chars_zh: int = 1
    max_chars_zh: int = 4000
    min_words: int = 1  # en and other
    max_words: int = 3000
    # Share of n-gram occurrences that repeat an earlier one; only judged with enough n-grams to be meaningful.
    max_repetition: float = 0.5
    min_ngrams: int = 20
    word_ngram: int = 3  # en/other
    char_ngram: int = 5  # zh
    # Share of characters that are symbols/control/private-use outside ASCII (emoji, box drawing, mojibake).
    max_special_ratio: float = 0.3
    # Echo: responses shorter than this (after normalization) are never echoes, so "42" may repeat a prompt.
    echo_min_chars: int = 20
    echo_containment: float = 0.9
    # A refusal phrase anywhere in a response shorter than this is a refusal; in longer ones only at the start.
    refusal_anywhere_below: int = 300
    # Responses at most this long are not judged truncated for a missing final punctuation or an ellipsis.
    truncation_min_chars: int = 200
    # A last line without final punctuation only counts as cut off when it is prose of at least this size;
    # shorter ones are sign-offs, results and labels ("Best regards,\nAnna", "10 / 5 = 2").
    truncation_min_last_line_words: int = 6  # en/other
    truncation_min_last_line_chars_zh: int = 15
    # Filters to skip, by name (see FILTERS), e.g. {"refusal", "truncated"}.
    disabled: frozenset[str] = frozenset()


DEFAULT_RULES = QualityRules()


def _is_zh(lang: str) -> bool:
    return lang == "zh"


def length_bounds(response: str, lang: str, rules: QualityRules = DEFAULT_RULES) -> Issue | None:
    if _is_zh(lang):
        n, lo, hi, unit = len("".join(response.split())), rules.min_chars_zh, rules.max_chars_zh, "characters"
    else:
        n, lo, hi, unit = len(response.split()), rules.min_words, rules.max_words, "words"
    if n < lo:
        return "response_too_short", f"{n} < {lo} {unit}"
    if n > hi:
        return "response_too_long", f"{n} > {hi} {unit}"
    return None


_WORD = re.compile(r"[^\W_]+")
# Everything str.isalnum() rejects: \w is exactly isalnum() plus the underscore.
_NON_ALNUM = re.compile(r"[\W_]+")


def repetition(text: str, lang: str, rules: QualityRules = DEFAULT_RULES) -> Issue | None:
    if _is_zh(lang):
        # Letters and digits only: ASCII-art borders ("+-----+") in diagrams are not degenerate output.
        units, n = _NON_ALNUM.sub("", text), rules.char_ngram
    else:
        units, n = _WORD.findall(text.lower()), rules.word_ngram
    total = len(units) - n + 1
    if total < rules.min_ngrams:
        return None
    # Only the number of distinct n-grams matters; characters are compared as substrings, words as tuples.
    distinct = len(set(units[i:i + n] for i in range(total)) if isinstance(units, str)
                   else set(zip(*(units[i:] for i in range(n)))))
    ratio = (total - distinct) / total
    if ratio > rules.max_repetition:
        return "repetitive", f"{ratio:.0%} of {total} {n}-grams repeat (> {rules.max_repetition:.0%})"
    return None


# ASCII (code's brackets and operators), Han and CJK/full-width punctuation are normal; only the rest needs a
# Unicode category lookup, which keeps the per-character loop to the few characters that need it.
_MAYBE_SPECIAL = re.compile(r"[^\x00-\x7f\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")


def special_char_ratio(text: str, rules: QualityRules = DEFAULT_RULES) -> Issue | None:
    if not text:
        return None
    # Letters, digits, combining marks, punctuation and spaces of any script are normal; symbols (emoji,
    # box drawing, dingbats) and control/private-use/unassigned code points are not.
    special = sum(unicodedata.category(c)[0] in "SC" for c in _MAYBE_SPECIAL.findall(text))
    ratio = special / len(text)
    if ratio > rules.max_special_ratio:
        return "special_chars", f"{ratio:.0%} special characters (> {rules.max_special_ratio:.0%})"
    return None


def _letters_only(s: str) -> str:
    return _NON_ALNUM.sub("", s.casefold())


def echoes_instruction(instruction: str, response: str, rules: QualityRules = DEFAULT_RULES) -> Issue | None:
    r = _letters_only(response)
    if len(r) < rules.echo_min_chars:
        return None
    i = _letters_only(instruction)
    if r == i:
        return "echo", "response repeats the instruction"
    if r in i and len(r) / len(i) > rules.echo_containment:
        return "echo", f"response is {len(r) / len(i):.0%} of the instruction, copied from it"
    return None


_APOS = "['’]"
# Not after a letter: "你作为一个人工智能助手…" talks about someone else, "。作为一个人工智能…" is the model.
_REFUSALS = re.compile(r"(?<!\w)(?:" + "|".join([
    r"as an ai\b", r"as an artificial intelligence", r"as a (?:large )?language model",
    rf"i{_APOS}?m (?:very |so )?sorry,? but (?:as an ai|i (?:can(?:not|{_APOS}t)|am (?:not able|unable)|won{_APOS}t))",
    rf"i apologi[sz]e,? but i (?:can(?:not|{_APOS}t)|am (?:not able|unable))",
    rf"i (?:cannot|can{_APOS}t|am unable to|am not able to) (?:comply with|assist with|help with) (?:this|that|your)",
    rf"i (?:cannot|can{_APOS}t) fulfill",
    r"作为(?:一个|一名)?(?:人工智能|ai)", r"作为(?:一个)?(?:大型)?语言模型", r"我只是一个(?:人工智能|ai|语言模型)",
    r"我(?:无法|不能)(?:回答|满足|协助)",
    r"(?:很|非常)?(?:抱歉|对不起)[,，]?\s*(?:但是?)?我(?:不能|无法|不可以)",
]) + ")", re.I)


def refusal(response: str, rules: QualityRules = DEFAULT_RULES) -> Issue | None:
    head = response.lstrip(" \n\"'“‘*#>-")
    m = _REFUSALS.match(head) or (len(response) < rules.refusal_anywhere_below and _REFUSALS.search(response))
    if m:
        return "refusal", f"boilerplate refusal/disclaimer: {m.group(0)!r}"
    return None


_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.S)
_SLOTS = re.compile(
    r"\{\{\s*[^\W\d]\w*\s*\}\}"
    # [NAME], [COMPANY NAME]: two letters at least so that math like [N] stays, and not after an
    # identifier so that unfenced code like buf[MAX_SIZE] stays.
    r"|(?<![\w\]])\[[A-Z][A-Z_]+(?: [A-Z][A-Z_]*){0,3}\](?!\()"
    r"|\[(?:[Yy]our|[Ii]nsert|[Ee]nter) [^\[\]\n]{1,40}\](?!\()"
    r"|[\[【](?:你的|您的|请输入|插入)[^\[\]【】\n]{1,15}[\]】]"
)


def template_slots(text: str) -> Issue | None:
    # Code legitimately shows template syntax (Jinja's {{ user }}, format strings), so code is skipped.
    m = _SLOTS.search(_CODE.sub(" ", text))
    if m:
        return "template_slot", f"unfilled template slot {m.group(0)}"
    return None


_ELLIPSIS = re.compile(r"(?:\.\.\.|…|⋯)\s*$")
# Lists, tables, headings and indented code or verse legitimately end without punctuation.
_NOT_PROSE = re.compile(r"\s|[-*+•#|>]|\d+[.)、]|[A-Za-z][.)]\s|[(（]\d+[)）]")
_PLAIN_WORD = re.compile(r"[^\W\d_]+")


def truncated(response: str, lang: str, rules: QualityRules = DEFAULT_RULES) -> Issue | None:
    if response.count("```") % 2:
        return "truncated", "unclosed code fence"
    text = response.rstrip()
    if len(text) <= rules.truncation_min_chars:
        return None
    if _ELLIPSIS.search(text):
        return "truncated", "ends with an ellipsis"
    last_line = text.rsplit("\n", 1)[-1]
    if _NOT_PROSE.match(last_line):
        return None
    if _is_zh(lang):
        # Chinese has no spaces, so any final letter or digit (not punctuation) is "mid-word".
        cut = text[-1].isalnum() and len(last_line) >= rules.truncation_min_last_line_chars_zh
    else:
        words = last_line.split()
        cut = len(words) >= rules.truncation_min_last_line_words and bool(_PLAIN_WORD.fullmatch(words[-1]))
    if cut:
        return "truncated", f"ends mid-sentence: {text[-30:]!r}"
    return None


def load_blocklist(path: str | Path = DEFAULT_BLOCKLIST) -> tuple[str, ...]:
    """Terms from a text file: one per line, '#' starts a comment, matching is case-insensitive."""
    terms = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        term = line.split("#", 1)[0].strip().casefold()
        if term:
            terms.append(term)
    return tuple(terms)


@lru_cache(maxsize=8)
def _blocklist_pattern(terms: tuple[str, ...]) -> re.Pattern | None:
    parts = []
    for term in terms:
        body = r"\s+".join(re.escape(w) for w in term.split())
        # ASCII terms match whole words ("bomb" must not hit "bombastic"); CJK has no word breaks to rely on.
        parts.append(rf"(?<![a-z0-9]){body}(?![a-z0-9])" if term.isascii() else body)
    return re.compile("|".join(parts), re.I) if parts else None


@lru_cache(maxsize=8)
def _first_words(terms: tuple[str, ...]) -> tuple[str, ...]:
    return tuple({t.split()[0] for t in terms if t.split()})


def blocklist(text: str, terms: Sequence[str]) -> Issue | None:
    terms = tuple(terms)
    if not terms:
        return None
    # Substring tests of each term's first word are far cheaper than the bounded regex, and rule most texts out.
    folded = text.casefold()
    if not any(w in folded for w in _first_words(terms)):
        return None
    m = _blocklist_pattern(terms).search(text)
    if m:
        # The detail lands in reports; the term itself is not repeated there.
        return "blocklisted", f"blocklisted term {m.group(0)[0]}***"
    return None


def quality_issue(instruction: str, input: str, response: str, lang: str,  # noqa: A002 - the pair's field
                  rules: QualityRules = DEFAULT_RULES, blocklist_terms: Sequence[str] = (),
                  cannot_fire: Container[str] = ()) -> Issue | None:
    """The first issue of the pair, checking in this order.

    length (cheap, and bounds the cost of the rest) -> template_slot (prompt or response) -> blocklisted
    (prompt or response) -> refusal -> echo -> repetitive -> truncated -> special_chars. Repetition comes
    before truncation because degenerate loops usually run into the length limit and end cut off too.
    Filters named in `cannot_fire` (see `may_fire`) are skipped.
    """
    unknown = set(rules.disabled) - set(FILTERS)
    if unknown:
        raise ValueError(f"disabled: unknown filters {sorted(unknown)}; known are {FILTERS}")
    prompt_and_response = "\n".join((instruction, input, response))
    checks = (
        ("length", length_bounds, (response, lang, rules)),
        ("template_slot", template_slots, (prompt_and_response,)),
        ("blocklisted", blocklist, (prompt_and_response, blocklist_terms)),
        ("refusal", refusal, (response, rules)),
        ("echo", echoes_instruction, (instruction, response, rules)),
        ("repetitive", repetition, (response, lang, rules)),
        ("truncated", truncated, (response, lang, rules)),
        ("special_chars", special_char_ratio, (response, rules)),
    )
    for name, check, args in checks:
        if name not in rules.disabled and name not in cannot_fire:
            issue = check(*args)
            if issue:
                return issue
    return None


# Necessary conditions of some filters as patterns for polars' regex engine: a pair that matches none of a
# filter's pattern cannot trip it, so a whole column is ruled in or out in one vectorized pass.
_MAY_HAVE_SLOT = r"\{\{|[\[【]"
_MAY_REFUSE = (r"(?i)as an? |sorry|apologi|cannot|can['’]?t|unable|not able|作为|我只是|我无法|我不能|抱歉|对不起")


def may_fire(instruction: pl.Series, input: pl.Series, response: pl.Series,  # noqa: A002 - the pair's field
             rules: QualityRules = DEFAULT_RULES) -> dict[str, pl.Series]:
    """Per filter with a cheap necessary condition, a mask of the pairs it might flag (False = it cannot)."""
    def letters(col: str) -> pl.Expr:
        return pl.col(col).str.replace_all(r"[\W_]+", "").str.len_chars()

    # An echo's letters lie within the instruction's, and are at least echo_min_chars long. The slack covers
    # the engines' slightly different ideas of a word character.
    r, i = letters("r"), letters("i")
    masks = pl.DataFrame({"i": instruction, "x": input, "r": response}).select(
        template_slot=pl.concat_str(["i", "x", "r"], separator="\n").str.contains(_MAY_HAVE_SLOT),
        refusal=pl.col("r").str.contains(_MAY_REFUSE),
        echo=(r >= rules.echo_min_chars // 2) & (r <= i + i // 2 + 10),
    )
    return {name: masks[name] for name in masks.columns}


FILTERS = ("length", "template_slot", "blocklisted", "refusal", "echo", "repetitive", "truncated", "special_chars")
