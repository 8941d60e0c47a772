"""The data stage assets. Each is a short wrapper: config in, the upstream versions this run built (or the
live ones), core function, its tables staged as a new version, blocking Great Expectations checks on them,
and only when every check passes one switch that publishes the tables (Parquet + DuckDB views) together;
a failing check fails the step, so downstream assets do not run and the previous version stays live."""

import json
import time
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from instr_assets.core.augment import augmentation
from instr_assets.core.augment.gates import GateRules
from instr_assets.core.augment.noise import NoiseRates
from instr_assets.core.clean import cleaning
from instr_assets.core.stratify import groups, mixture, split
from instr_assets.core.ingest.source_cache import SourceCache, SourceReadError, snapshot, snapshot_digest, watched_files
from instr_assets.core.ingest.source_config import (DEFAULT_SOURCES_FILE, UNREADABLE_SOURCE_LOCATOR, SourceConfigError,
                                                    evaluation_sources, load_sources)
from instr_assets.core.storage import DataStore, run_sql
from instr_assets.core.versioning import frame_version, stage_code_version

from .clean_config import CleanConfig
from .checks_content import leftover_pii_check, mix_drift_check, raw_schema_check, reject_share_check
from .gx_bridge import Expect, GxRecord
from .metadata import counts, frame_table, image, table_metadata
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


# -------------------------------------------------------------------------------------------- cleaned_pairs
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
    with store.publishing("cleaned_pairs") as stage:
        rejected = cleaning.clean_parquet(unified_version.table_path("unified_pairs"), stage.table_path("cleaned_pairs"),
                                          config.rules(evaluation), timings)
        stage.write_table("cleaned_pairs_rejected", rejected)
        cleaned = stage.read_table("cleaned_pairs")
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
                     rejected.filter(pl.col("reason").is_in(["exact_duplicate", "near_duplicate"])).select(
                         "pair_id", pl.col("kept_pair_id").is_in(cleaned["pair_id"].implode()).alias("kept_pair_is_kept")),
                     [Expect("in_set", "kept_pair_is_kept", {"values": [True]})], ids="pair_id"),
        not_empty_check("cleaned_not_empty", "cleaned_pairs", cleaned.height, unified.height, "pairs", rejected),
        leftover_pii_check(record, cleaned, config.pii_action, config.rules().pii),
        reject_share_check(record, per_source, config.max_reject_share_per_source, config.reject_share_blocks),
    ]


# ------------------------------------------------------------------------------------------ augmented_pairs
class AugmentConfig(dg.Config):
    seed: int = 13
    operators: list[str] = Field(default=list(augmentation.OPERATORS), description=f"any of {list(augmentation.OPERATORS)}")
    max_augmented_share: float = Field(default=0.25, ge=0.0, lt=1.0)
    apply_prob: float = Field(default=0.5, ge=0.0, le=1.0)
    synonym_rate: float = Field(default=0.15, gt=0.0, le=1.0, description="share of an instruction's words the "
                                "synonym operator replaces (at least one)")
    synonym_pos: list[str] = Field(default=["verb", "adj", "adv"], description="parts of speech the synonym operator "
                                   "may replace; 'noun' too changed the topic too often in review")
    synonym_langs: list[str] = Field(default=["en"], description="languages the synonym operator runs on; 'zh' "
                                     "(HIT Cilin) is opt-in: 12 of 20 Chinese children were good in review")
    noise_word_rate: float = Field(default=0.1, gt=0.0, le=1.0, description="noise: share of the words swapped, "
                                   "inserted or deleted")
    noise_char_rate: float = Field(default=0.03, gt=0.0, le=1.0, description="noise: share of the letters with a typo")
    similarity_gate: bool = Field(default=True, description="embed parent and child (multilingual-e5-small) and "
                                  "reject a child outside [min_similarity, max_similarity)")
    min_similarity: float = Field(default=0.80, ge=0.0, le=1.0, description="below: the meaning drifted")
    max_similarity: float = Field(default=0.995, ge=0.0, le=1.0, description="at or above: the child adds nothing")

    def rules(self) -> augmentation.AugmentRules:
        return augmentation.AugmentRules(
            seed=self.seed, operators=tuple(self.operators), max_augmented_share=self.max_augmented_share,
            apply_prob=self.apply_prob, synonym_rate=self.synonym_rate, synonym_pos=tuple(self.synonym_pos),
            synonym_langs=tuple(self.synonym_langs), noise=NoiseRates(self.noise_word_rate, self.noise_char_rate),
            gates=GateRules(self.min_similarity, self.max_similarity))


def _embedder(store: DataStore):
    """multilingual-e5-small behind the runtime's content cache, so a rebuild embeds nothing it has seen."""
    from instr_assets.core.models.runtime.cache import OutputCache
    from instr_assets.core.models.runtime.embeddings import Embedder

    return Embedder(cache=OutputCache.in_folder(store.root))


def _similarity_embedder(store: DataStore):
    embedder = _embedder(store)
    return lambda texts: embedder.embed(texts, "query")


@dg.asset(
    deps=[cleaned_pairs], group_name="instruction_data", kinds={"polars", "parquet"},
    code_version=stage_code_version("augmented_pairs"),
    description="Cleaned pairs plus seeded augmentations of the instruction: synonyms from WordNet 3.0 / HIT Cilin, "
                "rule-based question <-> imperative and clause moves, EDA-style noise. Each child passes gates "
                "(similarity band, language, cleaning filters, no duplicate) and names its parent, operator, model "
                "or lexicon and similarity; rejects go to augmented_pairs_rejected with a reason; the share is capped.",
    check_specs=[
        check_spec("augmented_pairs", "augmented_pair_id_unique", "pair_id unique"),
        check_spec("augmented_pairs", "augmented_lineage", "every child has a parent among the originals and a known operator"),
        check_spec("augmented_pairs", "augmented_share_capped", "augmented share at most the configured cap"),
    ],
)
def augmented_pairs(context: dg.AssetExecutionContext, config: AugmentConfig, data_store: DataStoreResource):
    store = data_store.store()
    cleaned_version = upstream_version(context, store, "cleaned_pairs")
    cleaned = cleaned_version.read_table("cleaned_pairs")
    try:
        rules = config.rules()
        augmentation.validate(rules)
    except ValueError as e:
        raise dg.Failure(description=f"augmented_pairs config: {e}") from None
    try:
        embed = _similarity_embedder(store) if config.similarity_gate else None
        result = augmentation.augment(cleaned, rules, embed, context.log.info)
    except (ImportError, FileNotFoundError) as e:  # a lexicon or the embedding model is not installed
        raise dg.Failure(description=f"augmented_pairs: {e}") from None
    out, rejected = result.pairs, result.rejected
    children = out.filter(pl.col("is_augmented"))
    lineage = children.select("pair_id", pl.col("parent_pair_id").is_in(cleaned["pair_id"].implode()).alias("parent_known"),
                              "operator")
    with GxRecord(store.root, "augmented_pairs") as record:
        checks = [
            record.check("augmented_pair_id_unique", out, [Expect("unique", "pair_id")], ids="pair_id"),
            record.check("augmented_lineage", lineage, [Expect("in_set", "parent_known", {"values": [True]}),
                                                        Expect("in_set", "operator", {"values": list(augmentation.OPERATORS)})],
                         ids="pair_id"),
            record.check("augmented_share_capped", out.select(pl.col("is_augmented").cast(pl.Float64)),
                         [Expect("mean_between", "is_augmented", {"min": 0.0, "max": config.max_augmented_share + 1e-9})]),
        ]
    with store.publishing("augmented_pairs") as stage:
        path = stage.write_table("augmented_pairs", out)
        stage.write_table("augmented_pairs_rejected", rejected)
        yield from stop_unless_checks_pass(stage, checks)
    per_operator = children.group_by("operator").len("children")
    seconds = pl.DataFrame({"operator": list(result.seconds), "seconds": [round(v, 2) for v in result.seconds.values()]},
                           schema={"operator": pl.Utf8, "seconds": pl.Float64}).join(per_operator, on="operator", how="left")
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(frame_version(out)),  # the table downstream reads
        metadata=published_metadata(context, stage, cleaned_version) | table_metadata(out, path, ["pair_id", "operator", "parent_pair_id", "instruction"]) | {
            "augmented": children.height,
            "augmented_share": round(children.height / max(out.height, 1), 4),
            "per_operator": counts(out, "operator"),
            "rejected": rejected.height,
            "rejected_by_reason": counts(rejected, "reason"),
            "seconds_per_operator": frame_table(seconds),
            "examples": frame_table(
                children.join(cleaned.select("pair_id", pl.col("instruction").alias("parent_instruction")),
                              left_on="parent_pair_id", right_on="pair_id").select("operator", "model_id", "similarity",
                                                                                   "parent_instruction", "instruction").head(6)),
        },
        check_results=checks,
    )


# ---------------------------------------------------------------------------------------- stratified_splits
class SplitConfig(dg.Config):
    seed: int = 2024
    mix_by: str = Field(default="source", description=f"what the mixture shares are of: one of {list(mixture.MIX_BY)}")
    mix_targets: dict[str, float] = Field(default={}, description="target share of the pairs per value of mix_by "
                                          "(normalized to sum 1; a value left out is dropped); empty: temperature")
    mix_temperature: float = Field(default=1.0, gt=0.0, description="with no mix_targets, shares follow "
                                   "pairs ** (1 / mix_temperature): 1 keeps the natural mixture, higher flattens it")
    max_repeats: int = Field(default=3, ge=1, description="the most copies of a pair up-sampling may make")
    mix_total_pairs: int | None = Field(default=None, ge=1, description="pairs after sampling (counting repeats); "
                                        "default the input's size, lowered where max_repeats would be exceeded")
    context_min_chars: int = Field(default=200, ge=1, description="a passage (paragraph of the input) this long "
                                   "or longer ties every pair that shares it into one split group")
    ngram_words: int = Field(default=13, ge=1, description="validation/test decontamination: words in an n-gram")
    ngram_chars_zh: int = Field(default=20, ge=1, description="validation/test decontamination: Han characters in an n-gram")
    template_min_groups: int = Field(default=10, ge=2, description="a line or n-gram in this many groups is task "
                                     "wording, not content, and is not matched")
    contaminated_action: str = Field(default="move", description="'move' (to train) or 'drop' a validation/test "
                                     "group sharing an n-gram with train")
    validation_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    test_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)
    min_pairs_per_split: int = Field(default=1, ge=0, description="each split must hold at least this many pairs")
    max_mix_drift: float = Field(default=0.2, ge=0, le=1, description="mix_drift check: the most a language's or "
                                 "domain's share of the pairs may move from the previous published version")
    mix_drift_blocks: bool = Field(default=False, description="mix_drift blocks publication (ERROR) instead of warning")
    label_method: Literal["rules", "model"] = Field(default="rules", description="domain and task type from keyword "
                                                    "rules, or from nearest prototypes over multilingual-e5 embeddings "
                                                    "(model: better on domain, not yet on task type; BENCHMARKS.md)")


@dg.asset(
    deps=[augmented_pairs], group_name="instruction_data", kinds={"polars", "duckdb", "parquet"},
    code_version=stage_code_version("stratified_splits"),
    description="Pairs labelled with domain, task type and difficulty, sampled to a mixture (drops and repeats by "
                "group), split deterministically so that no leak group (near-duplicate cluster, augmentation family, "
                "same prompt, shared passage) straddles splits; validation/test groups sharing a long n-gram with "
                "train move to train. Each split also gets its own table.",
    check_specs=[
        check_spec("stratified_splits", "no_pair_in_two_splits", "each pair and each parent group in exactly one split"),
        check_spec("stratified_splits", "labels_allowed", "domain, task type, difficulty and split from their allowed sets"),
        check_spec("stratified_splits", "splits_non_empty", "train, validation and test each hold min_pairs_per_split pairs"),
        check_spec("stratified_splits", "splits_accounting", "split + dropped = augmented input"),
        check_spec("stratified_splits", "mix_drift", "each language's and domain's share within max_mix_drift of the previous "
                                                "published version; warns unless mix_drift_blocks"),
    ],
)
def stratified_splits(context: dg.AssetExecutionContext, config: SplitConfig, data_store: DataStoreResource):
    store = data_store.store()
    augmented_version = upstream_version(context, store, "augmented_pairs")
    pairs = augmented_version.read_table("augmented_pairs")
    try:
        rules = split.SplitRules(
            config.seed, config.validation_fraction, config.test_fraction,
            mixture.MixtureSpec(config.mix_by, dict(config.mix_targets), config.mix_temperature, config.max_repeats,
                                config.mix_total_pairs),
            groups.LeakRules(config.context_min_chars, config.ngram_words, config.ngram_chars_zh,
                             config.template_min_groups, config.contaminated_action))
        labels = None
        if config.label_method == "model":
            from instr_assets.core.stratify.model_labels import model_labels

            labels = model_labels(pairs.filter(~pl.col("is_augmented")), _embedder(store))
        result = split.stratify_and_split(pairs, rules, labels)
    except ValueError as e:
        raise dg.Failure(description=f"stratified_splits config: {e}") from None
    splits, dropped = result.splits, result.dropped
    stats = run_sql("split_stats", splits=splits)
    splits_per_group = splits.group_by("group_id").agg(pl.col("split").n_unique().alias("n_splits"))
    per_split = splits.group_by("split").len()
    sizes = {s: 0 for s in split.SPLITS} | dict(per_split.iter_rows())
    split_sizes = pl.DataFrame({"split": list(sizes), "pairs": list(sizes.values())})
    acc_df, acc_exp = accounting_check(pl.concat([splits["pair_id"], dropped["pair_id"]]), pairs.height)
    with GxRecord(store.root, "stratified_splits") as record:
        checks = [
            record.check("no_pair_in_two_splits", splits.select("pair_id", "group_id").join(splits_per_group, on="group_id"),
                         [Expect("unique", "pair_id"), Expect("between", "n_splits", {"min": 1, "max": 1})], ids="pair_id"),
            record.check("labels_allowed", splits, [
                Expect("in_set", "domain", {"values": split.DOMAINS}), Expect("in_set", "task_type", {"values": split.TASK_TYPES}),
                Expect("in_set", "difficulty", {"values": split.DIFFICULTIES}), Expect("in_set", "split", {"values": split.SPLITS})],
                ids="pair_id"),
            record.check("splits_non_empty", split_sizes,
                         [Expect("between", "pairs", {"min": config.min_pairs_per_split})], ids="split"),
            record.check("splits_accounting", acc_df, acc_exp, ids="id"),
            mix_drift_check(record, store, "stratified_splits", "stratified_splits", splits, config.max_mix_drift,
                            config.mix_drift_blocks),
        ]
    # splits_non_empty names the short splits (its failing rows); its description says what to do, and the
    # step's failure message carries that description.
    short = split_sizes.filter(pl.col("pairs") < config.min_pairs_per_split)
    if short.height:
        at = next(i for i, c in enumerate(checks) if c.check_name == "splits_non_empty")
        checks[at] = checks[at]._replace(description=split.short_splits_message(
            sizes, splits.height, splits["group_id"].n_unique(), rules, config.min_pairs_per_split))
    from instr_assets.core import plots  # matplotlib loads when the asset runs, not with the code location

    with store.publishing("stratified_splits") as stage:
        path = stage.write_table("stratified_splits", splits)
        for part in split.SPLITS:  # each split its own file, beside the combined table downstream reads
            stage.write_table(f"stratified_splits_{part}", splits.filter(pl.col("split") == part))
        stage.write_table("stratified_splits_dropped", dropped)
        stage.write_table("stratified_splits_moved", result.moved)
        stage.write_table("split_mixture", result.mixture)
        stage.write_table("split_stats", stats)
        yield from stop_unless_checks_pass(stage, checks)
    before = pl.concat([splits.select("stratum", "group_id"), dropped.select("stratum", "group_id")])
    # The chart's "after" counts a repeated pair once per copy, so up-sampling shows.
    after = splits.select("stratum", "group_id", pl.int_ranges("repeats").alias("copy")).explode("copy").drop("copy")
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(frame_version(splits)),  # the table downstream reads
        metadata=published_metadata(context, stage, augmented_version) | table_metadata(splits, path, ["pair_id", "split", "domain", "task_type", "difficulty"]) | {
            "pairs_per_split": frame_table(split_sizes),
            "dropped": dropped.height,
            "dropped_by_reason": counts(dropped, "reason"),
            "repeated_pairs": splits.filter(pl.col("repeats") > 1).height,
            "copies_added_by_repeats": int((splits["repeats"] - 1).sum()),
            "moved_to_train_by_ngram": result.moved.height,
            "mixture": frame_table(result.mixture),  # target against achieved share per mix_by value
            "pairs_per_stratum": frame_table(result.strata.head(40)),  # before and after sampling
            "dropped_examples": frame_table(dropped.head(20)),
            "moved_examples": frame_table(result.moved.head(20)),
            "group_links": frame_table(result.links),
            "largest_group": int(splits.group_by("group_id").len()["len"].max() or 0),
            "per_domain": counts(splits, "domain"), "per_task_type": counts(splits, "task_type"),
            "per_difficulty": counts(splits, "difficulty"),
            "split_stats": frame_table(stats.head(30)),
            "stratum_balance": image(plots.stratum_balance(before, after),
                                     "groups per stratum and pairs per domain (repeats counted), before and after "
                                     "mixture sampling"),
        },
        check_results=checks,
    )
