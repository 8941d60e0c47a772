"""Cleaning beyond the single-row filters: offline language ID, near-duplicate clusters, chunked/parallel
execution, and cluster-aware splits. English and Chinese cases side by side."""
import json

import polars as pl
import pytest

from instr_assets.core.clean import language
from instr_assets.core.clean.cleaning import CleanRules, clean_pairs
from instr_assets.core.clean.near_dedup import NearDupRules
from instr_assets.core.stratify.split import SplitRules, stratify_and_split
from instr_assets.core.augment.augmentation import augment_pairs, AugmentRules
from instr_assets.defs.clean_assets import _per_source_accounting

from test_clean_augment_split import unify_alpaca, unify_yaml

# ---------------------------------------------------------------- language ID


@pytest.mark.parametrize(("text", "lang"), [
    ("What is the capital of France? Paris is the capital.", "en"),
    ("Are you GPT-2? You too!", "en"),                                   # short: fastText alone says 'bs'
    ("请解释一下Python中的list comprehension是什么意思", "zh"),            # mixed zh/en is Chinese, not 'other'
    ("用Java写一个HashMap的例子 HashMap<String, Integer> map = new HashMap<>();", "zh"),
    ("法国的首都是哪里？巴黎。", "zh"),
    ("Quelle est la capitale de la France ? C'est Paris.", "fr"),
    ("Wie spät ist es? Es ist halb drei.", "de"),
    ("¿Dónde está la biblioteca? Está en el centro de la ciudad.", "es"),
    ("Переведите это предложение на английский язык.", "ru"),
    ("日本の首都はどこですか。東京です。", "ja"),
    ("print(sum([1, 2, 3]))", "und"),                                    # code is no natural language (issue 9)
    ("2 + 2 = 4", "und"),                                                # no letters to judge by
])
def test_identify(text, lang):
    assert language.identify([text])[0][0] == lang


def test_identify_works_offline_from_the_wheel(monkeypatch):
    # The model file ships inside the installed package; nothing may be fetched.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (lang, confidence), = language.identify(["This sentence is plainly written in English."])
    assert lang == "en" and confidence > 0.9


def test_clean_rejects_disallowed_languages_with_detail(tmp_path):
    unified = unify_alpaca(tmp_path, [
        {"instruction": "Translate to English.", "input": "", "output": "Good morning, how are you today?"},
        {"instruction": "请把这句话翻译成英文。", "input": "", "output": "早上好，你今天怎么样？"},
        {"instruction": "Traduisez cette phrase.", "input": "", "output": "Bonjour, comment allez-vous aujourd'hui ?"},
    ])
    cleaned, rejected = clean_pairs(unified)
    assert sorted(cleaned["lang"]) == ["en", "zh"]
    (row,) = rejected.rows(named=True)
    assert row["reason"] == "language_not_allowed" and row["detail"].startswith("fr (confidence")
    all_kept, none = clean_pairs(unified, CleanRules(languages=()))
    assert none.height == 0 and sorted(all_kept["lang"]) == ["en", "fr", "zh"]


# ---------------------------------------------------------------- near duplicates

EN = ("Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make "
      "glucose and oxygen. It takes place mainly in the chloroplasts of leaf cells.")
ZH = ("光合作用是绿色植物利用阳光、水和二氧化碳制造葡萄糖和氧气的过程，主要发生在叶片细胞的叶绿体中。"
      "这个过程为地球上几乎所有的生命提供了能量，也让大气中保持着足够的氧气。")
NEAR = [
    {"instruction": "Explain photosynthesis.", "input": "", "output": EN},                                   # 0
    {"instruction": "Explain photosynthesis!", "input": "", "output": EN.replace("green plants", "plants")},  # 1 near 0, shorter
    {"instruction": "Explain photosynthesis.", "input": "", "output": EN + " Plants also store the energy."},  # 2 near 0, longest
    {"instruction": "解释一下光合作用。", "input": "", "output": ZH},                                           # 3
    {"instruction": "解释一下光合作用。", "input": "", "output": ZH.replace("几乎所有的", "所有")},                 # 4 near 3
    {"instruction": "Explain photosynthesis.", "input": "", "output": "It is how plants make food from light."},  # 5 same prompt, other answer
    {"instruction": "Explain  photosynthesis! ", "input": "", "output": EN.replace("green plants", "plants")},  # 6 = 1 once normalized
]


@pytest.fixture(scope="module")
def near(tmp_path_factory):
    unified = unify_alpaca(tmp_path_factory.mktemp("near"), NEAR)
    ids = {int(loc.strip("[]")): pid for loc, pid in unified.select("locator", "pair_id").iter_rows()}
    return unified, ids


def test_near_duplicates_keep_the_preferred_copy_and_point_to_it(near):
    unified, ids = near
    cleaned, rejected = clean_pairs(unified)
    got = {r["pair_id"]: (r["reason"], r["kept_pair_id"]) for r in rejected.iter_rows(named=True)}
    # pair 6 is an exact copy of 1, and 1 lost to 2: the pointer follows to the pair actually kept.
    assert got == {ids[0]: ("near_duplicate", ids[2]), ids[1]: ("near_duplicate", ids[2]),
                   ids[4]: ("near_duplicate", ids[3]), ids[6]: ("exact_duplicate", ids[2])}
    assert set(cleaned["pair_id"]) == {ids[2], ids[3], ids[5]}
    detail = rejected.filter(pl.col("pair_id") == ids[4])["detail"][0]
    # Both complete and cased: the longer copy (3, which kept 几乎所有的 in full) wins, 3 characters longer.
    assert detail == (f"near-duplicate of pair {ids[3]}: every message a copy (0 character edits beyond a "
                      f"length difference of 3); kept the other as longer")


def _sharegpt(tmp_path, conversations: list[list[str]]):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps([{"conversations": [{"from": "human" if i % 2 == 0 else "gpt", "value": v}
                                                   for i, v in enumerate(c)]} for c in conversations],
                               ensure_ascii=False), encoding="utf-8")
    y = tmp_path / "chat.yaml"
    y.write_text(f"sources:\n  - {{name: chat, format: sharegpt, path: '{path}'}}\n", encoding="utf-8")
    _, unified, _ = unify_yaml(y)
    return unified, {int(loc.strip("[]")): pid for loc, pid in unified.select("locator", "pair_id").iter_rows()}


def test_a_conversation_that_is_a_prefix_of_a_longer_one_goes_and_branches_stay(tmp_path):
    ask, answer = "How do I boil an egg?", "Put it in boiling water for eight minutes, then cool it in cold water."
    follow = "And a soft one?"
    unified, ids = _sharegpt(tmp_path, [
        [ask, answer],                                                     # 0: prefix of 1 and 2
        [ask, answer, follow, "Six minutes gives a runny yolk and a set white."],           # 1
        [ask, answer, follow, "Soft eggs are not safe for everyone; ask your doctor first."],  # 2: other branch
        [ask.upper(), answer, follow, "Six minutes gives a runny yolk and a set white."],   # 3: 1 shouted
        [ask, answer, follow, "Six minutes gives a runny yolk and a set white.", "Thanks!",
         "You are welcome, enjoy your breakfast."],                         # 4: 1 goes on
    ])
    cleaned, rejected = clean_pairs(unified)
    got = {r["pair_id"]: (r["reason"], r["kept_pair_id"]) for r in rejected.iter_rows(named=True)}
    # 1 is a prefix of 4, and 0 a prefix of all: both point at the longest conversation that continues them.
    # 3 equals 1 once case is folded, and the cased copy is the better one; it then follows 1 to 4.
    assert got == {ids[0]: ("near_duplicate", ids[4]), ids[1]: ("near_duplicate", ids[4]),
                   ids[3]: ("exact_duplicate", ids[4])}
    assert set(cleaned["pair_id"]) == {ids[2], ids[4]}
    detail = rejected.filter(pl.col("pair_id") == ids[1])["detail"][0]
    assert detail == f"its 4 messages are the first of pair {ids[4]}'s 6: a shorter copy of that conversation"


def test_the_kept_copy_is_complete_and_cased_before_longer_or_earlier(tmp_path):
    full = ("Water boils at 100 degrees Celsius at sea level. At higher altitudes the air pressure is lower, "
            "so it boils at a lower temperature.")
    unified = unify_alpaca(tmp_path, [
        {"instruction": "At what temperature does water boil?", "input": "",
         "output": full + " On Mount Everest it boils at about"},                     # 0: longer, cut off
        {"instruction": "At what temperature does water boil?", "input": "", "output": full},  # 1: complete
        {"instruction": "why is the sky blue?", "input": "",
         "output": "the sky is blue because air scatters blue light more than red light."},   # 2: lower-cased
        {"instruction": "Why is the sky blue?", "input": "",
         "output": "The sky is blue because air scatters blue light more than red light."},   # 3: cased
    ])
    ids = {int(loc.strip("[]")): pid for loc, pid in unified.select("locator", "pair_id").iter_rows()}
    cleaned, rejected = clean_pairs(unified)
    detail = {r["pair_id"]: r["detail"] for r in rejected.iter_rows(named=True)}
    assert set(cleaned["pair_id"]) == {ids[1], ids[3]}
    assert detail[ids[0]].endswith("kept the other as a complete ending")
    assert detail[ids[2]] == (f"same normalized text (case and whitespace folded) as pair {ids[3]} (hand); "
                              f"kept the other as not lower-cased")
    # Without folding, the lower-cased copy is no exact duplicate, but still a near one.
    _, rejected = clean_pairs(unified, CleanRules(exact_dup_fold=False))
    got = {r["pair_id"]: (r["reason"], r["kept_pair_id"]) for r in rejected.iter_rows(named=True)}
    assert got[ids[2]] == ("near_duplicate", ids[3])


def test_templates_with_other_numbers_or_names_are_not_near_duplicates(tmp_path):
    records = [{"instruction": f"What is {a} + 7?", "input": "", "output": f"{a} + 7 = {a + 7}."} for a in (12, 13)]
    records += [{"instruction": f"Write a two-line poem about {city}.", "input": "",
                 "output": "A river of light runs through the old town,\nand every bridge remembers a song."}
                for city in ("Paris", "Rome")]
    records += [{"instruction": "What is 12 + 7?", "input": "", "output": "12 + 7 = 19."},        # typo-free twin
                {"instruction": "Write a two-line poem about Pairs.", "input": "",                # typo in the name
                 "output": "A river of light runs through the old town,\nand every bridge remembers a song."}]
    unified = unify_alpaca(tmp_path, records)
    ids = {int(loc.strip("[]")): pid for loc, pid in unified.select("locator", "pair_id").iter_rows()}
    cleaned, rejected = clean_pairs(unified)
    got = {r["pair_id"]: (r["reason"], r["kept_pair_id"]) for r in rejected.iter_rows(named=True)}
    assert got == {ids[4]: ("exact_duplicate", ids[0]), ids[5]: ("near_duplicate", ids[2])}


def test_same_prompt_different_answer_is_not_a_near_duplicate(near):
    # Reading-comprehension sets ask many questions about one long passage: the prompts are near-identical,
    # the answers are not, and those pairs are all worth keeping.
    unified, ids = near
    cleaned, _ = clean_pairs(unified)
    assert ids[5] in cleaned["pair_id"].to_list()


def test_keep_action_tags_clusters_and_split_keeps_them_together(near):
    unified, ids = near
    cleaned, rejected = clean_pairs(unified, CleanRules(near_dup_action="keep"))
    assert rejected["reason"].to_list() == ["exact_duplicate"]
    cluster = dict(cleaned.select("pair_id", "cluster_id").iter_rows())
    assert cluster[ids[0]] == cluster[ids[1]] == cluster[ids[2]] == ids[2]
    assert cluster[ids[3]] == cluster[ids[4]] == ids[3]
    assert cluster[ids[5]] == ids[5]
    augmented = augment_pairs(cleaned, AugmentRules(apply_prob=1.0, max_augmented_share=0.5))
    for seed in range(5):
        splits = stratify_and_split(augmented, SplitRules(seed=seed)).splits
        per_cluster = splits.group_by("cluster_id").agg(pl.col("split").n_unique().alias("n"),
                                                        pl.col("group_id").n_unique().alias("groups"))
        assert per_cluster["n"].max() == 1
        # A cluster is inside one split group (which may join other clusters sharing a prompt or passage).
        assert per_cluster["groups"].max() == 1


def test_off_action_and_bad_near_dup_rules(near):
    unified, _ = near
    cleaned, rejected = clean_pairs(unified, CleanRules(near_dup_action="off"))
    assert set(rejected["reason"]) == {"exact_duplicate"}
    assert (cleaned["cluster_id"] == cleaned["pair_id"]).all()
    with pytest.raises(ValueError, match="near_dup_action"):
        clean_pairs(unified, CleanRules(near_dup_action="merge"))
    with pytest.raises(ValueError, match="near_dup"):
        clean_pairs(unified, CleanRules(near_dup=NearDupRules(threshold=1.5)))


# ---------------------------------------------------------------- chunks and workers


def test_chunked_and_parallel_runs_match_one_pass(near, tmp_path):
    records = NEAR + [{"instruction": f"Add {i} and {i + 1}.", "input": "", "output": f"The sum is {2 * i + 1}."}
                      for i in range(40)] + [{"instruction": "Write to me.", "input": "", "output": "Mail a.b@example.com"}]
    unified = unify_alpaca(tmp_path, records)
    one_cleaned, one_rejected = clean_pairs(unified, CleanRules(workers=1))
    timings: dict[str, float] = {}
    par_cleaned, par_rejected = clean_pairs(unified, CleanRules(workers=2, chunk_rows=7), timings)
    assert par_cleaned.equals(one_cleaned)
    assert par_rejected.sort("raw_id").equals(one_rejected.sort("raw_id"))
    assert set(timings) >= {"normalize", "pii", "language", "quality", "exact_dedup", "near_dedup", "total"}
    assert all(v >= 0 for v in timings.values())


# ---------------------------------------------------------------- accounting and odd input


def test_per_source_accounting_finds_a_lost_row(near):
    unified, _ = near
    cleaned, rejected = clean_pairs(unified)
    assert _per_source_accounting(unified, cleaned, rejected)["missing"].to_list() == [0]
    lost = _per_source_accounting(unified, cleaned, rejected.slice(1))
    assert lost["missing"].to_list() == [1]


def test_huge_response_nul_bytes_and_control_characters(tmp_path):
    unified = unify_alpaca(tmp_path, [
        {"instruction": "Say it many times.", "input": "", "output": "word " * 1_000_000},   # 5 MB response
        {"instruction": "Clean\x00 me\u200b up.", "input": "", "output": "Done\x07 and\x00 dusted."},
    ])
    cleaned, rejected = clean_pairs(unified)
    assert rejected["reason"].to_list() == ["response_too_long"]
    assert cleaned["instruction"].to_list() == ["Clean me up."]
    assert cleaned["response"].to_list() == ["Done and dusted."]
