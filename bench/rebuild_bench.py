"""How much a rebuild costs when little or nothing changed: full vs no-change vs one added source.

    .venv/bin/python bench/rebuild_bench.py [--no-tokenize] [--repeats 3]

On a temporary copy of the bundled sources (instr_assets/data/sources.yaml and its example files) and a
temporary output folder, one process materializes the whole graph with dg.materialize, training and evaluating
the tiny model (--no-model stops at tokenized_shards, --no-tokenize at stratified_splits; the tokenizer is the
SmolLM2 one that instruction_pipeline_tiny uses as well). A first, untimed build into another folder warms the process up (imports,
tokenizer, Great Expectations), so that `full` is not charged for them. Then each round (--repeats, 3 by
default; every figure is the minimum over the rounds, as other processes share the CPUs) runs three builds:

  full       - a fresh output folder, so an empty per-source cache: every source is read and converted
  no_change  - the same files again: every source comes from the cache
  add_source - one small alpaca source (5 pairs) added to the YAML: only it is read and converted

The cleaning, augmenting, splitting and tokenizing stages always run in full (they need the whole set), so the
per-source cache saves the source stages' time; training and evaluation reuse their saved output when their
inputs, config and code are unchanged, which is where a rebuild with nothing new saves most. Each scenario
records wall seconds, per-step seconds (Dagster's step durations), the seconds the two source stages spent on
sources (`ingest_seconds`, cache loads included), the ratio to `full`, the sources read again, which assets got
a new data version and which reused their saved output.

The bundled sources are small (about 0.3 s to read and convert), so a second part, `core_only`, times the
cache itself without Dagster on a larger set: the bundled sources plus ten public datasets from
../shared/data when that folder is present (it is skipped otherwise). Results go to
bench/results/rebuild_bench.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

SOURCE_STAGES = ("raw_sources", "unified_pairs")
NEW_SOURCE = [
    {"instruction": "Give the plural of 'mouse'.", "input": "", "output": "mice"},
    {"instruction": "What is the boiling point of water at sea level in Celsius?", "input": "", "output": "100 °C"},
    {"instruction": "把下面的句子改成疑问句。", "input": "他明天去北京。", "output": "他明天去北京吗？"},
    {"instruction": "Name the largest planet in the solar system.", "input": "", "output": "Jupiter"},
    {"instruction": "用一句话解释什么是光合作用。", "input": "", "output": "光合作用是植物利用光能把二氧化碳和水转化为有机物并释放氧气的过程。"},
]


def copy_sources(dest: Path) -> Path:
    """The bundled sources.yaml and example files in `dest`; relative paths in the YAML resolve there."""
    from instr_assets.core.ingest.source_config import DEFAULT_SOURCES_FILE, PACKAGE_DATA

    shutil.copytree(PACKAGE_DATA / "examples", dest / "examples")
    shutil.copy(DEFAULT_SOURCES_FILE, dest / "sources.yaml")
    return dest / "sources.yaml"


def add_source(yaml_path: Path) -> None:
    (yaml_path.parent / "bench_added.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in NEW_SOURCE), encoding="utf-8")
    with yaml_path.open("a", encoding="utf-8") as fh:
        fh.write("  - name: bench_added\n    format: alpaca\n    path: bench_added.jsonl\n")


def materialize(assets, yaml_path: Path, out: Path, instance) -> dict:
    import dagster as dg

    from instr_assets.defs.ingest_assets import RawSourcesConfig
    from instr_assets.defs.resources import DataStoreResource

    ops = {"raw_sources": RawSourcesConfig(sources_file=str(yaml_path))}
    names = {a.key.to_user_string() for a in assets}
    if "finetuned_checkpoint" in names:
        from instr_assets.defs.evaluate_assets import EvalConfig
        from instr_assets.defs.train_assets import TrainConfig

        # The tiny model with the settings of the test suite's graph run: minutes of SmolLM2 per round would
        # drown the data stages, and the question here is what a rebuild skips, not how fast training is.
        ops["finetuned_checkpoint"] = TrainConfig(base_model="tiny", max_steps=8, eval_every=4, lr=2e-3)
        ops["eval_report"] = EvalConfig(max_exact_match_items=4, max_chrf_items=6, chrf_max_new_tokens=8,
                                        sample_generations=2, sample_max_new_tokens=8)
    t0 = time.perf_counter()
    result = dg.materialize(assets, instance=instance, resources={"data_store": DataStoreResource(root=str(out))},
                            run_config=dg.RunConfig(ops=ops))
    wall = time.perf_counter() - t0
    if not result.success:
        raise SystemExit("materialization failed")
    steps = {e.step_key: round(e.event_specific_data.duration_ms / 1000, 3)
             for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    mats = {e.asset_key.to_user_string(): e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()}
    raw_md, uni_md = mats["raw_sources"].metadata, mats["unified_pairs"].metadata
    return {
        "wall_seconds": round(wall, 3),
        "step_seconds": steps,
        "source_stage_seconds": round(sum(steps[s] for s in SOURCE_STAGES), 3),
        "ingest_seconds": round(raw_md["ingest_seconds"].value + uni_md["ingest_seconds"].value, 3),
        "sources_reread": raw_md["sources_reread"].value,
        "sources_reconverted": uni_md["sources_reconverted"].value,
        "raw_records": raw_md["dagster/row_count"].value,
        "data_versions": {k: m.tags["dagster/data_version"] for k, m in mats.items()},
        "reused": sorted(k for k, m in mats.items() if "reused_unchanged" in m.metadata
                         and m.metadata["reused_unchanged"].value),
    }


SHARED = ROOT.parent / "shared" / "data"
SHARED_SOURCES = [  # the public datasets test_sources_and_unify.py reads
    ("alpaca_en", "alpaca", "llama_factory/alpaca_en_demo.json"), ("alpaca_zh", "alpaca", "llama_factory/alpaca_zh_demo.json"),
    ("identity", "alpaca", "llama_factory/identity.json"), ("fastchat", "sharegpt", "fastchat/dummy_conversation.json"),
    ("glaive_en", "sharegpt", "llama_factory/glaive_toolcall_en_demo.json"), ("v1_sft", "messages", "llama_factory/v1_sft_demo.jsonl"),
    ("cmrc_trial", "squad", "cmrc2018/cmrc2018_trial.json"), ("cmrc_dev", "squad", "cmrc2018/cmrc2018_dev.json"),
    ("seeds_self_instruct", "self_instruct", "self_instruct/seed_tasks.jsonl"),
    ("seeds_stanford", "self_instruct", "stanford_alpaca/seed_tasks.jsonl"),
]


def core_only(tmp: Path, repeats: int) -> dict | None:
    """raw + unify through SourceCache, no Dagster: uncached, empty cache, no change, one added source."""
    if not SHARED.exists():
        return None
    from instr_assets.core.ingest.raw_sources import read_all_sources
    from instr_assets.core.ingest.source_cache import SourceCache
    from instr_assets.core.ingest.source_config import load_sources
    from instr_assets.core.ingest.unify import unify
    from instr_assets.core.versioning import stage_code_version

    samples: dict[str, list[float]] = {k: [] for k in ("uncached", "full", "no_change", "add_source")}
    info: dict[str, dict] = {}
    for rep in range(repeats):
        yaml_path = copy_sources(tmp / f"core_sources_{rep}")
        with yaml_path.open("a", encoding="utf-8") as fh:
            for name, fmt, rel in SHARED_SOURCES:
                fh.write(f"  - {{name: {name}, format: {fmt}, path: '{SHARED / rel}'}}\n")
        cache = SourceCache(tmp / f"core_cache_{rep}")
        for name in samples:
            if name == "add_source":
                add_source(yaml_path)
            entries, base = load_sources(yaml_path)
            options = {e.name: json.loads(e.model_dump_json()) for e in entries}
            t0 = time.perf_counter()
            if name == "uncached":
                raw = read_all_sources(entries, base)
                unify(raw, options)
                reread = [e.name for e in entries]
            else:
                raw, builds = cache.read_sources(entries, base, stage_code_version("raw_sources"))
                cache.unify_sources(raw, options, stage_code_version("unified_pairs"))
                reread = [b.source for b in builds if not b.reused]
            samples[name].append(round(time.perf_counter() - t0, 3))
            info[name] = {"sources_read": len(reread), "raw_records": raw.height}
    out = {name: {"seconds": min(v), "samples": v, **info[name]} for name, v in samples.items()}
    for r in out.values():
        r["ratio_to_uncached"] = round(r["seconds"] / out["uncached"]["seconds"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-tokenize", action="store_true", help="stop at stratified_splits")
    ap.add_argument("--no-model", action="store_true", help="stop at tokenized_shards (no training, no evaluation)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of full/no_change/add_source; the minimum is reported")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "rebuild_bench.json"))
    args = ap.parse_args()

    import dagster as dg

    from instr_assets.defs.augment_assets import augmented_pairs
    from instr_assets.defs.clean_assets import cleaned_pairs
    from instr_assets.defs.ingest_assets import raw_sources, unified_pairs
    from instr_assets.defs.split_assets import stratified_splits

    assets = [raw_sources, unified_pairs, cleaned_pairs, augmented_pairs, stratified_splits]
    if not args.no_tokenize:
        from instr_assets.defs.evaluate_assets import eval_report
        from instr_assets.defs.train_assets import finetuned_checkpoint, tokenized_shards

        assets.append(tokenized_shards)
        if not args.no_model:
            assets += [finetuned_checkpoint, eval_report]

    scenarios = ("full", "no_change", "add_source")
    runs: dict[str, list[dict]] = {name: [] for name in scenarios}
    with tempfile.TemporaryDirectory(prefix="rebuild_bench_") as tmp, dg.instance_for_test() as instance:
        tmp = Path(tmp)
        warmup = materialize(assets, copy_sources(tmp / "warmup_sources"), tmp / "warmup_out", instance)["wall_seconds"]
        print(f"warm-up (not in the figures): {warmup}s", flush=True)
        for rep in range(args.repeats):
            # Each round: fresh sources copy and an empty output folder, so `full` starts from an empty cache.
            yaml_path = copy_sources(tmp / f"sources_{rep}")
            for name in scenarios:
                if name == "add_source":
                    add_source(yaml_path)
                r = materialize(assets, yaml_path, tmp / f"out_{rep}", instance)
                runs[name].append(r)
                print(f"round {rep + 1} {name}: {r['wall_seconds']}s wall, source stages {r['source_stage_seconds']}s, "
                      f"ingest {r['ingest_seconds']}s, re-read {r['sources_reread']}", flush=True)
        core_only_results = core_only(tmp, args.repeats)

    # Other processes share the CPUs, so each figure is the minimum over the rounds (the least disturbed one).
    results = {}
    for name, rs in runs.items():
        best = {k: min(r[k] for r in rs) for k in ("wall_seconds", "source_stage_seconds", "ingest_seconds")}
        steps = {s: min(r["step_seconds"][s] for r in rs) for s in rs[0]["step_seconds"]}
        results[name] = {**best, "step_seconds": steps,
                         "samples": {k: [r[k] for r in rs] for k in ("wall_seconds", "source_stage_seconds", "ingest_seconds")},
                         **{k: rs[-1][k] for k in ("sources_reread", "sources_reconverted", "raw_records", "data_versions",
                                                   "reused")}}
    full = results["full"]
    for r in results.values():
        r["ratio_to_full"] = round(r["wall_seconds"] / full["wall_seconds"], 3)
        r["source_stage_ratio_to_full"] = round(r["source_stage_seconds"] / full["source_stage_seconds"], 3)
        r["ingest_ratio_to_full"] = round(r["ingest_seconds"] / full["ingest_seconds"], 3)
        r["new_data_version"] = sorted(k for k, v in r["data_versions"].items() if v != full["data_versions"].get(k))

    report = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python bench/rebuild_bench.py"] + sys.argv[1:]),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]},
        "assets": [a.key.to_user_string() for a in assets],
        "repeats": args.repeats,
        "warmup_seconds": warmup,
        "notes": "Each figure is the minimum over `repeats` rounds (samples lists all); the CPUs are shared with other "
                 "processes. wall_seconds is the whole dg.materialize call (in-process executor, Great Expectations "
                 "checks included); step_seconds are Dagster's step durations; source_stage_seconds = raw_sources + "
                 "unified_pairs steps; ingest_seconds = the time those two steps spent reading/converting sources "
                 "or loading them from the per-source cache. The data stages after the source stages always "
                 "rebuild in full; finetuned_checkpoint and eval_report reuse their saved output when their inputs, "
                 "config and code are unchanged (reused lists them).",
        "scenarios": results,
        "core_only": core_only_results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n| scenario | wall s | ratio | source stages s | ratio | ingest s | ratio | re-read | new data version | reused |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['wall_seconds']} | {r['ratio_to_full']} | {r['source_stage_seconds']} | "
              f"{r['source_stage_ratio_to_full']} | {r['ingest_seconds']} | {r['ingest_ratio_to_full']} | "
              f"{', '.join(r['sources_reread']) or '-'} | {', '.join(r['new_data_version']) or '-'} | "
              f"{', '.join(r['reused']) or '-'} |")
    if core_only_results:
        print("\ncore only (raw + unify, bundled + shared sources):")
        for name, r in core_only_results.items():
            print(f"  {name}: {r['seconds']}s ({r['ratio_to_uncached']} of uncached), {r['sources_read']} sources read, "
                  f"{r['raw_records']} raw records")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
