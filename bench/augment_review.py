"""Review of the model operators (back-translation, model rewrites) on the real shared data, per language.

  run        clean the real records (bench/clean_data.py's sources, the pipeline's cleaning), then per operator
             and language run the augmentation with only that operator on a quota of drawn pairs, the default
             model behind the OutputCache, and every gate (e5 similarity included); time it; run it again to
             measure the cache hit rate of a rebuild with nothing new. Writes, per operator and language, 50
             random passing children beside their parents to bench/results/private/augment_review_<op>_<lang>.md
             (git-ignored: it quotes the shared data) with a label file to fill in, and the figures to
             bench/results/augment_review.json.
  summarize  read the filled-in labels (one line per child: 'N yes' or 'N no <why>') and write the counts to
             bench/results/augment_review.md (committed: counts and reasons only, no data quoted).

Quotas run in rounds (--quota 12,25,55): the draw is a seeded ranking, so a larger quota extends a smaller one
and each round reuses the cached calls of the one before; every round rewrites the files, so a run cut short
leaves a complete smaller review.

With --rules the same is done for the rule operators (synonym, syntax) instead: no model, every pair of a seeded
sample of --sample cleaned pairs per language tried (doubled until children of 50 distinct parent instructions
pass; the review takes one child per distinct parent instruction), the e5 similarity gate on; the figures go to
bench/results/augment_review_rules.json, the review and label files to the same private folder, and summarize
adds their table when those figures exist.

Usage: python bench/augment_review.py run [--quota 12,25,55] [--threads 1]; python bench/augment_review.py summarize
       python bench/augment_review.py run --rules [--sample 400]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

RESULTS = ROOT / "bench" / "results"
PRIVATE = RESULTS / "private"
FIGURES = RESULTS / "augment_review.json"
SUMMARY = RESULTS / "augment_review.md"
OPERATORS = ("backtranslation", "model_rewrite")
RULE_OPERATORS = ("synonym", "syntax")
RULE_FIGURES = RESULTS / "augment_review_rules.json"
LANGS = ("en", "zh")
REVIEW_SIZE = 50


def _review_path(op: str, lang: str) -> Path:
    return PRIVATE / f"augment_review_{op}_{lang}.md"


def _labels_path(op: str, lang: str) -> Path:
    return PRIVATE / f"augment_labels_{op}_{lang}.txt"


def cleaned_real_pairs() -> pl.DataFrame:
    from clean_data import load_real_unified, require_shared

    from instr_assets.core.clean.cleaning import clean_pairs

    require_shared()
    return clean_pairs(load_real_unified())[0]


def _one_pass(pairs, op, quota, generator, embed):
    from instr_assets.core.augment.augmentation import AugmentRules, augment

    # A generous time limit: on the shared benchmark machine a prompt sometimes waits minutes for a core.
    rules = AugmentRules(operators=(op,), model_quota=quota, max_augmented_share=0.9, model_timeout_s=600)
    started = time.perf_counter()
    result = augment(pairs, rules, embed, generator=generator)
    return result, time.perf_counter() - started


def _review_md(op: str, lang: str, children: pl.DataFrame, parents: pl.DataFrame) -> str:
    rows = children.join(parents.select("pair_id", pl.col("instruction").alias("parent")),
                         left_on="parent_pair_id", right_on="pair_id")
    lines = [f"# {op}, {lang}: {rows.height} random passing children beside their parents", "",
             "Label each in the label file: meaning-preserving AND fluent: yes / no <why>.", ""]
    for n, row in enumerate(rows.iter_rows(named=True), 1):
        lines += [f"## {n} (similarity {row['similarity']})", f"- parent: {row['parent']!r}",
                  f"- child:  {row['instruction']!r}", f"- detail: {row['operator_detail']!r}", ""]
    return "\n".join(lines)


def run(quotas: list[int], threads: int, cache_path: Path) -> dict:
    from instr_assets.core.models.runtime import OutputCache, load_generator
    from instr_assets.core.models.runtime.embeddings import Embedder

    PRIVATE.mkdir(parents=True, exist_ok=True)
    cleaned = cleaned_real_pairs()
    cache = OutputCache(cache_path)
    embedder = Embedder(cache=cache)

    def embed(texts):
        return embedder.embed(texts, "query")

    generator = load_generator("default", threads=threads, cache=cache)
    for quota in quotas:
        figures = _round(cleaned, quota, threads, generator, embed)
    return figures


def _round(cleaned, quota, threads, generator, embed) -> dict:
    figures: dict = {"quota": quota, "threads": threads, "model_id": generator.model_id,
                     "load_average_at_start": os.getloadavg()[0], "runs": {}}
    for op in OPERATORS:
        for lang in LANGS:
            pairs = cleaned.filter(pl.col("lang") == lang)
            hits, misses = generator.hits, generator.misses
            result, seconds = _one_pass(pairs, op, quota, generator, embed)
            cold = {"hits": generator.hits - hits, "misses": generator.misses - misses}
            hits, misses = generator.hits, generator.misses
            _one_pass(pairs, op, quota, generator, embed)
            rebuild = {"hits": generator.hits - hits, "misses": generator.misses - misses}
            children = result.pairs.filter(pl.col("is_augmented"))
            reasons = Counter(result.rejected["reason"].to_list())
            tried = children.height + sum(reasons.values())
            model_seconds = result.seconds[op]
            figures["runs"][f"{op}_{lang}"] = {
                "tried": tried, "passed": children.height, "rejected_by_reason": dict(reasons.most_common()),
                # Calls this pass needed, and how many were already cached by an earlier (cut) run: the time
                # per computed call times the calls needed is the cold-cache time of the pass.
                "calls_needed": cold["hits"] + cold["misses"], "model_calls": cold["misses"],
                "seconds_model": round(model_seconds, 1),
                "seconds_per_call": round(model_seconds / cold["misses"], 2) if cold["misses"] else None,
                "seconds_total": round(seconds, 1),
                "children_per_s_cold": round(children.height * cold["misses"] / model_seconds
                                             / (cold["hits"] + cold["misses"]), 3) if cold["misses"] else None,
                "rebuild_calls": rebuild["misses"],
                "rebuild_hit_rate": round(rebuild["hits"] / max(rebuild["hits"] + rebuild["misses"], 1), 4),
            }
            sample = children.sample(min(REVIEW_SIZE, children.height), seed=7, shuffle=True)
            _review_path(op, lang).write_text(_review_md(op, lang, sample, pairs), encoding="utf-8")
            print(op, lang, json.dumps(figures["runs"][f"{op}_{lang}"]), flush=True)
            FIGURES.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return figures


def run_rules(sample: int, cache_path: Path) -> dict:
    """The rule operators on a seeded sample of cleaned pairs per language, every gate on (e5 included)."""
    from instr_assets.core.augment.augmentation import AugmentRules, augment
    from instr_assets.core.models.runtime import OutputCache
    from instr_assets.core.models.runtime.embeddings import Embedder

    PRIVATE.mkdir(parents=True, exist_ok=True)
    cleaned = cleaned_real_pairs()
    embedder = Embedder(cache=OutputCache(cache_path))

    def embed(texts):
        return embedder.embed(texts, "query")

    figures: dict = {"sample": sample, "runs": {}}  # per run, the sample it grew to
    for op in RULE_OPERATORS:
        for lang in LANGS:
            shuffled = cleaned.filter(pl.col("lang") == lang).sample(fraction=1.0, shuffle=True, seed=11)
            rules = AugmentRules(operators=(op,), apply_prob=1.0, max_augmented_share=0.9, synonym_langs=LANGS)
            size = sample
            while True:  # a larger sample until REVIEW_SIZE children pass (the embeddings cached meanwhile)
                pairs = shuffled.head(size)
                started = time.perf_counter()
                result = augment(pairs, rules, embed)
                seconds = time.perf_counter() - started
                children = result.pairs.filter(pl.col("is_augmented"))
                # One child per distinct parent instruction: a template repeated over many records (a reading
                # task in the Chinese data) would otherwise fill the review with one rewrite.
                reviewable = children.join(pairs.select("pair_id", pl.col("instruction").alias("parent")),
                                           left_on="parent_pair_id", right_on="pair_id") \
                    .unique("parent", keep="first", maintain_order=True).drop("parent")
                if reviewable.height >= REVIEW_SIZE or size >= shuffled.height:
                    break
                size *= 2
            reasons = Counter(result.rejected["reason"].to_list())
            figures["runs"][f"{op}_{lang}"] = {
                "sampled_pairs": pairs.height, "tried": children.height + sum(reasons.values()),
                "passed": children.height, "distinct_parents_passed": reviewable.height,
                "rejected_by_reason": dict(reasons.most_common()),
                "distinct_child_instructions": children["instruction"].n_unique(),
                "rules_used": dict(Counter(children["operator_detail"].drop_nulls().to_list()).most_common()),
                "seconds_operator": round(result.seconds[op], 2), "seconds_total": round(seconds, 1),
                "children_per_s_operator": round(children.height / max(result.seconds[op], 1e-9), 1),
                "children_per_s_with_gates": round(children.height / seconds, 2),
            }
            review = reviewable.sample(min(REVIEW_SIZE, reviewable.height), seed=7, shuffle=True)
            _review_path(op, lang).write_text(_review_md(op, lang, review, pairs), encoding="utf-8")
            print(op, lang, json.dumps(figures["runs"][f"{op}_{lang}"], ensure_ascii=False), flush=True)
            RULE_FIGURES.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return figures


def _rules_section() -> list[str]:
    """The rule operators' table (run --rules), or nothing before that run."""
    if not RULE_FIGURES.exists():
        return []
    figures = json.loads(RULE_FIGURES.read_text(encoding="utf-8"))
    lines = ["", "## Rule operators (run --rules)", "",
             f"Every pair of a seeded sample of cleaned real pairs per language tried (apply probability 1; "
             f"{figures['sample']} pairs, doubled until children of 50 distinct parent instructions pass), every "
             "gate on (e5 similarity band included); 50 random passing children per operator and language, one per "
             "distinct parent instruction, read beside their parents. Children/s: the operator alone, and with the "
             "gates (the last, largest pass, the embeddings of a smaller pass before it already cached).", "",
             "| operator | lang | sampled pairs | tried | passed gates | distinct children | labelled | good | good % "
             "| children/s (operator) | children/s (with gates) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for op in RULE_OPERATORS:
        for lang in LANGS:
            run_ = figures["runs"].get(f"{op}_{lang}")
            if run_ is None:
                continue
            labelled, good, share, why_not = _label_counts(op, lang)
            lines.append(f"| {op} | {lang} | {run_['sampled_pairs']} | {run_['tried']} | {run_['passed']} | "
                         f"{run_['distinct_child_instructions']} | {labelled} | {good} | {share} "
                         f"| {run_['children_per_s_operator']} | {run_['children_per_s_with_gates']} |")
            notes += why_not
            if run_["rules_used"] and op == "syntax":
                notes.append(f"- {op} {lang}, rules used: " + ", ".join(f"{r} {n}" for r, n in run_["rules_used"].items()))
            notes.append(f"- {op} {lang}, gate rejects: " + ", ".join(
                f"{reason} {n}" for reason, n in run_["rejected_by_reason"].items()))
    return lines + [""] + notes


def _label_counts(op: str, lang: str) -> tuple[int, int, str, list[str]]:
    """(children labelled, good, good share, the note line of the reasons for 'no', if any) of one review file."""
    path = _labels_path(op, lang)
    labels = _read_labels(path) if path.exists() else []
    good = sum(ok for ok, _ in labels)
    whys = Counter(why for ok, why in labels if not ok)
    note = [f"- {op} {lang}, why not: " + "; ".join(f"{why} ({n})" for why, n in whys.most_common())] if whys else []
    return len(labels), good, f"{100 * good / len(labels):.0f}%" if labels else "-", note


def _read_labels(path: Path) -> list[tuple[bool, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) < 2 or parts[1] not in ("yes", "no"):
            raise SystemExit(f"{path}: unlabelled or malformed line {line!r} (want 'N yes' or 'N no <why>')")
        out.append((parts[1] == "yes", parts[2] if len(parts) > 2 else ""))
    return out


def summarize() -> str:
    figures = json.loads(FIGURES.read_text(encoding="utf-8"))
    lines = ["# Model operators: review and throughput (bench/augment_review.py)", "",
             f"Model {figures['model_id']}, {figures['threads']} thread(s), quota {figures['quota']} drawn pairs per "
             "operator and language, on the cleaned real records of ../shared/data; every gate on (e5 similarity "
             "band included). Labels: each child read beside its parent, meaning-preserving AND fluent.", "",
             "| operator | lang | tried | passed gates | labelled | good | good % | s per model call "
             "| children/s (cold cache) | rebuild model calls | rebuild hit rate |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for op in OPERATORS:
        for lang in LANGS:
            run_ = figures["runs"].get(f"{op}_{lang}")
            if run_ is None:
                continue
            labelled, good, share, why_not = _label_counts(op, lang)
            lines.append(f"| {op} | {lang} | {run_['tried']} | {run_['passed']} | {labelled} | {good} | {share} "
                         f"| {run_['seconds_per_call']} | {run_['children_per_s_cold']} | {run_['rebuild_calls']} "
                         f"| {run_['rebuild_hit_rate']:.0%} |")
            notes += why_not
            notes.append(f"- {op} {lang}, gate rejects: " + ", ".join(
                f"{reason} {n}" for reason, n in run_["rejected_by_reason"].items()))
    text = "\n".join(lines + [""] + notes + _rules_section()) + "\n"
    SUMMARY.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "summarize"])
    parser.add_argument("--quota", default="12,25,55", help="pairs drawn per operator and language, in rounds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rules", action="store_true", help="run: review the rule operators (synonym, syntax)")
    parser.add_argument("--sample", type=int, default=400, help="--rules: cleaned pairs sampled per language")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("INSTR_ASSETS_OUTPUT", ROOT / "output"))
                        / "model_cache" / "model_cache.sqlite")
    args = parser.parse_args(argv)
    if args.command == "run" and args.rules:
        run_rules(args.sample, args.cache)
    elif args.command == "run":
        run([int(q) for q in args.quota.split(",")], args.threads, args.cache)
    else:
        print(summarize())


if __name__ == "__main__":
    main()
