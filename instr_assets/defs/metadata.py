"""Materialization metadata a user wants at a glance: row count, schema, preview, distributions."""
from __future__ import annotations

import dagster as dg
import polars as pl

from instr_assets.core.text import markdown_table

_PREVIEW_SKIP = (pl.List, pl.Struct, pl.Array)


def table_metadata(df: pl.DataFrame, path=None, preview_cols: list[str] | None = None, n: int = 5) -> dict:
    schema = dg.TableSchema(columns=[dg.TableColumn(name=c, type=str(t)) for c, t in df.schema.items()])
    cols = preview_cols or [c for c, t in df.schema.items() if not isinstance(t, _PREVIEW_SKIP)][:8]
    md = {"dagster/row_count": df.height, "dagster/column_schema": schema}
    if n:
        md["preview"] = dg.MetadataValue.md(markdown_table(df.select(cols).head(n)))
    if path is not None:
        md["path"] = dg.MetadataValue.path(str(path))
    return md


def counts(df: pl.DataFrame, column: str) -> dg.MetadataValue:
    if df.is_empty() or column not in df.columns:
        return dg.MetadataValue.json({})
    c = df.group_by(column).len().sort("len", descending=True)
    return dg.MetadataValue.json({str(k): int(v) for k, v in c.iter_rows()})
