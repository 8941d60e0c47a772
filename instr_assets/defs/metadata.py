"""Materialization metadata a user wants at a glance: row count, column schema with what each column means,
a preview and distributions, as Dagster tables (`MetadataValue.table`) that the UI renders and sorts."""
from __future__ import annotations

import dagster as dg
import polars as pl

_PREVIEW_SKIP = (pl.List, pl.Struct, pl.Array)
_PREVIEW_CHARS = 200  # cells are cut so a preview of long responses stays readable and the event log small

# What each column of the pipeline's tables holds; shown in the asset's column schema and in previews.
COLUMN_DESCRIPTIONS = {
    "raw_id": "id of the raw record (source, file and locator hashed)",
    "source": "name of the source entry in the sources file",
    "format": "reader used for the source (alpaca, sharegpt, messages, tabular, ...)",
    "file": "file the record was read from",
    "locator": "where in the file: line number, JSON path or row; '(whole source)' for an unreadable source",
    "line": "line number in the file, when the format has lines",
    "record": "the record as read, verbatim",
    "content_hash": "hash of the record's text",
    "raw_content_hash": "content_hash of the raw record this pair came from",
    "parse_error": "why the record did not parse; empty when it did",
    "domain_hint": "domain given by the source, if any",
    "task_hint": "task type given by the source, if any",
    "difficulty_hint": "difficulty given by the source, if any",
    "pair_id": "id of the instruction pair (stable across runs)",
    "messages": "the conversation as role/content turns",
    "system": "system prompt, if any",
    "instruction": "the user's request (first user turn)",
    "input": "extra input given with the instruction",
    "response": "the assistant's answer (last assistant turn)",
    "n_turns": "number of turns in the conversation",
    "lang": "language: en, zh, other, or a fastText code after cleaning",
    "reference_answer": "exact answer of a verifiable task, used by exact-match evaluation",
    "text": "instruction, input and response joined, for detectors and dedup",
    "unify_note": "what unification changed in the record",
    "lang_confidence": "fastText probability of lang",
    "pii_kinds": "PII kinds redacted in the pair, comma-separated",
    "norm_hash": "hash of the folded text used for exact dedup",
    "cluster_id": "near-duplicate cluster (the kept pair's id)",
    "operator": "augmentation operator that made the pair; empty for originals",
    "parent_pair_id": "pair an augmented pair was made from",
    "is_augmented": "true for a pair made by augmentation",
    "model_id": "the model, lexicon or rule set that made an augmented or generated pair",
    "similarity": "multilingual-e5 cosine of an augmented pair's instruction to its parent's",
    "operator_detail": "what the operator did (the rule, the pivot translation, the sampling settings)",
    "seed_pair_ids": "pairs a generated pair was grown from (Self-Instruct, Evol-Instruct)",
    "judge_score": "probability-weighted 1-5 grade by the local judge model; null where not scored",
    "label_confidence": "probability of the chosen domain and task labels",
    "repeats": "copies of the pair in train after the mixture's sampling",
    "group_id": "the original pair and its augmented children share this id and a split",
    "domain": "domain label",
    "task_type": "task type label",
    "difficulty": "difficulty label",
    "stratum": "domain/task_type/difficulty",
    "split": "train, validation or test",
    "reason": "reject reason code (docs/cleaning.md)",
    "detail": "what the reject reason found",
    "kept_pair_id": "for a duplicate: the pair kept in its place",
    "seq_index": "packed sequence number within its split",
    "n_tokens": "tokens in the sequence (or sample)",
    "n_supervised": "tokens with a loss (response tokens)",
    "step": "optimizer step",
    "train_loss": "training loss at the step",
    "val_loss": "validation loss at the step (when evaluated)",
    "lr": "learning rate at the step",
    "tokens_per_s": "training throughput",
    "model": "base or finetuned",
    "facet": "overall, or the stratum facet the row breaks down",
    "value": "the facet's value",
    "n_samples": "samples evaluated",
    "loss": "mean token loss",
    "perplexity": "exp(loss)",
}


def _cell(value) -> str | int | float | bool | None:
    """A value a Dagster table record accepts (str, int, float, bool or None)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = str(value)
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS - 1] + "…"


def _table_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if dtype == pl.Boolean:
        return "bool"
    return "string" if dtype == pl.Utf8 else str(dtype)


def table_schema(schema: dict, descriptions: dict[str, str] | None = None) -> dg.TableSchema:
    """Column names, types and, where known, what each column holds."""
    known = COLUMN_DESCRIPTIONS | (descriptions or {})
    return dg.TableSchema(columns=[dg.TableColumn(name=c, type=_table_type(t), description=known.get(c))
                                   for c, t in schema.items()])


def frame_table(df: pl.DataFrame, descriptions: dict[str, str] | None = None) -> dg.MetadataValue:
    """A small frame as a Dagster table, nested columns shown as text."""
    shown = df.with_columns(pl.col(c).cast(pl.Utf8) if not isinstance(t, _PREVIEW_SKIP) else
                            pl.col(c).map_elements(str, return_dtype=pl.Utf8)
                            for c, t in df.schema.items() if not (t.is_numeric() or t in (pl.Boolean, pl.Utf8)))
    records = [dg.TableRecord(data={k: _cell(v) for k, v in row.items()}) for row in shown.iter_rows(named=True)]
    return dg.MetadataValue.table(records=records, schema=table_schema(df.schema, descriptions))


def table_metadata(df: pl.DataFrame, path=None, preview_cols: list[str] | None = None, n: int = 5) -> dict:
    """Row count, the column schema with descriptions, and a preview of the first `n` rows."""
    cols = preview_cols or [c for c, t in df.schema.items() if not isinstance(t, _PREVIEW_SKIP)][:8]
    md = {"dagster/row_count": df.height, "dagster/column_schema": table_schema(df.schema)}
    if n:
        md["preview"] = frame_table(df.select(cols).head(n))
    if path is not None:
        md["path"] = dg.MetadataValue.path(str(path))
    return md


def counts(df: pl.DataFrame, column: str) -> dg.MetadataValue:
    """Rows per value of `column`, most frequent first, as a two-column table."""
    if df.is_empty() or column not in df.columns:
        c = pl.DataFrame(schema={column: pl.Utf8, "rows": pl.Int64})
    else:
        c = (df.group_by(column).agg(pl.len().cast(pl.Int64).alias("rows"))
             .with_columns(pl.col(column).cast(pl.Utf8)).sort(["rows", column], descending=[True, False]))
    return frame_table(c, {"rows": f"rows per {column}"})


def count_dict(value: dg.MetadataValue) -> dict[str, int]:
    """A `counts` table back as {value: rows} (for reading metadata in tests and sensors)."""
    return {r.data[next(iter(r.data))]: r.data["rows"] for r in value.value.records}


def image(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG as Markdown metadata with a data: URI. Dagster has no image metadata type, but the UI's Markdown
    renderer allows data: image sources, so the chart shows in the entry's "Show Markdown" dialog and needs no
    file server; keep charts small, since the bytes live in the event log."""
    import base64

    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("image metadata expects PNG bytes")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")
