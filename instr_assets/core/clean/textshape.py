"""What kind of text a line is: code, markup, a table row, a list item, or prose.

The quality filters and language identification judge natural-language prose. Code, markup and tables follow
other rules (they repeat, lack final punctuation and are not English or German), so these helpers find them
and hand back the prose part. Heuristics over single lines, cheap enough for every row: keywords that start
a statement, statement endings, a high share of code symbols.
"""
from __future__ import annotations

import re

FENCED_CODE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.S)
INLINE_CODE = re.compile(r"`[^`\n]+`")

_CODE_START = re.compile(
    r"\s*(?:(?:def|class|import|return|elif|except|lambda|yield|raise|async|await|var|let|const|function|public|"
    r"private|protected|static|void|package|func|fn|impl|struct|enum|namespace|using|typedef|template|"
    r"include|echo|sudo|pip|npm|git|cd|ls|mkdir|export|SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH)\b"
    r"(?![.,!?]?\s*$)"  # a lone keyword ("Return.") is prose
    r"|from\s+[\w.]+\s+import\b|\\[A-Za-z]+|#include|#define|#!|//|/\*|\*/|<\?php|\$\s|>>>"
    r"|(?:if|for|while|else|try|with|switch|case)\b[^.!?]*[:{]\s*$"  # block openers
    r"|[\w.$\[\]'\"]+(?:\s*,\s*[\w.$\[\]'\"]+)*\s*(?:[-+*/%|&^]|//|\*\*|<<|>>)?=(?!=)\s*\S"  # assignment
    r"|[\w.$]+\([^()]*(?:\([^()]*\)[^()]*)*\)\s*;?\s*$"  # a call on its own line
    r"|@\w+(?:\.\w+)*(?:\(.*\))?\s*$"  # a decorator
    r"|[]})]+[;,)]*\s*$|[{[(]\s*$"  # lone brackets
    r"|\"[^\"]*\"\s*:\s*\S)",  # a JSON member
)
# A statement's end; a bare ";" also ends lines of verse, so it needs a code symbol before it.
_CODE_END = re.compile(r"(?:\{|[)\]=\d\"'];|\)\s*\{|=>)\s*$")
_CODE_SYMBOLS = re.compile(r"[{}\[\]()<>=;$\\^~`]|::|->|&&|\|\|")
# Tags in lower case, as HTML and XML are written today: <NAME> and <YOUR NAME> are template slots instead.
_MARKUP = re.compile(r"\s*</?[a-z][\w:.-]*(?:\s[^<>]*)?/?>|\s*<!--|\s*<!DOCTYPE")
# Markdown or pipe tables, tab-separated rows, and CSV rows (two commas or more, none followed by a space as in
# prose enumerations).
_TABLE_ROW = re.compile(r"\s*\|.*\||[^|\n]*\|[^|\n]*\|[^|\n]*|[^\t\n]*\t[^\t\n]*\t|(?![^\n]*, )[^,\n]+,[^,\n]*,")
LIST_ITEM = re.compile(
    r"\s*(?:[-*+•·▪●○◦–—]\s|\d{1,3}\s*(?:[.)、:：]|-(?!\d))|[(（]\d{1,3}[)）]|[A-Za-z][.)]\s|[ivxIVX]{1,4}[.)]\s"
    r"|[①-⑳]|[一二三四五六七八九十]{1,3}[、.．]|第[一二三四五六七八九十\d]{1,3}[步章节条点部]|#{1,6}\s|>)")


# Text of characters whose letter-or-digit status and lower case Python's re and polars' regex engine agree on
# without consulting their (differently dated) Unicode tables: ASCII, Han, and CJK, full-width and general
# punctuation, common symbols, arrows, math operators, box drawing and emoji (none of them letters, digits or
# connectors, none with a case). Vectorized twins of per-row checks hold there.
PLAIN_TEXT = (r"^[\x00-\x7f\u4e00-\u9fff\u3000-\u3003\u3008-\u3011\u3014-\u301f\uff01-\uff0f\uff1a-\uff20"
              r"\uff3b-\uff40\uff5b-\uff65\u2010-\u2027\u2030-\u203e\u00a7\u00a9\u00ab\u00ae\u00b0\u00b1\u00b6\u00b7"
              r"\u00bb\u00d7\u00f7\u2103\u2109\u2190-\u21ff\u2200-\u22ff\u2500-\u25ff\u2600-\u26ff\ufe30-\ufe32"
              r"\ufe35-\ufe4c\U0001f300-\U0001f5ff\U0001f600-\U0001f64f\U0001f680-\U0001f6ff\U0001f900-\U0001f9ff]*$")


# Code, markup and tables show one of these symbols somewhere, or "):" (a block opener), or commas in CSV
# style. Text without any is all prose; looking costs a few scans in C instead of a regex per line.
_CODE_CHARS = "`{}[]=;<>|$#@\\~"
# CSV rows: commas without the space that follows them in prose.
_CSV_HINT = re.compile(r"[^\s,],[^\s,]+,[^\s,]")


def _may_have_code(text: str) -> bool:
    return (any(c in text for c in _CODE_CHARS) or "):" in text
            or ("," in text and bool(_CSV_HINT.search(text))))


def is_code_line(line: str) -> bool:
    """True for a line that reads as source code, a shell command, JSON or markup rather than prose."""
    stripped = line.strip()
    if not stripped:
        return False
    if _CODE_START.match(line) or _CODE_END.search(stripped) or _MARKUP.match(line):
        return True
    symbols = len(_CODE_SYMBOLS.findall(stripped))
    # Regexes and expressions: many code symbols and few plain words.
    return symbols >= 4 and symbols >= 0.15 * len(stripped)


def is_table_row(line: str) -> bool:
    return bool(_TABLE_ROW.match(line))


def strip_code(text: str) -> str:
    """`text` without fenced or inline code (an unclosed fence runs to the end)."""
    if "`" not in text and "~~~" not in text:
        return text
    return INLINE_CODE.sub(" ", FENCED_CODE.sub("\n", text))


def prose(text: str, tables: bool = False) -> str:
    """The prose lines of `text`: no fenced or inline code, code or markup lines, or table rows (kept with
    `tables`: their cells are words too); inline tags of markup are dropped too."""
    if not _may_have_code(text):
        return text
    lines = [ln for ln in strip_code(text).split("\n")
             if not (is_code_line(ln) or (not tables and is_table_row(ln)))]
    out = "\n".join(lines)
    return _MARKUP.sub(" ", out) if "<" in out else out


def without_lookarounds(pattern: str) -> str:
    """`pattern` with its lookaround groups cut out: they only narrow a match, so the rest matches a superset,
    in a form polars' regex engine (which has no lookaround) accepts."""
    out, i = [], 0
    while i < len(pattern):
        m = re.compile(r"\(\?<?[=!]").match(pattern, i)
        if m and (i == 0 or pattern[i - 1] != "\\"):
            depth, i = 1, m.end()
            while depth:
                depth += {"(": 1, ")": -1}.get(pattern[i], 0) if pattern[i - 1] != "\\" else 0
                i += 1
            continue
        out.append(pattern[i])
        i += 1
    return "".join(out)
