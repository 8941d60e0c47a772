"""Turn raw records of every format into one instruction/response schema, or a reason why not."""
from __future__ import annotations

import json

import polars as pl

from .raw_sources import sha
from .source_config import UNREADABLE_SOURCE_LOCATOR
from ..storage import run_sql
from ..text import detect_lang, render_plain
from .conversation_shapes import convert_keyed_turns, convert_natural_instruction, convert_oasst_path
from .turns import Reject, from_turns, single_turn, text_field, turns_from_list, with_tools

MESSAGE_DTYPE = pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8}))

CONVERTED_SCHEMA = {
    "raw_id": pl.Utf8,
    "ok": pl.Boolean,
    "reason": pl.Utf8,
    "detail": pl.Utf8,
    "pair_id": pl.Utf8,
    "messages": MESSAGE_DTYPE,
    "system": pl.Utf8,
    "instruction": pl.Utf8,
    "input": pl.Utf8,
    "response": pl.Utf8,
    "n_turns": pl.Int32,
    "lang": pl.Utf8,
    "task_hint": pl.Utf8,
    "difficulty_hint": pl.Utf8,
    "reference_answer": pl.Utf8,
    "record_domain": pl.Utf8,
    "text": pl.Utf8,
}

SQUAD_TEMPLATES = {
    "en": "Read the passage and answer the question with a short span from it.",
    "zh": "阅读下面的文章，用文中的原话简短回答问题。",
}
SQUAD_INPUT = {
    "en": "Passage: {context}\n\nQuestion: {question}",
    "zh": "文章：{context}\n\n问题：{question}",
}


def convert_alpaca(obj: dict) -> dict:
    return single_turn(text_field(obj, "instruction"), text_field(obj, "input", False),
                       text_field(obj, "output"), text_field(obj, "system", False))


def convert_sharegpt(obj: dict, key: str = "conversations") -> dict:
    turns = turns_from_list(obj.get(key), "from", "value", key)
    if isinstance(obj.get("system"), str) and obj["system"] and not (turns and turns[0]["role"] == "system"):
        turns = [{"role": "system", "content": obj["system"]}] + turns
    return from_turns(with_tools(turns, obj.get("tools"), "'tools'"))


def convert_messages(obj: dict, key: str = "messages") -> dict:
    return from_turns(with_tools(turns_from_list(obj.get(key), "role", "content", key), obj.get("tools"), "'tools'"))


def convert_squad(obj: dict) -> dict:
    context = obj.get("context")
    qa = obj.get("qa") or {}
    if not isinstance(context, str) or not isinstance(qa, dict):
        raise Reject("missing_field", "question has no context string")
    question = text_field(qa, "question")
    answers = qa.get("answers")
    if not isinstance(answers, list) or not answers or not isinstance(answers[0], dict):
        raise Reject("missing_field", "question has no answers")
    answer = text_field(answers[0], "text")
    start = answers[0].get("answer_start")
    if answer not in context:
        raise Reject("answer_not_in_context", f"answer {answer[:40]!r} (answer_start={start}) is not in the context")
    lang = detect_lang(context + question)
    lang = lang if lang in SQUAD_TEMPLATES else "en"
    out = single_turn(SQUAD_TEMPLATES[lang], SQUAD_INPUT[lang].format(context=context, question=question), answer)
    out["task_hint"] = "extractive_qa"
    # A span offset that does not point at the answer (non-BMP characters shift offsets) is noted, not fatal.
    if not (isinstance(start, int) and context[start:start + len(answer)] == answer):
        out["detail"] = f"answer_start {start} does not match; the answer text is found in the context"
    return out


def convert_self_instruct(obj: dict) -> dict:
    inst = obj.get("instance")
    if not isinstance(inst, dict):
        raise Reject("missing_field", "instance is missing")
    return single_turn(text_field(obj, "instruction"), text_field(inst, "input", False), text_field(inst, "output"))


def convert_tabular(obj: dict, columns: dict) -> dict:
    def col(name, required):
        key = columns.get(name)
        if key is None:
            return ""
        value = obj.get(key)
        # CSV and Parquet cells may legitimately hold numbers; a number answer is still an answer.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        return text_field({key: value}, key, required)

    out = single_turn(col("instruction", True), col("input", False), col("response", True), col("system", False))
    if columns.get("domain") and isinstance(obj.get(columns["domain"]), str):
        out["record_domain"] = obj[columns["domain"]]
    return out


def convert_generated(obj: dict) -> dict:
    out = single_turn(obj["instruction"], obj.get("input") or "", obj["output"])
    out["task_hint"] = obj["task_kind"]
    out["difficulty_hint"] = obj.get("difficulty")
    out["reference_answer"] = obj["output"]
    return out


SEED_COLUMNS = {"instruction": "instruction", "input": "input", "response": "output", "domain": "domain"}


def convert_record(fmt: str, obj, entry_options: dict) -> dict:
    if not isinstance(obj, dict):
        raise Reject("not_an_object", f"record is a {type(obj).__name__}")
    if fmt == "alpaca":
        return convert_alpaca(obj)
    if fmt == "sharegpt":
        return convert_sharegpt(obj, entry_options.get("conversations_key", "conversations"))
    if fmt == "messages":
        return convert_messages(obj, entry_options.get("messages_key", "messages"))
    if fmt == "squad":
        return convert_squad(obj)
    if fmt == "self_instruct":
        return convert_self_instruct(obj)
    if fmt == "keyed_turns":
        return convert_keyed_turns(obj, entry_options.get("conversation_key", "conversation"),
                                   entry_options.get("user_key"), entry_options.get("assistant_key"))
    if fmt == "oasst":
        return convert_oasst_path(obj, entry_options.get("langs"), entry_options.get("branches", "all"))
    if fmt == "natural_instructions":
        return convert_natural_instruction(obj)
    if fmt == "tabular":
        return convert_tabular(obj, entry_options["columns"])
    if fmt == "builtin_seed":
        return convert_tabular(obj, SEED_COLUMNS)
    if fmt == "builtin_generated":
        return convert_generated(obj)
    raise Reject("unknown_format", fmt)


def pair_id_of(messages: list[dict]) -> str:
    return sha(json.dumps(messages, ensure_ascii=False, sort_keys=True))


def _check_encodable(out: dict) -> None:
    # An escaped half surrogate pair ("\ud83d", a cut emoji) parses as JSON but cannot be stored as UTF-8.
    try:
        json.dumps(out, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise Reject("invalid_unicode", f"lone surrogate {e.object[e.start:e.end]!r} in the text") from None


def convert_raw(raw: pl.DataFrame, options_by_source: dict[str, dict]) -> pl.DataFrame:
    """One row per raw record: the converted pair, or ok=False with a reason."""
    rows = []
    for rec in raw.select("raw_id", "source", "format", "locator", "record", "parse_error").iter_rows(named=True):
        row = dict.fromkeys(CONVERTED_SCHEMA)
        row["raw_id"] = rec["raw_id"]
        try:
            if rec["locator"] == UNREADABLE_SOURCE_LOCATOR:
                raise Reject("source_unreadable", rec["parse_error"] or "the source could not be read")
            if rec["parse_error"] is not None:
                raise Reject("parse_error", rec["parse_error"])
            out = convert_record(rec["format"], json.loads(rec["record"]), options_by_source.get(rec["source"], {}))
            _check_encodable(out)
            if not out["instruction"].strip():
                raise Reject("empty_instruction", "the instruction is empty")
            if not out["response"].strip():
                raise Reject("empty_response", "the response is empty")
        except Reject as r:
            row.update(ok=False, reason=r.reason, detail=r.detail)
            rows.append(row)
            continue
        row.update(out)
        row["ok"] = True
        row["pair_id"] = pair_id_of(out["messages"])
        row["n_turns"] = sum(1 for m in out["messages"] if m["role"] == "user")
        row["lang"] = detect_lang(" ".join(m["content"] for m in out["messages"] if m["role"] != "system"))
        row["text"] = render_plain(out["instruction"], out["input"], out["response"])
        rows.append(row)
    return pl.DataFrame(rows, schema=CONVERTED_SCHEMA)


def unify(raw: pl.DataFrame, options_by_source: dict[str, dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(unified_pairs, rejected): the SQL join attaches provenance and splits kept from rejected."""
    converted = convert_raw(raw, options_by_source)
    unified = run_sql("unify_pairs", raw_sources=raw, converted=converted)
    rejected = run_sql("unify_rejected", raw_sources=raw, converted=converted)
    return unified, rejected
