"""Generation (Self-Instruct, Evol-Instruct) and the judge score column of augmented_pairs.

Scripted fake generators stand in for the model; one test calls the real default model and skips without it."""
import hashlib

import numpy as np
import polars as pl
import pytest

from instr_assets.core.augment import generation, judging
from instr_assets.core.augment.augmentation import PROVENANCE, REJECT_SCHEMA, AugmentRules, augment
from instr_assets.core.augment.generation import GenerationRules, generate_pairs, parse_instruction
from instr_assets.core.ingest.unify import pair_id_of
from instr_assets.core.models.runtime import CachedGenerator, FakeGenerator, OutputCache
from instr_assets.core.text import render_plain

EN_SEEDS = ["Explain why the sky is blue.", "Give three tips for staying healthy.", "Write a short poem about autumn.",
            "Describe how a bicycle works.", "List the planets of the solar system."]
ZH_SEEDS = ["解释为什么天空是蓝色的。", "给出三个保持健康的建议。", "写一首关于秋天的短诗。", "介绍一下自行车的工作原理。"]
EN_TOPICS = ["volcanoes", "ocean tides", "rainbows", "glaciers", "comets", "deserts", "coral reefs", "thunderstorms"]
ZH_TOPICS = ["火山", "潮汐", "彩虹", "冰川", "彗星", "沙漠", "珊瑚礁", "雷暴"]
GOOD_EN_ANSWER = "It forms in a few clear steps, and each step depends on the one before it. The idea is simple once you see it."
GOOD_ZH_ANSWER = "它的形成可以分为几个清楚的步骤，每一步都依赖于前一步。理解了这一点，整个过程就很简单了。"


def _cleaned(seeds: dict[str, list[str]]) -> pl.DataFrame:
    rows = []
    for lang, instructions in seeds.items():
        answer = GOOD_EN_ANSWER if lang == "en" else GOOD_ZH_ANSWER
        for instruction in instructions:
            messages = [{"role": "user", "content": instruction}, {"role": "assistant", "content": answer}]
            rows.append({"pair_id": pair_id_of(messages), "source": "seed", "lang": lang, "instruction": instruction,
                         "input": "", "response": answer, "messages": messages, "n_turns": 1,
                         "reference_answer": None, "text": render_plain(instruction, "", answer),
                         "norm_hash": instruction.lower(), "cluster_id": None})
    return pl.DataFrame(rows, schema_overrides={"reference_answer": pl.Utf8, "cluster_id": pl.Utf8})


def _pick(items: list[str], prompt: str) -> str:
    return items[hashlib.sha256(prompt.encode()).digest()[0] % len(items)]


def scripted(prompt: str) -> str:
    """A well-behaved model: a new instruction for a generation prompt (its topic drawn from the prompt), a
    plain answer otherwise."""
    if "<instruction>" in prompt:
        if "中文" in prompt:
            return f"<instruction>请用两句话介绍{_pick(ZH_TOPICS, prompt)}的形成过程。</instruction>"
        return f"<instruction>Explain in two sentences how {_pick(EN_TOPICS, prompt)} form.</instruction>"
    return GOOD_ZH_ANSWER if any("\u4e00" <= ch <= "\u9fff" for ch in prompt) else GOOD_EN_ANSWER


class GradingJudge:
    """A judge that puts all its mass on one grade: 1 where the response says 'wrong', else 5."""

    model_id, model_hash = "grader", "grader-v1"

    def __init__(self):
        self.calls = 0

    def next_token_logprobs(self, prompts, candidates, system=None):
        self.calls += len(prompts)
        return [{"1" if "wrong" in p.split("<response>")[-1] else "5": 0.0} for p in prompts]


def bigram_embed(texts):
    """Character-bigram vectors: close strings are close; deterministic and fast."""
    out = np.zeros((len(texts), 512), dtype=np.float32)
    for row, text in enumerate(texts):
        for a, b in zip(text, text[1:]):
            out[row, (ord(a) * 31 + ord(b)) % 512] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms > 0, norms, 1.0)


SEEDS = _cleaned({"en": EN_SEEDS, "zh": ZH_SEEDS})


def _run(cleaned=SEEDS, model=None, judge=None, **rules):
    return generate_pairs(cleaned, GenerationRules(**rules), model or FakeGenerator(reply=scripted),
                          judge or GradingJudge(), bigram_embed)


# ------------------------------------------------------------------------------------------------- generation
def test_seeded_runs_repeat_and_another_seed_draws_other_seeds():
    first, again = _run(per_method_per_lang=2), _run(per_method_per_lang=2)
    assert first.children == again.children and first.rejected == again.rejected
    assert first.children
    plans = [[(a.method, a.lang, [s["pair_id"] for s in a.seeds], a.detail, a.sample_seed)
              for a in generation.plan_attempts(SEEDS, GenerationRules(seed=s, per_method_per_lang=2))] for s in (1, 2)]
    assert plans[0] != plans[1]


def test_children_carry_provenance_and_their_grade():
    result = _run(per_method_per_lang=2)
    assert {c["operator"] for c in result.children} == {"self_instruct", "evol_instruct"}
    seed_ids = set(SEEDS["pair_id"])
    for child in result.children:
        assert child["is_augmented"] and child["model_id"] == "fake" and child["judge_score"] == 5.0
        assert child["parent_pair_id"] == child["seed_pair_ids"][0] and set(child["seed_pair_ids"]) <= seed_ids
        assert child["pair_id"] == pair_id_of(child["messages"]) and child["input"] == ""
        assert child["messages"][0]["content"] == child["instruction"]
        assert child["messages"][1]["content"] == child["response"]
        if child["operator"] == "self_instruct":
            assert len(child["seed_pair_ids"]) == 3 and child["operator_detail"] == "few-shot from 3 seeds"
        else:
            assert len(child["seed_pair_ids"]) == 1
            assert child["operator_detail"].split(":")[1] in generation.EVOL_MODES
        # A child is in its seeds' language.
        parent_lang = SEEDS.filter(pl.col("pair_id") == child["parent_pair_id"])["lang"].item()
        assert child["lang"] == parent_lang


def test_quota_counts_attempts_per_method_and_language():
    model = FakeGenerator(reply=scripted)
    result = _run(model=model, per_method_per_lang=3)
    assert result.attempts == 3 * 2 * 2 == len(result.children) + len(result.rejected)
    assert _run(per_method_per_lang=0).attempts == 0
    only = _run(methods=("evol_instruct",), langs=("zh",), per_method_per_lang=2)
    assert only.attempts == 2 and {c["operator"] for c in only.children} <= {"evol_instruct"}
    assert {c["lang"] for c in only.children} <= {"zh"}
    # Pairs with a computed answer, a separate input or several turns are no seeds: no pool, no attempt.
    verifiable = SEEDS.filter(pl.col("lang") == "en").with_columns(pl.lit("42").alias("reference_answer"))
    assert _run(cleaned=verifiable, langs=("en",)).attempts == 0


@pytest.mark.parametrize("reply, answer, reason", [
    ("Sure! Here is an answer: the sky scatters blue light.", GOOD_EN_ANSWER, "not_an_instruction"),
    ("<instruction>请用两句话介绍火山的形成过程。</instruction>", GOOD_ZH_ANSWER, "language_changed"),
    ("<instruction></instruction>", GOOD_EN_ANSWER, "no_output"),
    ("<instruction>Explain why the sky is blue.</instruction>", GOOD_EN_ANSWER, "near_duplicate"),
    ("<instruction>Explain in two sentences how glaciers form.</instruction>", "", "no_output"),
    ("<instruction>Explain in two sentences how glaciers form.</instruction>",
     "I'm sorry, but I cannot help with that request.", "clean_refusal"),
    ("<instruction>Explain in two sentences how glaciers form.</instruction>",
     "That is wrong thinking, and it ends here with nothing more to say about it at all.", "low_judge_score"),
])
def test_gates_reject_with_a_reason(reply, answer, reason):
    one_seed = _cleaned({"en": ["Explain why the sky is blue."]})
    model = FakeGenerator(reply=lambda p: reply if "<instruction>" in p else answer)
    result = _run(cleaned=one_seed, model=model, methods=("evol_instruct",), langs=("en",))
    assert result.children == []
    [rejected] = result.rejected
    assert rejected["reason"] == reason and rejected["detail"]
    assert rejected["operator"] == "evol_instruct" and rejected["parent_pair_id"] == one_seed["pair_id"].item()
    assert set(rejected) == set(REJECT_SCHEMA)


def test_a_call_past_its_time_limit_rejects_the_attempt():
    slow = FakeGenerator(reply=scripted, delay_s=0.05)
    result = _run(model=slow, langs=("en",), timeout_s=0.01)
    assert result.attempts == 2 and result.children == []
    assert [r["reason"] for r in result.rejected] == ["model_timeout"] * 2
    assert "over the limit of 0.01 s" in result.rejected[0]["detail"]


def test_gpu_quotas_follow_where_the_model_runs(tmp_path):
    class OnCuda(FakeGenerator):
        device = "cuda:0"

    assert not generation.runs_on_gpu(FakeGenerator())
    assert generation.runs_on_gpu(OnCuda())
    assert generation.runs_on_gpu(CachedGenerator(OnCuda(), OutputCache(tmp_path / "c.sqlite")))


def test_an_instruction_is_not_an_answer():
    assert parse_instruction("<instruction>Name two rivers.</instruction>") == "Name two rivers."
    assert parse_instruction('New instruction: "Name two rivers."') == "Name two rivers."
    assert parse_instruction("新指令：列出两条河流。") == "列出两条河流。"
    assert generation.instruction_shape_issue("Name two rivers in Asia.", "en") is None
    assert generation.instruction_shape_issue("好的，以下是答案。", "zh").startswith("opens like an answer")
    assert "several paragraphs" in generation.instruction_shape_issue("Name a river.\n\nThe Nile is one.", "en")
    assert "longer than" in generation.instruction_shape_issue("word " * 81, "en")


def test_a_chinese_statement_is_not_an_instruction():
    one_seed = _cleaned({"zh": ["衣服上沾了油渍，应该怎么处理？"]})
    statement = FakeGenerator(reply=lambda p: "<instruction>衣服上沾了油渍，可以用肥皂和温水清洗。</instruction>"
                              if "<instruction>" in p else GOOD_ZH_ANSWER)
    [rejected] = _run(cleaned=one_seed, model=statement, methods=("evol_instruct",), langs=("zh",)).rejected
    assert rejected["reason"] == "not_an_instruction" and "statement" in rejected["detail"]
    request = FakeGenerator(reply=lambda p: "<instruction>衣服上沾了油渍又沾了墨水，分别该怎么处理？</instruction>"
                            if "<instruction>" in p else GOOD_ZH_ANSWER)
    assert len(_run(cleaned=one_seed, model=request, methods=("evol_instruct",), langs=("zh",)).children) == 1


def test_an_instruction_evolved_in_depth_may_stay_closer_to_its_seed():
    rules, none, close = GenerationRules(), np.array([]), np.array([0.96])

    def attempt(method, detail):
        return generation._Attempt(method, "en", [{}], detail, "", 0)

    assert generation._near_duplicate(attempt("evol_instruct", "in_depth:constraint"), close, none, rules) is None
    for other in (attempt("evol_instruct", "in_breadth:breadth"), attempt("self_instruct", "few-shot from 3 seeds")):
        assert generation._near_duplicate(other, close, none, rules) == (
            "near_duplicate", "similarity 0.960 >= 0.95 to one of its seeds")
    # Against an earlier child the common limit holds for every method.
    issue = generation._near_duplicate(attempt("evol_instruct", "in_depth:deepen"), np.array([0.5]), close, rules)
    assert issue[1].endswith("to an earlier child")
    assert generation._near_duplicate(attempt("evol_instruct", "in_depth:deepen"), np.array([0.98]), none,
                                      rules)[0] == "near_duplicate"


def test_duplicate_children_are_rejected_once_kept():
    # Every attempt writes the same instruction: the first is kept, the rest are near-duplicates of it.
    model = FakeGenerator(reply=lambda p: "<instruction>Explain in two sentences how comets form.</instruction>"
                          if "<instruction>" in p else GOOD_EN_ANSWER)
    result = _run(model=model, langs=("en",), methods=("self_instruct",), per_method_per_lang=3)
    assert len(result.children) == 1
    assert [r["reason"] for r in result.rejected] == ["near_duplicate"] * 2
    assert all("earlier child" in r["detail"] for r in result.rejected)


def test_a_rebuild_calls_no_model(tmp_path):
    inner = FakeGenerator(reply=scripted)
    model = CachedGenerator(inner, OutputCache(tmp_path / "cache.sqlite"))
    first = _run(model=model, judge=model, per_method_per_lang=2)
    pairs = augment(SEEDS, AugmentRules(operators=()), generated=first).pairs
    judged = judging.add_judge_scores(pairs, model, judging.JudgeRules(quota=None))
    calls = inner.calls
    assert calls > 0
    second = _run(model=model, judge=model, per_method_per_lang=2)
    again = judging.add_judge_scores(augment(SEEDS, AugmentRules(operators=()), generated=second).pairs, model,
                                     judging.JudgeRules(quota=None))
    assert inner.calls == calls
    assert second.children == first.children and again.pairs.equals(judged.pairs)


def test_generated_pairs_join_the_augmented_pairs_within_the_cap():
    result = _run(per_method_per_lang=2)
    out = augment(SEEDS, AugmentRules(operators=(), max_augmented_share=0.5), generated=result)
    generated = out.pairs.filter(pl.col("operator").is_in(generation.GENERATION_METHODS))
    assert generated.height == len(result.children) and generated["judge_score"].is_not_null().all()
    assert out.pairs.filter(pl.col("operator") == "original")["judge_score"].is_null().all()
    assert set(PROVENANCE) <= set(out.pairs.columns)
    # A cap of 1/(n+1) leaves room for one child: the others are rejected as over the cap, not lost.
    capped = augment(SEEDS, AugmentRules(operators=(), max_augmented_share=1 / (SEEDS.height + 1) + 1e-9),
                     generated=result)
    assert capped.pairs.filter(pl.col("is_augmented")).height == 1
    assert capped.rejected.filter(pl.col("reason") == "over_cap").height == len(result.children) - 1


# ------------------------------------------------------------------------------------------------ judge column
def _augmented(n: int) -> pl.DataFrame:
    seeds = _cleaned({"en": [f"Describe object number {i} in one sentence." for i in range(n)]})
    return augment(seeds, AugmentRules(operators=())).pairs


def test_judge_scores_a_seeded_quota_and_keeps_earlier_grades():
    pairs = _augmented(10).with_columns(pl.when(pl.int_range(pl.len()) == 0).then(4.5).otherwise(None)
                                        .alias("judge_score"))
    judge = GradingJudge()
    judged = judging.add_judge_scores(pairs, judge, judging.JudgeRules(quota=3, seed=5))
    assert judge.calls == 3 and judged.scored == 4
    assert judged.pairs["judge_score"][0] == 4.5
    # The draw depends on (seed, pair_id) only: the same pairs in another order are picked again.
    picked = set(judged.pairs.filter(pl.col("judge_score") == 5.0)["pair_id"])
    shuffled = judging.add_judge_scores(pairs.reverse(), GradingJudge(), judging.JudgeRules(quota=3, seed=5))
    assert set(shuffled.pairs.filter(pl.col("judge_score") == 5.0)["pair_id"]) == picked
    assert judging.add_judge_scores(pairs, GradingJudge(), judging.JudgeRules(quota=None)).scored == 10


def test_judge_reads_the_whole_conversation():
    turns = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
             {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Name a colour."},
             {"role": "assistant", "content": "Blue."}]
    prompt, response = judging.judge_sides(turns, 2000)
    assert prompt == "system: Be brief.\n\nuser: Hi\n\nassistant: Hello\n\nuser: Name a colour." and response == "Blue."
    assert judging.judge_sides(turns[1:3], 3) == ("Hi", "Hel")


def test_min_judge_score_filter_rejects_low_pairs_and_keeps_the_cap():
    pairs = _augmented(6)
    scores = [1.5, 4.0, None, 2.0, 5.0, 3.0]
    pairs = pairs.with_columns(pl.Series("judge_score", scores, dtype=pl.Float64))
    kept, rejected = judging.min_score_filter(pairs, 3.0, 0.25)
    assert kept["judge_score"].to_list() == [4.0, None, 5.0, 3.0]
    assert rejected["reason"].to_list() == ["low_judge_score"] * 2 and rejected.schema == pl.Schema(REJECT_SCHEMA)
    assert rejected["detail"].to_list() == ["judge 1.5 < 3.0", "judge 2.0 < 3.0"]
    # With children in the frame, originals that leave could push the share past the cap: children go first.
    result = _run(per_method_per_lang=2)
    out = augment(SEEDS, AugmentRules(operators=(), max_augmented_share=0.5), generated=result).pairs
    low_originals = out.with_columns(pl.when(pl.col("is_augmented")).then(pl.col("judge_score")).otherwise(1.0)
                                     .alias("judge_score"))
    kept, rejected = judging.min_score_filter(low_originals, 3.0, 0.5)
    assert kept.height == 0 and set(rejected["reason"]) == {"low_judge_score", "over_cap"}


# ------------------------------------------------------------------------------------------------ real model
def test_real_default_model_grows_one_child(tmp_path):
    from instr_assets.core.models.runtime import default_model_available, load_generator

    if not default_model_available():
        pytest.skip("the default model is not fetched (scripts/fetch_models.sh)")
    model = load_generator("default", cache=OutputCache.in_folder(tmp_path))
    one_seed = _cleaned({"en": ["Explain why the sky is blue."]})
    result = generate_pairs(one_seed, GenerationRules(methods=("evol_instruct",), langs=("en",)), model, model,
                            bigram_embed)
    assert result.attempts == 1 and len(result.children) + len(result.rejected) == 1
    for child in result.children:
        assert child["instruction"] != "Explain why the sky is blue." and len(child["response"]) > 20
        assert 3.0 <= child["judge_score"] <= 5.0 and child["model_id"] == model.model_id
    for rejected in result.rejected:
        assert rejected["reason"] and rejected["detail"]


# ------------------------------------------------------------------------------------------------ in the graph
def test_augmented_pairs_generates_judges_and_can_leave_model_pairs_out(tmp_path):
    import dagster as dg

    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.resources import DataStoreResource

    resources = {"data_store": DataStoreResource(root=str(tmp_path / "out"))}
    live = tmp_path / "out" / "published" / "augmented_pairs"

    def build(selection, **augment_config):
        config = {"augment_model": "fake", "similarity_gate": False, "judge_quota_cpu": 5,
                  "generation_quota_cpu": 2} | augment_config
        result = dg.materialize(ALL_ASSETS, selection=selection, resources=resources,
                                run_config={"ops": {"augmented_pairs": {"config": config}}})
        assert result.success
        [event] = result.asset_materializations_for_node("augmented_pairs")
        return (pl.read_parquet(live / "augmented_pairs.parquet"),
                pl.read_parquet(live / "augmented_pairs_rejected.parquet"), event.metadata)

    pairs, rejected, metadata = build(["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs"])
    made = pl.concat([pairs.select("operator"), rejected.select("operator")])
    assert made.filter(pl.col("operator").is_in(generation.GENERATION_METHODS)).height == 2 * 2 * 2
    scored = pairs["judge_score"].is_not_null().sum()
    generated = pairs.filter(pl.col("operator").is_in(generation.GENERATION_METHODS)).height
    assert scored == 5 + generated
    assert metadata["judge"].value["scored"] == f"{scored} of {pairs.height}"
    assert metadata["generation"].value["model_calls"] > 0 and metadata["judge"].value["model_calls"] == 5
    # A rebuild with nothing new calls no model; leaving generation out leaves no model-made pair or reject.
    _, _, again = build(["augmented_pairs"])
    for part in ("generation", "judge", "model_operators"):
        assert again[part].value["model_calls"] == 0 and again[part].value["cache_hits"] > 0
    pairs, rejected, _ = build(["augmented_pairs"], generation_enabled=False, judge_quota_cpu=0,
                               operators=["synonym", "syntax", "noise"])
    for frame in (pairs, rejected):
        assert frame.filter(pl.col("operator").is_in(generation.GENERATION_METHODS)).is_empty()
    assert pairs["judge_score"].is_null().all()
    # With a minimum grade, pairs scored below it move to the rejected table.
    pairs, rejected, _ = build(["augmented_pairs"], min_judge_score=3.0)
    assert pairs.filter(pl.col("judge_score") < 3.0).is_empty()
    assert rejected.filter(pl.col("reason") == "low_judge_score").height > 0
