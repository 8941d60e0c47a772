"""Readers for every supported source format. Each raw record is kept verbatim with its provenance.

A record that does not parse becomes a row with `parse_error` set; it is never dropped, and one bad line
never stops the rest of the file.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import polars as pl

from . import source_config as sc
from .verifiable_tasks import generate_verifiable_tasks

RAW_SCHEMA = {
    "raw_id": pl.Utf8,
    "source": pl.Utf8,
    "format": pl.Utf8,
    "file": pl.Utf8,
    "locator": pl.Utf8,
    "line": pl.Int64,
    "record": pl.Utf8,
    "content_hash": pl.Utf8,
    "parse_error": pl.Utf8,
    "domain_hint": pl.Utf8,
}


def sha(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def _row(entry, file: str, locator: str, line: int | None, record: str | None, error: str | None) -> dict:
    record = record if record is not None else ""
    # A JSON escape of half a surrogate pair ("\ud83d") re-serialised with ensure_ascii=False is a lone
    # surrogate that UTF-8 (and so the frame) cannot hold; write it back as its escape.
    record = record.encode("utf-8", "backslashreplace").decode("utf-8")
    return {
        "raw_id": sha(f"{entry.name}\x1f{file}\x1f{locator}"),
        "source": entry.name,
        "format": entry.format,
        "file": file,
        "locator": locator,
        "line": line,
        "record": record,
        "content_hash": sha(record, 64),
        "parse_error": error,
        "domain_hint": entry.domain,
    }


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def iter_json_records(data: bytes):
    """Yield (locator, line, verbatim_text, obj_or_None, error_or_None) from a JSON array or a JSONL file."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"["):
            # A JSON array is not line-based: parse it with the bad bytes escaped, reject only their records.
            yield from _flag_bad_bytes(_iter_json_array(data.decode("utf-8", "surrogateescape")))
            return
        # Fall back to line-by-line so only the bad lines are rejected.
        yield from _iter_jsonl_bytes(data)
        return
    stripped = text.lstrip("\ufeff \t\r\n")
    wrapped = _wrapped_document(stripped) if stripped.startswith("{") else None
    if stripped.startswith("["):
        yield from _iter_json_array(text)
    elif wrapped is not None:
        key, items = wrapped
        for i, item in enumerate(items):
            yield f"{key}[{i}]", None, json.dumps(item, ensure_ascii=False), item, None
    else:
        yield from _iter_jsonl_bytes(data)


def _flag_bad_bytes(records):
    for locator, line, text, obj, err in records:
        if any("\udc80" <= ch <= "\udcff" for ch in text):
            bad = text.encode("utf-8", "surrogateescape")
            yield locator, line, bad.decode("utf-8", "replace"), None, err or "invalid UTF-8 in this record"
        else:
            yield locator, line, text, obj, err


def _wrapped_document(text: str) -> tuple[str, list] | None:
    """(key, items) of a whole-file JSON object such as {"data": [...]}; None for JSONL.

    A multi-line file that parses as one object is a document; JSONL with several records fails to parse
    as one document ("Extra data"), and a one-line JSONL file is read as JSONL.
    """
    if "\n" not in text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict):
        return None
    return next(((k, v) for k, v in obj.items() if isinstance(v, list)), None)


def _iter_json_array(text: str):
    dec = json.JSONDecoder()
    pos = text.index("[") + 1
    i = 0
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n:
            yield f"[{i}:]", _line_of(text, pos), "", None, "unterminated JSON array (missing ']')"
            return
        if text[pos] == "]":
            return
        try:
            obj, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            # Cannot resynchronise inside an array: the rest of the file is one rejected record.
            yield f"[{i}:]", _line_of(text, pos), text[pos:pos + 2000], None, f"JSON parse error: {e.msg} at line {e.lineno} column {e.colno}"
            return
        yield f"[{i}]", _line_of(text, pos), text[pos:end], obj, None
        pos = end
        i += 1


def _iter_jsonl_bytes(data: bytes):
    for lineno, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8").strip().lstrip("\ufeff")
        except UnicodeDecodeError as e:
            yield f"line {lineno}", lineno, raw.decode("utf-8", "replace"), None, f"invalid UTF-8 at byte {e.start}"
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield f"line {lineno}", lineno, line, None, f"JSON parse error: {e.msg} at column {e.colno}"
            continue
        yield f"line {lineno}", lineno, line, obj, None


def _object_records(entry, path: Path, display: str) -> list[dict]:
    rows = []
    for locator, line, text, obj, err in iter_json_records(path.read_bytes()):
        if err is None and not isinstance(obj, dict):
            err = f"record is a JSON {type(obj).__name__}, expected an object"
        rows.append(_row(entry, display, locator, line, text, err))
    return rows


def _squad_records(entry, path: Path, display: str) -> list[dict]:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
        articles = doc["data"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        return [_row(entry, display, "file", None, "", f"not a SQuAD-style file: {type(e).__name__}: {e}")]
    rows = []
    # One raw record per question, carrying its paragraph context, so that 1 raw record -> at most 1 pair.
    for i, art in enumerate(articles):
        paragraphs = art.get("paragraphs") if isinstance(art, dict) else None
        if not isinstance(paragraphs, list):
            rows.append(_row(entry, display, f"data[{i}]", None, json.dumps(art, ensure_ascii=False), "article has no 'paragraphs' list"))
            continue
        for j, para in enumerate(paragraphs):
            qas = para.get("qas") if isinstance(para, dict) else None
            if not isinstance(qas, list):
                rows.append(_row(entry, display, f"data[{i}].paragraphs[{j}]", None, json.dumps(para, ensure_ascii=False), "paragraph has no 'qas' list"))
                continue
            for k, qa in enumerate(qas):
                rec = {"title": art.get("title"), "context": para.get("context"), "qa": qa}
                rows.append(_row(entry, display, f"data[{i}].paragraphs[{j}].qas[{k}]", None, json.dumps(rec, ensure_ascii=False), None))
    return rows


def _self_instruct_records(entry, path: Path, display: str) -> list[dict]:
    rows = []
    for locator, line, text, obj, err in iter_json_records(path.read_bytes()):
        if err is not None or not isinstance(obj, dict) or not isinstance(obj.get("instances"), list) or not obj["instances"]:
            rows.append(_row(entry, display, locator, line, text, err or "self-instruct task without an 'instances' list"))
            continue
        # One raw record per instance, keeping the task's own text verbatim beside it.
        for k, inst in enumerate(obj["instances"]):
            rec = {k2: v for k2, v in obj.items() if k2 != "instances"} | {"instance": inst}
            rows.append(_row(entry, display, f"{locator} instances[{k}]", line, json.dumps(rec, ensure_ascii=False), None))
    return rows


def _tabular_records(entry, path: Path, display: str) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        return _object_records(entry, path, display)
    rows = []
    if suffix == ".csv":
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as e:
            return [_row(entry, display, "file", None, "", f"invalid UTF-8 at byte {e.start}")]
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for i, rec in enumerate(reader):
            err = "row has more fields than the header" if None in rec else None
            rec = {k: v for k, v in rec.items() if k is not None}
            rows.append(_row(entry, display, f"row {i + 1}", reader.line_num, json.dumps(rec, ensure_ascii=False), err))
        return rows
    if suffix == ".parquet":
        for i, rec in enumerate(pl.read_parquet(path).iter_rows(named=True)):
            rows.append(_row(entry, display, f"row {i}", None, json.dumps(rec, ensure_ascii=False, default=str), None))
        return rows
    raise sc.SourceConfigError(f"source {entry.name!r}: field 'path': unsupported file type {suffix!r} (use .json, .jsonl, .csv or .parquet)")


def _generated_records(entry) -> list[dict]:
    tasks = generate_verifiable_tasks(entry.per_kind_per_lang, seed=entry.seed, langs=tuple(entry.langs))
    display = f"builtin:verifiable_tasks(seed={entry.seed})"
    return [
        _row(entry, display, f"task[{i}]", None, json.dumps(rec, ensure_ascii=False), None)
        for i, rec in enumerate(tasks.iter_rows(named=True))
    ]


def read_source(entry, base_dir: Path) -> pl.DataFrame:
    """All raw records of one configured source, parse failures included."""
    if entry.format == "builtin_generated":
        rows = _generated_records(entry)
    else:
        if entry.format == "builtin_seed":
            path = sc.PACKAGE_DATA / "seed_pairs.jsonl"
            display = "builtin:seed_pairs.jsonl"
        else:
            path = sc.resolve_path(base_dir, entry.path)
            display = str(path)
        if not path.exists():
            raise sc.SourceConfigError(f"source {entry.name!r}: field 'path': file {path} does not exist")
        readers = {
            "squad": _squad_records,
            "self_instruct": _self_instruct_records,
            "tabular": _tabular_records,
        }
        rows = readers.get(entry.format, _object_records)(entry, path, display)
    return pl.DataFrame(rows, schema=RAW_SCHEMA)


def read_all_sources(entries, base_dir: Path) -> pl.DataFrame:
    frames = [read_source(e, base_dir) for e in entries]
    return pl.concat(frames) if frames else pl.DataFrame(schema=RAW_SCHEMA)
