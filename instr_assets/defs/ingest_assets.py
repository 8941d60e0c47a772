"""Ingest assets: raw_sources reads every configured source as it is; unified_pairs turns each record into one
instruction/response pair or a rejected row with a reason. Each asset stages its tables as a new version, runs its
blocking checks, and publishes only when they pass."""

import json
import time

import dagster as dg
import polars as pl
from pydantic import Field

from instr_assets.core.ingest.source_cache import SourceCache, SourceReadError, snapshot, snapshot_digest, watched_files
from instr_assets.core.ingest.source_config import (DEFAULT_SOURCES_FILE, UNREADABLE_SOURCE_LOCATOR, SourceConfigError,
                                                    load_sources)
from instr_assets.core.versioning import frame_version, stage_code_version

from .checks_content import raw_schema_check
from .gx_bridge import Expect, GxRecord
from .metadata import counts, frame_table, table_metadata
from .publication import (accounting_check, check_spec, not_empty_check, published_metadata, stop_unless_checks_pass,
                          upstream_version)
from .resources import DataStoreResource


LANGS = ["en", "zh", "other"]


# ---------------------------------------------------------------------------------------------- raw_sources
class RawSourcesConfig(dg.Config):
    sources_file: str = Field(default=str(DEFAULT_SOURCES_FILE), description="YAML file listing the sources to read")


def _source_cache(store) -> SourceCache:
    return SourceCache(store.root / "cache" / "sources")


def _builds_metadata(builds, redone: str, seconds: float) -> dict:
    """Which sources this build read or converted again, which it took from the per-source cache, and how long
    that took."""
    table = pl.DataFrame({"source": [b.source for b in builds], "rows": [b.rows for b in builds],
                          "status": [redone if not b.reused else "reused" for b in builds]},
                         schema={"source": pl.Utf8, "rows": pl.Int64, "status": pl.Utf8})
    return {f"sources_{redone}": dg.MetadataValue.json([b.source for b in builds if not b.reused]),
            "sources_reused": dg.MetadataValue.json([b.source for b in builds if b.reused]),
            "source_cache": frame_table(table), "ingest_seconds": round(seconds, 3)}


def _readable_check(raw: pl.DataFrame, entries) -> dg.AssetCheckResult:
    """Fails, naming them and why, when some sources could not be read at all: an ERROR (which blocks) unless
    every one of them says `on_error: warn`."""
    unreadable = raw.filter(pl.col("locator") == UNREADABLE_SOURCE_LOCATOR)
    reasons = dict(zip(unreadable["source"], unreadable["parse_error"]))
    warn_only = {e.name for e in entries if getattr(e, "on_error", "reject") == "warn"}
    return dg.AssetCheckResult(
        check_name="raw_sources_readable", passed=not reasons,
        severity=dg.AssetCheckSeverity.WARN if reasons and set(reasons) <= warn_only else dg.AssetCheckSeverity.ERROR,
        description=f"sources that could not be read: {', '.join(reasons)}" if reasons else None,
        metadata={"unreadable_sources": dg.MetadataValue.json(list(reasons)),
                  "reasons": dg.MetadataValue.json(reasons)})


@dg.asset(
    group_name="instruction_data", kinds={"polars", "parquet"},
    code_version=stage_code_version("raw_sources"),
    description="Every record of every configured source, verbatim, with file, line/offset and content hash; "
                "records that do not parse are kept with their parse error, and a source that cannot be read at "
                "all is one row (locator '(whole source)') saying why.",
    check_specs=[
        check_spec("raw_sources", "raw_schema", "the columns and types raw_sources declares, no column missing or undeclared"),
        check_spec("raw_sources", "raw_ids_unique", "one row per raw record; ids, sources, files, locators and hashes not null"),
        check_spec("raw_sources", "raw_sources_readable", "every source could be read; fails naming each source that "
              "could not (the others are read, and unify rejects it as 'source_unreadable')"),
    ],
)
def raw_sources(context: dg.AssetExecutionContext, config: RawSourcesConfig, data_store: DataStoreResource):
    try:
        entries, base = load_sources(config.sources_file)
    except SourceConfigError as e:
        raise dg.Failure(description=f"config field 'sources_file': {e}") from None
    store = data_store.store()
    # The snapshot the source sensor takes; its digest in the metadata tells the sensor what this build saw.
    files = snapshot(watched_files(config.sources_file))
    t0 = time.perf_counter()
    try:
        raw, builds = _source_cache(store).read_sources(entries, base, stage_code_version("raw_sources"),
                                                        {p: f["sha"] for p, f in files.items() if f.get("sha")})
    except SourceReadError as e:  # a source set to `on_error: stop`
        raise dg.Failure(description=str(e)) from None
    read_seconds = time.perf_counter() - t0
    options = pl.DataFrame({"source": [e.name for e in entries],
                            "options_json": [e.model_dump_json() for e in entries]})
    errors = raw.filter(pl.col("parse_error").is_not_null())
    with GxRecord(store.root, "raw_sources") as record:
        checks = [
            raw_schema_check(record, raw),
            record.check("raw_ids_unique", raw, [Expect("unique", "raw_id")] +
                         [Expect("not_null", c) for c in ("raw_id", "source", "file", "locator", "content_hash")],
                         ids="raw_id"),
            _readable_check(raw, entries),
        ]
    with store.publishing("raw_sources") as stage:
        path = stage.write_table("raw_sources", raw)
        stage.write_table("raw_source_options", options)
        yield from stop_unless_checks_pass(stage, checks)
    yield dg.MaterializeResult(
        metadata=published_metadata(context, stage) | table_metadata(raw, path, ["source", "format", "locator", "parse_error"]) | {
            "records_per_source": counts(raw, "source"),
            "parse_errors": errors.height,
            "parse_error_examples": frame_table(errors.select("source", "locator", "parse_error").head(10)),
            "source_files_digest": snapshot_digest(files),
        } | _builds_metadata(builds, "reread", read_seconds),
        # unified_pairs reads the records and the options, so both make up what downstream sees.
        data_version=dg.DataVersion(frame_version(raw, options)),
        check_results=checks,
    )


# -------------------------------------------------------------------------------------------- unified_pairs
@dg.asset(
    deps=[raw_sources], group_name="instruction_data", kinds={"polars", "duckdb", "parquet"},
    code_version=stage_code_version("unified_pairs"),
    description="One schema for all sources: pair_id, source, messages, instruction/input/response, lang, provenance. "
                "Records that cannot be unified go to unified_pairs_rejected with a reason.",
    check_specs=[
        check_spec("unified_pairs", "unified_schema", "required columns are not null"),
        check_spec("unified_pairs", "unified_lang_allowed", "lang is en, zh or other"),
        check_spec("unified_pairs", "unified_accounting", "unified + rejected = raw records, each once"),
        check_spec("unified_pairs", "unified_not_empty", "at least one pair; fails saying which reject reasons took them all"),
    ],
)
def unified_pairs(context: dg.AssetExecutionContext, data_store: DataStoreResource):
    store = data_store.store()
    raw_version = upstream_version(context, store, "raw_sources")
    raw = raw_version.read_table("raw_sources")
    options = {s: json.loads(o) for s, o in raw_version.read_table("raw_source_options").iter_rows()}
    t0 = time.perf_counter()
    unified, rejected, builds = _source_cache(store).unify_sources(raw, options, stage_code_version("unified_pairs"))
    unify_seconds = time.perf_counter() - t0
    acc_df, acc_exp = accounting_check(pl.concat([unified["raw_id"], rejected["raw_id"]]), raw.height)
    with GxRecord(store.root, "unified_pairs") as record:
        checks = [
            record.check("unified_schema", unified, [Expect("not_null", c) for c in
                         ("pair_id", "raw_id", "source", "instruction", "response", "lang", "text")], ids="raw_id"),
            record.check("unified_lang_allowed", unified, [Expect("in_set", "lang", {"values": LANGS})], ids="pair_id"),
            record.check("unified_accounting", acc_df, acc_exp, ids="id"),
            not_empty_check("unified_not_empty", "unified_pairs", unified.height, raw.height, "raw records", rejected),
        ]
    with store.publishing("unified_pairs") as stage:
        path = stage.write_table("unified_pairs", unified)
        stage.write_table("unified_pairs_rejected", rejected)
        yield from stop_unless_checks_pass(stage, checks)
    yield dg.MaterializeResult(
        metadata=published_metadata(context, stage, raw_version) | table_metadata(unified, path, ["pair_id", "source", "lang", "instruction", "response"]) | {
            "rejected": rejected.height,
            "rejected_by_reason": counts(rejected, "reason"),
            "pairs_per_source": counts(unified, "source"),
            "pairs_per_lang": counts(unified, "lang"),
            "duplicate_pair_ids": unified.height - unified["pair_id"].n_unique(),
        } | _builds_metadata(builds, "reconverted", unify_seconds),
        # Only unified_pairs is read downstream; the rejected table does not feed the next stage.
        data_version=dg.DataVersion(frame_version(unified)),
        check_results=checks,
    )


