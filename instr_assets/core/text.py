"""Text helpers shared by stages: script-based language guess, normalization, prompt rendering."""
from __future__ import annotations

import html
import math
import re
import unicodedata

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


_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_MANY_NEWLINES = re.compile(r"\n{3,}")


_INDENT = re.compile(r"^[ \t]*")


def _tidy_line(line: str) -> str:
    # Leading indentation is kept: code in responses depends on it.
    indent = _INDENT.match(line).group(0)
    return indent + _SPACES.sub(" ", line[len(indent):]).rstrip()


def normalize_text(text: str) -> str:
    """NFKC, HTML entities decoded, control and zero-width characters removed, whitespace tidied."""
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    lines = [_tidy_line(ln) for ln in text.split("\n")]
    return _MANY_NEWLINES.sub("\n\n", "\n".join(lines)).strip()


_NO_INPUT = {
    "", "none", "n/a", "na", "nil", "null", "no input", "noinput", "<noinput>", "<no input>", "(none)", "-",
    "无", "无输入", "<无输入>", "（无）", "(无)", "没有输入", "无需输入", "空", "不适用",
}


def is_no_input(text: str) -> bool:
    t = normalize_text(text).lower().strip(" .。")
    return t in _NO_INPUT


def compose_user(instruction: str, input_text: str) -> str:
    return f"{instruction}\n\n{input_text}" if input_text else instruction


def render_plain(instruction: str, input_text: str, response: str) -> str:
    """The method's plain 'Instruction: …; Response: …' rendering."""
    parts = [f"Instruction: {instruction}"]
    if input_text:
        parts.append(f"Input: {input_text}")
    parts.append(f"Response: {response}")
    return "\n".join(parts)


def markdown_table(df, width: int = 80, floats: int | None = None) -> str:
    """A polars frame as a Markdown pipe table; cells are cut to `width`, finite floats shown with `floats` decimals."""
    if df.is_empty():
        return "_(no rows)_"

    def cell(v) -> str:
        if floats is not None and isinstance(v, float) and math.isfinite(v):
            return f"{v:.{floats}f}"
        return str(v).replace("|", "\\|").replace("\n", " ")[:width]

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * df.width]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.iter_rows()]
    return "\n".join(lines)
