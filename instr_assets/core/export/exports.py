"""Write the stratified splits in the formats other tools train with, and read the files back to check them.

Layout of an export folder:
  README.md, data/<split>.parquet        Hugging Face datasets (`datasets.load_dataset(folder)` finds the splits)
  messages/<split>.jsonl                 OpenAI-style {"messages": [...]} per line
  llama_factory/sharegpt_<split>.json,   ShareGPT and Alpaca JSON, with the dataset_info.json that registers them
  llama_factory/alpaca_<split>.json, llama_factory/dataset_info.json
  axolotl/chat_template.yml, axolotl/alpaca.yml   Axolotl `datasets:` snippets (alternatives)
  export_manifest.json                   the files and record counts per format and split

The mixture's up-sampling (the splits' `repeats` column, applied to train only, as tokenized_shards packs it) is
kept: the Parquet files carry `repeats` as a column (one row per pair, a weight a trainer can use), and the
formats that hold no weight (messages JSONL, ShareGPT, Alpaca) write a train pair `repeats` times, so training
on them sees the mixture the pipeline's own model saw.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from ..stratify.split import SPLITS
from .card import dataset_card
from .licences import source_licence
from .records import ExportError, NotInFormat, alpaca_record, openai_record, sharegpt_record
from .tool_configs import axolotl_snippets, dataset_info

FORMATS = ("hf", "messages", "sharegpt", "alpaca")
REQUIRED = ("pair_id", "source", "messages", "instruction", "input", "response", "lang", "split")
# The Hugging Face Parquet columns: the conversation and its flat form, then per-pair labels where present.
HF_COLUMNS = ("messages", "instruction", "input", "response", "pair_id", "source", "lang", "domain", "task_type",
              "difficulty", "repeats")
MANIFEST = "export_manifest.json"


@dataclass
class ExportManifest:
    files: dict[str, dict[str, str]]   # format -> split -> file, relative to the export folder
    counts: dict[str, dict[str, int]]  # format -> split -> records written
    extras: dict[str, str]             # what -> file: the dataset card, dataset_info.json, Axolotl snippets
    hf_columns: list[str]              # the Parquet columns, in order
    left_out: list[dict]               # {format, split, pair_id, reason}: pairs a format cannot hold


def _json_text(obj, indent: int | None = 2) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=indent) + "\n"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _conversation_key(messages) -> str:
    """A conversation's identity in the messages JSONL, which carries nothing but the messages."""
    return json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False)


def copies(splits: pl.DataFrame) -> pl.Expr:
    """Records per pair in a format without weights: `repeats` in train (at least 1), else 1."""
    if "repeats" not in splits.columns:
        return pl.lit(1, pl.Int64)
    return pl.when(pl.col("split") == "train").then(pl.col("repeats").fill_null(1).clip(1)).otherwise(1).cast(pl.Int64)


def _records(build, pairs: list[dict], fmt: str, split: str, left_out: list[dict]) -> list[dict]:
    """`build` applied to every pair, `copies` times each; a pair the format cannot hold is added to `left_out`
    with the reason."""
    out = []
    for pair in pairs:
        try:
            out += [build(pair)] * pair["copies"]
        except NotInFormat as e:
            left_out.append({"format": fmt, "split": split, "pair_id": pair["pair_id"], "reason": e.reason})
    return out


def export_splits(splits: pl.DataFrame, out_dir: Path) -> ExportManifest:
    """Write every export of `splits` (stratified_splits rows) under `out_dir`. Raises ExportError naming the
    missing columns, an unknown split, or a pair whose turns are out of order; a pair that one format cannot hold
    is left out of that format only and listed in the manifest's `left_out`."""
    missing = [c for c in REQUIRED if c not in splits.columns]
    if missing:
        raise ExportError(f"the splits table lacks column(s) {missing}")
    unknown = sorted(set(splits["split"].to_list()) - set(SPLITS), key=str)
    if unknown:
        raise ExportError(f"unknown split value(s) {unknown}: expected {list(SPLITS)}")
    frame = splits.with_columns(*(pl.lit(None, pl.Utf8).alias(c) for c in ("format", "file") if c not in splits.columns),
                                copies(splits).alias("copies"))
    out_dir = Path(out_dir)
    files = {fmt: {} for fmt in FORMATS}
    counts = {fmt: {} for fmt in FORMATS}
    left_out: list[dict] = []
    hf_columns = [c for c in HF_COLUMNS if c in frame.columns]
    for split in SPLITS:
        part = frame.filter(pl.col("split") == split)
        pairs = part.select("pair_id", "messages", "instruction", "input", "response", "copies").to_dicts()
        files["hf"][split] = f"data/{split}.parquet"
        part.select(hf_columns).write_parquet(out_dir / "data" / f"{split}.parquet", mkdir=True)
        counts["hf"][split] = part.height
        records = {fmt: _records(build, pairs, fmt, split, left_out) for fmt, build in
                   (("messages", openai_record), ("sharegpt", sharegpt_record), ("alpaca", alpaca_record))}
        files["messages"][split] = f"messages/{split}.jsonl"
        _write(out_dir / files["messages"][split],
               "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records["messages"]))
        for fmt in ("sharegpt", "alpaca"):
            files[fmt][split] = f"llama_factory/{fmt}_{split}.json"
            _write(out_dir / files[fmt][split], _json_text(records[fmt], indent=None))
        for fmt, written in records.items():
            counts[fmt][split] = len(written)
    licences = {s: source_licence(f) for s, f in frame.select("source", "file").unique("source").iter_rows()}
    extras = {"dataset_card": "README.md", "llama_factory_dataset_info": "llama_factory/dataset_info.json"}
    _write(out_dir / extras["dataset_card"], dataset_card(frame, files["hf"], licences, hf_columns))
    _write(out_dir / extras["llama_factory_dataset_info"], _json_text(dataset_info(files)))
    for name, text in axolotl_snippets(files).items():
        extras[f"axolotl_{Path(name).stem}"] = f"axolotl/{name}"
        _write(out_dir / "axolotl" / name, text)
    manifest = ExportManifest(files, counts, extras, hf_columns, left_out)
    _write(out_dir / MANIFEST, _json_text(asdict(manifest)))
    return manifest


def read_back(splits: pl.DataFrame, out_dir: Path, manifest: ExportManifest) -> pl.DataFrame:
    """Every record of every exported file, read back from disk, as (format, split, record, pair_id). A messages JSONL line carries no id: it is matched to the pair of its split with the same
    conversation (as many lines as its copies), and a line that matches none has a null pair_id."""
    by_conversation: dict[tuple[str, str], list[str]] = {}
    for pair_id, messages, split, n in splits.select("pair_id", "messages", "split", copies(splits)).iter_rows():
        by_conversation.setdefault((split, _conversation_key(messages)), []).extend([pair_id] * n)
    rows = []
    for split in SPLITS:
        ids = {"hf": pl.read_parquet(out_dir / manifest.files["hf"][split], columns=["pair_id"])["pair_id"].to_list()}
        lines = (out_dir / manifest.files["messages"][split]).read_text(encoding="utf-8").splitlines()
        taken: dict[tuple[str, str], int] = {}
        ids["messages"] = []
        for line in lines:
            key = (split, _conversation_key(json.loads(line)["messages"]))
            candidates, i = by_conversation.get(key, []), taken.get(key, 0)
            taken[key] = i + 1
            ids["messages"].append(candidates[i] if i < len(candidates) else None)
        for fmt in ("sharegpt", "alpaca"):
            records = json.loads((out_dir / manifest.files[fmt][split]).read_text(encoding="utf-8"))
            ids[fmt] = [r.get("pair_id") for r in records]
        rows += [(fmt, split, n, pid) for fmt in FORMATS for n, pid in enumerate(ids[fmt])]
    return pl.DataFrame(rows, schema={"format": pl.Utf8, "split": pl.Utf8, "record": pl.Int64, "pair_id": pl.Utf8},
                        orient="row")


def mismatches(splits: pl.DataFrame, found: pl.DataFrame, left_out: list[dict]) -> pl.DataFrame:
    """Where an export's pair ids differ from the splits table (less the pairs `left_out` of a format), per format
    and split: a pair that is 'missing', a record that is 'unexpected' (an unknown or null id), or a pair written
    more or fewer times than its copies ('wrong_count': once in Parquet, `repeats` times in a train file of the
    other formats)."""
    keys = ["format", "split", "pair_id"]
    excused = pl.DataFrame(left_out, schema={k: pl.Utf8 for k in [*keys, "reason"]}).select(keys)
    expected = (splits.select("pair_id", "split", copies(splits).alias("copies"))
                .join(pl.DataFrame({"format": list(FORMATS)}), how="cross")
                .with_columns(pl.when(pl.col("format") == "hf").then(1).otherwise(pl.col("copies")).alias("copies"))
                .join(excused, on=keys, how="anti"))
    missing = expected.join(found, on=keys, how="anti").select(keys).with_columns(problem=pl.lit("missing"))
    unexpected = found.join(expected, on=keys, how="anti").select(keys).with_columns(problem=pl.lit("unexpected"))
    wrong_count = (found.filter(pl.col("pair_id").is_not_null()).group_by(keys).len().join(expected, on=keys)
                   .filter(pl.col("len") != pl.col("copies")).select(keys).with_columns(problem=pl.lit("wrong_count")))
    return pl.concat([missing, unexpected, wrong_count]).sort(keys, nulls_last=True)
