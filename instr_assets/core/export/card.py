"""The dataset card (README.md) of the Hugging Face export: YAML front matter that `datasets.load_dataset` and
the Hub read (configs/data_files per split, languages, licence, task), and a body saying where the pairs came
from, how many there are per split, source and language, and how they were cleaned and split."""
from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import yaml

from ..text import markdown_table
from .licences import dataset_licence


_HOW_MADE = """\
## How it was made

- **Unified**: every source record became one pair (`messages`, plus `instruction`/`input`/`response`; for a
  conversation `instruction` is its last user turn and `input` the earlier turns as a transcript). Records that
  could not be read or unified were rejected with a reason, not dropped silently.
- **Cleaned**: mojibake repaired, Unicode normalized (each language's punctuation kept), PII redacted to typed
  placeholders or the pair dropped, language identified offline, quality and content-safety filters, pairs close to
  evaluation sets removed, exact and near duplicates removed (instr-assets `docs/cleaning.md` lists every rule).
- **Augmented**: seeded rewrites of the request part of instructions (the `operator` of each child is in the
  pipeline's `augmented_pairs` table), each gated on similarity to its parent, language and the cleaning filters,
  capped at a share of the data.
- **Split**: `domain`, `task_type` and `difficulty` labels; a mixture reached by dropping or repeating whole groups
  (`repeats`: the Parquet files keep it as a column; the messages, ShareGPT and Alpaca train files write a pair that
  many times); a deterministic train/validation/test split that keeps a leak group (a near-duplicate cluster, an
  augmented family, one prompt, questions on one passage) in one split, and validation/test pairs sharing a long
  n-gram with train moved out, so no near copy of a test pair is in train.
"""


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _counts(df: pl.DataFrame, by: str, splits: tuple[str, ...]) -> pl.DataFrame:
    """Pairs per value of `by` (rows) and split (columns), with a total."""
    table = (df.group_by(by, "split").len().pivot(on="split", index=by, values="len")
             .fill_null(0) if df.height else pl.DataFrame({by: []}, schema={by: pl.Utf8}))
    for s in splits:
        if s not in table.columns:
            table = table.with_columns(pl.lit(0, pl.UInt32).alias(s))
    return table.select(by, *splits).with_columns(pl.sum_horizontal(*splits).alias("total")).sort(by)


def dataset_card(splits: pl.DataFrame, data_files: dict[str, str], licences: dict[str, dict],
                 columns: list[str]) -> str:
    """README.md text. `data_files`: split -> Parquet path relative to the card; `licences`: source ->
    {"licence", "licence_file"} (see licences.source_licence); `columns`: the Parquet columns, in order."""
    order = tuple(data_files)
    # ISO 639 codes as the language ID gives them; 'other' and 'und' (undetermined) name no language.
    langs = sorted(lang for lang in set(splits["lang"].drop_nulls().to_list())
                   if re.fullmatch(r"[a-z]{2,3}", lang) and lang != "und")
    front = {
        "pretty_name": "instr-assets instruction pairs",
        "language": langs,
        "license": dataset_licence(licences),
        "task_categories": ["text-generation"],
        "tags": ["instruction-tuning", "sft", "conversational"],
        "size_categories": [_size_category(splits.height)],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": p} for s, p in data_files.items()]}],
    }
    per_source = (splits.group_by("source").agg(pl.col("format").first(), pl.col("file").first(), pl.len().alias("pairs"))
                  .sort("source"))
    sources = per_source.with_columns(
        pl.col("file").map_elements(lambda f: f if f.startswith("builtin:") else Path(f).name, return_dtype=pl.Utf8),
        pl.col("source").replace_strict({s: v["licence"] for s, v in licences.items()}, default="not declared")
        .alias("licence"),
        pl.col("source").replace_strict({s: Path(v["licence_file"]).name if v["licence_file"] else "" for s, v in
                                         licences.items()}, default="").alias("licence_file"))
    body = [
        "# instr-assets instruction pairs", "",
        f"{splits.height} instruction pairs (languages: {', '.join(langs) or 'none labelled'}), written by the "
        "instr-assets pipeline from the sources below, in train, validation and test splits. Load it with "
        "`datasets.load_dataset(\"<this folder>\")`.", "",
        "## Where the data came from", "",
        "Each source's licence is read from the licence file beside its file, where there is one; "
        "'not declared' means none was found, so check the source before you publish or train on it.", "",
        markdown_table(sources.select("source", "format", "file", "pairs", "licence", "licence_file")), "",
        "## Counts", "", "Pairs per split and language:", "", markdown_table(_counts(splits, "lang", order)), "",
        "Pairs per split and source:", "", markdown_table(_counts(splits, "source", order)), "",
        _HOW_MADE,
        "## Columns", "",
        "`messages` (the whole conversation as role/content turns, a system turn first when there is one), "
        "`instruction`, `input`, `response`, and per pair: " + ", ".join(f"`{c}`" for c in columns[4:]) + ".", "",
        "The same pairs are in this export's other folders: OpenAI-style messages JSONL (`messages/`), ShareGPT and "
        "Alpaca JSON with a LLaMA-Factory `dataset_info.json` (`llama_factory/`), and Axolotl dataset snippets "
        "(`axolotl/`).", "",
    ]
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n\n" + "\n".join(body)
