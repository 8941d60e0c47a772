"""Great Expectations 1.x validations as Dagster asset check results, with a record left behind.

Checks are declared as plain `Expect` tuples so the code location loads without importing GX; GX is
imported only when a check runs. Frames are validated as pandas, since GX has no polars engine.

Every step validates in one file data context, `<output>/gx/`: its suites, validation definitions and
validation results are saved there and the Data Docs site is built under `<output>/gx/uncommitted/data_docs/`,
so a failed check can be opened and compared with earlier runs. Each check's metadata names its failing rows
by the frame's id column (GX's COMPLETE result format with `unexpected_index_column_names`) and links to
the check's Data Docs page. Steps run in separate processes, and the context's files (its YAML, the docs
index) are shared, so a step holds a file lock on the context while it validates and builds its pages.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from instr_assets.core.storage import file_lock

from .metadata import frame_table

FAILING_ROWS_SHOWN = 20  # failing rows listed per expectation in the check's metadata; the total is counted
# Validation results kept per suite (with their Data Docs pages): the docs index reads every stored result,
# so an unbounded history would make each step's checks slower run after run.
RESULTS_KEPT = 10


@dataclass(frozen=True)
class Expect:
    kind: str  # unique | not_null | in_set | between | columns | row_count | mean_between | distinct_equal
    column: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


def _to_gx(e: Expect):
    import great_expectations as gx

    x = gx.expectations
    if e.kind == "unique":
        return x.ExpectColumnValuesToBeUnique(column=e.column)
    if e.kind == "not_null":
        return x.ExpectColumnValuesToNotBeNull(column=e.column)
    if e.kind == "in_set":
        return x.ExpectColumnValuesToBeInSet(column=e.column, value_set=list(e.args["values"]))
    if e.kind == "between":
        return x.ExpectColumnValuesToBeBetween(column=e.column, min_value=e.args.get("min"), max_value=e.args.get("max"))
    if e.kind == "columns":
        return x.ExpectTableColumnsToMatchSet(column_set=list(e.args["columns"]), exact_match=e.args.get("exact", False))
    if e.kind == "row_count":
        return x.ExpectTableRowCountToEqual(value=e.args["value"])
    if e.kind == "mean_between":
        return x.ExpectColumnMeanToBeBetween(column=e.column, min_value=e.args.get("min"), max_value=e.args.get("max"))
    if e.kind == "distinct_equal":
        return x.ExpectColumnDistinctValuesToEqualSet(column=e.column, value_set=list(e.args["values"]))
    raise ValueError(f"unknown expectation kind {e.kind!r}")


def _pandas(df: pl.DataFrame):
    # Nested columns (lists of structs) mean nothing to GX and slow the conversion; validate flat columns.
    flat = [c for c, t in df.schema.items() if not isinstance(t, (pl.List, pl.Struct, pl.Array))]
    return df.select(flat).to_pandas()


def _failing(res: dict, ids: str | None, column: str | None) -> tuple[list[str], list[str]]:
    """The failing rows' ids (the id column's values, else 'row N') and values, from a COMPLETE result."""
    index = res.get("unexpected_index_list") or []
    values = res.get("unexpected_list") or []
    shown = []
    for i, entry in enumerate(index[:FAILING_ROWS_SHOWN]):
        row_id = entry.get(ids) if isinstance(entry, dict) else f"row {entry}"
        value = entry.get(column) if isinstance(entry, dict) and column in entry else (values[i] if i < len(values) else None)
        shown.append((str(row_id), str(value)[:120]))
    return [s[0] for s in shown], [s[1] for s in shown]


def outcomes_of(result, ids: str | None) -> list[dict]:
    """One dict per expectation of a GX suite validation result: what it checked and which rows failed."""
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        failing_ids, failing_values = _failing(res, ids, cfg.kwargs.get("column")) if not r.success else ([], [])
        outcomes.append({
            "expectation": cfg.type,
            "column": cfg.kwargs.get("column"),
            "success": bool(r.success),
            "unexpected_count": res.get("unexpected_count"),
            "failing_ids": failing_ids,
            "failing_values": failing_values,
            "observed": str(res.get("observed_value"))[:200] if "observed_value" in res else None,
            "exception": (r.exception_info or {}).get("exception_message") if not r.success else None,
        })
    return outcomes


def check_metadata(outcomes: list[dict], rows: int, ids: str | None) -> dict:
    """The check's metadata: every expectation with its outcome, and the failing rows named by id."""
    summary = pl.DataFrame({
        "expectation": [o["expectation"] for o in outcomes],
        "column": [o["column"] or "" for o in outcomes],
        "passed": [o["success"] for o in outcomes],
        "unexpected": [o["unexpected_count"] for o in outcomes],
        "observed": [f"error: {o['exception']}" if o["exception"] else (o["observed"] or "") for o in outcomes],
    }, schema={"expectation": pl.Utf8, "column": pl.Utf8, "passed": pl.Boolean, "unexpected": pl.Int64, "observed": pl.Utf8})
    failed = [o for o in outcomes if not o["success"]]
    metadata = {
        "expectations": frame_table(summary, {"unexpected": "rows that failed the expectation (all of them)",
                                              "observed": "the measured value, for table-level expectations"}),
        "evaluated": len(outcomes), "failed": len(failed), "rows_validated": rows,
    }
    failing = [(o["expectation"], o["column"] or "", i, v) for o in failed for i, v in zip(o["failing_ids"], o["failing_values"])]
    if failing:
        id_name = ids or "row"
        id_name = f"{id_name} (id)" if id_name in ("expectation", "column", "value") else id_name
        metadata["failing_rows"] = frame_table(
            pl.DataFrame(failing, schema={"expectation": pl.Utf8, "column": pl.Utf8, id_name: pl.Utf8, "value": pl.Utf8},
                         orient="row"),
            {id_name: f"the failing row's {ids}" if ids else "the failing row's position",
             "value": "the failing row's value in the column"})
        metadata["failing_rows_total"] = sum(o["unexpected_count"] or 0 for o in failed)
    return metadata


class GxRecord:
    """One step's validations in the file data context under `<output>/gx/`. Use as a context manager:
    `check` runs a suite and returns its AssetCheckResult; leaving the block builds the Data Docs pages."""

    def __init__(self, output_root: str | os.PathLike, step: str):
        self.root, self.step = Path(output_root), step
        self._ctx = None
        self._source = None
        self._results: list = []

    @property
    def docs_index(self) -> Path:
        return self.root / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"

    def __enter__(self) -> "GxRecord":
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx

        self._lock = file_lock(self.root / ".gx.lock", 300.0, f"the Great Expectations context {self.root / 'gx'}")
        self._lock.__enter__()
        try:
            self._ctx = gx.get_context(mode="file", project_root_dir=str(self.root))
            self._ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._results:
                self._prune({k.expectation_suite_identifier.name for k in self._results})
                # Only this step's new pages and the index: a full rebuild would redo every stored result.
                self._ctx.build_data_docs(resource_identifiers=self._results)
        finally:
            self._lock.__exit__(None, None, None)

    def check(self, name: str, df: pl.DataFrame, expectations: list[Expect], ids: str | None = None,
              severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
        """Validate `df` against the suite `name`; failing rows are named by column `ids` when given."""
        import great_expectations as gx
        from great_expectations.data_context.types.resource_identifiers import (ExpectationSuiteIdentifier,
                                                                                ValidationResultIdentifier)

        if self._ctx is None:
            raise RuntimeError("GxRecord.check is used inside `with GxRecord(root, step) as record:`")
        if ids is not None and ids not in df.columns:
            raise ValueError(f"check {name}: id column {ids!r} is not in the validated frame {df.columns}")
        # Each add rewrites the context's YAML: the step's source is put in place once per step (a source read
        # back from the YAML has no context to run on), its assets and batches only when missing.
        if self._source is None:
            self._source = self._ctx.data_sources.add_or_update_pandas(self.step)
        source = self._source
        asset = next((a for a in source.assets if a.name == name), None) or source.add_dataframe_asset(name)
        batch = next((b for b in asset.batch_definitions if b.name == "whole_frame"), None) \
            or asset.add_batch_definition_whole_dataframe("whole_frame")
        suite = self._ctx.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=[_to_gx(e) for e in expectations]))
        definition = self._ctx.validation_definitions.add_or_update(gx.ValidationDefinition(name=name, data=batch, suite=suite))
        result_format = {"result_format": "COMPLETE"} | ({"unexpected_index_column_names": [ids]} if ids else {})
        result = definition.run(batch_parameters={"dataframe": _pandas(df)}, result_format=result_format)
        key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
                                         run_id=result.meta["run_id"], batch_identifier=result.batch_id)
        self._results.append(key)
        metadata = check_metadata(outcomes_of(result, ids), df.height, ids)
        page = self._ctx.get_docs_sites_urls(resource_identifier=key, only_if_exists=False)
        if page and page[0].get("site_url"):
            metadata["data_docs"] = dg.MetadataValue.url(page[0]["site_url"])
        return dg.AssetCheckResult(check_name=name, passed=bool(result.success), metadata=metadata, severity=severity)

    def _prune(self, suites: set[str]) -> None:
        """Drop all but the RESULTS_KEPT newest validation results of `suites`, with their Data Docs pages."""
        gx_dir = self.root / "gx" / "uncommitted"
        for suite in suites:
            runs = sorted((gx_dir / "validations" / suite).glob("*/*"), key=lambda p: p.name)  # <run name>/<UTC stamp>
            for old in runs[:-RESULTS_KEPT]:
                shutil.rmtree(old, ignore_errors=True)
                shutil.rmtree(gx_dir / "data_docs" / "local_site" / "validations" / suite / old.parent.name / old.name,
                              ignore_errors=True)
