"""A JSON reader that yields every record of a file, or says which one it could not parse, where and why.

It reads the layouts sources come in: a JSON array; JSON text with several top-level values (an array followed
by more records, concatenated objects, one array per line), whose arrays' elements and other values are all
records; JSON Lines; and a wrapped document ({"data": [...]}) whose records are under one key.

Each record is parsed where it lies in the file's text, one at a time. A record that does not parse is skipped
by a structural scan that tracks strings and brackets, so one syntax error costs one record, not the rest of the
array. A string cannot hold a raw line break, so an unterminated string ends at its line; a record whose
brackets never balance ends where the next line opens a value at or left of the record's own indentation.
Records nested deeper than `max_depth` are rejected, never handed to a recursive parser again.
"""
from __future__ import annotations

import itertools
import json
import re
from collections.abc import Generator, Iterator
from typing import NamedTuple

from .text_decoding import DecodedText, readable

_SPACE = re.compile(r"[ \t\r\n\ufeff]*")
_SEPARATORS = re.compile(r"[ \t\r\n,]*")  # between array elements and object members (a stray comma is no record)
_INDENT = re.compile(r"[ \t]*")
_TOKENS = re.compile(r'[\[\]{},"\n]')
_STRING_BODY = re.compile(r'(?:[^"\\\n]|\\[^\n])*')
# Parse windows: at least this many characters; a parse error this close to a window's end may be the window's
# doing ("tru" of a cut "true", "\\u00" of a cut escape), so the value is read again in a larger one.
_MIN_WINDOW = 4096
_TRUNCATION_MARGIN = 16
# The parser recurses per level and stops at Python's recursion limit, which leaves it at least this many levels.
_PARSER_DEPTH_FLOOR = 500
# A rejected record keeps this much of its text: enough to see what is wrong, not a runaway rest of the file.
BAD_TEXT_LIMIT = 10_000


class RawRecord(NamedTuple):
    locator: str  # where the record is: "[3]", "data[3]", "value 2[0]", "line 7", "row 4"
    line: int | None
    text: str  # the record's own text (verbatim for JSON); what a rejected record is shown as
    value: object  # the parsed record; None when `error` is set
    error: str | None


class DocumentShapeError(ValueError):
    """The file's layout leaves it unclear which values are the records; `records_key` says which."""


class _Unparsable(Exception):
    def __init__(self, message: str, pos: int):
        super().__init__(message)
        self.message, self.pos = message, pos


def _nesting_exceeds(value, limit: int) -> bool:
    """True when `value` nests containers more than `limit` deep (an object of scalars is depth 1)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _too_deep(text: str, start: int, end: int, value, limit: int) -> bool:
    # Fewer brackets than the limit cannot nest past it: the common case costs two C-speed counts.
    if text.count("{", start, end) + text.count("[", start, end) <= limit:
        return False
    return _nesting_exceeds(value, limit)


def _bad_value_end(text: str, start: int, closer: str | None, indent: int) -> int:
    """Where a value that failed to parse at `start` ends, scanning strings and brackets.

    Inside an array or object (`closer` ']' or '}') that is the ',' or closer at the value's own level; at the
    top level (`closer` None), the end of the line it is on once its brackets balance. If its brackets never
    balance, the value ends before a line that opens a value at column `indent` or left of it.
    """
    n = len(text)
    depth = 0  # brackets open in the value; any closer closes the innermost: "[1, 2}" is one typo, not two
    i = start
    while True:
        m = _TOKENS.search(text, i)
        if m is None:
            return n
        j, ch = m.start(), m.group()
        i = j + 1
        if ch == '"':
            i = _STRING_BODY.match(text, j + 1).end()
            if i < n and text[i] == '"':
                i += 1
            # else: unterminated, ending at its line break (or the end of the file), scanned next
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            if depth:
                depth -= 1
                if not depth and closer is None:
                    return i
            elif ch == closer:
                return j
        elif ch == ",":
            if not depth and closer is not None:
                return j
        elif not depth:  # a line break at the value's own level
            if closer is None and j > start:
                return j
        else:  # a line break inside brackets that never closed: does the next line start the next value?
            k = _INDENT.match(text, i).end()
            if k < n and text[k] in "[{" and k - i <= indent:
                return i


def _drain(records: Generator[RawRecord, None, int], into: list[RawRecord]) -> int:
    """Collect a record generator's records into `into`; returns the generator's return value."""
    while True:
        try:
            into.append(next(records))
        except StopIteration as stop:
            return stop.value


class JsonRecordReader:
    """The records of one decoded JSON or JSON Lines file."""

    def __init__(self, doc: DecodedText, max_depth: int = 64):
        self.doc = doc
        self.text = doc.text
        self.max_depth = max_depth
        self._decode = json.JSONDecoder().raw_decode
        self._window = _MIN_WINDOW
        self._good_column = 0  # column of the last record that parsed

    def records(self, records_key: str | None = None) -> Iterator[RawRecord]:
        """Every record, in file order. Raises DocumentShapeError when the records cannot be told apart."""
        text = self.text
        pos = _SPACE.match(text).end()
        if pos >= len(text):
            return
        if records_key is not None:
            if text[pos] != "{":
                raise DocumentShapeError(f"records_key {records_key!r} is set, so the file should be one JSON object "
                                         f"holding the records under that key, but it starts with {text[pos]!r}")
            yield from self._document(pos, records_key)
        elif text[pos] == "[":
            yield from self._stream(pos, 1)
        elif text[pos] == "{" and not self._starts_as_json_lines(pos):
            yield from self._document(pos, None)
        else:
            yield from self._json_lines()

    # ------------------------------------------------------------------------------------------ layouts
    def _starts_as_json_lines(self, pos: int) -> bool:
        """Whether one of the first two non-blank lines is a whole JSON value on its own (a pretty-printed
        document's lines are not; a JSON Lines file whose first line is broken still has a whole second one)."""
        seen = 0
        while pos < len(self.text) and seen < 2:
            end = self.text.find("\n", pos)
            end = len(self.text) if end < 0 else end
            line = self.text[pos:end].strip()
            if line:
                seen += 1
                try:
                    json.loads(line)
                    return True
                except (ValueError, RecursionError):
                    pass
            pos = end + 1
        return False

    def _stream(self, pos: int, k: int) -> Iterator[RawRecord]:
        """Top-level values from `pos` on, the k-th first: arrays give their elements, other values themselves."""
        text, n = self.text, len(self.text)
        while True:
            pos = _SPACE.match(text, pos).end()
            if pos >= n:
                return
            if text[pos] == "[":
                pos = yield from self._array(pos, "" if k == 1 else f"value {k}")
            else:
                record, pos = self._value(pos, f"value {k}", None)
                yield record
            k += 1

    def _array(self, pos: int, prefix: str) -> Generator[RawRecord, None, int]:
        """The elements of the array whose '[' is at `pos`; returns the position after its ']'."""
        text, n = self.text, len(self.text)
        pos += 1
        i = 0
        while True:
            pos = _SEPARATORS.match(text, pos).end()
            if pos >= n:
                yield RawRecord(f"{prefix}[{i}:]", self.doc.line(n), "", None, "unterminated JSON array (missing ']')")
                return n
            if text[pos] == "]":
                return pos + 1
            record, pos = self._value(pos, f"{prefix}[{i}]", "]")
            if pos >= n and record.error is not None:
                # The bad record ran to the end of the file: it is the rest of the array, said once.
                yield record._replace(locator=f"{prefix}[{i}:]")
                return n
            yield record
            i += 1

    def _document(self, pos: int, records_key: str | None) -> Iterator[RawRecord]:
        """A file that starts with a multi-line object: a wrapped document, one record, or the first of several."""
        text, n = self.text, len(self.text)
        start = pos
        lists: dict[str, list[RawRecord]] = {}
        others: dict[str, str] = {}  # keys whose value is not a list: their JSON type, for error messages
        problems: list[RawRecord] = []
        pos += 1
        for member in itertools.count():
            pos = _SEPARATORS.match(text, pos).end()
            if pos >= n or text[pos] == "}":
                closed = pos < n
                pos += 1
                break
            try:
                key, pos = self._member_key(pos)
            except _Unparsable as bad:
                end = _bad_value_end(text, pos, "}", self._resume_indent(pos))
                problems.append(self._rejected(f"member {member}", pos, end, bad))
                pos = end
                continue
            if pos < n and text[pos] == "[":
                lists[key] = []
                pos = _drain(self._array(pos, key), lists[key])
            else:
                record, pos = self._value(pos, key, "}")
                others[key] = _json_type(record.value) if record.error is None else "value that does not parse"
                if record.error is not None:
                    problems.append(record)
        after = _SPACE.match(text, min(pos, n)).end()
        if records_key is None and (after < n or (problems and not closed)):
            # More values follow (concatenated records, this object the first), or the object is broken outside
            # its lists and never closes (likely JSON Lines whose first lines are broken): read a stream of values.
            yield from self._stream(start, 1)
            return
        key = _records_key(lists, others, records_key)
        if key is None:
            record, _ = self._value(start, "value 1", None)
            yield record
        else:
            yield from problems
            yield from lists[key]
        if after < n:
            yield from self._stream(after, 2)

    def _json_lines(self) -> Iterator[RawRecord]:
        """One record per non-blank line."""
        text, n = self.text, len(self.text)
        start, lineno = 0, 0
        while start <= n:
            end = text.find("\n", start)
            end = n if end < 0 else end
            lineno += 1
            line = text[start:end]
            content = line.lstrip().lstrip("\ufeff").lstrip()
            lead = len(line) - len(content)  # where the content starts in its line
            content = content.rstrip()
            if content:
                yield self._line_record(content, lineno, start + lead, lead)
            start = end + 1

    def _line_record(self, content: str, lineno: int, pos: int, column: int) -> RawRecord:
        locator = f"line {lineno}"
        error = self.doc.bad_bytes_error(pos, pos + len(content)) if self.doc.has_bad_bytes else None
        if error is not None:
            return RawRecord(locator, lineno, readable(content), None, error)
        try:
            value, end = self._decode(content)
            if end != len(content):
                raise json.JSONDecodeError("Extra data", content, end)
        except json.JSONDecodeError as e:
            where = f"line {lineno} column {column + e.pos + 1}, byte offset {self.doc.byte_offset(pos + e.pos)}"
            return RawRecord(locator, lineno, content, None, f"JSON parse error: {e.msg} ({where})")
        except RecursionError:
            return RawRecord(locator, lineno, content[:BAD_TEXT_LIMIT], None, self._depth_message(recursion=True))
        if _too_deep(content, 0, len(content), value, self.max_depth):
            return RawRecord(locator, lineno, content[:BAD_TEXT_LIMIT], None, self._depth_message())
        return RawRecord(locator, lineno, content, value, None)

    # ------------------------------------------------------------------------------------------ one value
    def _value(self, pos: int, locator: str, closer: str | None) -> tuple[RawRecord, int]:
        """The record whose text starts at `pos`, and where the next one may start."""
        line = self.doc.line(pos)
        try:
            value, end = self._parse(pos)
        except _Unparsable as bad:
            end = _bad_value_end(self.text, pos, closer, self._resume_indent(pos))
            return self._rejected(locator, pos, end, bad, line), end
        self._good_column = self.doc.column(pos)
        error = self.doc.bad_bytes_error(pos, end)
        if error is not None:
            return RawRecord(locator, line, readable(self.text[pos:end]), None, error), end
        return RawRecord(locator, line, self.text[pos:end], value, None), end

    def _parse(self, pos: int) -> tuple[object, int]:
        """The value at `pos` and where it ends, parsed in a window of the text a few records long: a parse error
        costs the parser a count of the lines before it, which over the whole text would make each bad record
        cost the whole file read so far."""
        text, n = self.text, len(self.text)
        window = self._window
        while True:
            stop = min(n, pos + window)
            chunk = text[pos:stop]
            try:
                value, end = self._decode(chunk)
            except json.JSONDecodeError as e:
                if stop < n and (e.pos >= len(chunk) - _TRUNCATION_MARGIN or e.msg.startswith("Unterminated string")):
                    window *= 4  # the window may have cut the value: read more before calling it broken
                    continue
                raise _Unparsable(f"JSON parse error: {e.msg}", pos + e.pos) from None
            except RecursionError:
                raise _Unparsable(self._depth_message(recursion=True), pos) from None
            if stop >= n or end < len(chunk) - _TRUNCATION_MARGIN:  # well inside the window, so not cut by it
                break  # (a number cut at "12.|5" parses as 12 and ends right at the cut)
            window *= 4
        self._window = max(_MIN_WINDOW, 4 * end)  # the next record is likely about as long
        end += pos
        if _too_deep(text, pos, end, value, self.max_depth):
            raise _Unparsable(self._depth_message(), pos)
        return value, end

    def _member_key(self, pos: int) -> tuple[str, int]:
        """An object member's key and the position of its value."""
        text = self.text
        if text[pos] != '"':
            raise _Unparsable("JSON parse error: Expecting property name enclosed in double quotes", pos)
        key, pos = self._parse(pos)
        pos = _SPACE.match(text, pos).end()
        if pos >= len(text) or text[pos] != ":":
            raise _Unparsable("JSON parse error: Expecting ':' delimiter", pos)
        return key, _SPACE.match(text, pos + 1).end()

    def _resume_indent(self, pos: int) -> int:
        # The next value is at most as indented as the bad one, or as the last good one (a stray character can
        # shift the bad value's start left of its siblings).
        return max(self.doc.column(pos), self._good_column)

    def _depth_message(self, recursion: bool = False) -> str:
        if recursion and self.max_depth >= _PARSER_DEPTH_FLOOR:
            return f"nested deeper than the JSON parser can follow (Python's recursion limit), within max_depth " \
                   f"({self.max_depth})"
        return f"nested deeper than max_depth ({self.max_depth} levels of objects and arrays)"

    def _rejected(self, locator: str, start: int, end: int, bad: _Unparsable, line: int | None = None) -> RawRecord:
        text = self.text[start:end].rstrip()
        # Undecodable bytes explain a syntax error better than the parser's message does.
        message = self.doc.bad_bytes_error(start, end) or (
            f"{bad.message} (line {self.doc.line(bad.pos)} column {self.doc.column(bad.pos) + 1}, "
            f"byte offset {self.doc.byte_offset(bad.pos)})")
        if len(text) > BAD_TEXT_LIMIT:
            message += f"; the record's text is cut to its first {BAD_TEXT_LIMIT} of {len(text)} characters"
            text = text[:BAD_TEXT_LIMIT]
        return RawRecord(locator, line if line is not None else self.doc.line(start), readable(text), None, message)


def _json_type(value) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _records_key(lists: dict[str, list], others: dict[str, str], records_key: str | None) -> str | None:
    """Which list holds the records: `records_key`, else the only list-valued key; None: the object is one record."""
    if records_key is not None:
        if records_key in lists:
            return records_key
        if records_key in others:
            raise DocumentShapeError(f"records_key {records_key!r} holds a JSON {others[records_key]}, not a list "
                                     "of records")
        keys = ", ".join(repr(k) for k in [*lists, *others]) or "none"
        raise DocumentShapeError(f"records_key {records_key!r} is not a key of the document (its keys: {keys})")
    if len(lists) > 1:
        keys = ", ".join(repr(k) for k in lists)
        raise DocumentShapeError(f"the document has several list-valued keys ({keys}); set records_key to the one "
                                 "that holds the records")
    return next(iter(lists), None)
