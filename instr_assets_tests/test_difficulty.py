"""Difficulty from the base model (response loss, IFD, quantile buckets, the score cache) and the mixture chart.

The model is the tiny random one: its numbers mean nothing, but the arithmetic, the batching, the cache and the
wiring are the same as for SmolLM2."""
import math

import polars as pl
import pytest

from instr_assets.core import plots
from instr_assets.core.models.runtime.cache import OutputCache
from instr_assets.core.stratify import difficulty as dif
from instr_assets.core.stratify.mixture import MixtureSpec
from instr_assets.core.stratify.split import SplitRules, stratify_and_split

TINY = dif.DifficultyRules(base_model="tiny", threads=1)


def chat(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


QA = [
    ("What is the capital of France?", "Paris is the capital of France."),
    ("Name three primary colours.", "Red, yellow and blue."),
    ("写一句关于春天的诗。", "春风拂面，花开满园。"),
    ("Explain recursion briefly.", "A function that calls itself on a smaller part of the problem until a base case."),
    ("What is 2 + 2?", "4"),
    ("Translate 'good morning' into French.", "Bonjour."),
]


def pair_frame(qa=QA, hints=None) -> pl.DataFrame:
    return pl.DataFrame({"pair_id": [f"p{i}" for i in range(len(qa))],
                         "messages": [chat(q, a) for q, a in qa],
                         "difficulty_hint": hints or [None] * len(qa)},
                        schema_overrides={"difficulty_hint": pl.Utf8})


@pytest.fixture(scope="module")
def tiny_model():
    from instr_assets.core.models.modeling import load_base_model

    model, tok = load_base_model("tiny")
    return model.eval(), tok


def test_response_and_prompts_follow_the_training_template(tiny_model):
    _, tok = tiny_model
    messages = [{"role": "system", "content": "Be brief."}] + chat("Say hi.", "Hi there!")
    prompt, bare, response, truncated = dif.scoring_inputs(tok, messages, TINY)
    assert tok.decode(response) == "Hi there!<|im_end|>"  # the answer and its end-of-turn token, as trained
    assert tok.decode(prompt).endswith("<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n")
    assert "Be brief." in tok.decode(prompt)
    assert tok.decode(bare) == tok.decode(dif.bare_prompt(tok))
    assert "Say hi." not in tok.decode(bare) and tok.decode(bare).endswith("<|im_start|>assistant\n")
    assert not truncated
    # Multi-turn: the final answer is scored, everything before it is the instruction.
    turns = chat("Say hi.", "Hi there!") + chat("And bye?", "Goodbye!")
    prompt, _, response, _ = dif.scoring_inputs(tok, turns, TINY)
    assert tok.decode(response) == "Goodbye!<|im_end|>" and "Hi there!" in tok.decode(prompt)


def test_long_pairs_are_cut_to_the_limits(tiny_model):
    _, tok = tiny_model
    rules = dif.DifficultyRules(base_model="tiny", max_prompt_tokens=10, max_response_tokens=5)
    prompt, bare, response, truncated = dif.scoring_inputs(tok, chat("word " * 50, "answer " * 40), rules)
    assert truncated and len(prompt) == 10 and len(response) == 5 and len(bare) <= 10
    assert tok.decode(prompt).endswith("<|im_start|>assistant\n")  # the end next to the answer is kept
    with pytest.raises(ValueError, match="assistant"):
        dif.scoring_inputs(tok, [{"role": "user", "content": "no answer"}], rules)


def test_batched_losses_equal_one_at_a_time(tiny_model):
    import torch

    model, tok = tiny_model
    sequences = [dif.scoring_inputs(tok, chat(q, a), TINY) for q, a in QA]
    pairs = [(p, r) for p, _, r, _ in sequences]
    batched = dif._mean_losses(model, pairs, tok.pad_token_id)
    for (prompt, response), loss in zip(pairs, batched):
        ids = torch.tensor([prompt + response])
        labels = torch.tensor([[-100] * len(prompt) + response])
        with torch.no_grad():
            alone = float(model(input_ids=ids, labels=labels).loss)  # transformers' own shifted mean loss
        assert loss == pytest.approx(alone, rel=1e-4)
    assert len({round(x, 6) for x in batched}) == len(batched)


def test_batches_respect_the_token_budget():
    lengths = [5, 50, 7, 40, 6, 200]
    batches = dif._batches(lengths, 100)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 100
    assert [5] in batches  # longer than the budget alone: its own batch


def test_thresholds_and_buckets():
    cuts = dif.thresholds([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, None, float("nan")], (1 / 3, 2 / 3))
    assert cuts == pytest.approx((0.2667, 0.4333), abs=1e-3)
    assert [dif.bucket(v, cuts) for v in (0.1, 0.3, 0.6, None)] == ["easy", "medium", "hard", None]
    assert dif.thresholds([], (0.5, 0.9)) is None and dif.bucket(0.3, None) is None
    with pytest.raises(ValueError, match="difficulty_quantiles"):
        dif.DifficultyRules(quantiles=(0.7, 0.3)).validate()
    with pytest.raises(ValueError, match="bucket_by"):
        dif.DifficultyRules(bucket_by="length").validate()


def test_rebuild_with_nothing_new_runs_no_model(tmp_path, monkeypatch):
    cache = OutputCache(tmp_path / "cache.sqlite")
    first = dif.score_pairs(pair_frame(), TINY, cache)
    assert first.computed == len(QA)
    scores = first.scores
    assert scores["response_loss"].null_count() == 0
    # IFD is the ratio of the two mean losses.
    for row in scores.iter_rows(named=True):
        assert row["ifd"] == pytest.approx(row["response_loss"] / row["loss_without_instruction"])
        assert math.isfinite(row["response_loss"]) and row["response_tokens"] >= 1

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model was loaded on a rebuild with nothing new")

    monkeypatch.setattr("instr_assets.core.models.modeling.load_base_model", no_model)
    again = dif.score_pairs(pair_frame(), TINY, cache)
    assert again.computed == 0 and again.scores.equals(scores)
    # Another scoring limit is another score: it misses the cache (and so reaches the model).
    with pytest.raises(AssertionError, match="rebuild"):
        dif.score_pairs(pair_frame(), dif.DifficultyRules(base_model="tiny", threads=1, max_response_tokens=3), cache)
    monkeypatch.undo()
    # One new pair: only it runs.
    grown = pair_frame(QA + [("Why is the sea salty?", "Rivers carry dissolved minerals into it.")])
    assert dif.score_pairs(grown, TINY, cache).computed == 1


def test_model_hash_names_the_weights():
    assert dif.model_hash("tiny", 0) != dif.model_hash("tiny", 1)
    assert dif.model_hash("tiny").startswith("tiny:seed0:torch")


def test_buckets_by_quantile_and_source_labels_win(tmp_path):
    hints = [None, "hard", None, None, None, None]
    result = dif.model_difficulty(pair_frame(hints=hints), TINY, OutputCache(tmp_path / "c.sqlite"))
    labels = result.labels
    assert labels.columns == ["pair_id", "difficulty", "response_loss", "ifd", "basis"]
    hinted = labels.filter(pl.col("pair_id") == "p1").row(0, named=True)
    assert hinted["difficulty"] == "hard" and hinted["ifd"] is None  # a source label is kept, not scored
    assert labels["basis"].to_list() == ["model", "source_label", "model", "model", "model", "model"]
    low, high = result.thresholds
    for row in labels.filter(pl.col("basis") == "model").iter_rows(named=True):
        expected = "easy" if row["ifd"] <= low else "medium" if row["ifd"] <= high else "hard"
        assert row["difficulty"] == expected
    assert result.summary["thresholds"] == [round(low, 4), round(high, 4)]
    assert result.summary["pairs_run_through_model"] == 5 and result.summary["source_labels_kept"] == 1
    assert [v for v in labels["difficulty"].to_list()].count(None) == 0
    by_loss = dif.model_difficulty(pair_frame(), dif.DifficultyRules(base_model="tiny", threads=1,
                                                                     bucket_by="response_loss"),
                                   OutputCache(tmp_path / "c.sqlite"))
    assert by_loss.summary["pairs_from_cache"] == 5  # the five scored above; p1 is new (no hint now)
    assert by_loss.summary["pairs_run_through_model"] == 1
    ranked = by_loss.labels.sort("response_loss")["difficulty"].to_list()
    assert ranked[0] == "easy" and ranked[-1] == "hard"


def split_input() -> pl.DataFrame:
    rows = []
    for i, (q, a) in enumerate(QA):
        rows.append({"pair_id": f"p{i}", "source": "hand", "instruction": q, "input": "", "response": a,
                     "n_turns": 1, "lang": "zh" if i == 2 else "en", "cluster_id": f"p{i}", "parent_pair_id": None,
                     "is_augmented": False})
    rows.append(rows[0] | {"pair_id": "p0_aug", "instruction": "Which city is France's capital?",
                           "parent_pair_id": "p0", "is_augmented": True, "cluster_id": "p0_aug"})
    return pl.DataFrame(rows).with_columns(
        pl.lit(None, pl.Utf8).alias("domain_hint"), pl.lit(None, pl.Utf8).alias("task_hint"),
        pl.lit(None, pl.Utf8).alias("difficulty_hint"))


def test_model_difficulty_drives_the_strata():
    pairs = split_input()
    given = pl.DataFrame({"pair_id": [f"p{i}" for i in range(6)],
                          "difficulty": ["hard", "easy", "medium", "easy", "hard", "medium"],
                          "response_loss": [3.0, 1.0, 2.0, 1.5, 2.5, 2.2], "ifd": [0.9, 0.2, 0.5, 0.3, 0.8, 0.6]})
    out = stratify_and_split(pairs, SplitRules(mixture=MixtureSpec()), difficulty=given).splits
    by_pair = {r["pair_id"]: r for r in out.iter_rows(named=True)}
    # p0 is short ("easy" by length) but the model says hard; its augmented child shares the group's stratum.
    assert by_pair["p0"]["difficulty"] == "hard" and by_pair["p0"]["stratum"].endswith("/hard")
    assert by_pair["p0_aug"]["difficulty"] == "hard"
    assert by_pair["p0"]["response_loss"] == 3.0 and by_pair["p0"]["ifd"] == 0.9
    assert by_pair["p0_aug"]["ifd"] is None  # scores belong to the pair they were computed on
    length_only = stratify_and_split(pairs, SplitRules()).splits
    assert set(length_only["difficulty"]) == {"easy"}
    assert length_only["ifd"].null_count() == length_only.height  # same columns, no scores
    assert dif.unscored_reasons(length_only, None) == {"difficulty_method_length": 7}
    labels = given.with_columns(pl.when(pl.col("pair_id") == "p1").then(None).otherwise("ifd").alias("ifd"),
                                pl.when(pl.col("pair_id") == "p1").then(pl.lit("source_label"))
                                .otherwise(pl.lit("model")).alias("basis"))
    out = stratify_and_split(pairs, SplitRules(), difficulty=labels).splits
    assert dif.unscored_reasons(out, labels) == {"augmented_child_takes_its_groups_difficulty": 1,
                                                 "source_label_kept": 1}


def test_mixture_chart_png():
    from instr_assets_tests.test_plots import png_size

    mixture = pl.DataFrame({"value": ["seed", "verifiable", "squad"], "pairs_before": [300, 200, 100],
                            "pairs_after": [250, 250, 100], "target_share": [0.4167, 0.4167, 0.1667],
                            "achieved_share": [0.4167, 0.4167, 0.1667]})
    strata = pl.DataFrame({"value": [f"science/open_qa/{d}{i}" for i in range(10) for d in ("easy", "hard")],
                           "pairs_before": list(range(40, 20, -1)), "pairs_after": list(range(45, 25, -1))})
    png = plots.mixture_chart(mixture, strata, [0.9, 0.8, None, 0.55], "source")
    assert png_size(png) == (756, 259)  # 10.5 x 3.6 inches at 72 dpi
    assert 5_000 < len(png) < 60_000
    assert plots.mixture_chart(mixture, strata, [0.9, 0.8, None, 0.55], "source") == png
    assert plots.mixture_chart(mixture, strata, [None] * 4, "source") != png  # rule labels: no histogram
    assert plots.mixture_chart(mixture.with_columns(pl.lit(0.3).alias("achieved_share")), strata,
                               [0.9, 0.8, None, 0.55], "source") != png


# ---------------------------------------------------------------- the asset

def test_asset_scores_difficulty_once_and_charts_the_mixture(tmp_path):
    import dagster as dg

    from instr_assets.core.augment.augmentation import RULE_OPERATORS
    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.resources import DataStoreResource
    from instr_assets_tests.test_plots import png_from_markdown, png_size

    topics = ["rivers", "volcanoes", "bread", "chess", "comets", "tea", "bridges", "owls", "glass", "maps",
              "tides", "bees", "salt", "kites", "clocks", "moss", "paper", "wolves", "copper", "fog"]
    csv = tmp_path / "qa.csv"
    csv.write_text("q,a\n" + "".join(
        f"Tell me one fact about {t}.,\"{t.capitalize()} have been studied for centuries, and {i + 2} of the "
        f"facts about {t} surprise most readers.\"\n" for i, t in enumerate(topics)), encoding="utf-8")
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"sources:\n  - name: facts\n    format: tabular\n    path: {csv}\n"
                       "    columns: {instruction: q, response: a}\n", encoding="utf-8")
    root = tmp_path / "out"

    def run(**split_config):
        result = dg.materialize(
            ALL_ASSETS, selection=["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs",
                                   "stratified_splits"],
            resources={"data_store": DataStoreResource(root=str(root))},
            run_config={"ops": {"raw_sources": {"config": {"sources_file": str(sources)}},
                                "augmented_pairs": {"config": {"operators": list(RULE_OPERATORS),
                                                               "similarity_gate": False}},
                                "stratified_splits": {"config": split_config}}})
        assert result.success
        return result.asset_materializations_for_node("stratified_splits")[0].metadata

    metadata = run()
    summary = metadata["difficulty"].value
    assert summary["method"] == "model" and summary["base_model"] == "tiny"  # the tests' default (conftest)
    assert summary["pairs_run_through_model"] == 20 and len(summary["thresholds"]) == 2
    splits = pl.read_parquet(root / "published" / "stratified_splits" / "stratified_splits.parquet")
    parents = splits.filter(~pl.col("is_augmented"))
    assert parents["ifd"].null_count() == 0 and parents["response_loss"].min() > 0
    assert sorted(set(parents["difficulty"])) == ["easy", "hard", "medium"]  # tertiles of 20 scores
    children = splits.filter(pl.col("is_augmented")).height
    assert summary["rows_without_ifd"] == ({"augmented_child_takes_its_groups_difficulty": children} if children else {})
    chart = png_from_markdown(metadata["mixture_chart"].value)
    assert png_size(chart) == (756, 259) and len(chart) < 60_000
    # Nothing new: every score comes from the cache, and the model is not run.
    assert run()["difficulty"].value["pairs_run_through_model"] == 0
    length = run(difficulty_method="length")["difficulty"].value
    assert length["method"] == "length" and length["rows_without_ifd"] == {"difficulty_method_length": splits.height}
