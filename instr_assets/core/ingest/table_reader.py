"""Readers for tables: strict CSV/TSV and Parquet, one RawRecord per row, each row parsed or rejected with why.

CSV is read strictly: the delimiter is sniffed from the header line (a .tsv file uses tabs), a header that names
a column twice is refused, and a row whose field count differs from the header's is rejected. An unterminated
quote would otherwise swallow the rows after it into one field: the row where such a quote opens is rejected,
naming its line, and reading starts again on the line after it, so the rows that follow are kept.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path

import polars as pl

from .json_reader import RawRecord
from .text_decoding import DecodedText, readable

SNIFFED_DELIMITERS = (",", "\t", ";", "|")  # in order of preference when a header splits equally on several


class TableShapeError(ValueError):
    """A table whose header makes every row ambiguous."""


class _Lines:
    """The physical lines of a text, for csv.reader, with a position that can be moved back to re-read."""

    def __init__(self, text: str):
        self.lines = io.StringIO(text, newline="").readlines()
        self.next = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        i = self.next
        if i >= len(self.lines):
            raise StopIteration
        self.next = i + 1
        return self.lines[i]


def sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter that splits the header into the most fields (',' when none splits it)."""
    counts = {d: len(next(csv.reader([header_line], delimiter=d), [])) for d in SNIFFED_DELIMITERS}
    return max(SNIFFED_DELIMITERS, key=lambda d: (counts[d], -SNIFFED_DELIMITERS.index(d)))


def _checked_header(fields: list[str]) -> list[str]:
    repeated = [name for name, count in Counter(fields).items() if count > 1]
    if repeated:
        where = "; ".join(f"{name!r} is column " + " and ".join(str(i + 1) for i, f in enumerate(fields) if f == name)
                          for name in repeated)
        raise TableShapeError(f"the CSV header names a column more than once ({where}); rename one so that each "
                              "column is read")
    return fields


def csv_records(doc: DecodedText, delimiter: str | None = None) -> Iterator[RawRecord]:
    """Every data row of a CSV/TSV text as {column: field}; `delimiter` None sniffs it from the header."""
    src = _Lines(doc.text)
    lines = src.lines
    first = next((i for i, line in enumerate(lines) if line.strip("\r\n")), None)
    if first is None:
        return
    delimiter = delimiter or sniff_delimiter(lines[first])
    try:
        header = _checked_header(next(csv.reader([lines[first]], delimiter=delimiter, strict=True), []))
    except csv.Error as e:
        raise TableShapeError(f"the CSV header on line {first + 1} does not parse: {e}") from None
    starts = [0, *accumulate(map(len, lines))]  # character position of each line
    src.next = first + 1
    reader = csv.reader(src, delimiter=delimiter, strict=True)
    row = 0
    while True:
        start = src.next
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            error = (f"unterminated quoted field: the quote opened on line {start + 1} is never closed"
                     if "unexpected end of data" in str(e) else
                     f"CSV error in the row starting on line {start + 1}: {e}")
            fields = None
        else:
            error = _field_count_error(fields, len(header))
        if fields == []:
            continue  # a blank line
        row += 1
        locator, end = f"row {row}", src.next
        if fields is None or (error and end - start > 1):
            # A bad row over several lines is an unterminated quote, or paired with a later one: reject its first
            # line and read on from the next, so that the rows it swallowed are read again.
            end = start + 1
            src.next, reader = end, csv.reader(src, delimiter=delimiter, strict=True)
            if fields is not None:
                error += (f"; a quoted field opened on line {start + 1} runs over the lines after it: probably an "
                          "unterminated quote (those lines are read again)")
        text = "".join(lines[start:end]).rstrip("\r\n")
        error = doc.bad_bytes_error(starts[start], starts[end]) or error
        if error is not None:
            yield RawRecord(locator, start + 1, readable(text), None, error)
        else:
            record = dict(zip(header, fields))
            yield RawRecord(locator, start + 1, json.dumps(record, ensure_ascii=False), record, None)


def _field_count_error(fields: list[str], expected: int) -> str | None:
    if not fields or len(fields) == expected:
        return None
    side = "more" if len(fields) > expected else "fewer"
    return f"row has {len(fields)} fields, {side} fields than the header ({expected})"


class _BinaryValue(TypeError):
    pass


def _json_cell(value):
    """json.dumps default for Parquet cells: dates and decimals as text; bytes refused."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise _BinaryValue()
    return str(value)


def _holds_bytes(value) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, dict):
        return any(_holds_bytes(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_bytes(v) for v in value)
    return False


def _shown(value):
    return f"<{len(value)} bytes>" if isinstance(value, (bytes, bytearray, memoryview)) else str(value)


def row_record(locator: str, record: dict) -> RawRecord:
    """One table row (Parquet, Arrow) as a record; a row with a binary cell is rejected, naming the column."""
    try:
        return RawRecord(locator, None, json.dumps(record, ensure_ascii=False, default=_json_cell), record, None)
    except _BinaryValue:
        columns = [repr(k) for k, v in record.items() if _holds_bytes(v)]
        return RawRecord(locator, None, json.dumps(record, ensure_ascii=False, default=_shown), None,
                         f"binary data in column{'s' * (len(columns) > 1)} {', '.join(columns)}: expected text, "
                         "found bytes")


def parquet_records(path: Path) -> Iterator[RawRecord]:
    """Every row of a Parquet file."""
    for i, record in enumerate(pl.read_parquet(path).iter_rows(named=True)):
        yield row_record(f"row {i}", record)
