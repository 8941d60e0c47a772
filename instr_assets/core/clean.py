"""Cleaning: normalize text, fold 'no input' spellings, drop empty/too short/too long, exact dedup.

Every removal becomes a row in the rejected table with a reason code; kept + rejected = input.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .raw_sources import sha
from .storage import run_sql
from .text import compose_user, is_no_input, normalize_text, render_plain
from .unify import MESSAGE_DTYPE

REJECT_SCHEMA = {
    "pair_id": pl.Utf8, "raw_id": pl.Utf8, "source": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8,
    "kept_pair_id": pl.Utf8,
}


@dataclass(frozen=True)
class CleanRules:
    min_response_chars: int = 1
    max_response_chars: int = 6000
    max_prompt_chars: int = 8000


def _normalize_row(row: dict) -> dict:
    instruction = normalize_text(row["instruction"])
    input_text = normalize_text(row["input"] or "")
    if is_no_input(input_text):
        input_text = ""
    response = normalize_text(row["response"])
    messages = [{"role": m["role"], "content": normalize_text(m["content"])} for m in row["messages"]]
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    if row["n_turns"] == 1:
        # Single-turn pairs are rebuilt from their parts so that a folded 'no input' leaves the prompt too.
        messages[first_user]["content"] = compose_user(instruction, input_text)
        messages[-1]["content"] = response
    return {
        **row,
        "instruction": instruction,
        "input": input_text,
        "response": response,
        "system": normalize_text(row["system"] or ""),
        "messages": messages,
        "text": render_plain(instruction, input_text, response),
    }


def _rule_violation(row: dict, rules: CleanRules) -> tuple[str, str] | None:
    response = row["response"]
    if not response:
        return "empty_response", "response is empty after normalization"
    if not row["instruction"]:
        return "empty_instruction", "instruction is empty after normalization"
    if len(response) < rules.min_response_chars:
        return "response_too_short", f"{len(response)} < {rules.min_response_chars} characters"
    if len(response) > rules.max_response_chars:
        return "response_too_long", f"{len(response)} > {rules.max_response_chars} characters"
    prompt_chars = sum(len(m["content"]) for m in row["messages"] if m["role"] != "assistant")
    if prompt_chars > rules.max_prompt_chars:
        return "prompt_too_long", f"{prompt_chars} > {rules.max_prompt_chars} characters"
    return None


def clean_pairs(unified: pl.DataFrame, rules: CleanRules = CleanRules()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cleaned, rejected)."""
    kept, rejected = [], []
    for row in unified.iter_rows(named=True):
        row = _normalize_row(row)
        bad = _rule_violation(row, rules)
        if bad:
            rejected.append({"pair_id": row["pair_id"], "raw_id": row["raw_id"], "source": row["source"],
                             "reason": bad[0], "detail": bad[1], "kept_pair_id": None})
            continue
        row["norm_hash"] = sha("\x1f".join(f"{m['role']}:{m['content']}" for m in row["messages"]), 32)
        kept.append(row)
    schema = dict(unified.schema) | {"messages": MESSAGE_DTYPE, "norm_hash": pl.Utf8}
    normalized = pl.DataFrame(kept, schema=schema)
    # Exact duplicates (same normalized conversation) are resolved in SQL: the first by source order wins.
    ranked = run_sql("exact_dedup", pairs=normalized)
    cleaned = ranked.filter(pl.col("dup_rank") == 1).drop("dup_rank", "kept_pair_id")
    dups = ranked.filter(pl.col("dup_rank") > 1).select(
        "pair_id", "raw_id", "source",
        pl.lit("exact_duplicate").alias("reason"),
        pl.format("same normalized text as pair {} ({})", "kept_pair_id", "kept_source").alias("detail"),
        "kept_pair_id",
    )
    rejected_df = pl.concat([pl.DataFrame(rejected, schema=REJECT_SCHEMA), dups.cast(REJECT_SCHEMA)])
    return cleaned.drop("kept_source"), rejected_df
