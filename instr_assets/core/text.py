"""Text helpers shared by stages: script-based language guess, normalization, prompt rendering."""
from __future__ import annotations

import html
import math
import re
import unicodedata
from functools import lru_cache

import polars as pl

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
_LATIN = re.compile(r"[A-Za-z]")
_OTHER_LETTER = re.compile(r"[^\W\d_A-Za-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")


def detect_lang(text: str) -> str:
    """'zh', 'en' or 'other' by script share.

    Chinese text routinely embeds English words, code and numbers, so a modest share of Han characters is
    enough for 'zh'; kana/hangul mark Japanese/Korean, which are 'other'.
    """
    han = len(_CJK.findall(text))
    kana = len(_KANA_HANGUL.findall(text))
    latin = len(_LATIN.findall(text))
    other = len(_OTHER_LETTER.findall(text)) - kana
    if kana > max(2, han * 0.2):
        return "other"
    # A Han character carries about as much as a short English word.
    if han and han * 3 >= 0.25 * (latin + han * 3):
        return "zh"
    if latin and latin >= 3 * max(other, 0):
        return "en"
    if han:
        return "zh"
    return "other"


# Patterns below are written for both engines: Python's re and the Rust regex polars runs.
# Controls and invisible format characters: zero-width space and non-joiner, the bidirectional marks, embeddings,
# overrides and isolates (U+200E/F, U+061C, U+202A-202E, U+2066-2069: they reorder what a reader sees, as in
# "Trojan Source" text), the word joiner, invisible operators and deprecated format characters (U+2060-206F,
# around the isolates), the byte order mark.
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b\u200c\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u206f\ufeff]"
# The zero-width joiner (U+200D) is part of an emoji sequence (👩‍💻, 👨‍👩‍👧, 🏳️‍🌈) between two pictographs, the
# first with its variation selector or skin tone; anywhere else it is removed. Replaced by group 1: a whole
# sequence by itself, a stray joiner by nothing. Polars only (Python's re has no \p{…}).
_JOINER = r"((?:\p{Extended_Pictographic}[\ufe0f\U0001F3FB-\U0001F3FF]{0,2}\u200d)+\p{Extended_Pictographic})|\u200d"
# Runs of spaces inside a line (after its first non-space character) become one space; indentation is kept,
# since code in responses depends on it. A single tab inside a line is a space too.
_INNER_SPACES = r"(\S)(?:[ \t]{2,}|\t)"
_TRAILING_SPACES = r"(?m)[ \t]+$"


# Every character with a decomposition lies below this (the last are the CJK compatibility ideographs
# supplement, up to U+2FA1D); scanning the planes above too would cost each worker process a few tenths
# of a second.
_LAST_DECOMPOSABLE = 0x2FA1F


@lru_cache(maxsize=1)
def _changed_by_nfkc() -> tuple[str, ...]:
    """Every character that NFKC changes on its own (NFC changes a subset of them)."""
    return tuple(chr(c) for c in range(_LAST_DECOMPOSABLE + 1)
                 if not 0xD800 <= c < 0xE000 and not unicodedata.is_normalized("NFKC", chr(c)))


@lru_cache(maxsize=1)
def compatibility_folds() -> dict[str, str]:
    """The part of NFKC that normalization applies: character -> its compatibility form, for letters, marks,
    decimal digits and spaces only.

    Kept: full-width Latin letters and digits (Ａ１ -> A1), ligatures (ﬁ -> fi), styled letters (𝐀 -> A),
    half-width katakana, and every no-break, en/em and ideographic space (-> " ").
    Left as written: all punctuation and symbols, so Chinese full-width punctuation (，：；？！（）【】、…) and
    ￥ stay, as do ™ ℃ ㎏ (units read the same either way, and text should look as its language writes it),
    and numbers that are not plain digits (① ² ½ Ⅳ), which NFKC flattens into other numbers ("x²" -> "x2",
    "①…②" -> "1…2"). Canonical equivalents are left to NFC, which runs after the folds.
    """
    folds = {}
    for char in _changed_by_nfkc():
        category = unicodedata.category(char)
        if category[0] in "LMZ" or category == "Nd":
            folded = unicodedata.normalize("NFKC", char)
            if folded != unicodedata.normalize("NFC", char):
                folds[char] = folded
    return folds


@lru_cache(maxsize=1)
def _nfc_may_change() -> str:
    """A regex class of the characters NFC may change or combine: marks (every character that composes with
    the one before it, or is reordered, is one), Hangul vowel and final jamo, and the characters NFC replaces
    on their own (CJK compatibility ideographs, a few precomposed letters). Text without them is NFC already."""
    alone = "".join(c for c in _changed_by_nfkc() if unicodedata.normalize("NFC", c) != c)
    return f"[\\p{{M}}\u1161-\u1175\u11a8-\u11c2{alone}]"


@lru_cache(maxsize=1)
def untidy_pattern() -> str:
    """A polars regex that matches every text `normalize_series` may change: one of each step's characters or
    patterns (a leading or trailing space for the final strip)."""
    return "|".join(["&", "\r", f"[{''.join(compatibility_folds())}]", _nfc_may_change(), _CONTROL, "\u200d",
                     _INNER_SPACES,
                     f"(?m:{_TRAILING_SPACES.removeprefix('(?m)')})", r"\n{3,}", r"\A\s", r"\s\z"])


def normalize_series(texts: pl.Series) -> pl.Series:
    """Compatibility folds (NFKC on letters, digits and spaces only; see `compatibility_folds`) then NFC, HTML
    entities decoded (but never into a tag: see `unescape_entities`), control, bidirectional and zero-width
    characters removed (a joiner inside an emoji sequence stays), whitespace tidied; nulls become ""."""
    texts = texts.cast(pl.Utf8).fill_null("")
    # Most texts are tidy already: one scan finds those that may not be, and only they go through the steps,
    # each of which costs about as much as that scan.
    untidy = texts.str.contains(untidy_pattern()).arg_true()
    if not len(untidy):
        return texts
    return texts.scatter(untidy, _normalize(texts.gather(untidy)))


def _normalize(texts: pl.Series) -> pl.Series:
    """normalize_series' steps, on non-null texts."""
    # Python only for the few cells that may hold an entity: polars has no HTML unescape.
    with_entity = texts.str.contains("&", literal=True).arg_true()
    if len(with_entity):
        texts = texts.scatter(with_entity, [unescape_entities(t) for t in texts.gather(with_entity).to_list()])
    # Folding character by character and composing after gives NFKC's result on the folded characters. NFC
    # runs only where it may change something: it costs more than all the rest, and most text needs none.
    folds = compatibility_folds()
    texts = texts.str.replace_many(list(folds), list(folds.values()))
    composable = texts.str.contains(_nfc_may_change()).arg_true()
    if len(composable):
        texts = texts.scatter(composable, texts.gather(composable).str.normalize("NFC"))
    return (texts
            .str.replace_all("\r\n", "\n", literal=True).str.replace_all("\r", "\n", literal=True)
            .str.replace_all(_CONTROL, "")
            .str.replace_all(_JOINER, "${1}")
            .str.replace_all(_INNER_SPACES, "${1} ")
            .str.replace_all(_TRAILING_SPACES, "")
            .str.replace_all(r"\n{3,}", "\n\n")
            .str.strip_chars())


# An entity reference where html.unescape finds one: a decimal or hex number, or a name (the semicolon optional).
_ENTITY = re.compile(r"(&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?))")
# What follows "<" when it opens a tag, a closing tag, a comment or a processing instruction.
_TAG_START = re.compile(r"[A-Za-z/!?]")


def unescape_entities(text: str) -> str:
    """html.unescape, except markup written with entities stays written so: a "<" entity ("&lt;", "&#60;") that
    would open a tag, and the ">" entity that closes it. "&lt;script&gt;" must not become a live <script> tag;
    "1 &lt; 2 &amp;&amp; 3 &gt; 2" still becomes "1 < 2 && 3 > 2"."""
    parts = _ENTITY.split(text)  # text, entity, text, entity, …, text
    decoded = [html.unescape(p) if i % 2 else p for i, p in enumerate(parts)]
    # A "<" opens markup by the character after it, as decoded: found right to left.
    opens, following = set(), ""
    for i in range(len(parts) - 1, -1, -1):
        if i % 2 and decoded[i].startswith("<") and _TAG_START.match(decoded[i][1:2] or following):
            opens.add(i)
        following = decoded[i][:1] or following
    out, in_tag = [], False
    for i, (part, plain) in enumerate(zip(parts, decoded)):
        keep = i in opens or (in_tag and i % 2 and plain == ">")
        out.append(part if keep else plain)
        if i in opens:
            in_tag = True
        elif in_tag and ">" in plain:
            in_tag = False
    return "".join(out)


def normalize_text(text: str) -> str:
    return normalize_series(pl.Series([text], dtype=pl.Utf8))[0]


_NO_INPUT = [
    "", "none", "n/a", "na", "nil", "null", "no input", "noinput", "<noinput>", "<no input>", "(none)", "-",
    # Escaped markup stays escaped (see unescape_entities), so these are spellings of their own.
    "&lt;noinput&gt;", "&lt;no input&gt;",
    "无", "无输入", "<无输入>", "（无）", "(无)", "没有输入", "无需输入", "空", "不适用",
]


@lru_cache(maxsize=1)
def _no_input_folded() -> tuple[str, ...]:
    return tuple(normalize_series(pl.Series(_NO_INPUT)).to_list())


def no_input_mask(normalized: pl.Series) -> pl.Series:
    """True where an already normalized input says there is no input ("N/A", "<noinput>", "无", …)."""
    return normalized.str.to_lowercase().str.strip_chars(" .。").is_in(list(_no_input_folded()))


def is_no_input(text: str) -> bool:
    return bool(no_input_mask(normalize_series(pl.Series([text], dtype=pl.Utf8)))[0])


def compose_user(instruction: str, input_text: str) -> str:
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def render_plain(instruction: str, input_text: str, response: str) -> str:
    """The method's plain 'Instruction: …; Response: …' rendering."""
    parts = [f"Instruction: {instruction}"]
    if input_text:
        parts.append(f"Input: {input_text}")
    parts.append(f"Response: {response}")
    return "\n".join(parts)


def plain_columns(instruction: pl.Expr, input_text: pl.Expr, response: pl.Expr) -> dict[str, pl.Expr]:
    """`compose_user` and `render_plain` over columns of non-null text, as {"user": …, "text": …}: a Python
    call per row would cost the cleaning stage a tenth of its normalization time."""
    has_input = input_text != ""
    return {"user": pl.when(has_input).then(pl.concat_str(instruction, pl.lit("\n\n"), input_text))
            .otherwise(instruction),
            "text": pl.concat_str(pl.lit("Instruction: "), instruction,
                                  pl.when(has_input).then(pl.concat_str(pl.lit("\nInput: "), input_text))
                                  .otherwise(pl.lit("")), pl.lit("\nResponse: "), response)}


def markdown_table(df, width: int = 80, floats: int | None = None) -> str:
    """A polars frame as a Markdown pipe table; cells are cut to `width`, finite floats shown with `floats` decimals,
    and markup in them escaped: data is shown as written, never rendered (raw HTML is live in Markdown)."""
    if df.is_empty():
        return "_(no rows)_"

    def cell(v) -> str:
        if floats is not None and isinstance(v, float) and math.isfinite(v):
            return f"{v:.{floats}f}"
        return html.escape(str(v).replace("\n", " ")[:width], quote=False).replace("|", "\\|")

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * df.width]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.iter_rows()]
    return "\n".join(lines)
