"""A thin bridge from Great Expectations 1.x validation results to Dagster asset check results.

Checks are declared as plain `Expect` tuples so the code location loads without importing GX; GX is
imported only when a check runs. Frames are validated as pandas, since GX has no polars engine.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl


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
        return x.ExpectTableColumnsToMatchSet(column_set=list(e.args["columns"]), exact_match=False)
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


def validate(df: pl.DataFrame, suite_name: str, expectations: list[Expect]) -> list[dict]:
    """Run one GX suite on a frame; one outcome dict per expectation."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    batch_def = ctx.data_sources.add_pandas(f"{suite_name}_src").add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe("all")
    suite = ctx.suites.add(gx.ExpectationSuite(name=suite_name))
    for e in expectations:
        suite.add_expectation(_to_gx(e))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=batch_def, suite=suite))
    result = vd.run(batch_parameters={"dataframe": _pandas(df)}, result_format="SUMMARY")
    outcomes = []
    for r in result.results:
        cfg = r.expectation_config
        res = r.result or {}
        outcomes.append({
            "expectation": cfg.type,
            "column": cfg.kwargs.get("column"),
            "success": bool(r.success),
            "unexpected_count": res.get("unexpected_count"),
            "unexpected_percent": res.get("unexpected_percent"),
            "sample": [str(v)[:120] for v in (res.get("partial_unexpected_list") or [])[:5]],
            "observed": str(res.get("observed_value"))[:200] if "observed_value" in res else None,
            "exception": (r.exception_info or {}).get("exception_message") if not r.success else None,
        })
    return outcomes


def check_result(name: str, df: pl.DataFrame, expectations: list[Expect], asset_key: dg.AssetKey | None = None,
                 severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR) -> dg.AssetCheckResult:
    outcomes = validate(df, name, expectations)
    failed = [o for o in outcomes if not o["success"]]
    lines = ["| expectation | column | ok | unexpected | observed / sample |", "|---|---|---|---|---|"]
    for o in outcomes:
        detail = o["observed"] if o["observed"] is not None else ", ".join(o["sample"])
        if o["exception"]:
            detail = f"error: {o['exception']}"
        lines.append(f"| {o['expectation']} | {o['column'] or ''} | {'yes' if o['success'] else 'NO'} | "
                     f"{o['unexpected_count'] if o['unexpected_count'] is not None else ''} | {str(detail or '').replace('|', '/')} |")
    metadata = {
        "expectations": dg.MetadataValue.md("\n".join(lines)),
        "evaluated": len(outcomes),
        "failed": len(failed),
        "rows_validated": df.height,
    }
    if failed:
        metadata["failing_samples"] = dg.MetadataValue.json(
            {f"{o['expectation']}({o['column'] or ''})": {"unexpected_count": o["unexpected_count"], "sample": o["sample"],
                                                           "observed": o["observed"]} for o in failed})
    kwargs = {"asset_key": asset_key} if asset_key is not None else {}
    return dg.AssetCheckResult(check_name=name, passed=not failed, metadata=metadata, severity=severity, **kwargs)
