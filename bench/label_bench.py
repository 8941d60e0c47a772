"""Label accuracy: model labels (nearest prototypes over e5 embeddings) against today's keyword rules.

The labelled set is bench/data/labelled_pairs.csv: 310 real pairs (155 English, 155 Chinese) drawn at random,
seeded, per source from ../shared/data and labelled by hand (domain and task_type, docs/taxonomy.md). The CSV holds
only (file under the data root, pair_id, lang, labels); the texts are read from ../shared/data at run time through
the pipeline's own readers (load_sources -> read_all_sources -> unify), so pair_id is the pipeline's content hash of
the pair's messages. A fixed third, by the hash of pair_id, is held out: prototypes are tuned on the other two
thirds only, and the figures that count are the held-out ones.

    .venv/bin/python bench/label_bench.py [--data ../shared/data] [--cache DIR]

Writes bench/results/label_bench.json and .md. Embeddings are cached under --cache (default: the system temp
folder), so a second run embeds nothing.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LABELLED = ROOT / "bench" / "data" / "labelled_pairs.csv"
RESULTS = ROOT / "bench" / "results"
SHARED_DATA = ROOT.parent / "shared" / "data"
# Reader format of each file the labelled set draws from.
FILE_FORMATS = {
    "llama_factory/alpaca_en_demo.json": "alpaca",
    "llama_factory/alpaca_zh_demo.json": "alpaca",
    "llama_factory/identity.json": "alpaca",
    "llama_factory/glaive_toolcall_en_demo.json": "sharegpt",
    "llama_factory/glaive_toolcall_zh_demo.json": "sharegpt",
    "llama_factory/v1_sft_demo.jsonl": "messages",
    "cmrc2018/cmrc2018_dev.json": "squad",
    "fastchat/dummy_conversation.json": "sharegpt",
    "self_instruct/seed_tasks.jsonl": "self_instruct",
    "self_instruct/user_oriented_instructions.jsonl": "self_instruct",
    "open_assistant/test_trees.jsonl": "oasst",
}
FIELDS = ("task_type", "domain")


def is_heldout(pair_id: str) -> bool:
    """The fixed evaluation third: never used to tune prototypes."""
    return int(hashlib.sha256(pair_id.encode()).hexdigest()[:8], 16) % 3 == 0


def load_labelled(shared: Path = SHARED_DATA, labelled: Path = LABELLED) -> pl.DataFrame:
    """The labelled pairs joined with their unified rows (instruction, input, response, n_turns, hints...) and a
    `heldout` column. Raises ValueError naming the pairs that the data no longer has."""
    from clean_data import unify_shared

    shared = shared.resolve()  # the readers report resolved paths: a symlinked data folder must match them
    labels = pl.read_csv(labelled, schema_overrides={"pair_id": pl.Utf8})
    unknown = sorted(set(labels["file"]) - set(FILE_FORMATS))
    if unknown:
        raise ValueError(f"{labelled}: files with no known reader format: {unknown}")
    files = sorted(set(labels["file"]))
    unified = unify_shared(shared, [(f"s{i}", FILE_FORMATS[f], f) for i, f in enumerate(files)])
    prefix = str(shared).rstrip("/") + "/"
    unified = (unified.with_columns(pl.col("file").str.strip_prefix(prefix))
               .unique(["file", "pair_id"], keep="first", maintain_order=True)
               .drop("lang"))
    joined = labels.join(unified, on=["file", "pair_id"], how="left")
    lost = joined.filter(pl.col("instruction").is_null())
    if lost.height:
        raise ValueError(f"{lost.height} labelled pairs are not in {shared} any more, e.g. "
                         f"{lost.select('file', 'pair_id').head(3).rows()}")
    return joined.with_columns(pl.col("pair_id").map_elements(is_heldout, return_dtype=pl.Boolean).alias("heldout"))


def rule_labels(pairs: pl.DataFrame) -> pl.DataFrame:
    """Today's keyword rules (core/stratify/split.py), for the side-by-side figures."""
    from instr_assets.core.stratify.split import label_domain, label_task_type

    rows = [(label_domain(r), label_task_type(r)) for r in pairs.iter_rows(named=True)]
    return pl.DataFrame(rows, schema={"domain": pl.Utf8, "task_type": pl.Utf8}, orient="row")


def accuracy(truth: list[str], predicted: list[str]) -> float:
    return round(sum(t == p for t, p in zip(truth, predicted)) / len(truth), 4) if truth else float("nan")


def confusion(truth: list[str], predicted: list[str]) -> dict[str, dict[str, int]]:
    """{true label: {predicted label: count}}."""
    table: dict[str, Counter] = {}
    for t, p in zip(truth, predicted):
        table.setdefault(t, Counter())[p] += 1
    return {t: dict(sorted(c.items())) for t, c in sorted(table.items())}


def evaluate(pairs: pl.DataFrame, predicted: pl.DataFrame) -> dict:
    """Accuracy per part (heldout, dev), language and field, with confusion tables for the held-out part."""
    frame = pairs.select("lang", "heldout", *FIELDS).hstack(predicted.select(
        *[pl.col(f).alias(f"pred_{f}") for f in FIELDS]))
    out: dict = {}
    for part, flag in (("heldout", True), ("dev", False)):
        sub = frame.filter(pl.col("heldout") == flag)
        out[part] = {}
        for lang in ("en", "zh", "all"):
            rows = sub if lang == "all" else sub.filter(pl.col("lang") == lang)
            out[part][lang] = {"n": rows.height, **{
                f: accuracy(rows[f].to_list(), rows[f"pred_{f}"].to_list()) for f in FIELDS}}
        if flag:
            out[part]["confusion"] = {
                lang: {f: confusion(rows[f].to_list(), rows[f"pred_{f}"].to_list()) for f in FIELDS}
                for lang in ("en", "zh") for rows in [sub.filter(pl.col("lang") == lang)]}
    return out


CONFIDENCE_BINS = (0.5, 0.7, 0.9)  # lower edges of the bins after the first


def _confidence_bin(column: str) -> pl.Expr:
    edges = (0.0, *CONFIDENCE_BINS, 1.0)
    expr = pl.lit(f"{edges[-2]:.1f}-{edges[-1]:.1f}")
    for low, high in reversed(list(zip(edges, edges[1:]))[:-1]):
        expr = pl.when(pl.col(column) < high).then(pl.lit(f"{low:.1f}-{high:.1f}")).otherwise(expr)
    return expr


def calibration(pairs: pl.DataFrame, predicted: pl.DataFrame) -> list[dict]:
    """Held-out pairs by label_confidence bin: how many, their mean confidence and the share whose domain and task
    type are both right (calibrated: the two agree)."""
    frame = pairs.select("heldout", *FIELDS).hstack(predicted.select(
        "label_confidence", *[pl.col(f).alias(f"pred_{f}") for f in FIELDS])).filter(pl.col("heldout"))
    frame = frame.with_columns(
        _confidence_bin("label_confidence").alias("bin"),
        ((pl.col("domain") == pl.col("pred_domain")) & (pl.col("task_type") == pl.col("pred_task_type"))).alias("right"))
    rows = frame.group_by("bin").agg(pl.len().alias("n"), pl.col("label_confidence").mean().round(3).alias("confidence"),
                                     pl.col("right").mean().round(3).alias("both_right")).sort("confidence")
    return rows.to_dicts()


def _confusion_md(table: dict[str, dict[str, int]]) -> list[str]:
    labels = sorted(set(table) | {p for row in table.values() for p in row})
    short = [label[:10] for label in labels]
    lines = ["| true \\ predicted | " + " | ".join(short) + " |", "|---|" + "---:|" * len(labels)]
    for t in labels:
        if t in table:
            lines.append(f"| {t} | " + " | ".join(str(table[t].get(p, "")) for p in labels) + " |")
    return lines


def report_md(result: dict) -> str:
    lines = ["# Label accuracy: model labels against keyword rules", "",
             f"Labelled set: {result['n_pairs']} real pairs ({result['n_heldout']} held out) from ../shared/data, "
             "hand-labelled (bench/data/labelled_pairs.csv, taxonomy in docs/taxonomy.md). Targets (issue 12): "
             "task type >= 90%, domain >= 85% per language, on the held-out third.", "",
             f"Model: {result['embedding_model']}, nearest prototypes "
             f"({result['n_prototypes']} written examples) and the pair's shape for the task type, rules "
             f"{result['rules']}.", "",
             "| part | lang | n | task (model) | task (rules) | domain (model) | domain (rules) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for part in ("heldout", "dev"):
        for lang in ("en", "zh", "all"):
            m, r = result["model"][part][lang], result["keyword_rules"][part][lang]
            lines.append(f"| {part} | {lang} | {m['n']} | {m['task_type']:.1%} | {r['task_type']:.1%} | "
                         f"{m['domain']:.1%} | {r['domain']:.1%} |")
    lines += ["", "Where the model labels came from (all pairs): " + ", ".join(
        f"{k} {v}" for k, v in result["origins"].items()), "",
        "## Held-out calibration: label_confidence against pairs with both labels right", "",
        "| confidence bin | pairs | mean confidence | both labels right |", "|---|---:|---:|---:|"]
    lines += [f"| {r['bin']} | {r['n']} | {r['confidence']:.2f} | {r['both_right']:.0%} |" for r in result["calibration"]]
    lines.append("")
    for method in ("model", "keyword_rules"):
        for lang in ("en", "zh"):
            for field in FIELDS:
                lines += [f"## Held-out confusion, {method}, {lang}, {field}", ""]
                lines += _confusion_md(result[method]["heldout"]["confusion"][lang][field]) + [""]
    lines += [f"Labelling time: {result['embed_seconds']} s wall, {result['cpu_seconds']} s CPU for "
              f"{result['n_pairs']} pairs ({result['pairs_per_second']} pairs/s wall, 1 thread, on a shared machine), "
              f"{result['texts_embedded']} texts not yet cached (the prototypes and two texts per pair when the cache "
              "is empty).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    from instr_assets.core.models.runtime.cache import OutputCache
    from instr_assets.core.models.runtime.embeddings import EMBEDDING_MODEL_ID, Embedder
    from instr_assets.core.stratify.model_labels import LabelRules, load_prototypes, model_labels

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "instr_assets_label_bench")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        sys.exit(f"label bench: {args.data} is missing; it reads ../shared/data next to the repository")
    pairs = load_labelled(args.data)
    embedder = Embedder(threads=1, cache=OutputCache.in_folder(args.cache))
    rules = LabelRules()
    start, cpu_start = time.perf_counter(), time.process_time()
    predicted = model_labels(pairs, embedder, rules)
    seconds = round(time.perf_counter() - start, 1)
    cpu_seconds = round(time.process_time() - cpu_start, 1)  # what it costs on an idle core; wall time varies with load
    origins = Counter(f"{f}:{o}" for f in ("domain", "task") for o in predicted[f"{f}_origin"])
    result = {
        "n_pairs": pairs.height, "n_heldout": int(pairs["heldout"].sum()),
        "embedding_model": EMBEDDING_MODEL_ID,
        "n_prototypes": sum(len(p.texts) for p in load_prototypes(rules.prototypes_file).values()),
        "rules": {k: v for k, v in vars(rules).items() if k != "prototypes_file"},
        "model": evaluate(pairs, predicted), "keyword_rules": evaluate(pairs, rule_labels(pairs)),
        "calibration": calibration(pairs, predicted),
        "origins": dict(sorted(origins.items())), "embed_seconds": seconds, "cpu_seconds": cpu_seconds,
        "texts_embedded": embedder.computed,
        "pairs_per_second": round(pairs.height / seconds, 1) if seconds else None,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "label_bench.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                                               encoding="utf-8")
    (args.out / "label_bench.md").write_text(report_md(result), encoding="utf-8")
    print(report_md(result).split("## ")[0])
    return result


if __name__ == "__main__":
    main()
