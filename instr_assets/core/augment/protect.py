"""What an operator must leave as it is: spans of an instruction that carry content rather than the request.

Protected are code (backtick spans and fenced blocks, and tokens shaped like code: snake_case, dotted.names,
calls(), operators), anything with a digit, quoted text (straight and curly quotes, 「」《》), and the material a
task operates on when it is written into the instruction: everything after the first line break or after a
colon that introduces it ("Classify the following sentence: …"). The `input` field and the response are never
edited at all, and rows of verifiable tasks (a computed reference answer) are not augmented.
"""
from __future__ import annotations

import re

_SPANS = [
    re.compile(r"```.*?(?:```|$)", re.S),  # fenced code, or an unclosed fence to the end
    re.compile(r"`[^`\n]*`"),
    re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|‘[^’\n]*’|「[^」\n]*」|『[^』\n]*』|《[^》\n]*》|«[^»\n]*»"),
    re.compile(r"(?<![A-Za-z])'[^'\n]{1,200}'(?![A-Za-z])"),  # 'quoted', not an apostrophe in don't
    re.compile(r"\S*\d\S*"),  # numbers, dates, versions, ids
    re.compile(r"\S*(?:[_=<>{}\[\]\\|^~#$@*/+]|\w\.\w|\w\(\)?)\S*"),  # code-shaped tokens, URLs, e-mails
]
# The request ends where the material it acts on begins: a line break, or a colon followed by text.
_MATERIAL = re.compile(r"\n|[:：](?=\s*\S)")


def editable_end(instruction: str) -> int:
    """Where the request part of an instruction ends; what follows is the material and is never edited."""
    m = _MATERIAL.search(instruction)
    return m.start() if m else len(instruction)


def protected_mask(instruction: str) -> list[bool]:
    """Per character: True where no operator may change it."""
    mask = [False] * len(instruction)
    end = editable_end(instruction)
    for i in range(end, len(instruction)):
        mask[i] = True
    for pattern in _SPANS:
        for m in pattern.finditer(instruction):
            for i in range(m.start(), m.end()):
                mask[i] = True
    return mask


def is_protected(mask: list[bool], start: int, end: int) -> bool:
    return any(mask[start:end])
