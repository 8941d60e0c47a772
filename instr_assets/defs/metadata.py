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


def image(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG as Markdown metadata with a data: URI. Dagster has no image metadata type, but the UI's Markdown
    renderer allows data: image sources, so the chart shows in the entry's "Show Markdown" dialog and needs no
    file server; keep charts small, since the bytes live in the event log."""
    import base64

    if not png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("image metadata expects PNG bytes")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})")


def failing_rows(df: pl.DataFrame, n: int = 20) -> dg.MetadataValue:
    """The rows a check rejected, as a table, so the checks tab says which rows and not only how many."""
    return dg.MetadataValue.md(markdown_table(df.head(n)) + (f"\n\n_{df.height - n} more rows_" if df.height > n else ""))
