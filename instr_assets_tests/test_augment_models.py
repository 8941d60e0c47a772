"""The model operators (back-translation, model rewrites): prompts and replies, gates, seeded quota, provenance,
the cache, and the augmented_pairs wiring. A scripted fake generator stands in for the model; one test calls
the real default model and skips without its file."""
import re

import dagster as dg
import polars as pl
import pytest

from instr_assets.core.augment.augmentation import MODEL_OPERATORS, AugmentRules, _drawn, augment
from instr_assets.core.augment.backtranslation import backtranslate, response_allowed, translation_prompt
from instr_assets.core.augment.gates import rewrite_issue
from instr_assets.core.augment.model_reply import read_tagged, token_budget
from instr_assets.core.augment.model_rewrite import rewrite, rewrite_prompt
from instr_assets.core.ingest.unify import pair_id_of
from instr_assets.core.models.runtime import FakeGenerator, OutputCache, default_model_available, load_generator
from instr_assets.core.models.runtime.cache import CachedGenerator
from instr_assets.core.text import compose_user, render_plain

# A tiny scripted "model": what each leg of a translation, and each rewrite, returns.
TRANSLATIONS = {
    "Write a short story about a brave dog.": "写一个关于一只勇敢的狗的短故事。",
    "写一个关于一只勇敢的狗的短故事。": "Write a brief story about a courageous dog.",
    "Classify the sentiment of the sentence": "对这个句子的情感进行分类",
    "对这个句子的情感进行分类": "Classify the feeling of this sentence",
    "List 3 uses of copper.": "列出铜的三种用途。",  # the number is lost on the way
    "列出铜的三种用途。": "List three uses of copper.",
    "光合作用是什么？": "What is photosynthesis?",
    "What is photosynthesis?": "什么是光合作用？",
    "Give two tips for staying healthy.": "给出两个保持健康的建议。",
    "给出两个保持健康的建议。": "Offer two suggestions for staying healthy.",
    "Rain makes the grass grow.": "雨水让草生长。",
    "雨水让草生长。": "Rain helps grass to grow.",
}
REWRITES = {
    "Write a short story about a brave dog.": "Sure! Here is the rewrite:\n<rewrite>\nCompose a brief tale about a courageous dog.",
    # The full stop goes where the material follows the colon again.
    "Classify the sentiment of the sentence": "<rewrite>\nDetermine the sentiment of the sentence.",
    # The model carries the request out instead of rewriting it.
    "List 3 uses of copper.": "<rewrite>\nHere are 3 uses of copper: wires, pipes and coins.",
    "光合作用是什么？": "<rewrite>\n请解释什么是光合作用。",
    "Give two tips for staying healthy.": "<rewrite>\nShare two pieces of advice on how to stay healthy.",
}


def scripted(prompt: str) -> str:
    tagged = re.search(r"<(text|instruction)>\n(.*)\n</\1>", prompt, re.S)
    tag, text = tagged[1], tagged[2]
    if tag == "text":
        return f"<translation>\n{TRANSLATIONS.get(text, text)}"
    return REWRITES.get(text, "Here is one:\n\nWhy did the chicken cross the road?")


def _pairs(rows):
    """Cleaned-like pairs: (lang, instruction, input, response, reference_answer)."""
    out = []
    for lang, instruction, input_text, response, reference in rows:
        messages = [{"role": "user", "content": compose_user(instruction, input_text)},
                    {"role": "assistant", "content": response}]
        out.append({"pair_id": pair_id_of(messages), "lang": lang, "instruction": instruction, "input": input_text,
                    "response": response, "messages": messages, "n_turns": 1, "reference_answer": reference,
                    "text": render_plain(instruction, input_text, response), "norm_hash": instruction.lower()})
    return pl.DataFrame(out)


ROWS = [
    ("en", "Write a short story about a brave dog.", "", "Max heard a cry from the river, jumped in and pulled the "
     "little girl to the bank, where her parents hugged them both.", None),
    ("en", "Classify the sentiment of the sentence: I loved every minute of it.", "", "Positive.", None),
    ("en", "List 3 uses of copper.", "", "Electrical wiring, water pipes and coins.", None),
    ("zh", "光合作用是什么？", "", "光合作用是绿色植物利用光能，把二氧化碳和水转化为有机物并释放氧气的过程。", None),
    ("en", "Give two tips for staying healthy.", "", "Rain makes the grass grow.", None),
    ("en", "What is 17 + 25?", "", "42", "42"),  # verifiable: never augmented
]
RULES = AugmentRules(operators=MODEL_OPERATORS, model_quota=10, max_augmented_share=0.9)


def _children(result, op=None):
    kids = result.pairs.filter(pl.col("is_augmented"))
    return kids.filter(pl.col("operator") == op) if op else kids


def test_reply_reading_strips_preamble_and_refuses_answers():
    assert read_tagged("Sure, here you go:\n<rewrite>\nName three rivers.\n", "rewrite") == ("Name three rivers.", "")
    assert read_tagged("Translation: <translation>“Name three rivers.”", "translation") == ("Name three rivers.", "")
    text, why = read_tagged("Here are three rivers:\n\n1. Nile\n\n2. Amazon", "rewrite")
    assert text is None and why.startswith("no <rewrite> in a reply of several lines")
    assert read_tagged("Why is the sky blue?", "translation") == ("Why is the sky blue?", "")  # bare, one line
    assert read_tagged("<text> Why is the sky blue?", "translation")[1].startswith("the prompt's delimiters")
    assert read_tagged("<rewrite>\n  </rewrite>", "rewrite")[0] is None
    # The token budget grows with the text but stays far below what an answer needs.
    assert token_budget("Name three rivers.") == 128 and token_budget("x" * 1000) == 512
    # Both prompts put the text between delimiters and ask for the result between others.
    for prompt in (translation_prompt("Name three rivers.", "en", "zh"), rewrite_prompt("Name three rivers.", "en")):
        assert "\nName three rivers.\n</" in prompt and "do not" in prompt.lower()
    assert "into Chinese" in translation_prompt("x", "en", "zh") and "into English" in translation_prompt("x", "zh", "en")


def test_backtranslation_round_trip_and_rewrite():
    fake = FakeGenerator(reply=scripted)
    out = backtranslate(fake, ["Write a short story about a brave dog.", "光合作用是什么？", "Bonjour"], ["en", "zh", "fr"])
    assert out[0] == ("Write a brief story about a courageous dog.",
                      "en->zh->en via '写一个关于一只勇敢的狗的短故事。'")
    assert out[1] == ("什么是光合作用？", "zh->en->zh via 'What is photosynthesis?'")
    assert out[2][0] is None and "'fr'" in out[2][1]
    assert fake.calls == 4  # two legs each, nothing for the unsupported language
    out = rewrite(fake, ["Write a short story about a brave dog.", "Tell me a joke."], ["en", "en"], seed=3,
                  temperature=0.7)
    assert out[0] == ("Compose a brief tale about a courageous dog.", "sampled at temperature 0.7, seed 3")
    assert out[1][0] is None


def test_rewrite_gate():
    assert rewrite_issue("Name three rivers.", "List three rivers.") is None
    assert rewrite_issue("Name three rivers.", "The three longest rivers are the Nile, the Amazon and the Yangtze, "
                         "which flow through Africa, South America and China.")[0] == "not_an_instruction"
    assert rewrite_issue("Name three rivers.", "Name three rivers:\n1. Nile")[0] == "not_an_instruction"
    # A request that came back as a title or a statement is no longer an instruction of the same form.
    assert rewrite_issue("List the benefits of quantum computing", "List of benefits of quantum computing")[0] == \
        "form_changed"
    assert rewrite_issue("Identify two differences between a neuron and a glial cell.",
                         "There are two main differences between neurons and glia.")[0] == "form_changed"
    assert rewrite_issue("The sky is blue. Explain why.", "The sky is blue. Tell me why.") is None
    assert rewrite_issue("HTML是什么，用一句话概括。", "HTML是一种用于标记网页结构的标记语言。")[0] == "form_changed"
    assert rewrite_issue("HTML是什么，用一句话概括。", "请用一句话说明HTML是什么。") is None
    assert rewrite_issue("List 3 uses of copper.", "List three uses of copper.") == \
        ("protected_changed", "missing from the rewrite: ['3']")
    assert rewrite_issue('Explain the idiom "break a leg".', "Explain what the idiom “break a leg” means.") is None
    assert rewrite_issue("Fix the bug in `parse_args()`.", "Repair the bug in parse args.")[0] == "protected_changed"


def test_model_children_provenance_gates_and_material():
    cleaned = _pairs(ROWS)
    result = augment(cleaned, RULES, generator=FakeGenerator(reply=scripted))
    bt, rw = _children(result, "backtranslation"), _children(result, "model_rewrite")
    assert set(bt["model_id"]) == set(rw["model_id"]) == {"fake"}
    by_parent = {row["parent_pair_id"]: row for row in bt.iter_rows(named=True)}
    parents = {row["instruction"]: row["pair_id"] for row in cleaned.iter_rows(named=True)}
    # The material after the colon is never sent to the model and comes back untouched.
    classify = by_parent[parents["Classify the sentiment of the sentence: I loved every minute of it."]]
    assert classify["instruction"] == "Classify the feeling of this sentence: I loved every minute of it."
    assert classify["messages"][0]["content"] == classify["instruction"]
    assert classify["response"] == "Positive." and classify["operator_detail"].startswith("en->zh->en via ")
    assert by_parent[parents["光合作用是什么？"]]["instruction"] == "什么是光合作用？"
    assert set(rw["instruction"]) == {"Compose a brief tale about a courageous dog.",
                                      "Determine the sentiment of the sentence: I loved every minute of it.",
                                      "请解释什么是光合作用。", "Share two pieces of advice on how to stay healthy."}
    # Rejects carry a reason: the lost number, the answer instead of a rewrite, no reply at all.
    reasons = {(r["operator"], r["reason"]) for r in result.rejected.iter_rows(named=True)}
    assert ("backtranslation", "protected_changed") in reasons
    assert ("model_rewrite", "not_an_instruction") in reasons
    verifiable = cleaned.filter(pl.col("reference_answer").is_not_null())["pair_id"].to_list()
    assert not set(verifiable) & (set(_children(result)["parent_pair_id"]) | set(result.rejected["parent_pair_id"]))


def test_responses_backtranslated_only_where_the_task_allows():
    rows = ROWS + [("en", "Summarize the passage.", "Rain makes the grass grow.", "Rain makes the grass grow.", None),
                   ("en", "Write a loop in Python.", "", "```python\nfor i in range(3):\n    print(i)\n```", None)]
    assert response_allowed(_pairs(rows).row(4, named=True), 400) == (True, "")
    assert response_allowed(_pairs(rows).row(6, named=True), 400)[1] == "the response is bound to the input"
    assert response_allowed(_pairs(rows).row(7, named=True), 400)[1] == "the response has code"
    assert response_allowed(_pairs(rows).row(5, named=True), 400)[1] == "computed answer"
    rules = AugmentRules(operators=("backtranslation",), model_quota=10, max_augmented_share=0.9,
                         backtranslate_responses=True)
    kids = _children(augment(_pairs(rows), rules, generator=FakeGenerator(reply=scripted)))
    tips = kids.filter(pl.col("instruction") == "Offer two suggestions for staying healthy.").row(0, named=True)
    assert tips["response"] == "Rain helps grass to grow." and tips["messages"][-1]["content"] == tips["response"]
    assert tips["operator_detail"].endswith("; response back-translated")
    # Without the option, and for a pair bound to its input, the response stays.
    story = kids.filter(pl.col("instruction") == "Write a brief story about a courageous dog.").row(0, named=True)
    assert story["response"] == ROWS[0][3]
    off = _children(augment(_pairs(rows), AugmentRules(operators=("backtranslation",), model_quota=10,
                                                        max_augmented_share=0.9), generator=FakeGenerator(reply=scripted)))
    assert set(off["response"]) <= {r[3] for r in rows}


def test_a_model_timeout_rejects_only_its_child():
    from instr_assets.core.models.runtime import ModelTimeout

    def slow_on_copper(prompt):
        if "copper" in prompt:
            raise ModelTimeout("fake: prompt 0 took 200 s, over the limit of 120 s")
        return scripted(prompt)

    result = augment(_pairs(ROWS), AugmentRules(operators=("model_rewrite",), model_quota=10, max_augmented_share=0.9),
                     generator=FakeGenerator(reply=slow_on_copper))
    timed_out = result.rejected.filter(pl.col("detail").str.starts_with("model_timeout"))
    assert timed_out.height == 1 and timed_out["reason"].to_list() == ["no_output"]
    assert _children(result).height == 4


def test_quota_draw_is_seeded_not_first_rows():
    many = _pairs([("en", f"Write a short poem about the colour number {i}.", "", "Roses are red.", None)
                   for i in range(40)] + [("en", "Write a short poem about the colour number 0.", "", "Blue.", None)])
    drawn = [row["pair_id"] for row, _ in _drawn(many, "model_rewrite", AugmentRules(model_quota=5))]
    assert len(drawn) == 5 and drawn != many["pair_id"].head(5).to_list()
    # The same seed draws the same pairs whatever the row order; another seed or operator draws others.
    assert [r["pair_id"] for r, _ in _drawn(many.reverse(), "model_rewrite", AugmentRules(model_quota=5))] == drawn
    assert [r["pair_id"] for r, _ in _drawn(many, "model_rewrite", AugmentRules(seed=14, model_quota=5))] != drawn
    assert [r["pair_id"] for r, _ in _drawn(many, "backtranslation", AugmentRules(model_quota=5))] != drawn
    # One pair per distinct request: the repeated request is drawn at most once.
    requests = [request for _, request in _drawn(many, "model_rewrite", AugmentRules(model_quota=100))]
    assert len(requests) == len(set(requests)) == 40
    fake = FakeGenerator(reply=scripted)
    augment(many, AugmentRules(operators=("model_rewrite",), model_quota=7, max_augmented_share=0.9), generator=fake)
    assert fake.calls == 7


def test_rebuild_calls_no_model_and_needs_a_generator(tmp_path):
    cleaned = _pairs(ROWS)
    fake = FakeGenerator(reply=scripted)
    first = augment(cleaned, RULES, generator=CachedGenerator(fake, OutputCache(tmp_path / "cache.sqlite")))
    calls = fake.calls
    assert calls > 0
    cached = CachedGenerator(fake, OutputCache(tmp_path / "cache.sqlite"))
    again = augment(cleaned, RULES, generator=cached)
    assert fake.calls == calls and cached.misses == 0 and cached.hits == calls
    assert again.pairs.equals(first.pairs) and again.rejected.equals(first.rejected)
    with pytest.raises(ValueError, match="need a generator"):
        augment(cleaned, RULES)


def test_asset_runs_model_operators_with_fake_model_and_reports_cache(tmp_path):
    from instr_assets.defs.augment_assets import AugmentConfig, augmented_pairs
    from instr_assets.defs.clean_assets import cleaned_pairs
    from instr_assets.defs.ingest_assets import raw_sources, unified_pairs
    from instr_assets.defs.resources import DataStoreResource

    config = AugmentConfig(augment_model="fake", operators=["syntax", "backtranslation", "model_rewrite"],
                           similarity_gate=False, model_quota_cpu=3, generation_enabled=False, judge_quota_cpu=0)
    run = dg.materialize([raw_sources, unified_pairs, cleaned_pairs, augmented_pairs],
                         resources={"data_store": DataStoreResource(root=str(tmp_path))},
                         run_config=dg.RunConfig(ops={"augmented_pairs": config}))
    assert run.success
    meta = run.asset_materializations_for_node("augmented_pairs")[0].metadata["model_operators"].value
    assert meta["status"] == "on" and meta["model_id"] == "fake" and meta["quota_per_operator"] == 3
    # One call per rewrite, one or two per back-translation (no second leg where the first gave no usable text).
    assert 3 + 3 <= meta["model_calls"] <= 3 * 2 + 3 and meta["cache_hits"] == 0
    again = dg.materialize([augmented_pairs], resources={"data_store": DataStoreResource(root=str(tmp_path))},
                           run_config=dg.RunConfig(ops={"augmented_pairs": config}))
    meta = again.asset_materializations_for_node("augmented_pairs")[0].metadata["model_operators"].value
    assert meta["model_calls"] == 0 and meta["cache_hit_rate"] == 1.0


def test_asset_without_default_model_runs_rules_and_says_so(tmp_path, monkeypatch):
    from instr_assets.core.models import runtime
    from instr_assets.defs import augment_assets

    monkeypatch.setattr(runtime, "default_model_available", lambda: False)
    config = augment_assets.AugmentConfig(augment_model="default", similarity_gate=False)
    warned = []
    log = type("Log", (), {"warning": staticmethod(warned.append)})()
    generator, why = augment_assets._model_operator_generator(config, None, log)
    assert generator is None and why.startswith("MODEL OPERATORS OFF") and warned == [why]


@pytest.mark.skipif(not default_model_available(), reason="default model not fetched (scripts/fetch_models.sh)")
def test_real_default_model_backtranslates_and_rewrites(tmp_path):
    from instr_assets.core.clean import language

    generator = load_generator("default", threads=1, cache=OutputCache(tmp_path / "cache.sqlite"))
    texts, langs = ["Give three tips for staying healthy.", "解释为什么天空是蓝色的。"], ["en", "zh"]
    for results in (backtranslate(generator, texts, langs), rewrite(generator, texts, langs, seed=13, temperature=0.7)):
        children = [text for text, _ in results]
        assert all(children), results
        assert [lang for lang, _ in language.identify(children)] == langs
        assert all(rewrite_issue(parent, child) is None for parent, child in zip(texts, children)), children
