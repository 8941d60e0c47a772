"""Cleaning: normalize text, fold 'no input' spellings, find PII (redact or drop), quality filters
(language-aware length, repetition, special characters, echo, refusal, template slots, truncation,
blocklist), exact dedup.

Every removal becomes a row in the rejected table with a reason code; kept + rejected = input.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .pii import find_pii, redact
from .quality import DEFAULT_RULES, QualityRules, quality_issue
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
    max_prompt_chars: int = 8000
    quality: QualityRules = DEFAULT_RULES
    # What to do with a pair that holds personal data or secrets: 'redact' with typed placeholders, 'drop', or 'off'.
    pii_action: str = "redact"
    blocklist_terms: tuple[str, ...] = ()


PII_ACTIONS = ("redact", "drop", "off")


_TEXT_FIELDS = ("instruction", "input", "response", "system")


def _sync_single_turn(row: dict) -> dict:
    """Rebuild a single-turn pair's messages and plain text from its parts.

    Edits are made to the parts (a folded 'no input', a redaction) and must reach the prompt too; the parts
    hold the same text as the messages, so the messages need no transform of their own.
    """
    messages = [dict(m) for m in row["messages"]]
    if messages[0]["role"] == "system":
        messages[0]["content"] = row["system"]
    first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    messages[first_user]["content"] = compose_user(row["instruction"], row["input"])
    messages[-1]["content"] = row["response"]
    return {**row, "messages": messages, "text": render_plain(row["instruction"], row["input"], row["response"])}


def _normalize_row(row: dict) -> dict:
    out = {**row, **{f: normalize_text(row[f] or "") for f in _TEXT_FIELDS}}
    if is_no_input(out["input"]):
        out["input"] = ""
    if row["n_turns"] == 1:
        return _sync_single_turn(out)
    out["messages"] = [{"role": m["role"], "content": normalize_text(m["content"])} for m in row["messages"]]
    out["text"] = render_plain(out["instruction"], out["input"], out["response"])
    return out


def _handle_pii(row: dict, action: str) -> tuple[dict, tuple[str, str] | None]:
    """(row with PII redacted, None) or (row, ('pii', kinds)) when the pair is to be dropped."""
    row["pii_kinds"] = None
    if action == "off":
        return row, None
    single = row["n_turns"] == 1
    found = {f: find_pii(row[f]) for f in _TEXT_FIELDS}
    # A single-turn pair's messages repeat its parts, so only multi-turn messages need a scan of their own.
    message_found = [] if single else [find_pii(m["content"]) for m in row["messages"]]
    kinds = sorted({m.kind for matches in [*found.values(), *message_found] for m in matches})
    if not kinds:
        return row, None
    row["pii_kinds"] = ",".join(kinds)
    if action == "drop":
        return row, ("pii", f"contains {', '.join(kinds)}")
    row.update({f: redact(row[f], matches) for f, matches in found.items()})
    if single:
        return _sync_single_turn(row), None
    row["messages"] = [{**m, "content": redact(m["content"], matches)} for m, matches in zip(row["messages"], message_found)]
    row["text"] = render_plain(row["instruction"], row["input"], row["response"])
    return row, None


def _rule_violation(row: dict, rules: CleanRules) -> tuple[str, str] | None:
    if not row["response"]:
        return "empty_response", "response is empty after normalization"
    if not row["instruction"]:
        return "empty_instruction", "instruction is empty after normalization"
    prompt_chars = sum(len(m["content"]) for m in row["messages"] if m["role"] != "assistant")
    if prompt_chars > rules.max_prompt_chars:
        return "prompt_too_long", f"{prompt_chars} > {rules.max_prompt_chars} characters"
    return quality_issue(row["instruction"], row["input"], row["response"], row["lang"], rules.quality,
                         rules.blocklist_terms)


def clean_pairs(unified: pl.DataFrame, rules: CleanRules = CleanRules()) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cleaned, rejected)."""
    if rules.pii_action not in PII_ACTIONS:
        raise ValueError(f"pii_action: {rules.pii_action!r} is not one of {PII_ACTIONS}")
    kept, rejected = [], []
    for row in unified.iter_rows(named=True):
        row, bad = _handle_pii(_normalize_row(row), rules.pii_action)
        bad = bad or _rule_violation(row, rules)
        if bad:
            rejected.append({"pair_id": row["pair_id"], "raw_id": row["raw_id"], "source": row["source"],
                             "reason": bad[0], "detail": bad[1], "kept_pair_id": None})
            continue
        row["norm_hash"] = sha("\x1f".join(f"{m['role']}:{m['content']}" for m in row["messages"]), 32)
        kept.append(row)
    schema = dict(unified.schema) | {"messages": MESSAGE_DTYPE, "pii_kinds": pl.Utf8, "norm_hash": pl.Utf8}
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
