"""Text normalization, cleaning with exact dedup, augmentation and the stratified split.

Frames are built through the real readers and unify so that their schema is the pipeline's own.
Public data in ../shared/data is used where present (skipped otherwise).
"""
import json
import random
from pathlib import Path

import polars as pl
import pytest

from instr_assets.core.ingest import source_config as sc
from instr_assets.core.augment.augmentation import RULE_OPERATORS, AugmentRules, _run_operator, augment_pairs
from instr_assets.core.clean.quality import FILTERS, QualityRules
from instr_assets.core.clean.cleaning import CleanRules, clean_pairs
from instr_assets.core.ingest.raw_sources import read_all_sources
from instr_assets.core.stratify.split import DIFFICULTIES, DOMAINS, SPLITS, TASK_TYPES, SplitRules, stratify_and_split
from instr_assets.core.text import is_no_input, normalize_text
from instr_assets.core.ingest.unify import unify



def unify_yaml(yaml_path: Path):
    entries, base = sc.load_sources(yaml_path)
    raw = read_all_sources(entries, base)
    unified, rejected = unify(raw, {e.name: json.loads(e.model_dump_json()) for e in entries})
    return raw, unified, rejected


def unify_alpaca(tmp_path: Path, records: list[dict], name: str = "hand"):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(records, ensure_ascii=False, indent=2), encoding="utf-8")
    y = tmp_path / f"{name}.yaml"
    y.write_text(f"sources:\n  - {{name: {name}, format: alpaca, path: '{path}'}}\n", encoding="utf-8")
    raw, unified, rejected = unify_yaml(y)
    assert rejected.height == 0, rejected
    return unified


# ---------------------------------------------------------------- text

@pytest.mark.parametrize("value", ["&lt;无输入&gt;", "<无输入>", "N/A", "n/a.", "无", " none ", "None", "", "   ",
                                   "（无）", "<noinput>", "No input.", "&nbsp;", "\u200b"])
def test_no_input_spellings_fold(value):
    assert is_no_input(value)


@pytest.mark.parametrize("value", ["none of these", "无锡", "N/A or B", "0", "Where is the train station?"])
def test_real_inputs_do_not_fold(value):
    assert not is_no_input(value)


def test_normalize_text():
    assert normalize_text("&lt;无输入&gt;") == "<无输入>"
    assert normalize_text("ＡＢＣ１２３！？") == "ABC123！？"         # full-width letters fold, CJK punctuation stays
    assert normalize_text("ﬁne ①") == "fine ①"                       # ligature folds; circled digit keeps its meaning
    assert normalize_text("a\u200bb\u200dc\ufeffd") == "abcd"         # zero-width / BOM removed
    assert normalize_text("x\x00y\x07z\x1b\x7f") == "xyz"            # control characters removed
    assert normalize_text("line1\r\nline2\rline3") == "line1\nline2\nline3"
    assert normalize_text("  a \t\u00a0 b\u3000c  ") == "a b c"
    assert normalize_text("p1\n\n\n\n\np2") == "p1\n\np2"
    assert normalize_text("Tom &amp; Jerry &#39;s") == "Tom & Jerry 's"
    assert normalize_text("keep\ttabs?") == "keep tabs?"


def test_normalize_text_keeps_code_indentation():
    assert normalize_text("def f(x):\n    if x:\n        return 1   ") == "def f(x):\n    if x:\n        return 1"
    assert normalize_text("a   b\u3000c") == "a b c"


# ---------------------------------------------------------------- clean on a hand-made frame

HAND = [
    {"instruction": "Name a fruit.", "input": "", "output": "Apple."},                    # 0 kept
    {"instruction": "  Name   a fruit. ", "input": "N/A", "output": "Apple.\r\n"},        # 1 dup of 0
    {"instruction": "Tom &amp; Jerry?", "input": "", "output": "A cartoon."},             # 2 kept
    {"instruction": "Tom & Jerry?", "input": "", "output": "A\u200b cartoon."},           # 3 dup of 2
    {"instruction": "Say nothing.", "input": "", "output": "&nbsp;"},                     # 4 empty_response
    {"instruction": "\u200b", "input": "", "output": "x"},                               # 5 empty_instruction
    {"instruction": "Translate.", "input": "&lt;无输入&gt;", "output": "Done."},           # 6 kept, input folded
    {"instruction": "ＡＢＣ？", "input": "", "output": "Letters."},                         # 7 kept, NFKC
    {"instruction": "Translate.", "input": "", "output": "Done."},                        # 8 dup of 6
    {"instruction": "Write a lot.", "input": "", "output": "many words " * 15},           # 9 too long (rules below)
    {"instruction": "Translate.", "input": "无", "output": "Done."},                      # 10 dup of 6
]
RULES = CleanRules(quality=QualityRules(max_words=20))


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    unified = unify_alpaca(tmp_path_factory.mktemp("hand"), HAND)
    assert unified.height == len(HAND)
    # The locator [i] is the record's index in the file.
    by_index = {int(loc.strip("[]")): pid for loc, pid in unified.select("locator", "pair_id").iter_rows()}
    cleaned, rejected = clean_pairs(unified, RULES)
    return unified, by_index, cleaned, rejected


def test_clean_accounting(hand):
    unified, _, cleaned, rejected = hand
    assert cleaned.height + rejected.height == unified.height
    assert set(cleaned["raw_id"]) | set(rejected["raw_id"]) == set(unified["raw_id"])
    assert cleaned["pair_id"].n_unique() == cleaned.height
    assert cleaned["norm_hash"].n_unique() == cleaned.height


def test_clean_refuses_input_whose_raw_ids_repeat(hand):
    unified = hand[0]
    with pytest.raises(ValueError, match="raw_id must identify one row"):
        clean_pairs(pl.concat([unified, unified.head(1)]), RULES)


def test_clean_reasons_and_duplicate_pointers(hand):
    _, ids, cleaned, rejected = hand
    got = {r["pair_id"]: (r["reason"], r["kept_pair_id"]) for r in rejected.iter_rows(named=True)}
    assert got == {
        ids[1]: ("exact_duplicate", ids[0]),
        ids[3]: ("exact_duplicate", ids[2]),
        ids[8]: ("exact_duplicate", ids[6]),
        ids[10]: ("exact_duplicate", ids[6]),
        ids[4]: ("empty_response", None),
        ids[5]: ("empty_instruction", None),
        ids[9]: ("response_too_long", None),
    }
    assert set(cleaned["pair_id"]) == {ids[0], ids[2], ids[6], ids[7]}
    dup = rejected.filter(pl.col("pair_id") == ids[1]).row(0, named=True)
    assert ids[0] in dup["detail"] and "(hand)" in dup["detail"]


def test_clean_normalizes_kept_rows(hand):
    _, ids, cleaned, _ = hand
    rows = {r["pair_id"]: r for r in cleaned.iter_rows(named=True)}
    tom = rows[ids[2]]
    assert tom["instruction"] == "Tom & Jerry?"
    assert tom["messages"][0]["content"] == "Tom & Jerry?"
    tr = rows[ids[6]]
    assert tr["input"] == ""
    assert tr["messages"] == [{"role": "user", "content": "Translate."}, {"role": "assistant", "content": "Done."}]
    assert tr["text"] == "Instruction: Translate.\nResponse: Done."
    assert rows[ids[7]]["instruction"] == "ABC？"


def test_clean_keeps_first_in_source_order_regardless_of_input_order(hand):
    unified, ids, cleaned, rejected = hand
    cleaned2, rejected2 = clean_pairs(unified.reverse(), RULES)
    assert set(cleaned2["pair_id"]) == set(cleaned["pair_id"])
    assert dict(rejected2.select("pair_id", "kept_pair_id").iter_rows()) == dict(
        rejected.select("pair_id", "kept_pair_id").iter_rows())


def test_clean_rules_limits(tmp_path):
    unified = unify_alpaca(tmp_path, [
        {"instruction": "Q?", "input": "", "output": "ok"},
        {"instruction": "Q2?", "input": "x" * 50, "output": "fine"},
    ])
    cleaned, rejected = clean_pairs(unified, CleanRules(quality=QualityRules(min_words=2), max_prompt_chars=40))
    assert cleaned.height == 0
    assert sorted(rejected["reason"]) == ["prompt_too_long", "response_too_short"]
    empty_cleaned, empty_rejected = clean_pairs(unified.clear())
    assert empty_cleaned.height == 0 and empty_rejected.height == 0


# ---------------------------------------------------------------- clean on public data

@pytest.fixture(scope="module")
def shared_clean(data_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("shared_clean")
    y = d / "sources.yaml"
    y.write_text(f"""data_roots: ['{data_dir}']
sources:
  - {{name: alpaca_en, format: alpaca, path: '{data_dir / "llama_factory/alpaca_en_demo.json"}'}}
  - {{name: alpaca_zh, format: alpaca, path: '{data_dir / "llama_factory/alpaca_zh_demo.json"}'}}
  - {{name: seeds_a_self_instruct, format: self_instruct, path: '{data_dir / "self_instruct/seed_tasks.jsonl"}'}}
  - {{name: seeds_b_stanford, format: self_instruct, path: '{data_dir / "stanford_alpaca/seed_tasks.jsonl"}'}}
""", encoding="utf-8")
    raw, unified, rejected = unify_yaml(y)
    assert rejected.height == 0
    cleaned, clean_rejected = clean_pairs(unified)
    return unified, cleaned, clean_rejected


def _src(frame, name):
    return frame.filter(pl.col("source") == name)


def test_shared_clean_accounting(shared_clean):
    unified, cleaned, rejected = shared_clean
    assert cleaned.height + rejected.height == unified.height
    for name in ("alpaca_en", "alpaca_zh", "seeds_a_self_instruct", "seeds_b_stanford"):
        assert _src(cleaned, name).height + _src(rejected, name).height == _src(unified, name).height
    assert cleaned["norm_hash"].n_unique() == cleaned.height
    # Every duplicate points at a pair that was kept.
    dups = rejected.filter(pl.col("reason") == "exact_duplicate")
    assert set(dups["kept_pair_id"]) <= set(cleaned["pair_id"])


def shared_clean_dedup_only(shared_clean):
    """The shared data cleaned with every quality filter off, so duplicate counts are not masked by them."""
    unified = shared_clean[0]
    rules = CleanRules(quality=QualityRules(disabled=frozenset(FILTERS)), pii_action="off")
    return (unified, *clean_pairs(unified, rules))


def test_shared_quality_filters_on_real_data(shared_clean):
    unified, cleaned, rejected = shared_clean
    reasons = dict(_src(rejected, "alpaca_en").group_by("reason").len().iter_rows())
    # Duplicates plus a few percent of refusals ("As an AI..."), truncations and "[Your Name]" slots.
    assert reasons.get("exact_duplicate", 0) <= 14 and {"refusal", "template_slot"} <= reasons.keys()
    assert sum(reasons.values()) < 0.1 * _src(unified, "alpaca_en").height
    assert cleaned.height + rejected.height == unified.height
    # Sample addresses in alpaca answers are redacted, not dropped.
    assert cleaned["response"].str.contains("<EMAIL>").sum() >= 1


def test_shared_alpaca_en_duplicates(shared_clean, data_dir):
    unified, cleaned, rejected = shared_clean_dedup_only(shared_clean)
    recs = json.loads((data_dir / "llama_factory/alpaca_en_demo.json").read_text(encoding="utf-8"))
    io_dups = len(recs) - len({(r["instruction"], r["output"]) for r in recs})
    full_dups = len(recs) - len({(r["instruction"], r["input"], r["output"]) for r in recs})
    # SOURCES.md says 14 duplicate instruction+output pairs; here their inputs agree too, so all 14 are exact
    # duplicates of the whole conversation, and normalization merges no further near-duplicates.
    assert io_dups == full_dups == 14
    r = _src(rejected, "alpaca_en")
    assert dict(r.group_by("reason").len().iter_rows()) == {"exact_duplicate": 14}
    assert _src(cleaned, "alpaca_en").height == 999 - 14
    # The one-character output "3" is a legitimate answer and is kept (min_response_chars=1).
    assert (_src(cleaned, "alpaca_en")["response"] == "3").sum() == 1


def test_shared_alpaca_zh_whitespace_and_duplicates(shared_clean, data_dir):
    unified, cleaned, rejected = shared_clean_dedup_only(shared_clean)
    recs = json.loads((data_dir / "llama_factory/alpaca_zh_demo.json").read_text(encoding="utf-8"))
    padded = {r["instruction"].strip() for r in recs if r["instruction"] != r["instruction"].strip()}
    assert len([r for r in recs if r["instruction"] != r["instruction"].strip()]) == 43
    zh = _src(cleaned, "alpaca_zh")
    assert (zh["instruction"] == zh["instruction"].str.strip_chars()).all()
    assert (zh["response"] == zh["response"].str.strip_chars()).all()
    # The padded instructions survive in stripped form, their Chinese punctuation as written.
    assert len({normalize_text(t) for t in padded} & set(zh["instruction"])) == len(padded) == 43
    assert "，" in "".join(zh["instruction"]) and "。" in "".join(zh["instruction"])
    assert not zh["instruction"].str.contains("\u3000|\u00a0|\u200b").any()
    r = _src(rejected, "alpaca_zh")
    # SOURCES.md: 8 duplicate instructions; each is also a duplicate of the whole record.
    assert dict(r.group_by("reason").len().iter_rows()) == {"exact_duplicate": 8}
    assert (zh["lang"] == "zh").mean() > 0.95


def test_shared_identical_seed_files_second_source_all_duplicates(shared_clean):
    unified, cleaned, rejected = shared_clean_dedup_only(shared_clean)
    a, b = "seeds_a_self_instruct", "seeds_b_stanford"
    assert _src(cleaned, b).height == 0
    rb = _src(rejected, b)
    assert rb.height == _src(unified, b).height == 175
    assert set(rb["reason"]) == {"exact_duplicate"}
    assert set(rb["kept_pair_id"]) == set(_src(cleaned, a)["pair_id"])
    assert all(f"({a})" in d for d in rb["detail"])
    assert _src(cleaned, a).height == 175


# ---------------------------------------------------------------- augment / split on the packaged data

@pytest.fixture(scope="module")
def pipeline():
    """The hand-written seed set plus generated verifiable tasks (~500 pairs), unified and cleaned."""
    entries, base = sc.load_sources(sc.DEFAULT_SOURCES_FILE)
    entries = [e for e in entries if e.name in ("seed", "verifiable", "example_messages")]
    raw = read_all_sources(entries, base)
    unified, _ = unify(raw, {e.name: json.loads(e.model_dump_json()) for e in entries})
    cleaned, _ = clean_pairs(unified)
    assert 480 <= cleaned.height <= 560
    augmented = augment_pairs(cleaned)
    return cleaned, augmented


def children_of(aug: pl.DataFrame) -> pl.DataFrame:
    return aug.filter(pl.col("is_augmented"))


def test_augment_deterministic_and_seed_dependent(pipeline):
    cleaned, augmented = pipeline
    assert augment_pairs(cleaned).equals(augmented)
    other = augment_pairs(cleaned, AugmentRules(seed=99))
    assert set(children_of(other)["pair_id"]) != set(children_of(augmented)["pair_id"])
    # Originals are identical and come first in both.
    assert augmented.head(cleaned.height)["pair_id"].to_list() == cleaned["pair_id"].to_list()
    assert other.head(cleaned.height)["pair_id"].to_list() == cleaned["pair_id"].to_list()


def test_augment_children_link_to_parents(pipeline):
    cleaned, augmented = pipeline
    kids = children_of(augmented)
    assert kids.height > 0
    assert set(kids["operator"]) == set(RULE_OPERATORS)
    originals = augmented.filter(~pl.col("is_augmented"))
    assert set(originals["operator"]) == {"original"} and originals["parent_pair_id"].null_count() == originals.height
    parents = {r["pair_id"]: r for r in cleaned.iter_rows(named=True)}
    for k in kids.iter_rows(named=True):
        p = parents[k["parent_pair_id"]]
        assert p["n_turns"] == 1
        assert k["response"] == p["response"] and k["input"] == p["input"] and k["lang"] == p["lang"]
        assert k["messages"][-1] == p["messages"][-1]
        assert k["instruction"] != p["instruction"]
        assert k["messages"][-2]["content"].startswith(k["instruction"])
        assert k["reference_answer"] == p["reference_answer"]
    assert augmented["pair_id"].n_unique() == augmented.height
    # Multi-turn pairs are never augmented.
    multi = set(cleaned.filter(pl.col("n_turns") > 1)["pair_id"])
    assert multi and not multi & set(kids["parent_pair_id"])


@pytest.mark.parametrize("share", [0.0, 0.1, 0.25, 0.5])
def test_augment_share_cap(pipeline, share):
    cleaned, _ = pipeline
    out = augment_pairs(cleaned, AugmentRules(max_augmented_share=share, apply_prob=1.0))
    n_aug = out["is_augmented"].sum()
    assert n_aug / out.height <= share + 1e-9
    assert out.height - n_aug == cleaned.height
    # The cap binds where the children that pass the gates outnumber it; below it, every one of them is kept.
    # (Verifiable tasks are no longer augmented, so at 0.5 there are fewer children than the cap.)
    every_child = augment_pairs(cleaned, AugmentRules(max_augmented_share=0.95, apply_prob=1.0))["is_augmented"].sum()
    assert n_aug == min(int(share * cleaned.height / (1 - share)), every_child)


def test_augment_unknown_operator():
    with pytest.raises(ValueError, match="back_translate"):
        augment_pairs(pl.DataFrame(), AugmentRules(operators=("back_translate",)))


@pytest.mark.parametrize("lang, text", [
    ("en", "What are the main causes of air pollution?"),
    ("en", "Calculate the main costs of a small business."),
    ("zh", "如何获得抵押贷款？"),
    ("zh", "请描述一次难忘的经历。"),
])
def test_every_operator_works_in_both_languages(lang, text):
    for op in RULE_OPERATORS:
        outs = {_run_operator(op, text, lang, random.Random(s), AugmentRules())[0] for s in range(20)}
        outs.discard(None)
        assert outs, (op, lang)
        assert text not in outs
    # Other languages are left alone, saying why.
    for op in RULE_OPERATORS:
        new, why = _run_operator(op, text, "fr", random.Random(0), AugmentRules())
        assert new is None and "'fr'" in why


# ---------------------------------------------------------------- split

@pytest.fixture(scope="module")
def split_default(pipeline):
    _, augmented = pipeline
    result = stratify_and_split(augmented)
    return result.splits, result.dropped


def test_split_deterministic(pipeline, split_default):
    _, augmented = pipeline
    s1, d1 = split_default
    again = stratify_and_split(augmented)
    s2, d2 = again.splits, again.dropped
    assert s1.sort("pair_id").equals(s2.sort("pair_id")) and d1.sort("pair_id").equals(d2.sort("pair_id"))
    s3 = stratify_and_split(augmented, SplitRules(seed=7)).splits
    a = dict(s1.select("pair_id", "split").iter_rows())
    b = dict(s3.select("pair_id", "split").iter_rows())
    assert a != b


def test_split_groups_share_a_split_and_labels_valid(pipeline, split_default):
    _, augmented = pipeline
    splits, dropped = split_default
    assert splits.height + dropped.height == augmented.height
    assert set(splits["pair_id"]) | set(dropped["pair_id"]) == set(augmented["pair_id"])
    per_group = splits.group_by("group_id").agg(pl.col("split").n_unique().alias("n"),
                                                pl.col("stratum").n_unique().alias("s"))
    assert (per_group["n"] == 1).all() and (per_group["s"] == 1).all()
    kids = splits.filter(pl.col("is_augmented"))
    assert kids.height > 0
    parent_group = dict(splits.filter(~pl.col("is_augmented")).select("pair_id", "group_id").iter_rows())
    assert all(parent_group[p] == g for p, g in kids.select("parent_pair_id", "group_id").iter_rows())
    parent_split = dict(splits.filter(~pl.col("is_augmented")).select("pair_id", "split").iter_rows())
    for parent, sp in kids.select("parent_pair_id", "split").iter_rows():
        assert parent_split[parent] == sp
    assert set(splits["split"]) == set(SPLITS)
    assert set(splits["domain"]) <= set(DOMAINS)
    assert set(splits["task_type"]) <= set(TASK_TYPES)
    assert set(splits["difficulty"]) <= set(DIFFICULTIES)
    assert splits["stratum"].null_count() == 0
    # Verifiable tasks carry their own labels through.
    calc = splits.filter(pl.col("task_hint") == "arithmetic")
    assert calc.height > 0 and set(calc["domain"]) == {"math_reasoning"} and set(calc["task_type"]) == {"calculation"}
    assert set(splits.filter(pl.col("n_turns") > 1)["task_type"]) == {"multi_turn_chat"}


def test_split_fractions_about_ten_percent(pipeline):
    _, augmented = pipeline
    result = stratify_and_split(augmented)
    splits, dropped = result.splits, result.dropped
    # The default (natural) mixture drops nothing; the old cap of 60 groups per stratum dropped about half.
    assert dropped.height == 0
    groups = splits.select("group_id", "split").unique()
    n = groups.height
    assert n >= 480
    shares = {k: v / n for k, v in groups.group_by("split").len().iter_rows()}
    for part in ("validation", "test"):
        assert 0.05 <= shares[part] <= 0.15, shares
    rows = dict(splits.group_by("split").len().iter_rows())
    for part in ("validation", "test"):
        assert 0.05 <= rows[part] / splits.height <= 0.15, rows


def test_split_rejects_bad_fractions(pipeline):
    _, augmented = pipeline
    with pytest.raises(ValueError):
        stratify_and_split(augmented, SplitRules(validation_fraction=0.5, test_fraction=0.5))


def test_clean_redacts_or_drops_pii_and_applies_quality_filters(tmp_path):
    records = [
        {"instruction": "Write to me.", "input": "", "output": "Mail zhang.san@example.com or call 13812345678."},
        {"instruction": "介绍一下你自己。", "input": "", "output": "我是 {{name}}，由 {{author}} 开发的 AI 助手。"},
        {"instruction": "Tell me a joke.", "input": "", "output": "As an AI language model, I cannot tell jokes."},
        {"instruction": "What is 40 + 2?", "input": "", "output": "42"},
    ]
    unified = unify_alpaca(tmp_path, records)
    cleaned, rejected = clean_pairs(unified)
    assert dict(rejected.select("reason", "source").iter_rows()).keys() == {"template_slot", "refusal"}
    redacted = cleaned.filter(pl.col("instruction") == "Write to me.")
    assert redacted["response"][0] == "Mail <EMAIL> or call <PHONE>."
    assert redacted["messages"][0][-1]["content"] == "Mail <EMAIL> or call <PHONE>."
    assert redacted["pii_kinds"][0] == "EMAIL,PHONE"
    assert "42" in cleaned["response"].to_list()
    dropped_cleaned, dropped = clean_pairs(unified, CleanRules(pii_action="drop"))
    assert dropped.filter(pl.col("reason") == "pii")["detail"].to_list() == ["contains EMAIL, PHONE"]
    assert dropped_cleaned.height + dropped.height == unified.height
    with pytest.raises(ValueError, match="pii_action"):
        clean_pairs(unified, CleanRules(pii_action="mask"))
