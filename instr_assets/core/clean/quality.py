"""Quality filters for instruction/response pairs, each returning None (fine) or (reason_code, detail).

The filters expect normalized text (see `text.normalize_text`) but tolerate raw text: full-width and ASCII
punctuation are both recognized. `quality_issue` runs them in a fixed order and reports the first issue.
Refusals live in `refusal`, template slots, truncation and doubled answers in `junk`, the thresholds in
`quality_rules`; this module re-exports them so that callers need one import.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Sequence
from functools import lru_cache
from pathlib import Path

import polars as pl

from .junk import ZH_SLOT_NOUNS, doubled_answer, template_slots, truncated
from .quality_rules import DEFAULT_RULES, REFUSAL_POLICIES, QualityRules
from .refusal import may_refuse, refusal
from .textshape import PLAIN_TEXT, prose

DEFAULT_BLOCKLIST = Path(__file__).resolve().parents[2] / "data" / "blocklist.txt"

Issue = tuple[str, str]
__all__ = ["DEFAULT_RULES", "FILTERS", "QualityRules", "REFUSAL_POLICIES", "blocklist", "doubled_answer",
           "echoes_instruction", "length_bounds", "load_blocklist", "may_fire", "quality_issue", "refusal",
           "repetition", "special_char_ratio", "template_slots", "truncated", "validate"]


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
    """Degenerate loops in the prose: the whole text must repeat, and so must what is left without code,
    markup and table rows (which repeat by nature)."""
    issue = _repetition(text, lang, rules)
    return issue and _repetition(prose(text), lang, rules)


def _repetition(text: str, lang: str, rules: QualityRules) -> Issue | None:
    if _is_zh(lang):
        # Letters and digits only: ASCII-art borders ("+-----+") in diagrams are not degenerate output.
        units, n = _NON_ALNUM.sub("", text), rules.char_ngram
    else:
        units, n = _WORD.findall(text.lower()), rules.word_ngram
    total = len(units) - n + 1
    if total < rules.min_ngrams:
        return None
    # Only the number of distinct n-grams matters; characters are compared as substrings, words as tuples.
    distinct = len(set(map(units.__getitem__, map(slice, range(total), range(n, total + n))))
                   if isinstance(units, str) else set(zip(*(units[i:] for i in range(n)))))
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


def validate(rules: QualityRules) -> None:
    unknown = set(rules.disabled) - set(FILTERS)
    if unknown:
        raise ValueError(f"disabled: unknown filters {sorted(unknown)}; known are {FILTERS}")
    if rules.refusal_policy not in REFUSAL_POLICIES:
        raise ValueError(f"refusal_policy: {rules.refusal_policy!r} is not one of {REFUSAL_POLICIES}")


def quality_issue(instruction: str, input: str, response: str, lang: str,  # noqa: A002 - the pair's field
                  rules: QualityRules = DEFAULT_RULES, blocklist_terms: Sequence[str] = (),
                  cannot_fire: Container[str] = ()) -> Issue | None:
    """The first issue of the pair, checking in this order.

    length (cheap, and bounds the cost of the rest) -> template_slot (the response, or an unmistakable slot in
    the prompt) -> blocklisted (prompt or response) -> refusal -> echo -> doubled -> repetitive -> truncated ->
    special_chars. A doubled answer comes before repetition, which would call it repetitive only at random;
    repetition comes before truncation because degenerate loops usually run into the length limit and end
    cut off too. Filters named in `cannot_fire` (see `may_fire`) are skipped.
    """
    validate(rules)
    prompt = f"{instruction}\n{input}" if input else instruction
    checks = (
        ("length", length_bounds, (response, lang, rules)),
        ("template_slot", template_slots, (response, prompt)),
        ("blocklisted", blocklist, ("\n".join((prompt, response)), blocklist_terms)),
        ("refusal", refusal, (response, rules)),
        ("echo", echoes_instruction, (instruction, response, rules)),
        ("doubled", doubled_answer, (response, rules)),
        ("repetitive", repetition, (response, lang, rules)),
        ("truncated", truncated, (response, rules, prompt)),
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
# Template slots: each slot shape of `junk` without its context conditions (polars' engine has no look-around).
_MAY_HAVE_STRONG_SLOT = r"\{\{|<<|\[(?:[Yy]our|[Ii]nsert|[Ee]nter|[Aa]dd) |[\[【](?:你的|您的|请输入|插入|填写|输入)"
_ZH_NOUNS = ZH_SLOT_NOUNS
_MAY_HAVE_SLOT = (r"\{\{\s*[^\W\d]|\{[A-Za-z_][A-Za-z_ ]{2,30}\}|\{[\x{4e00}-\x{9fff}]{2,10}\}"
                  r"|\[[A-Z][A-Z_]*(?: [A-Z][A-Z_]*){0,3}\]"
                  r"|\[(?:[A-Z][\w'’-]*\s){0,3}(?:[Yy]our |[Ii]nsert |[Ee]nter |[Aa]dd |[A-Z])"
                  rf"|[\[【][^\[\]【】\n]{{0,12}}(?:你的|您的|请输入|插入|填写|输入|{_ZH_NOUNS})|<[^<>\n]{{0,6}}(?:{_ZH_NOUNS})"
                  r"|[（(](?:请|此处|在此)?(?:填写|输入|插入)|<(?:[Yy]our|YOUR) |<[A-Z][A-Za-z_]{2,}|\$\{\w+\}"
                  r"|\$[A-Z][A-Z_]{2,}|<<|%\(|XX|xx|××|ＸＸ|某某")

# In `PLAIN_TEXT`, Python's words ([^\W_]+ on the lower-cased text) are exactly the runs of _ALNUM.
_ALNUM = r"a-z0-9\u4e00-\u9fff"


def _may_repeat(responses: pl.Series, langs: pl.Series, rules: QualityRules) -> pl.Series:
    """Whether `_repetition` may flag each response, from lower bounds on its distinct n-grams: of T n-grams,
    at most (T - distinct) / T repeat. Every distinct unit (word, character, character pair) but the last
    n - 1 (n - 2 for pairs) starts a distinct n-gram, as no earlier n-gram starts with that unit. Han text
    reuses single characters, so their bound rules out short answers only; the rest take the pairs' bound,
    which costs four times as much. Text beyond `PLAIN_TEXT` is left to Python."""
    plain = responses.str.contains(PLAIN_TEXT)
    zh = (langs == "zh").fill_null(False)
    may = ~plain
    n_words, n_chars = rules.word_ngram, rules.char_ngram
    u = pl.col("u")
    # Counts are Int64 before any subtraction: an unsigned n_unique() - 2 of a one-word loop would wrap around.
    # (rows, their units, number of n-grams, lower bounds of the distinct n-grams, cheapest first).
    paths = [(plain & ~zh, pl.col("r").str.to_lowercase().str.extract_all(f"[{_ALNUM}]+"),
              u.list.len().cast(pl.Int64) - n_words + 1, [u.list.n_unique().cast(pl.Int64) - (n_words - 1)])]
    if n_chars >= 1:  # letters and digits keep their case here
        pairs = pl.concat_list(u.str.extract_all(".."), u.str.slice(1).str.extract_all("..")).list.n_unique()
        paths.append((plain & zh, pl.col("r").str.replace_all(f"[^A-Z{_ALNUM}]", ""),
                      u.str.len_chars().cast(pl.Int64) - n_chars + 1,
                      [u.str.split("").list.n_unique().cast(pl.Int64) - (n_chars - 1)]
                      + ([pairs.cast(pl.Int64) - (n_chars - 2)] if n_chars >= 2 else [])))
    for rows, units, total, bounds in paths:
        at = rows.arg_true()
        if at.len():
            left = pl.DataFrame({"r": responses.gather(at)}).select(pl.int_range(pl.len()).alias("_at"), u=units)
            left = left.with_columns(total=total)
            for distinct in bounds:  # each bound only on the rows the ones before left (few: a filter copies)
                left = left.filter(pl.col("total") >= rules.min_ngrams,
                                   (pl.col("total") - distinct) / pl.col("total") > rules.max_repetition)
            may = may.scatter(at.gather(left["_at"]), True)
    return may


def _may_echo(instruction: pl.Series, response: pl.Series, rules: QualityRules) -> pl.Series:
    """An echo's letters lie within the instruction's, and are at least echo_min_chars long. The slack covers
    the engines' slightly different ideas of a word character. Letters are counted only where the response's
    ASCII letters, digits and Han characters (letters to both engines) fit that bound at all."""
    i_chars = pl.col("i").str.len_chars()
    surely_letters = pl.col("r").str.len_chars() - pl.col("r").str.count_matches(r"[^A-Za-z0-9\u4e00-\u9fff]")
    frame = pl.DataFrame({"i": instruction, "r": response})
    may = frame.select(surely_letters <= i_chars + i_chars // 2 + 10).to_series()
    at = may.arg_true()
    if at.len():
        r, i = (pl.col(c).str.replace_all(r"[\W_]+", "").str.len_chars() for c in ("r", "i"))
        may = may.scatter(at, frame[at].select((r >= rules.echo_min_chars // 2) & (r <= i + i // 2 + 10)).to_series())
    return may


def _may_double(response: pl.Series, rules: QualityRules) -> pl.Series:
    """Whether `doubled_answer` may flag each response. Its second copy starts with the first characters of
    the whole (up to doubled_min_chars of them: more would reach past a short unspaced copy, "你好世界啊你好世界啊");
    where it does, the text with whitespace collapsed as `doubled_answer` collapses it (polars' \\s plus
    \\x1c-\\x1f are Python's whitespace) must also end with its own first half, whether or not a space
    separates the copies."""
    frame = pl.DataFrame({"r": response})
    r = pl.col("r")
    # The first characters up to a space, no more than a copy holds (at least doubled_min_chars).
    first = r.str.extract(rf"^[\s\x1c-\x1f]*([^\s\x1c-\x1f]{{1,{max(1, min(8, rules.doubled_min_chars))}}})")
    may = frame.select((r.str.len_chars() >= 2 * rules.doubled_min_chars)
                       & r.str.slice(1).str.contains(first, literal=True)).to_series()
    at = may.arg_true()
    if at.len():
        flat = frame[at].select(f=r.str.replace_all(r"[\s\x1c-\x1f]+", " ").str.strip_chars(" "))
        half = pl.col("f").str.len_chars() // 2
        may = may.scatter(at, flat.select(pl.col("f").str.head(half) == pl.col("f").str.tail(half)).to_series())
    return may


def may_fire(instruction: pl.Series, input: pl.Series, response: pl.Series,  # noqa: A002 - the pair's field
             rules: QualityRules = DEFAULT_RULES, langs: pl.Series | None = None) -> dict[str, pl.Series]:
    """Per filter with a cheap necessary condition, a mask of the pairs it might flag (False = it cannot).
    `langs`, the language each response is judged in, enables the mask of 'repetitive'."""
    # Too short takes no visible character (python's str.split() splits on \s and \x1c-\x1f) while the minimums
    # are at most 1; too long takes more characters than the smaller maximum, in whatever language it is counted.
    too_short = (~pl.col("r").str.contains(r"[^\s\x1c-\x1f]") if max(rules.min_words, rules.min_chars_zh) <= 1
                 else pl.lit(True))
    masks = pl.DataFrame({"i": instruction, "x": input, "r": response}).select(
        length=too_short | (pl.col("r").str.len_chars() > min(rules.max_words, rules.max_chars_zh)),
        # Only characters outside ASCII, Han and CJK punctuation can be special (see `special_char_ratio`).
        special_chars=pl.col("r").str.count_matches(_MAYBE_SPECIAL.pattern) / pl.col("r").str.len_chars()
        > rules.max_special_ratio,
        # Every shape in the response; in the prompt (often a long passage) only the unmistakable ones count.
        template_slot=pl.col("r").str.contains(_MAY_HAVE_SLOT)
        | pl.concat_str(["i", "x"], separator="\n").str.contains(_MAY_HAVE_STRONG_SLOT),
        # A response that ends on a full stop (not an ellipsis) and has no code fence is never cut off.
        truncated=pl.col("r").str.contains("```", literal=True)
        | ~pl.col("r").str.strip_chars_end().str.contains(r"[.!?。！？][”’\"')）」』】\]]?$")
        | pl.col("r").str.strip_chars_end().str.ends_with("..."),
    )
    out = {name: masks[name] for name in masks.columns}
    out |= {"refusal": may_refuse(response), "echo": _may_echo(instruction, response, rules),
            "doubled": _may_double(response, rules)}
    if langs is not None:
        out["repetitive"] = _may_repeat(response, langs, rules)
    return out


FILTERS = ("length", "template_slot", "blocklisted", "refusal", "echo", "doubled", "repetitive", "truncated",
           "special_chars")
