"""Readers for every supported source format. Each raw record is kept verbatim with its provenance.

A record that does not parse becomes a row with `parse_error` set; it is never dropped, and one bad record
never stops the rest of the file. json_reader.py, table_reader.py and dataset_folder.py find the records; this
module makes them raw rows. A file whose layout leaves its records unclear (a wrapped document with several
lists, a repeated CSV header, a declared encoding its byte-order mark contradicts) raises SourceConfigError naming
source, field and file.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from . import source_config as sc
from .dataset_folder import DatasetFolderError, dataset_records
from .format_detection import FormatUndetected, head_text, is_task_file, record_format
from .json_reader import DocumentShapeError, JsonRecordReader, RawRecord
from .message_trees import TreeCollector
from .table_reader import TableShapeError, csv_records, parquet_records
from .text_decoding import DecodedText, decode
from .verifiable_tasks import generate_verifiable_tasks

DEFAULT_MAX_DEPTH = 64  # for entries without the field (the bundled seed set)

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


def raw_row(entry, file: str, locator: str, line: int | None, record: str | None, error: str | None) -> dict:
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


def _decoded(entry, path: Path, display: str) -> DecodedText:
    where = f"source {entry.name!r}: field 'encoding': {display}"
    return decode(path.read_bytes(), getattr(entry, "encoding", None), where)


def _json_records(entry, path: Path, display: str, default_records_key: str | None = None) -> Iterator[RawRecord]:
    """The file's JSON records. A layout that leaves the records unclear is a config error naming source and file."""
    reader = JsonRecordReader(_decoded(entry, path, display), getattr(entry, "max_depth", DEFAULT_MAX_DEPTH))
    try:
        yield from reader.records(getattr(entry, "records_key", None) or default_records_key)
    except DocumentShapeError as e:
        raise sc.SourceConfigError(f"source {entry.name!r}: field 'records_key': {display}: {e}") from None


TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")


def _rows(entry, path: Path, display: str) -> Iterator[RawRecord]:
    """The records of a JSON/JSONL file, a CSV/TSV/Parquet table (by suffix) or a datasets save_to_disk folder."""
    if path.is_dir():
        try:
            yield from dataset_records(path, getattr(entry, "splits", None))
        except DatasetFolderError as e:
            raise sc.SourceConfigError(f"source {entry.name!r}: field 'path': {e}") from None
        return
    if getattr(entry, "splits", None):
        raise sc.SourceConfigError(f"source {entry.name!r}: field 'splits': {display} is a file; splits are read "
                                   "only from a datasets save_to_disk folder")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        try:
            yield from csv_records(_decoded(entry, path, display), "\t" if suffix == ".tsv" else None)
        except TableShapeError as e:
            raise sc.SourceConfigError(f"source {entry.name!r}: field 'path': {display}: {e}") from None
    elif suffix == ".parquet":
        yield from parquet_records(path)
    else:
        yield from _json_records(entry, path, display)


def _object_records(entry, path: Path, display: str) -> list[dict]:
    rows = []
    for rec in _rows(entry, path, display):
        error = rec.error
        if error is None and not isinstance(rec.value, dict):
            error = f"record is a JSON {type(rec.value).__name__}, expected an object"
        rows.append(raw_row(entry, display, rec.locator, rec.line, rec.text, error))
    return rows


def _squad_records(entry, path: Path, display: str) -> list[dict]:
    rows = []
    # One raw record per question, carrying its paragraph context, so that 1 raw record -> at most 1 pair.
    for article in _json_records(entry, path, display, default_records_key="data"):
        art, where = article.value, article.locator
        if article.error is not None:
            rows.append(raw_row(entry, display, where, article.line, article.text, article.error))
            continue
        paragraphs = art.get("paragraphs") if isinstance(art, dict) else None
        if not isinstance(paragraphs, list):
            rows.append(raw_row(entry, display, where, article.line, article.text, "article has no 'paragraphs' list"))
            continue
        for j, para in enumerate(paragraphs):
            qas = para.get("qas") if isinstance(para, dict) else None
            if not isinstance(qas, list):
                rows.append(raw_row(entry, display, f"{where}.paragraphs[{j}]", article.line,
                                 json.dumps(para, ensure_ascii=False), "paragraph has no 'qas' list"))
                continue
            for k, qa in enumerate(qas):
                rec = {"title": art.get("title"), "context": para.get("context"), "qa": qa}
                rows.append(raw_row(entry, display, f"{where}.paragraphs[{j}].qas[{k}]", article.line,
                                 json.dumps(rec, ensure_ascii=False), None))
    return rows


def _self_instruct_records(entry, path: Path, display: str) -> list[dict]:
    rows = []
    for task in _rows(entry, path, display):
        obj = task.value
        if task.error is not None or not isinstance(obj, dict) or not isinstance(obj.get("instances"), list) \
                or not obj["instances"]:
            rows.append(raw_row(entry, display, task.locator, task.line, task.text,
                             task.error or "self-instruct task without an 'instances' list"))
            continue
        # One raw record per instance, keeping the task's own text verbatim beside it.
        for k, inst in enumerate(obj["instances"]):
            rec = {k2: v for k2, v in obj.items() if k2 != "instances"} | {"instance": inst}
            rows.append(raw_row(entry, display, f"{task.locator} instances[{k}]", task.line,
                             json.dumps(rec, ensure_ascii=False), None))
    return rows


def _tabular_records(entry, path: Path, display: str) -> list[dict]:
    suffix = path.suffix.lower()
    if not path.is_dir() and suffix not in (".json", ".jsonl") + TABLE_SUFFIXES:
        raise sc.SourceConfigError(f"source {entry.name!r}: field 'path': unsupported file type {suffix!r} "
                                   "(use .json, .jsonl, .csv, .tsv, .parquet or a datasets save_to_disk folder)")
    return _object_records(entry, path, display)


def _oasst_records(entry, path: Path, display: str) -> list[dict]:
    """One raw record per root-to-leaf path of each message tree (message_trees.py says how)."""
    collector = TreeCollector()
    rows = []
    for rec in _rows(entry, path, display):
        rows += [raw_row(entry, display, *p) for p in collector.add(rec)]
    rows += [raw_row(entry, display, *p) for p in collector.finish()]
    return rows


def _natural_instructions_records(entry, path: Path, display: str) -> list[dict]:
    """One raw record per instance (per output with `outputs: each`), carrying the task's Definition.

    A task file is one JSON object whose lists (Instances, examples, categories) belong together, so it is
    parsed whole: a file that does not parse is unreadable, named with the parser's message."""
    where = f"source {entry.name!r}: field 'path': {display}"
    try:
        task = json.loads(_decoded(entry, path, display).text)
    except (ValueError, RecursionError) as e:
        raise sc.SourceConfigError(f"{where}: not a Natural Instructions task file: JSON parse error: {e}") from None
    if not isinstance(task, dict) or not isinstance(task.get("Instances"), list):
        raise sc.SourceConfigError(f"{where}: not a Natural Instructions task file (no 'Instances' list)")
    mode = getattr(entry, "outputs", "first")  # an `auto` entry has the default
    shared = {"task": path.stem, "Definition": task.get("Definition"), "outputs": mode}
    rows = []
    for k, inst in enumerate(task["Instances"]):
        outputs = inst.get("output") if isinstance(inst, dict) else None
        each = range(len(outputs)) if mode == "each" and isinstance(outputs, list) and outputs else [None]
        for j in each:
            locator = f"Instances[{k}]" + (f" output[{j}]" if j is not None else "")
            rec = shared | {"instance": inst, "output_index": j or 0}
            rows.append(raw_row(entry, display, locator, None, json.dumps(rec, ensure_ascii=False), None))
    return rows


def _generated_records(entry) -> list[dict]:
    tasks = generate_verifiable_tasks(entry.per_kind_per_lang, seed=entry.seed, langs=tuple(entry.langs))
    display = f"builtin:verifiable_tasks(seed={entry.seed})"
    return [
        raw_row(entry, display, f"task[{i}]", None, json.dumps(rec, ensure_ascii=False), None)
        for i, rec in enumerate(tasks.iter_rows(named=True))
    ]


def _detected_format(entry, path: Path, display: str) -> str:
    """The format of an `auto` entry's file; raw rows carry it, so unify converts them as that format."""
    if not path.is_dir() and is_task_file(path, head_text(path)):
        return "natural_instructions"
    try:
        return record_format(_rows(entry, path, display))
    except FormatUndetected as e:
        raise sc.SourceConfigError(f"source {entry.name!r}: field 'format': auto cannot tell the format of "
                                   f"{display}: {e}") from None


def read_source(entry, base_dir: Path) -> pl.DataFrame:
    """All raw records of one configured source, parse failures included."""
    if entry.format == "builtin_generated":
        rows = _generated_records(entry)
    else:
        if entry.format == "builtin_seed":
            path = sc.PACKAGE_DATA / "seed_pairs.jsonl"
            display = "builtin:seed_pairs.jsonl"
        else:
            # Resolved through symlinks and refused unless a regular file inside the allowed roots.
            path = sc.source_path(entry, base_dir)
            display = str(path)
            if entry.format == "auto":
                entry = entry.model_copy(update={"format": _detected_format(entry, path, display)})
        readers = {
            "squad": _squad_records,
            "self_instruct": _self_instruct_records,
            "tabular": _tabular_records,
            "oasst": _oasst_records,
            "natural_instructions": _natural_instructions_records,
        }
        rows = readers.get(entry.format, _object_records)(entry, path, display)
    return pl.DataFrame(rows, schema=RAW_SCHEMA)


def read_all_sources(entries, base_dir: Path) -> pl.DataFrame:
    frames = [read_source(e, base_dir) for e in entries]
    return pl.concat(frames) if frames else pl.DataFrame(schema=RAW_SCHEMA)
