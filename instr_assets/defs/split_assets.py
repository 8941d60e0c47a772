"""The stratification asset: labels, the mixture, and leak-free train/validation/test splits."""

import os
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from instr_assets.core.stratify import difficulty as dif
from instr_assets.core.stratify import groups, mixture, split
from instr_assets.core.storage import run_sql
from instr_assets.core.versioning import frame_version, stage_code_version

from .augment_assets import augmented_pairs
from .checks_content import mix_drift_check
from .gx_bridge import Expect, GxRecord
from .metadata import counts, frame_table, image, table_metadata
from .publication import (accounting_check, check_spec, published_metadata, stop_unless_checks_pass,
                          upstream_version)
from .resources import DataStoreResource, cached_embedder, model_cache


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
    label_method: Literal["rules", "model"] = Field(default="model", description="domain and task type from nearest "
                                                    "prototypes over multilingual-e5 embeddings and the pair's shape "
                                                    "(model), or from keyword rules (rules: faster, less accurate; "
                                                    "bench/results/label_bench.md)")
    difficulty_method: Literal["model", "length"] = Field(
        default="model", description="difficulty from the base model's loss on the response (with and without the "
                                     "instruction, IFD), bucketed by quantiles; or from the response's length")
    difficulty_model: str = Field(
        default=os.environ.get("INSTR_ASSETS_DIFFICULTY_MODEL", "smollm2"),
        description="base model that scores difficulty: as base_model of finetuned_checkpoint ('smollm2', 'tiny', a "
                    "Hugging Face id or folder); $INSTR_ASSETS_DIFFICULTY_MODEL sets the default")
    difficulty_bucket_by: Literal["ifd", "response_loss"] = Field(
        default="ifd", description="the score the easy/medium/hard quantiles are taken of")
    difficulty_quantiles: list[float] = Field(
        default=list(dif.DifficultyRules().quantiles), min_length=2, max_length=2,
        description="easy up to the first quantile of the scores, medium up to the second, hard above")
    difficulty_max_prompt_tokens: int = Field(default=dif.DifficultyRules().max_prompt_tokens, ge=1,
                                              description="a longer prompt keeps its last tokens, next to the answer")
    difficulty_max_response_tokens: int = Field(default=dif.DifficultyRules().max_response_tokens, ge=1,
                                                description="only the first tokens of a longer answer are scored")
    difficulty_threads: int = Field(default=dif.DifficultyRules().threads, ge=1, description="torch threads for scoring")

    def difficulty_rules(self) -> dif.DifficultyRules:
        return dif.DifficultyRules(self.difficulty_model, self.difficulty_bucket_by, tuple(self.difficulty_quantiles),
                                   self.difficulty_max_prompt_tokens, self.difficulty_max_response_tokens,
                                   threads=self.difficulty_threads)


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

            labels = model_labels(pairs.filter(~pl.col("is_augmented")), cached_embedder(store))
        difficulty = None
        difficulty_summary = {"method": "length"}
        if config.difficulty_method == "model":
            scored = dif.model_difficulty(pairs.filter(~pl.col("is_augmented")), config.difficulty_rules(),
                                          model_cache(store))
            difficulty, difficulty_summary = scored.labels, scored.summary
        result = split.stratify_and_split(pairs, rules, labels, difficulty)
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
            # How difficulty was decided (model, thresholds, cache) and why rows have no response_loss / ifd.
            "difficulty": dg.MetadataValue.json(
                difficulty_summary | {"rows_without_ifd": dif.unscored_reasons(splits, difficulty)}),
            "split_stats": frame_table(stats.head(30)),
            "stratum_balance": image(plots.stratum_balance(before, after),
                                     "groups per stratum and pairs per domain (repeats counted), before and after "
                                     "mixture sampling"),
            "mixture_chart": image(plots.mixture_chart(result.mixture, result.strata,
                                                       splits["label_confidence"].to_list(), rules.mixture.by),
                                   "natural, target and achieved mixture; pairs per stratum before and after "
                                   "sampling; label confidence"),
        },
        check_results=checks,
    )
