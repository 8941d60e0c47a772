"""Checks on what the data holds, not on what the code already guarantees: the raw table against the schema
it is declared to have, PII patterns left in cleaned pairs, sources losing more than a set share of their
pairs to cleaning, and the language and domain mix drifting from the previous published version.

Each builds a small frame (one row per thing that can fail, named by an id column) with a pure function and
validates it through the step's `GxRecord`, so the failing pairs, sources or mix values are named in the
check's metadata and in Data Docs."""
from __future__ import annotations

import dagster as dg
import polars as pl

from instr_assets.core.clean.pii import PiiRules, find_pii_series
from instr_assets.core.storage import DataStore

from .gx_bridge import Expect, GxRecord

# The columns and types raw_sources promises to the stages after it; written out here, not read from the
# reader's code, so a reader that changes a type or drops a column fails raw_schema instead of passing it on.
RAW_DECLARED_SCHEMA: dict[str, pl.DataType] = {
    "raw_id": pl.Utf8, "source": pl.Utf8, "format": pl.Utf8, "file": pl.Utf8, "locator": pl.Utf8,
    "line": pl.Int64, "record": pl.Utf8, "content_hash": pl.Utf8, "parse_error": pl.Utf8, "domain_hint": pl.Utf8,
}
_PII_FIELDS = ("system", "instruction", "input", "response", "text")
MIX_COLUMNS = ("lang", "domain")


def declared_schema_frame(df: pl.DataFrame, declared: dict[str, pl.DataType]) -> pl.DataFrame:
    """One row per declared or found column: the declared type, the type found ('missing' when absent,
    'undeclared' for a column the declaration lacks) and whether they match."""
    names = list(declared) + [c for c in df.columns if c not in declared]
    rows = [(c, str(declared[c]) if c in declared else "undeclared", str(df.schema[c]) if c in df.columns else "missing")
            for c in names]
    out = pl.DataFrame(rows, schema={"column": pl.Utf8, "declared": pl.Utf8, "found": pl.Utf8}, orient="row")
    return out.with_columns((pl.col("declared") == pl.col("found")).alias("matches"))


def leftover_pii_frame(pairs: pl.DataFrame, rules: PiiRules) -> pl.DataFrame:
    """pair_id and the PII kinds the detectors still find in any text field or turn of the pair ('' for none).
    Only kinds are kept: the check's metadata must not repeat the personal data it found."""
    fields = [f for f in _PII_FIELDS if f in pairs.columns]
    turns = pairs.select("pair_id", "messages").explode("messages").unnest("messages") if "messages" in pairs.columns \
        else pl.DataFrame(schema={"pair_id": pl.Utf8, "content": pl.Utf8})
    owners = pairs["pair_id"].to_list() * len(fields) + turns["pair_id"].to_list()
    texts = pl.concat([pairs[f].cast(pl.Utf8).fill_null("") for f in fields] + [turns["content"].fill_null("")])
    found: dict[str, set[str]] = {}
    for i, matches in find_pii_series(texts, rules).items():
        found.setdefault(owners[i], set()).update(m.kind for m in matches)
    return pairs.select("pair_id").with_columns(
        pl.col("pair_id").replace_strict({p: ",".join(sorted(k)) for p, k in found.items()}, default="",
                                         return_dtype=pl.Utf8).alias("pii_found"))


def reject_shares(accounting: pl.DataFrame) -> pl.DataFrame:
    """Per source (from the per-source accounting: input, kept, rejected): the share of its input rejected."""
    return accounting.select("source", "input", "rejected",
                             (pl.col("rejected") / pl.max_horizontal(pl.col("input"), 1)).alias("reject_share"))


def mix_shares(df: pl.DataFrame, columns=MIX_COLUMNS) -> pl.DataFrame:
    """Share of rows per value of each mix column, keyed 'column=value'."""
    parts = [df.group_by(c).len().select(pl.format("{}={}", pl.lit(c), pl.col(c).cast(pl.Utf8).fill_null("null")).alias("mix"),
                                         (pl.col("len") / max(df.height, 1)).alias("share"))
             for c in columns if c in df.columns]
    return pl.concat(parts) if parts else pl.DataFrame(schema={"mix": pl.Utf8, "share": pl.Float64})


def mix_drift(current: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Per 'column=value': its share now and in the previous version (0 where absent) and the change."""
    both = mix_shares(current).join(mix_shares(previous), on="mix", how="full", coalesce=True, suffix="_previous")
    return both.fill_null(0.0).with_columns((pl.col("share") - pl.col("share_previous")).abs().alias("drift")).sort("mix")


# ---------------------------------------------------------------------------------------------- the checks
def raw_schema_check(record: GxRecord, raw: pl.DataFrame) -> dg.AssetCheckResult:
    return record.check("raw_schema", declared_schema_frame(raw, RAW_DECLARED_SCHEMA),
                        [Expect("in_set", "matches", {"values": [True]})], ids="column")


def leftover_pii_check(record: GxRecord, cleaned: pl.DataFrame, pii_action: str, rules: PiiRules) -> dg.AssetCheckResult:
    """No PII pattern left in a cleaned pair; passes with a note when PII handling is off."""
    if pii_action == "off":
        return dg.AssetCheckResult(check_name="cleaned_no_leftover_pii", passed=True,
                                   metadata={"note": "pii_action is off: PII is kept on purpose, not checked"})
    return record.check("cleaned_no_leftover_pii", leftover_pii_frame(cleaned, rules),
                        [Expect("in_set", "pii_found", {"values": [""]})], ids="pair_id")


def reject_share_check(record: GxRecord, accounting: pl.DataFrame, max_share: float, blocks: bool) -> dg.AssetCheckResult:
    """A source losing more than `max_share` of its pairs to cleaning warns (or, when `blocks`, fails)."""
    return record.check("cleaned_reject_share_per_source", reject_shares(accounting),
                        [Expect("between", "reject_share", {"min": 0.0, "max": max_share})], ids="source",
                        severity=dg.AssetCheckSeverity.ERROR if blocks else dg.AssetCheckSeverity.WARN)


def mix_drift_check(record: GxRecord, store: DataStore, step: str, table: str, current: pl.DataFrame,
                    max_drift: float, blocks: bool) -> dg.AssetCheckResult:
    """The language and domain shares against the live (previous) version of `step`: a share that moved by
    more than `max_drift` warns (or, when `blocks`, fails). The first build has nothing to compare with."""
    previous = store.published(step)
    name = "mix_drift"
    if previous is None:
        return dg.AssetCheckResult(check_name=name, passed=True,
                                   metadata={"note": f"first build of {step}: no previous version to compare with"})
    columns = [c for c in MIX_COLUMNS if c in current.columns]
    drift = mix_drift(current.select(columns), previous.read_table(table, columns=columns))
    result = record.check(name, drift, [Expect("between", "drift", {"min": 0.0, "max": max_drift})], ids="mix",
                          severity=dg.AssetCheckSeverity.ERROR if blocks else dg.AssetCheckSeverity.WARN)
    result.metadata["compared_with_version"] = dg.MetadataValue.text(previous.version_id)
    return result
