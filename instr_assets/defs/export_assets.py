"""The dataset_exports asset: the published splits written in the formats other training tools read (Hugging
Face datasets Parquet with a card, messages JSONL, ShareGPT/Alpaca JSON with LLaMA-Factory's dataset_info.json,
Axolotl snippets), staged as a new version and published only when every file holds exactly the pairs of its
split."""
import dagster as dg
import polars as pl

from instr_assets.core.export import exports
from instr_assets.core.export.records import ExportError
from instr_assets.core.stratify.split import SPLITS
from instr_assets.core.versioning import files_version, stage_code_version

from .split_assets import stratified_splits
from .metadata import frame_table, table_metadata
from .publication import check_spec, published_metadata, stop_unless_checks_pass, upstream_version
from .resources import DataStoreResource

_DESCRIPTIONS = {"format": "export format", "folder": "where its files are (the live export)",
                 "records": "records read back from the file", "pairs": "pairs left out of the format",
                 "reason": "why the format cannot hold them (tool_turns, consecutive_tool_results, tool_call_with_text)",
                 "problem": "missing: a pair of the split is not in the file; unexpected: a record that is no pair of "
                            "the split; wrong_count: a pair written other than once (Parquet) or its repeats times (a train file of "
                            "the other formats)"} | {
    s: f"records in the {s} file" for s in SPLITS}
_LEFT_OUT = {"format": pl.Utf8, "split": pl.Utf8, "pair_id": pl.Utf8, "reason": pl.Utf8}
_FORMAT_NAMES = {"hf": "Hugging Face datasets Parquet", "messages": "OpenAI-style messages JSONL",
                 "sharegpt": "ShareGPT JSON (LLaMA-Factory)", "alpaca": "Alpaca JSON (LLaMA-Factory)"}


def _match_check(found: pl.DataFrame, wrong: pl.DataFrame) -> dg.AssetCheckResult:
    """Passes when every export holds, per split, the pair ids of that split and nothing else; fails naming the
    format, split and pair of each difference."""
    per_file = found.group_by("format", "split").agg(pl.len().alias("records")).sort("format", "split")
    return dg.AssetCheckResult(
        check_name="exports_match_splits", passed=wrong.is_empty(),
        description=None if wrong.is_empty() else
        f"{wrong.height} difference(s) between the exports and stratified_splits: " +
        "; ".join(f"{f}/{s}: {p} {i}" for f, s, i, p in wrong.head(5).iter_rows()),
        metadata={"differences": wrong.height, "records_per_file": frame_table(per_file, _DESCRIPTIONS),
                  "failing_rows": frame_table(wrong.head(20), _DESCRIPTIONS)})


def _files_table(root, manifest: exports.ExportManifest) -> dg.MetadataValue:
    """Per format: where its files are and how many records each split's file holds."""
    return frame_table(pl.DataFrame(
        [{"format": _FORMAT_NAMES[fmt], "folder": str((root / manifest.files[fmt]["train"]).parent),
          **{s: manifest.counts[fmt][s] for s in SPLITS}} for fmt in exports.FORMATS]), _DESCRIPTIONS)


@dg.asset(
    deps=[stratified_splits], group_name="instruction_data", kinds={"polars", "parquet", "huggingface"},
    code_version=stage_code_version("dataset_exports"),
    description="The splits in the formats other tools train with: Hugging Face datasets Parquet with a dataset "
                "card (load_dataset finds train/validation/test), OpenAI-style messages JSONL, ShareGPT and Alpaca "
                "JSON with a LLaMA-Factory dataset_info.json, and Axolotl dataset snippets. Every turn of a "
                "conversation is kept; a format that cannot hold a pair (Alpaca and tool calls) leaves it out and "
                "says why.",
    check_specs=[check_spec("dataset_exports", "exports_match_splits",
                       "each export file holds exactly the pair ids of its split in stratified_splits")],
)
def dataset_exports(context: dg.AssetExecutionContext, data_store: DataStoreResource):
    store = data_store.store()
    splits_version = upstream_version(context, store, "stratified_splits")
    splits = splits_version.read_table("stratified_splits")
    with store.publishing("dataset_exports") as stage:
        try:
            manifest = exports.export_splits(splits, stage.folder)
        except ExportError as e:
            raise dg.Failure(description=f"dataset_exports: {e}") from None
        found = exports.read_back(splits, stage.folder, manifest)
        checks = [_match_check(found, exports.mismatches(splits, found, manifest.left_out))]
        # Hashed before publishing adds the step's own manifest, whose timestamp would change it every run.
        data_version = files_version([p for p in stage.folder.rglob("*") if p.is_file()])
        yield from stop_unless_checks_pass(stage, checks)
    live = store.published_dir / "dataset_exports"
    context.log.info(f"dataset_exports: {splits.height} pairs written in {len(exports.FORMATS)} formats to {live}")
    yield dg.MaterializeResult(
        metadata=published_metadata(context, stage, splits_version) |
        table_metadata(splits.select(manifest.hf_columns), live, ["pair_id", "source", "lang", "instruction", "response"]) | {
            "exports": _files_table(live, manifest),
            # Valid pairs a format cannot hold (Alpaca has no tool turns), by format and reason.
            "left_out_of_format": frame_table(pl.DataFrame(manifest.left_out, schema=_LEFT_OUT)
                                              .group_by("format", "reason").agg(pl.len().alias("pairs"))
                                              .sort("format", "reason"), _DESCRIPTIONS),
            "dataset_card": dg.MetadataValue.path(str(live / manifest.extras["dataset_card"])),
            "llama_factory_dataset_info": dg.MetadataValue.path(str(live / manifest.extras["llama_factory_dataset_info"])),
            "axolotl_snippets": dg.MetadataValue.json({k: str(live / v) for k, v in manifest.extras.items()
                                                      if k.startswith("axolotl_")}),
        },
        data_version=dg.DataVersion(data_version),
        check_results=checks,
    )
