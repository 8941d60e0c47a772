"""The real base rows of bench/quality_bench.py, and the named values (people, places, organisations) found in
them for hard negatives.

The core set is the cleaning bench's (bench/clean_data.py: alpaca en/zh, cmrc2018, v1, self-instruct seeds and
user-oriented tasks). Added here, so that each class can be planted 40+ times over three seeds and the
false-rejection rate covers more kinds of real text:
  t0_ag_news, t0_common_gen  self-instruct's P3 prompt/completion files (news classification, concept-to-sentence;
                             the completions end in a literal `<|endoftext|>`, as the files have them)
  dpo_zh                     LLaMA-Factory's Chinese preference pairs: the conversation with its chosen answer
  oasst                      Open-Assistant test trees: every root-to-leaf path that ends on an assistant reply
                             (branches of one tree share their first turns and end differently)
The two that the unifier cannot read as they are (dpo_zh, oasst) are rewritten as sharegpt records into a
temporary folder outside the repository; the rest go through the pipeline's own readers.
"""
from __future__ import annotations

import json
import re
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path

import polars as pl

from clean_data import REAL_SOURCES

EXTRA_TABULAR = (("t0_ag_news", "self_instruct/t0_ag_news_classify_with_choices.jsonl"),
                 ("t0_common_gen", "self_instruct/t0_common_gen_Given_concepts_type_1.jsonl"))
_WS = re.compile(r"\s+")


def fold(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def _oasst_paths(tree: dict) -> list[list[dict]]:
    """Root-to-leaf message paths of one Open-Assistant tree that end on an assistant reply."""
    out = []

    def walk(msg: dict, path: list[dict]) -> None:
        path = path + [{"from": "human" if msg["role"] == "prompter" else "gpt", "value": msg["text"]}]
        replies = msg.get("replies") or []
        if not replies and msg["role"] == "assistant":
            out.append(path)
        for reply in replies:
            walk(reply, path)

    walk(tree["prompt"], [])
    return out


def _sharegpt_rewrites(shared: Path, tmp: Path) -> list[tuple[str, str, Path]]:
    dpo = json.loads((shared / "llama_factory/dpo_zh_demo.json").read_text(encoding="utf-8"))
    dpo_rows = [{"conversations": r["conversations"] + [r["chosen"]]} for r in dpo]
    trees = [json.loads(line) for line in (shared / "open_assistant/test_trees.jsonl").read_text(encoding="utf-8")
             .splitlines() if line.strip()]
    oasst_rows = [{"conversations": path} for tree in trees for path in _oasst_paths(tree)]
    out = []
    for name, rows in (("dpo_zh", dpo_rows), ("oasst", oasst_rows)):
        path = tmp / f"{name}.json"
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        out.append((name, "sharegpt", path))
    return out


def load_real(shared: Path) -> pl.DataFrame:
    """Every real source above, unified the way the pipeline does it."""
    from instr_assets.core.ingest import unify
    from instr_assets.core.ingest.raw_sources import read_all_sources
    from instr_assets.core.ingest.source_config import SourcesFile, load_sources

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # Newer code reads source files only under declared roots; older code (--code) has no such field.
        roots = [f"data_roots: ['{shared}', '{tmp}']"] if "data_roots" in SourcesFile.model_fields else []
        lines = roots + ["sources:"]
        lines += [f"  - {{name: {n}, format: {f}, path: '{shared / rel}'}}" for n, f, rel in REAL_SOURCES]
        lines += [f"  - {{name: {n}, format: tabular, path: '{shared / rel}', "
                  "columns: {instruction: prompt, response: completion}}" for n, rel in EXTRA_TABULAR]
        lines += [f"  - {{name: {n}, format: {f}, path: '{p}'}}" for n, f, p in _sharegpt_rewrites(shared, tmp)]
        (tmp / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        entries, base = load_sources(tmp / "sources.yaml")
        raw = read_all_sources(entries, base)
    unified, _ = unify.unify(raw, {e.name: e.model_dump() for e in entries})
    return unified


def load_base(shared: Path) -> tuple[list[dict], dict, dict]:
    """Real unified rows, deduplicated by folded text, minus fastchat/dummy_conversation (templated identity
    chats whose 500 rows are near-copies of each other by construction)."""
    real = load_real(shared)
    notes = {"unified_rows": real.height, "unified_by_source": dict(Counter(real["source"].to_list()))}
    real = real.filter(pl.col("source") != "dummy")
    notes["left_out_dummy_conversation"] = notes["unified_rows"] - real.height
    # Two exact keys: the whole conversation without whitespace, and a long answer on its own (v1_sft_demo
    # repeats alpaca_en records with instruction and input glued together without the blank line).
    rows, seen, dups = [], set(), Counter()
    for row in real.iter_rows(named=True):
        whole = _WS.sub("", fold("".join(m["content"] for m in row["messages"])))
        answer = fold(row["response"]) if len(row["response"]) >= 50 else None
        if whole in seen or answer in seen:
            dups["same_text" if whole in seen else "same_long_answer"] += 1
            continue
        seen.update(k for k in (whole, answer) if k)
        rows.append(row)
    notes["duplicates_removed_beforehand"] = dict(dups)
    return rows, notes, dict(real.schema)


# --------------------------------------------------------------------------------------------- named values
# Capitalised runs of 1-3 words (optionally joined by "of"/"de"/"van"): English names of people, places, bodies.
_EN_NAME = re.compile(r"(?<![\w'])([A-Z][a-z]+(?:[ -](?:of |de |van )?[A-Z][a-z]+){0,2})(?![\w'])")
_SENT_START = re.compile(r"(?:^|[.!?:\n\"]\s*)$")


def harvest_names(rows: list[dict]) -> dict[str, dict[str, str]]:
    """{lang: {name: kind}}: named values in the prompts of the real data (instruction and input; reading-
    comprehension passages left out, so that a swapped name changes a short prompt). en: capitalised runs seen
    mid-sentence at least twice whose words never occur lower-cased (so "The" or "Python" as common words drop
    out). zh: words that
    jieba's tagger marks as a person, place or organisation name, seen at least twice (jieba==0.42.1, needed by
    this bench only; its tags are not perfect: some common nouns such as 城市 pass as places). The kind keeps a
    swap within like names: en, the word count; zh, jieba's tag (nr person, ns place, nt organisation)."""
    import logging

    try:
        import jieba
        import jieba.posseg
    except ImportError:
        raise SystemExit("quality bench: the Chinese name harvest needs jieba; install it into the venv with "
                         "`.venv/bin/pip install -e '.[bench]'` (jieba==0.42.1)") from None

    jieba.setLogLevel(logging.WARNING)
    mid, lower_words, zh, zh_kind = Counter(), set(), Counter(), {}
    for row in rows:
        if row["task_hint"] == "extractive_qa":
            continue
        prompt = row["instruction"] + "\n" + row["input"]
        if re.search(r"[\u4e00-\u9fff]", prompt):
            for w in jieba.posseg.cut(prompt):
                if w.flag in ("nr", "ns", "nt") and len(w.word) >= 2:
                    zh[w.word] += 1
                    zh_kind[w.word] = w.flag
            continue
        text = prompt + "\n" + row["response"]
        lower_words.update(re.findall(r"\b[a-z]+\b", text))
        for m in _EN_NAME.finditer(text):
            if not _SENT_START.search(text[max(0, m.start() - 3):m.start()]):
                mid[m.group(1)] += 1
    en = {n: f"en{len(re.split(r'[ -]', n))}" for n, c in sorted(mid.items()) if c >= 2 and len(n) >= 4
          and not any(w.lower() in lower_words for w in re.split(r"[ -]", n))}
    return {"en": en, "zh": {w: zh_kind[w] for w, c in sorted(zh.items()) if c >= 2}}
