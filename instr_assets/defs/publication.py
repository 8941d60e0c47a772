"""What every asset shares: check specs, the accounting check, which upstream version to read, and publishing
only what passed (the staged version goes live only when its blocking checks pass)."""

import dagster as dg
import polars as pl

from instr_assets.core.storage import DataStore, Stage, StepVersion

from .gx_bridge import Expect


def check_spec(asset: str, name: str, description: str, blocking: bool = True) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name=name, asset=asset, blocking=blocking, description=description)


def accounting_check(df_ids: pl.Series, expected: int) -> tuple[pl.DataFrame, list[Expect]]:
    """kept + rejected = input: the ids of both sides, unique and as many as the input rows."""
    return pl.DataFrame({"id": df_ids}), [Expect("row_count", args={"value": expected}), Expect("unique", "id"),
                                          Expect("not_null", "id")]


def upstream_version(context: dg.AssetExecutionContext, store: DataStore, step: str) -> StepVersion:
    """The version of `step` to read: the one published in this run when `step` ran in this run, so that two
    runs at once each build on their own upstream versions; otherwise the live one."""
    for record in reversed(context.instance.all_logs(context.run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)):
        materialization = record.asset_materialization
        if materialization is not None and materialization.asset_key == dg.AssetKey(step) \
                and "version_id" in materialization.metadata:
            return store.version(step, materialization.metadata["version_id"].value)
    live = store.published(step)
    if live is None:
        raise dg.Failure(description=f"{step} has not been materialized yet (nothing published in {store.published_dir})")
    return live


def stop_unless_checks_pass(stage: Stage, checks: list[dg.AssetCheckResult]):
    """Publish only what passed: when a check fails, report every result (the UI shows them, downstream steps
    do not run) and fail the step inside its publishing block, so the staged version is dropped and the
    previous one stays live. No materialization is reported: none would be true."""
    failed = [c for c in checks if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]
    if failed:
        yield from checks
        raise dg.Failure(
            description=f"{stage.step} was not published (the previous version stays live): failed check(s): " +
                        "; ".join(c.check_name + (f" ({c.description})" if c.description else "") for c in failed),
            metadata={"failed_checks": dg.MetadataValue.json([c.check_name for c in failed])})


def published_metadata(context: dg.AssetExecutionContext, version: StepVersion, *upstream: StepVersion) -> dict:
    """Which version this materialization published (or kept live) and which upstream versions it was built
    from."""
    metadata = {"version_id": version.version_id,
                "upstream_versions": dg.MetadataValue.json({u.step: u.version_id for u in upstream})}
    if version.catalog_warning:
        context.log.warning(version.catalog_warning)
        metadata["catalog_warning"] = version.catalog_warning
    return metadata


def not_empty_check(name: str, step: str, kept: int, total: int, unit: str, rejected: pl.DataFrame) -> dg.AssetCheckResult:
    """Zero rows out is an error, named by what came in and which reject reasons took it."""
    by_reason = rejected.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    summary = f"{step}: {kept} of {total} {unit} kept" + (
        "; rejected by reason: " + ", ".join(f"{r} {n}" for r, n in by_reason.iter_rows()) if by_reason.height else "")
    return dg.AssetCheckResult(check_name=name, passed=kept > 0, description=summary if not kept else None,
                               metadata={"kept": kept, "input": total, "summary": summary})
