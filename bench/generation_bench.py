"""Generation (Self-Instruct, Evol-Instruct) and judge throughput on this machine, and a file to review by hand.

    .venv/bin/python bench/generation_bench.py --cleaned output/published/cleaned_pairs/cleaned_pairs.parquet \
        [--per-method-per-lang 5] [--judge-quota 12] [--model default] [--threads 1]

Runs `generation.generate_pairs` exactly as augmented_pairs does (same prompts, seeds, gates and judge) with a
larger quota, then judges a seeded quota of the cleaned pairs. Model outputs go through the OutputCache in
--output-root (default `output`, the pipeline's), so a rerun, or the pipeline after it, calls no model for them.

Writes bench/results/generation_bench.json (counts, reasons, wall and CPU seconds, children/s, judge pairs/s,
the load average: the cores are shared, so wall time depends on what else runs; no text) and,
outside the repository, --review-file (default /tmp/generation_review.md): every attempt with its seeds, the
new instruction, the model's answer and what the gates decided, to label by hand.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cleaned", required=True, help="a cleaned_pairs.parquet")
    p.add_argument("--per-method-per-lang", type=int, default=5)
    p.add_argument("--judge-quota", type=int, default=12, help="cleaned pairs judged for the judge's throughput")
    p.add_argument("--model", default="default")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--output-root", default="output", help="where the model cache lives (model_cache/)")
    p.add_argument("--review-file", default="/tmp/generation_review.md")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "generation_bench.json"))
    args = p.parse_args()

    import polars as pl

    from instr_assets.core.augment import generation, judging
    from instr_assets.core.augment.augmentation import PROVENANCE
    from instr_assets.core.models.runtime import OutputCache, generate, load_generator
    from instr_assets.core.models.runtime.embeddings import Embedder

    cleaned = pl.read_parquet(args.cleaned)
    cache = OutputCache.in_folder(args.output_root)
    t0 = time.perf_counter()
    model = load_generator(args.model, threads=args.threads, cache=cache)
    load_s = time.perf_counter() - t0
    embedder = Embedder(cache=cache)
    rules = generation.GenerationRules(seed=args.seed, per_method_per_lang=args.per_method_per_lang)
    t0, c0 = time.perf_counter(), time.process_time()
    result = generation.generate_pairs(cleaned, rules, model, model, lambda t: embedder.embed(t, "query"), print)
    generation_s, generation_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    generation_calls = (model.hits, model.misses)

    originals = cleaned.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in PROVENANCE.items()) \
        .with_columns(pl.lit(False).alias("is_augmented"))
    c0 = time.process_time()
    judged = judging.add_judge_scores(originals, model, judging.JudgeRules(quota=args.judge_quota, seed=args.seed))
    judge_cpu_s = time.process_time() - c0
    judge_calls = (model.hits - generation_calls[0], model.misses - generation_calls[1])

    # The review: every attempt, its answer where it got one (from the cache: no new model call).
    kept = {c["pair_id"]: c for c in result.children}
    rows = [(c["operator"], c["lang"], c["operator_detail"], c["seed_pair_ids"], c["instruction"], "kept",
             f"judge {c['judge_score']:.2f}") for c in result.children]
    rows += [(r["operator"], r["lang"], "", [r["parent_pair_id"]], r["instruction"] or "", r["reason"], r["detail"])
             for r in result.rejected]
    seed_text = dict(zip(cleaned["pair_id"], cleaned["instruction"]))
    lines = ["# Generated pairs to review (not for the repository)", ""]
    rows.sort(key=lambda r: (r[1], r[0]))
    for number, (method, lang, detail, seeds, instruction, verdict, note) in enumerate(rows, 1):
        answer = ""
        if instruction and verdict not in ("no_output", "not_an_instruction", "language_changed", "near_duplicate"):
            answer = next((c["response"] for c in kept.values() if c["instruction"] == instruction), None) or \
                generate(model, [instruction], max_new_tokens=rules.answer_tokens,
                         system=generation.ANSWER_SYSTEM[lang])[0].strip()
        lines += [f"## {number}. {lang} {method} {detail} -> {verdict} ({note})", "",
                  *[f"> seed: {seed_text.get(s, s)}" for s in seeds], "", f"**instruction:** {instruction}", "",
                  f"**answer:** {answer}", "", "label: ", ""]
    Path(args.review_file).write_text("\n".join(lines))

    reasons = Counter(r["reason"] for r in result.rejected)
    per = Counter((c["lang"], c["operator"]) for c in result.children)
    report = {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["bench/generation_bench.py", *sys.argv[1:]]), "model": model.model_id,
        "threads": args.threads, "cpus": os.cpu_count(), "model_load_seconds": round(load_s, 1),
        "attempts": result.attempts, "children_kept": len(result.children),
        "kept_per_lang_method": {f"{lang}/{op}": n for (lang, op), n in sorted(per.items())},
        "rejected_by_reason": dict(reasons),
        "load_average_1m_at_end": os.getloadavg()[0],
        "generation_seconds": round(generation_s, 1), "generation_cpu_seconds": round(generation_cpu_s, 1),
        "seconds_by_part": {k: round(v, 1) for k, v in result.seconds.items()},
        "attempts_per_s": round(result.attempts / generation_s, 4),
        "children_per_s": round(len(result.children) / generation_s, 4),
        "generation_cache_hits_misses": generation_calls,
        "judge_pairs": args.judge_quota, "judge_seconds": round(judged.seconds, 1),
        "judge_cpu_seconds": round(judge_cpu_s, 1),
        "judge_pairs_per_s": round(args.judge_quota / max(judged.seconds, 1e-9), 4),
        "judge_cache_hits_misses": judge_calls,
        "judge_scores": sorted(s for s in judged.pairs["judge_score"].to_list() if s is not None),
        "review_file": args.review_file,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
