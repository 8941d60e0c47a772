"""The cleaning asset: cleaned_pairs and its rejected rows, every unified pair accounted for, with blocking
checks before publication."""

import time

import dagster as dg
import polars as pl

from instr_assets.core.clean import cleaning, semantic_dedup
from instr_assets.core.ingest.source_config import evaluation_sources
from instr_assets.core.versioning import frame_version, stage_code_version

from .clean_config import CleanConfig
from .checks_content import leftover_pii_check, reject_share_check
from .gx_bridge import Expect, GxRecord
from .ingest_assets import unified_pairs
from .metadata import counts, frame_table, image, table_metadata
from .publication import (accounting_check, check_spec, not_empty_check, published_metadata, stop_unless_checks_pass,
                          upstream_version)
from .resources import DataStoreResource, model_cache, query_embedder


@dg.asset(
    deps=[unified_pairs], group_name="instruction_data", kinds={"polars", "duckdb", "parquet"},
    code_version=stage_code_version("cleaned_pairs"),
    description="Mojibake repaired, text normalized (each language's punctuation kept), PII redacted or dropped, "
                "offline language ID, quality filters, content safety, decontamination against evaluation sets, "
                "exact dedup on folded text, near-duplicates proposed by MinHash LSH and confirmed on the texts. "
                "Every removal is a row in cleaned_pairs_rejected with a reason code (docs/cleaning.md).",
    check_specs=[
        check_spec("cleaned_pairs", "cleaned_pair_id_unique", "pair_id and normalized text are unique"),
        check_spec("cleaned_pairs", "cleaned_lengths_in_bounds", "response length within the configured bounds"),
        check_spec("cleaned_pairs", "cleaned_lang_allowed", "lang among the configured languages (or und)"),
        check_spec("cleaned_pairs", "cleaned_accounting", "kept + rejected = unified input"),
        check_spec("cleaned_pairs", "cleaned_accounting_per_source", "kept + rejected = unified input, per source"),
        check_spec("cleaned_pairs", "cleaned_duplicates_point_to_kept", "every duplicate reject names a kept pair"),
        check_spec("cleaned_pairs", "cleaned_not_empty", "at least one pair kept; fails saying which reject reasons took them all"),
        check_spec("cleaned_pairs", "cleaned_no_leftover_pii", "no PII pattern (e-mail, phone, ID, card, IP, key shapes) "
                                                          "left in any text field or turn; names the pairs"),
        check_spec("cleaned_pairs", "cleaned_reject_share_per_source", "no source loses more than max_reject_share_per_source "
                                                                  "of its pairs; warns unless reject_share_blocks"),
    ],
)
def cleaned_pairs(context: dg.AssetExecutionContext, config: CleanConfig, data_store: DataStoreResource):
    store = data_store.store()
    unified_version, raw_version = upstream_version(context, store, "unified_pairs"), upstream_version(context, store, "raw_sources")
    # Only the columns the checks need: the cleaning itself streams the file.
    unified = unified_version.read_table("unified_pairs", columns=["raw_id", "source", "lang"])
    evaluation = evaluation_sources(raw_version.read_table("raw_source_options")["options_json"].to_list())
    timings: dict[str, float] = {}
    report: dict = {}
    with store.publishing("cleaned_pairs") as stage:
        rejected = cleaning.clean_parquet(unified_version.table_path("unified_pairs"), stage.table_path("cleaned_pairs"),
                                          config.rules(evaluation), timings, model_cache(store), report)
        cleaned = stage.read_table("cleaned_pairs")
        if config.semantic_dedup:
            started = time.perf_counter()
            cleaned, semantic = semantic_dedup.semantic_duplicates(cleaned, query_embedder(store),
                                                                   config.semantic_rules())
            stage.write_table("cleaned_pairs", cleaned)
            rejected = pl.concat([rejected, semantic])
            timings["semantic_dedup"] = time.perf_counter() - started
        stage.write_table("cleaned_pairs_rejected", rejected)
        with GxRecord(store.root, "cleaned_pairs") as record:
            checks = _cleaned_checks(record, config, unified, cleaned, rejected)
        yield from stop_unless_checks_pass(stage, checks)
    path = stage.table_path("cleaned_pairs")
    langs = unified.select("raw_id", "lang")
    examples = rejected.group_by("reason", maintain_order=True).head(3).select("reason", "source", "detail", "kept_pair_id")
    clusters = cleaned.group_by("cluster_id").len()
    from instr_assets.core import plots  # matplotlib loads when the asset runs, not with the code location

    yield dg.MaterializeResult(
        data_version=dg.DataVersion(frame_version(cleaned)),  # the table downstream reads
        metadata=published_metadata(context, stage, unified_version, raw_version) |
        table_metadata(cleaned, path, ["pair_id", "source", "lang", "instruction", "response"]) | {
            "rejected": rejected.height,
            "rejected_by_reason": counts(rejected, "reason"),
            "rejected_by_source": counts(rejected, "source"),
            "rejected_by_lang": counts(rejected.join(langs, on="raw_id", how="left"), "lang"),
            "rejected_examples": frame_table(examples),
            "pii_redacted_pairs": int(cleaned["pii_kinds"].is_not_null().sum()),
            "pairs_per_lang": counts(cleaned, "lang"),
            "near_duplicate_clusters_over_1": int((clusters["len"] > 1).sum()),
            "truncation_model": report["truncation_model"],
            "seconds_per_operator": frame_table(pl.DataFrame({"operator": list(timings), "seconds": [round(v, 2) for v in timings.values()]},
                                                              schema={"operator": pl.Utf8, "seconds": pl.Float64})),
            "length_histograms": image(plots.length_histograms(cleaned), "instruction and response length by language"),
        },
        check_results=checks,
    )


def _per_source_accounting(unified: pl.DataFrame, cleaned: pl.DataFrame, rejected: pl.DataFrame) -> pl.DataFrame:
    """Per source: input rows, kept, rejected and the difference, which must be zero."""
    per = [f.group_by("source").agg(pl.col("raw_id").n_unique().alias(name))
           for f, name in ((unified, "input"), (cleaned, "kept"), (rejected, "rejected"))]
    out = per[0].join(per[1], on="source", how="full", coalesce=True).join(per[2], on="source", how="full", coalesce=True)
    out = out.fill_null(0)
    return out.with_columns((pl.col("input") - pl.col("kept") - pl.col("rejected")).abs().alias("missing"))


def _cleaned_checks(record: GxRecord, config: CleanConfig, unified: pl.DataFrame, cleaned: pl.DataFrame,
                    rejected: pl.DataFrame) -> list[dg.AssetCheckResult]:
    # Length in the units the filter uses: non-space characters for Chinese, words otherwise.
    is_zh = pl.col("lang") == "zh"
    lengths = cleaned.select(
        "pair_id",
        pl.when(is_zh).then(pl.col("response").str.replace_all(r"\s", "").str.len_chars()).alias("zh_chars"),
        pl.when(~is_zh).then(pl.col("response").str.count_matches(r"\S+")).alias("words"))
    acc_df, acc_exp = accounting_check(pl.concat([cleaned["raw_id"], rejected["raw_id"]]), unified.height)
    per_source = _per_source_accounting(unified, cleaned, rejected)
    return [
        record.check("cleaned_pair_id_unique", cleaned, [Expect("unique", "pair_id"), Expect("unique", "norm_hash")],
                     ids="pair_id"),
        record.check("cleaned_lengths_in_bounds", lengths, [
            Expect("between", "zh_chars", {"min": max(1, config.min_chars_zh), "max": config.max_chars_zh}),
            Expect("between", "words", {"min": max(1, config.min_words), "max": config.max_words})], ids="pair_id"),
        record.check("cleaned_lang_allowed", cleaned, [Expect("not_null", "lang")] + (
            [Expect("in_set", "lang", {"values": [*config.languages, "und"]})] if config.languages else []), ids="pair_id"),
        record.check("cleaned_accounting", acc_df, acc_exp, ids="id"),
        record.check("cleaned_accounting_per_source", per_source, [Expect("between", "missing", {"min": 0, "max": 0})],
                     ids="source"),
        record.check("cleaned_duplicates_point_to_kept",
                     rejected.filter(pl.col("reason").is_in(["exact_duplicate", "near_duplicate", "semantic_duplicate"])).select(
                         "pair_id", pl.col("kept_pair_id").is_in(cleaned["pair_id"].implode()).alias("kept_pair_is_kept")),
                     [Expect("in_set", "kept_pair_is_kept", {"values": [True]})], ids="pair_id"),
        not_empty_check("cleaned_not_empty", "cleaned_pairs", cleaned.height, unified.height, "pairs", rejected),
        leftover_pii_check(record, cleaned, config.pii_action, config.rules().pii),
        reject_share_check(record, per_source, config.max_reject_share_per_source, config.reject_share_blocks),
    ]


