"""Calibrates the optional semantic near-duplicate step (core/clean/semantic_dedup.py) on real pairs.

    .venv/bin/python bench/semantic_dedup_bench.py [--per-lang 200] [--seed 0] [--out bench/results]

Real single-turn pairs from ../shared/data (the quality bench's base rows), English and Chinese. For each:
  reworded  (should merge)  the prompt rewritten by the rule operators (syntax, else synonyms: WordNet, Cilin) and
                            the response given synonyms at a 10% rate: one pair said in other words;
  numbers   (must not)      every number in prompt and response changed: another question, another answer;
  names     (must not)      a person, place or organisation name that both sides use (the quality bench's
                            harvest: capitalised runs in English, jieba's name tags in Chinese) swapped for another
                            of its kind, in both;
  real      (must not)      every other real pair of the sample: the share of real pairs merged with any other.
Each threshold pair (prompt, response) is scored: recall on reworded, false merges on the others. Embeddings are
cached under --cache, so a rerun embeds nothing. Writes <out>/semantic_dedup_bench.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from quality_sources import harvest_names, load_base  # noqa: E402

from instr_assets.core.augment.synonyms import replace_synonyms  # noqa: E402
from instr_assets.core.augment.syntax import transform_syntax  # noqa: E402
from instr_assets.core.clean.semantic_dedup import SemanticDedupRules, semantic_duplicates  # noqa: E402
from instr_assets.core.models.runtime.cache import OutputCache  # noqa: E402
from instr_assets.core.models.runtime.embeddings import Embedder  # noqa: E402

_NUMBER = re.compile(r"\d+")
SETTINGS = ((0.90, 0.90), (0.92, 0.92), (0.94, 0.94), (0.95, 0.90), (0.95, 0.95), (0.96, 0.96), (0.97, 0.97),
            (0.98, 0.98))


def _reword(row: dict, rng: random.Random) -> dict | None:
    prompt, lang = row["instruction"], row["lang"]
    new_prompt, _ = transform_syntax(prompt, lang)
    if not new_prompt or new_prompt == prompt:
        new_prompt, _ = replace_synonyms(prompt, lang, rng, 0.2)
    new_response, _ = replace_synonyms(row["response"], lang, rng, 0.1)
    if not new_prompt or new_prompt == prompt:
        return None
    return {"instruction": new_prompt, "response": new_response or row["response"]}


def _renumber(row: dict, rng: random.Random) -> dict | None:
    if not _NUMBER.search(row["instruction"]):
        return None
    swap = {}

    def other(m: re.Match) -> str:
        return swap.setdefault(m.group(), str(int(m.group()) + rng.randint(1, 9)))
    return {"instruction": _NUMBER.sub(other, row["instruction"]), "response": _NUMBER.sub(other, row["response"])}


def _rename(row: dict, names: dict[str, str], rng: random.Random) -> dict | None:
    """A named value (harvest_names: people, places, organisations) that prompt and response both use, swapped in
    both for another of its kind."""
    shared = sorted(n for n in names if n in row["instruction"] and n in row["response"])
    if not shared:
        return None
    old = max(shared, key=len)
    others = [n for n, kind in names.items() if kind == names[old] and n != old and n not in row["response"]]
    if not others:
        return None
    new = rng.choice(others)
    return {"instruction": row["instruction"].replace(old, new), "response": row["response"].replace(old, new)}


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame({
        "pair_id": [r["pair_id"] for r in rows], "raw_id": [r["pair_id"] for r in rows],
        "source": [r.get("source", "") for r in rows], "lang": [r["lang"] for r in rows],
        "messages": [[{"role": "user", "content": r["instruction"]}, {"role": "assistant", "content": r["response"]}]
                     for r in rows]})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-lang", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shared", type=Path, default=BENCH.parent.parent / "shared" / "data")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/semantic_dedup_bench_cache"))
    ap.add_argument("--out", type=Path, default=BENCH / "results")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    base, _, _ = load_base(args.shared)
    single = [r for r in base if len(r["messages"]) == 2 and not r["input"] and r["lang"] in ("en", "zh")
              and len(r["response"]) >= 20 and len(r["instruction"]) >= 10]
    rng.shuffle(single)
    sample = [r for lang in ("en", "zh") for r in [x for x in single if x["lang"] == lang][:args.per_lang]]
    names = harvest_names(base)
    rows, variants = [], {"reworded": [], "numbers": [], "names": []}
    for r in sample:
        base_row = {"pair_id": r["pair_id"], "lang": r["lang"], "source": r["source"],
                    "instruction": r["instruction"], "response": r["response"]}
        rows.append(base_row)
        for kind, make in (("reworded", lambda: _reword(r, rng)), ("numbers", lambda: _renumber(r, rng)),
                           ("names", lambda: _rename(r, names[r["lang"]], rng))):
            v = make()
            if v and (v["instruction"], v["response"]) != (r["instruction"], r["response"]):
                variants[kind].append((len(rows) - 1, {**base_row, **v, "pair_id": f"{r['pair_id']}~{kind}"}))
    every = rows + [v for kind in variants.values() for _, v in kind]
    embedder = Embedder(cache=OutputCache(args.cache / "cache.sqlite"))
    rules = SemanticDedupRules()
    t = time.perf_counter()
    embedder.embed([x["instruction"][:rules.max_chars] for x in every], "query")
    embedder.embed([x["response"][:rules.max_chars] for x in every], "query")
    embed_s = time.perf_counter() - t

    def embed(texts: list[str]) -> np.ndarray:
        return embedder.embed(texts, "query")

    grid = []
    n_real = len(rows)
    real_frame = _frame(rows)
    for tp, tr in SETTINGS:
        step_rules = SemanticDedupRules(tp, tr)
        entry = {"prompt_threshold": tp, "response_threshold": tr}
        for kind, pairs in variants.items():
            frame = _frame([x for i, v in pairs for x in (rows[i], v)])
            _, rejected = semantic_duplicates(frame, embed, step_rules)
            twins = {v["pair_id"]: rows[i]["pair_id"] for i, v in pairs}
            merged = {twins.get(a, a) for a, b in zip(rejected["pair_id"], rejected["kept_pair_id"])
                      if twins.get(a) == b or twins.get(b) == a}
            for lang in ("en", "zh"):
                entry[f"{kind}_{lang}"] = [sum(1 for i, v in pairs if v["lang"] == lang and rows[i]["pair_id"] in merged),
                                           sum(1 for _, v in pairs if v["lang"] == lang)]
        _, rejected = semantic_duplicates(real_frame, embed, step_rules)
        gone = set(rejected["pair_id"].to_list())
        for lang in ("en", "zh"):
            entry[f"real_{lang}"] = [sum(1 for x in rows if x["lang"] == lang and x["pair_id"] in gone),
                                     sum(1 for x in rows if x["lang"] == lang)]
        entry["real_merged_examples"] = [
            {"dropped": a[:80], "kept": b} for a, b in zip(rejected["pair_id"], rejected["kept_pair_id"])][:5]
        grid.append(entry)
    out = {"per_lang": args.per_lang, "seed": args.seed, "rows": n_real,
           "variants": {k: len(v) for k, v in variants.items()}, "embed_seconds": round(embed_s, 1),
           "embedded_texts": embedder.computed, "grid": grid,
           "default": {"prompt_threshold": rules.prompt_threshold, "response_threshold": rules.response_threshold}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "semantic_dedup_bench.json").write_text(json.dumps(out, indent=1))
    (args.out / "semantic_dedup_bench.md").write_text(markdown(out))
    print(markdown(out))


def _pct(hits_n: list[int]) -> str:
    hits, n = hits_n
    return f"{100 * hits / n:.1f}% ({hits}/{n})" if n else "–"


def markdown(out: dict) -> str:
    lines = ["# Semantic near-duplicates: calibration on real pairs", "",
             f"{out['rows']} real single-turn pairs ({out['per_lang']} per language, seed {out['seed']}), variants "
             f"{out['variants']}; {out['embedded_texts']} texts embedded in {out['embed_seconds']} s "
             "(multilingual-e5-small, cached). Each setting runs the whole step (thresholds, then the numbers and "
             "names guards). Recall on reworded pairs; false merges on the rest ('real': the share of the real "
             "pairs dropped as a duplicate of another real pair).", "",
             "| prompt ≥ | response ≥ | reworded en | reworded zh | names en | names zh | numbers en | numbers zh "
             "| real en | real zh |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in out["grid"]:
        mark = " **(default)**" if (e["prompt_threshold"], e["response_threshold"]) == tuple(out["default"].values()) else ""
        lines.append(f"| {e['prompt_threshold']}{mark} | {e['response_threshold']} | " + " | ".join(
            _pct(e[k]) for k in ("reworded_en", "reworded_zh", "names_en", "names_zh", "numbers_en", "numbers_zh",
                                 "real_en", "real_zh")) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
