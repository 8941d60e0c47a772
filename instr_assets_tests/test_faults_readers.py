"""Faults in source files: the readers read every record or say which one they could not, where and why.

One syntax error in a JSON array costs one record, reported with its line and byte offset; JSON text with several
top-level values keeps them all; a wrapped document is read by its `records_key`, never by a guess; deep nesting,
an unterminated CSV quote, a repeated CSV header, a declared or detected encoding and a binary Parquet cell each
give a rejected row with its reason, or a config error that names the source and the file.
"""
import json
import re
from pathlib import Path

import polars as pl
import pytest

from instr_assets.core.ingest import source_config as sc
from instr_assets.core.ingest.raw_sources import read_source
from instr_assets.core.ingest.unify import unify


def read(tmp_path: Path, fmt: str, filename: str, data: bytes, extra: str = ""):
    """(raw, unified, rejected) of one source reading `data`; every raw record lands on exactly one side."""
    (tmp_path / filename).write_bytes(data)
    yaml_path = tmp_path / f"{filename}.yaml"
    yaml_path.write_text(f"sources:\n  - name: src\n    format: {fmt}\n    path: {filename}\n{extra}", encoding="utf-8")
    entries, base = sc.load_sources(yaml_path)
    raw = read_source(entries[0], base)
    unified, rejected = unify(raw, {e.name: json.loads(e.model_dump_json()) for e in entries})
    assert raw.height == unified.height + rejected.height
    assert set(unified["raw_id"]) | set(rejected["raw_id"]) == set(raw["raw_id"])
    return raw, unified, rejected


def alpaca(i: int) -> dict:
    return {"instruction": f"说出数字 {i}。", "input": "", "output": f"{i}"}


def byte_offset(detail: str) -> int:
    return int(re.search(r"byte offset (\d+)", detail).group(1))


# ------------------------------------------------------------------------------------------ JSON arrays
DAMAGES = {
    "missing comma": ('"input": "",', '"input": ""'),
    "unterminated string": ('"input": "",', '"input": ",'),
    "missing closing brace": ('"output": "500"\n  }', '"output": "500"\n'),
    "bracket typo": ('"input": "",', '"input": [1, 2},'),
    "bare word": ('"input": "",', '"input": none,'),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_one_syntax_error_in_a_1000_record_array_costs_one_record(tmp_path, damage):
    text = json.dumps([alpaca(i) for i in range(1000)], indent=2, ensure_ascii=False)
    start = text.rindex("{", 0, text.index('"说出数字 500。"'))
    end = text.index("{", text.index('"说出数字 501。"') - 40)
    old, new = DAMAGES[damage]
    text = text[:start] + text[start:end].replace(old, new, 1) + text[end:]
    data = text.encode("utf-8")
    raw, unified, rejected = read(tmp_path, "alpaca", "big.json", data)
    assert raw.height == 1000 and unified.height == 999
    assert unified["instruction"].to_list() == [f"说出数字 {i}。" for i in range(1000) if i != 500]
    bad = rejected.row(0, named=True)
    assert (bad["locator"], bad["reason"]) == ("[500]", "parse_error")
    assert bad["line"] == text.count("\n", 0, start) + 1
    assert bad["detail"].startswith("JSON parse error")
    # The byte offset the error names lies inside the damaged record (the text is not ASCII: bytes, not chars).
    first_byte = len(text[:start].encode("utf-8"))
    last_byte = len(text[:text.index("{", text.index('"说出数字 501。"') - 40)].encode("utf-8"))
    assert first_byte <= byte_offset(bad["detail"]) <= last_byte
    bad_record = raw.filter(pl.col("locator") == "[500]")["record"][0]
    assert bad_record.startswith('{\n    "instruction": "说出数字 500。"')


def test_an_array_followed_by_more_records_and_json_lines_starting_with_an_array(tmp_path):
    lines = [json.dumps(alpaca(i), ensure_ascii=False) for i in range(5)]
    array_then_lines = ("[" + ", ".join(lines[:2]) + "]\n" + "\n".join(lines[2:]) + "\n").encode()
    raw, unified, _ = read(tmp_path, "alpaca", "array_then_lines.json", array_then_lines)
    assert unified["instruction"].to_list() == [f"说出数字 {i}。" for i in range(5)]
    assert raw["locator"].to_list() == ["[0]", "[1]", "value 2", "value 3", "value 4"]
    assert raw["line"].to_list() == [1, 1, 2, 3, 4]
    # JSON Lines whose first line is an array, and an array on a later line of such a file.
    lines_with_arrays = ("[" + lines[0] + "]\n" + lines[1] + "\n[" + lines[2] + ", " + lines[3] + "]\n").encode()
    raw, unified, _ = read(tmp_path, "alpaca", "first_line_array.jsonl", lines_with_arrays)
    assert unified["instruction"].to_list() == [f"说出数字 {i}。" for i in range(4)]
    # Pretty-printed objects one after another.
    pretty = "\n".join(json.dumps(alpaca(i), indent=2, ensure_ascii=False) for i in range(3)).encode()
    raw, unified, _ = read(tmp_path, "alpaca", "concatenated.json", pretty)
    assert unified["instruction"].to_list() == [f"说出数字 {i}。" for i in range(3)]
    # JSON Lines whose first two lines are both broken is still read line by line after them.
    broken_start = ('{"instruction": "cut\n' + '"output": 1}}\n' + "\n".join(lines[2:]) + "\n").encode()
    raw, unified, rejected = read(tmp_path, "alpaca", "broken_start.jsonl", broken_start)
    assert unified["instruction"].to_list() == [f"说出数字 {i}。" for i in range(2, 5)]
    assert rejected["reason"].to_list() == ["parse_error"] * rejected.height and rejected.height >= 1


# ------------------------------------------------------------------------------------------ wrapped documents
def test_a_wrapped_document_is_read_by_records_key_not_by_a_guess(tmp_path):
    doc = {"tags": ["qa", "zh"], "data": [alpaca(0), alpaca(1), alpaca(2)]}
    data = json.dumps(doc, indent=2, ensure_ascii=False).encode()
    with pytest.raises(sc.SourceConfigError, match=r"source 'src': field 'records_key': .*wrapped.json: the document "
                                                   r"has several list-valued keys \('tags', 'data'\)"):
        read(tmp_path, "alpaca", "wrapped.json", data)
    raw, unified, rejected = read(tmp_path, "alpaca", "wrapped.json", data, "    records_key: data\n")
    assert raw["locator"].to_list() == ["data[0]", "data[1]", "data[2]"] and rejected.height == 0
    # One bad record inside the document is one rejected row.
    broken = data.replace('"说出数字 1。",'.encode(), '"说出数字 1。"'.encode())
    raw, unified, rejected = read(tmp_path, "alpaca", "broken.json", broken, "    records_key: data\n")
    assert unified["instruction"].to_list() == ["说出数字 0。", "说出数字 2。"]
    assert rejected.select("locator", "reason").rows() == [("data[1]", "parse_error")]
    with pytest.raises(sc.SourceConfigError, match=r"records_key 'items' is not a key of the document \(its keys: "
                                                   r"'tags', 'data'\)"):
        read(tmp_path, "alpaca", "wrapped.json", data, "    records_key: items\n")
    # A SQuAD file whose data is null says so, instead of a TypeError.
    with pytest.raises(sc.SourceConfigError, match=r"records_key 'data' holds a JSON null, not a list of records"):
        read(tmp_path, "squad", "squad_null.json", json.dumps({"version": "1", "data": None}, indent=1).encode())


# ------------------------------------------------------------------------------------------ nesting depth
def test_deep_nesting_is_one_rejected_record_not_a_recursion_error(tmp_path):
    deep = b"[" * 100_000 + b"]" * 100_000
    lines = [json.dumps(alpaca(0)).encode(), deep, json.dumps(alpaca(2)).encode()]
    raw, unified, rejected = read(tmp_path, "alpaca", "deep.jsonl", b"\n".join(lines))
    assert unified["line"].to_list() == [1, 3]
    assert rejected.select("line", "reason").rows() == [(2, "parse_error")]
    assert rejected["detail"][0].startswith("nested deeper than max_depth (64 levels")
    # In an array the limit is the entry's max_depth: 70 levels are refused by default and read under 100.
    seventy = {"instruction": "Deep?", "input": "", "output": "yes", "meta": json.loads("[" * 69 + "]" * 69)}
    data = json.dumps([alpaca(0), seventy, alpaca(2)]).encode()
    raw, unified, rejected = read(tmp_path, "alpaca", "seventy.json", data)
    assert rejected.select("locator", "reason").rows() == [("[1]", "parse_error")]
    assert "nested deeper than max_depth" in rejected["detail"][0]
    raw, unified, rejected = read(tmp_path, "alpaca", "seventy.json", data, "    max_depth: 100\n")
    assert unified.height == 3 and rejected.height == 0


# ------------------------------------------------------------------------------------------ CSV / TSV
CSV_SOURCE = "    columns: {instruction: q, response: a}\n"


@pytest.mark.parametrize("quoted_row", ['"What is x?,x is y', '"What is x?,x is "y"'])
def test_an_unterminated_csv_quote_rejects_its_row_and_keeps_the_rows_after_it(tmp_path, quoted_row):
    data = f"q,a\nfirst,one\n{quoted_row}\nnext,two\nlast,three\n".encode()
    raw, unified, rejected = read(tmp_path, "tabular", "quote.csv", data, CSV_SOURCE)
    assert unified.select("instruction", "response").rows() == [("first", "one"), ("next", "two"), ("last", "three")]
    bad = rejected.row(0, named=True)
    assert (bad["locator"], bad["line"], bad["reason"]) == ("row 2", 3, "parse_error")
    assert "line 3" in bad["detail"]
    assert raw.filter(pl.col("locator") == "row 2")["record"][0] == quoted_row


def test_a_repeated_csv_header_is_refused_naming_the_column(tmp_path):
    with pytest.raises(sc.SourceConfigError, match=r"source 'src'.*dup.csv.*names a column more than once "
                                                   r"\('a' is column 2 and 3\)"):
        read(tmp_path, "tabular", "dup.csv", b"q,a,a\nWhy?,first,second\n", CSV_SOURCE)


def test_csv_delimiter_is_sniffed_and_tsv_is_read(tmp_path):
    semicolons = 'q;a\n"Hallo; Welt?";ja\nzwei;nein\n'.encode()
    _, unified, rejected = read(tmp_path, "tabular", "semi.csv", semicolons, CSV_SOURCE)
    assert unified.select("instruction", "response").rows() == [("Hallo; Welt?", "ja"), ("zwei", "nein")]
    tabs = "q\ta\nWhat is 2, 3?\ttwo, three\n".encode()
    _, unified, _ = read(tmp_path, "tabular", "tabs.tsv", tabs, CSV_SOURCE)
    assert unified.select("instruction", "response").rows() == [("What is 2, 3?", "two, three")]
    # A row with fewer fields than the header is rejected, not padded with nulls.
    _, unified, rejected = read(tmp_path, "tabular", "short.csv", b"q,a,extra\nWhy?,Because.\n", CSV_SOURCE)
    assert unified.height == 0 and "row has 2 fields, fewer fields than the header (3)" in rejected["detail"][0]


# ------------------------------------------------------------------------------------------ encodings
def test_declared_and_detected_encodings(tmp_path):
    records = [alpaca(i) for i in range(3)]
    utf16 = json.dumps(records, ensure_ascii=False).encode("utf-16")  # with its byte-order mark
    _, unified, rejected = read(tmp_path, "alpaca", "bom16.json", utf16)
    assert unified["instruction"].to_list() == [r["instruction"] for r in records] and rejected.height == 0
    no_bom = json.dumps(records, ensure_ascii=False).encode("utf-16-be")
    _, unified, _ = read(tmp_path, "alpaca", "be16.json", no_bom)
    assert unified.height == 3
    csv16 = "q,a\n为什么天是蓝的？,瑞利散射。\n".encode("utf-16")
    _, unified, _ = read(tmp_path, "tabular", "zh16.csv", csv16, CSV_SOURCE + "    encoding: utf-16\n")
    assert unified.select("instruction", "response").rows() == [("为什么天是蓝的？", "瑞利散射。")]
    # GBK declared; one line holds a byte GBK cannot decode: that record is rejected, naming its exact offset.
    lines = [json.dumps(r, ensure_ascii=False).encode("gbk") for r in records]
    lines[1] = lines[1].replace("说出".encode("gbk"), b"\x80\x20")
    data = b"\n".join(lines) + b"\n"
    _, unified, rejected = read(tmp_path, "alpaca", "gbk.jsonl", data, "    encoding: gbk\n")
    assert unified["instruction"].to_list() == ["说出数字 0。", "说出数字 2。"]
    assert rejected.select("line", "reason").rows() == [(2, "parse_error")]
    bad_byte = data.index(b"\x80")
    assert rejected["detail"][0] == f"invalid gbk at byte offset {bad_byte} (line 2)"
    # A declaration that the file's byte-order mark contradicts is an error naming source, field and file.
    with pytest.raises(sc.SourceConfigError, match=r"source 'src': field 'encoding': .*bom16.json: declared 'gbk', "
                                                   r"but the file starts with a utf-16-le byte-order mark"):
        read(tmp_path, "alpaca", "bom16.json", utf16, "    encoding: gbk\n")


# ------------------------------------------------------------------------------------------ Parquet
def test_a_binary_parquet_cell_is_a_rejected_row_naming_its_column(tmp_path):
    table = pl.DataFrame({"q": ["Text?", "Bytes?"], "a": ["Yes.", "No."], "blob": [None, b"\x89PNG\r\n"]},
                         schema={"q": pl.Utf8, "a": pl.Utf8, "blob": pl.Binary})
    table.write_parquet(tmp_path / "table.parquet")
    raw, unified, rejected = read(tmp_path, "tabular", "bin.parquet", (tmp_path / "table.parquet").read_bytes(),
                                  CSV_SOURCE)
    assert unified["instruction"].to_list() == ["Text?"]
    assert rejected.select("locator", "reason", "detail").rows() == [
        ("row 1", "parse_error", "binary data in column 'blob': expected text, found bytes")]
    assert raw["record"][1] == '{"q": "Bytes?", "a": "No.", "blob": "<6 bytes>"}'


def test_records_longer_than_a_parse_window_read_exactly_as_json_loads_reads_them(tmp_path):
    # Values end at every kind of place relative to the reader's parse windows: long strings of many lengths,
    # numbers, literals and escapes; what the reader parses must equal what json.loads parses from the whole file.
    records = [{"instruction": "x" * (1 + i * 97 % 9000), "input": "\\u00e9\u00e9" * (i % 5), "output": str(i),
                "n": 10 ** (i % 19) + i, "f": [True, False, None, -1.5e-3]} for i in range(300)]
    data = json.dumps(records).encode()
    raw, _, rejected = read(tmp_path, "alpaca", "long.json", data)
    assert rejected.height == 0 and raw.height == 300
    assert [json.loads(r) for r in raw["record"]] == json.loads(data)
