"""Encoding damage: mojibake repaired where the original text can be recovered exactly, the rest reported.

Three kinds of damage are handled:
- UTF-8 bytes decoded as Latin-1 or cp1252 ("cafÃ©", "â€™", "ä½ å¥½"): `ftfy` repairs these;
- UTF-8 bytes decoded as GBK ("浣犲ソ" for 你好), and GBK bytes decoded as Latin-1 ("ÄãºÃ" for 你好): ftfy
  knows neither, so the bytes are re-read here, run by run of non-ASCII characters, and a run is replaced only
  when the re-read is strict (no invalid byte) and yields Chinese; runs of UTF-8 read as Latin-1 that ftfy
  cannot fix for damage elsewhere in the text are re-read the same way;
- replacement characters (U+FFFD), GBK mojibake with bytes lost, and Latin-1 mojibake left beside repaired
  mojibake: the original is lost, so these are reported, never guessed at.

A polars regex flags the texts that hold a character typical of any of these, so clean text costs a regex scan;
the Python repair runs on the flagged texts only, and a flagged text that needs no repair comes back unchanged.
"""
from __future__ import annotations

import re
from functools import lru_cache

import ftfy
import polars as pl
from ftfy.badness import is_bad

from ..text import normalize_series, untidy_pattern

# A whole UTF-8 sequence read as Latin-1 or cp1252: lead byte C2-DF, E0-EF or F0-F4 (Â-ß, à-ï, ð-ô) and one,
# two or three continuation bytes 80-BF, which are U+0080-U+00BF in Latin-1 and the other characters in cp1252.
_CONTINUATION = ("[\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014"
                 "\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")
_LATIN_MOJIBAKE = (f"[\u00c2-\u00df]{_CONTINUATION}|[\u00e0-\u00ef]{_CONTINUATION}{{2}}"
                   f"|[\u00f0-\u00f4]{_CONTINUATION}{{3}}")
# A lead byte then a continuation byte: left beside repaired mojibake, the rest of a sequence whose bytes were lost.
_LATIN_LEFTOVER = f"[\u00c2-\u00f4]{_CONTINUATION}"
# GB2312 text read as Latin-1: every byte is A1-FE, so a Chinese word becomes a run of such letters.
_GBK_AS_LATIN = "[\u00a1-\u00fe]{4,}"
_CJK_RESULT = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
_CHINESE_OR_LOST = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef\ufffd]+")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
REPLACEMENT = "\ufffd"


def _gbk_chars(leads, trails) -> str:
    """A regex class of the characters a GBK decoder makes of two bytes (lead, trail)."""
    chars = set()
    for lead in leads:
        for trail in trails:
            try:
                chars.add(bytes((lead, trail)).decode("gbk"))
            except UnicodeDecodeError:
                pass
    return f"[{''.join(sorted(chars))}]"


@lru_cache(maxsize=1)
def _gbk_mojibake() -> str:
    """Two characters a GBK decoder makes of UTF-8 CJK characters in a row: the first two bytes of one (lead E3-E9
    or EF, then a continuation byte: 鐨 of 的, 锛 of the full-width comma, 锟 of U+FFFD), then its last byte with
    the next one's lead. Two consecutive CJK characters in UTF-8 always give this pair, whatever the byte
    alignment; genuine Chinese seldom does (a rare character before one of a few hundred others)."""
    utf8_leads = (*range(0xE3, 0xEA), 0xEF)
    continuations = range(0x80, 0xC0)
    return _gbk_chars(utf8_leads, continuations) + _gbk_chars(continuations, utf8_leads)


@lru_cache(maxsize=1)
def _gbk_pair() -> re.Pattern:
    return re.compile(_gbk_mojibake())


@lru_cache(maxsize=1)
def hint_pattern() -> str:
    """A polars regex that matches every text `repair_text` might change or report."""
    return "|".join([_LATIN_MOJIBAKE, _GBK_AS_LATIN, _gbk_mojibake(), REPLACEMENT])


def _is_chinese(text: str) -> bool:
    """True when every character is Chinese (or was already lost, U+FFFD)."""
    return _CHINESE_OR_LOST.fullmatch(text) is not None


def _decode(raw: bytes, encoding: str) -> str | None:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        return None


def _reread(run: str) -> str | None:
    """`run` (a run of non-ASCII characters) as it reads once its characters are turned back into the bytes
    they were wrongly decoded from and those are decoded right, strictly; None when no reading is certain."""
    try:
        # UTF-8 read as GBK: valid UTF-8 again, and Chinese, only when that is what happened.
        fixed = _decode(run.encode("gbk"), "utf-8")
        if fixed is not None and _is_chinese(fixed):
            return fixed
    except UnicodeEncodeError:
        pass
    for encoding in ("latin-1", "cp1252"):
        try:
            raw = run.encode(encoding)
        except UnicodeEncodeError:
            continue
        if not is_bad(run):
            return None
        # UTF-8 read as Latin-1/cp1252 that ftfy left, for the damage elsewhere in the text: UTF-8 bytes also
        # decode as GBK, so they are tried first.
        fixed = _decode(raw, "utf-8")
        if fixed is not None:
            return fixed
        fixed = _decode(raw, "gbk")
        if fixed is not None and _is_chinese(fixed):
            return fixed
    return None


def _gbk_damage(run: str) -> bool:
    """True when `run` looks like UTF-8 Chinese read as GBK but cannot be re-read strictly (bytes were lost):
    its bytes, from the first or the second, still decode mostly to Chinese, where genuine Chinese text
    decodes to mostly invalid bytes."""
    if not _gbk_pair().search(run):
        return False
    try:
        raw = run.encode("gbk")
    except UnicodeEncodeError:
        return False
    for start in (0, 1):
        decoded = raw[start:].decode("utf-8", errors="replace")
        chinese = len(_CJK_RESULT.findall(decoded))
        if chinese >= 2 and decoded.count(REPLACEMENT) * 2 <= chinese:
            return True
    return False


def _reread_runs(text: str) -> tuple[str, list[str]]:
    """(text with each non-ASCII run that is mojibake re-read, the runs found damaged beyond that)."""
    damaged = []

    def fix(match: re.Match) -> str:
        run = match.group()
        if len(run) < 2 or (_is_chinese(run) and not _gbk_pair().search(run)):
            return run
        fixed = _reread(run)
        if fixed is not None:
            return fixed
        if _gbk_damage(run):
            damaged.append(run)
        return run

    return _NON_ASCII_RUN.sub(fix, text), damaged


def _excerpt(text: str, at: int, width: int = 12) -> str:
    return repr(text[max(0, at - width): at + width])


def repair_text(text: str) -> tuple[str, str | None]:
    """(repaired text, None) or (text, why its encoding damage cannot be repaired).

    Runs are re-read first, where a strict decode tells UTF-8 read as Latin-1 from GBK read as Latin-1; ftfy
    then fixes what is left (cp1252 quirks, mojibake mixed with clean text).
    """
    fixed, gbk_runs = _reread_runs(text)
    if re.search(_LATIN_MOJIBAKE, fixed):
        fixed = ftfy.fix_encoding(fixed)
    if gbk_runs:
        return text, f"UTF-8 text read as GBK with bytes lost: {gbk_runs[0][:24]!r}"
    if REPLACEMENT in fixed:
        return text, (f"{fixed.count(REPLACEMENT)} replacement character(s) U+FFFD, the original characters are "
                      f"lost: {_excerpt(fixed, fixed.index(REPLACEMENT))}")
    # Mojibake left beside repaired mojibake is damage for sure. Alone, it takes two whole sequences and ftfy's
    # judgement: a lone look-alike is often a real word ("etelä”" is Finnish before a curly quote).
    left = [m.start() for m in re.finditer(_LATIN_LEFTOVER if fixed != text else _LATIN_MOJIBAKE, fixed)]
    if left and (fixed != text or len(left) >= 2 and is_bad(fixed)):
        return text, f"mojibake that could not be repaired: {_excerpt(fixed, left[0])}"
    return fixed, None


def repair_series(texts: pl.Series) -> tuple[pl.Series, dict[int, str]]:
    """(texts with repairable encoding damage repaired, {index: detail} of the texts damaged beyond repair);
    nulls stay null. Only texts matching `hint_pattern` are looked at in Python."""
    texts = texts.cast(pl.Utf8)
    flagged = texts.str.contains(hint_pattern()).fill_null(False).arg_true().to_list()
    fixed_at, fixed, damage = [], [], {}
    for i, text in zip(flagged, texts.gather(flagged).to_list()):
        repaired, detail = repair_text(text)
        if detail:
            damage[i] = detail
        elif repaired != text:
            fixed_at.append(i)
            fixed.append(repaired)
    if fixed_at:
        texts = texts.scatter(fixed_at, fixed)
    return texts, damage


def repair_and_normalize(texts: pl.Series) -> tuple[pl.Series, dict[int, str]]:
    """(normalize_series(repaired texts), {index: detail} of the texts damaged beyond repair), as
    `repair_series` then `normalize_series` give them; one scan sets aside the texts that neither would change
    (most texts), where each would scan all of them."""
    texts = texts.cast(pl.Utf8).fill_null("")
    busy = texts.str.contains(f"{hint_pattern()}|{untidy_pattern()}").arg_true()
    repaired, damage = repair_series(texts.gather(busy))
    rows = busy.to_list()
    return texts.scatter(busy, normalize_series(repaired)), {rows[i]: detail for i, detail in damage.items()}
