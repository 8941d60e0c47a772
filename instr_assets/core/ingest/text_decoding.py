"""Source bytes to text: a declared encoding or a detected byte-order mark, with undecodable bytes kept and marked.

Undecodable bytes never stop a read. Each one becomes a lone low surrogate (U+DC00 + the byte), a character
that no valid decoding produces, so a reader can reject exactly the records that hold one and say at which byte
offset. `DecodedText` also turns a character position back into its line and byte offset.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from .source_config import SourceConfigError

_MARK_ERRORS = "instr_assets.mark_bad_bytes"
_UNMARK_ERRORS = "instr_assets.unmark_bad_bytes"
_MARK = re.compile("[\udc00-\udcff]")


def _mark_bad_bytes(err: UnicodeDecodeError) -> tuple[str, int]:
    return "".join(chr(0xDC00 + b) for b in err.object[err.start:err.end]), err.end


def _unmark_bad_bytes(err: UnicodeEncodeError) -> tuple[bytes, int]:
    marks = err.object[err.start:err.end]
    if not all("\udc00" <= ch <= "\udcff" for ch in marks):
        raise err
    return bytes(ord(ch) - 0xDC00 for ch in marks), err.end


codecs.register_error(_MARK_ERRORS, _mark_bad_bytes)
codecs.register_error(_UNMARK_ERRORS, _unmark_bad_bytes)

# Longest first: the UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))


@dataclass
class DecodedText:
    """A source file's text. `codec` re-encodes any slice of it to the file's bytes (the BOM excluded)."""

    text: str
    codec: str
    bom_len: int = 0
    has_bad_bytes: bool = False
    # The last position asked for and what it gave (line and line start; byte offset): readers ask in increasing
    # order, so each count covers only the text since the previous one.
    _line_at: tuple[int, int, int] = field(default=(0, 1, 0), repr=False)
    _byte_at: tuple[int, int] = field(default=(0, 0), repr=False)

    def _line_and_start(self, pos: int) -> tuple[int, int]:
        last, line, line_start = self._line_at if pos >= self._line_at[0] else (0, 1, 0)
        newlines = self.text.count("\n", last, pos)
        if newlines:
            line += newlines
            line_start = self.text.rfind("\n", last, pos) + 1
        self._line_at = (pos, line, line_start)
        return line, line_start

    def line(self, pos: int) -> int:
        """1-based line of character position `pos`."""
        return self._line_and_start(pos)[0]

    def column(self, pos: int) -> int:
        """0-based column of character position `pos` in its line."""
        return pos - self._line_and_start(pos)[1]

    def byte_offset(self, pos: int) -> int:
        """Offset in the file (BOM included) of the first byte of character position `pos`."""
        last, size = self._byte_at if pos >= self._byte_at[0] else (0, 0)
        size += len(self.text[last:pos].encode(self.codec, _UNMARK_ERRORS))
        self._byte_at = (pos, size)
        return self.bom_len + size

    def first_bad_byte(self, start: int, end: int) -> int | None:
        """Character position of the first undecodable byte in text[start:end], None if there is none."""
        if not self.has_bad_bytes:
            return None
        m = _MARK.search(self.text, start, end)
        return m.start() if m else None

    def bad_bytes_error(self, start: int, end: int) -> str | None:
        """'invalid <codec> at byte offset N (line L)' for the first undecodable byte in text[start:end]."""
        pos = self.first_bad_byte(start, end)
        if pos is None:
            return None
        label = "UTF-8" if self.codec == "utf-8" else self.codec
        return f"invalid {label} at byte offset {self.byte_offset(pos)} (line {self.line(pos)})"


def readable(text: str) -> str:
    """`text` with each undecodable byte shown as U+FFFD, for storing a rejected record."""
    return _MARK.sub("\ufffd", text)


def _bom_of(data: bytes) -> tuple[bytes, str] | None:
    return next(((bom, codec) for bom, codec in _BOMS if data.startswith(bom)), None)


def _undeclared_codec(data: bytes) -> tuple[str, int]:
    bom = _bom_of(data)
    if bom is not None:
        return bom[1], len(bom[0])
    # No mark: text that starts with an ASCII character (as JSON and CSV headers do) shows UTF-16 by its zero bytes.
    if len(data) >= 2 and data[0] and not data[1]:
        return "utf-16-le", 0
    if len(data) >= 2 and not data[0] and data[1]:
        return "utf-16-be", 0
    return "utf-8", 0


def _declared_codec(data: bytes, declared: str, where: str) -> tuple[str, int]:
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        raise SourceConfigError(f"{where}: unknown encoding {declared!r}") from None
    name = {"utf-8-sig": "utf-8"}.get(name, name)
    bom = _bom_of(data)
    if bom is None:
        # Python reads a BOM-less 'utf-16' in the machine's byte order; say which, so offsets re-encode alike.
        return {"utf-16": "utf-16-le", "utf-32": "utf-32-le"}.get(name, name), 0
    mark, bom_codec = bom
    if name in (bom_codec, bom_codec[:-3]):  # 'utf-16' and 'utf-16-le' both accept the UTF-16-LE mark
        return bom_codec, len(mark)
    raise SourceConfigError(f"{where}: declared {declared!r}, but the file starts with a {bom_codec} "
                            "byte-order mark")


def decode(data: bytes, declared: str | None, where: str) -> DecodedText:
    """The text of a source file. `where` ("source 'x': field 'encoding': <file>") prefixes a bad declaration's
    error."""
    codec, bom_len = _declared_codec(data, declared, where) if declared else _undeclared_codec(data)
    body = memoryview(data)[bom_len:] if bom_len else data
    try:
        return DecodedText(codecs.decode(body, codec), codec, bom_len)
    except UnicodeDecodeError:
        return DecodedText(codecs.decode(body, codec, _MARK_ERRORS), codec, bom_len, has_bad_bytes=True)
