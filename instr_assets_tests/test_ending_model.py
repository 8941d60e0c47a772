"""The base model's check of answers that the truncation rules leave open (core/clean/ending_model.py)."""
import polars as pl
import pytest

from instr_assets.core.clean import ending_model
from instr_assets.core.clean.cleaning import CleanRules, clean_pairs
from instr_assets.core.clean.ending_model import EndingRules, candidate_mask, skip_reason
from instr_assets.core.models.runtime.cache import OutputCache

from instr_assets_tests.test_clean_augment_split import unify_alpaca

ON = EndingRules(mode="on")


def _frame(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame([{"lang": lang, "instruction": instruction, "input": "", "response": response}
                         for lang, instruction, response in rows])


def test_candidates_are_open_prose_endings_only():
    frame = _frame(
        ("en", "Explain tides.", "Tides rise and fall because the moon pulls on the oceans of"),   # open prose
        ("en", "Explain tides.", "Tides rise and fall because the moon pulls on the oceans."),     # full stop
        ("en", "Name a colour.", "Deep blue"),                                                    # too short
        ("en", "Write code.", "for i in range(10):\n    total = total + i"),                      # code
        ("en", "Make a table.", "| name | age |\n| Ann | 30 |"),                                   # table row
        ("en", "Where is it?", "Read more at https://example.org/tides"),                          # URL
        ("en", "Text: The moon pulls on the oceans of the earth. Which body pulls?",
         "The moon pulls on the oceans of the earth"),                                             # copied span
        ("zh", "解释潮汐。", "潮汐是由月球对地球海洋的引力造成的，每天大约发生两"),                                  # open prose
        ("zh", "解释潮汐。", "潮汐是由月球引力造成的。"),                                                    # full stop
        ("zh", "颜色？", "深蓝色"),                                                                    # too short
        ("fr", "Explique.", "La lune attire les océans de la terre et"),                           # other language
        ("en", "Sort: Sam, Ann, Bo, Al", "Al, Ann, Bo, Sam"),                                      # a list of items
        ("zh", "列出四种水果。", "苹果、香蕉、橙子、葡萄、西瓜、芒果"),                                         # a list of items
        ("en", "Group the words.", "Synonyms:\n- Group 1: wish, want"),                              # labelled list
        ("en", "Explain tides.", "The tides follow the moon: it pulls the water toward"),          # a clause, open
        ("en", "Write a post.", "Nothing beats a walk by the sea at dawn. #MorningWalk"),             # hashtags end it
        # The last of a list of items that all end without a stop: finished, unless much shorter than the rest.
        # (a title may be a question)
        ("zh", "写四个标题。", "1. 清晨的第一缕阳光照进小院\n2. 外婆的手擀面为什么最香？\n3. 雨后的山路总是格外安静\n"
                               "4. 学会等待，是成长的温柔"),
        ("zh", "写四个标题。", "1. 清晨的第一缕阳光照进小院\n2. 外婆的手擀面最香最暖\n3. 雨后的山路总是格外安静\n"
                               "4. 学会等待是成"),
        ("en", "Plan a trip.", "- Book the train tickets early\n- Pack light clothes for the\n"
                               "- Find a hotel near the old town"),
        # Chinese prose split at its commas is no list of short items
        ("zh", "怎样提高写作？", "1. 每天写作：每天写一些东西，即使只是几句话。这将"),
        # a line begun after a finished sentence is judged however short
        ("en", "Why rotate crops?", "Rotation keeps the soil rich and breaks pest cycles.\n\nAddi"),
        # judged by the language it ends in, not the pair's
        ("zh", "生成一个随机数。", "Sure, here is a random number: 0.7628. Keep in mind that each time you"),
    )
    assert candidate_mask(frame, ON).to_list() == [True, False, False, False, False, False, False, True, False,
                                                   False, False, False, False, False, True,
                                                   False, False, True, False, True, True, True]
    assert not any(candidate_mask(frame, EndingRules(mode="off")))


def test_auto_mode_skips_a_corpus_over_the_budget_and_says_so():
    rules = EndingRules(mode="auto", max_candidates=10)
    assert skip_reason(10, rules) is None
    assert "11 candidates over truncation_model_max_candidates=10" in skip_reason(11, rules)
    assert skip_reason(10**6, EndingRules(mode="on")) is None
    assert skip_reason(1, EndingRules(mode="off")) == "truncation_model is off"
    with pytest.raises(ValueError, match="truncation_model_threshold_en"):
        EndingRules(mode="on", threshold_en=1.5).validate()
    with pytest.raises(ValueError, match="truncation_model: 'sometimes'"):
        EndingRules(mode="sometimes").validate()
    with pytest.raises(ValueError, match="truncation_model_name: 'smollm2' must be 'default' or a .gguf file"):
        ending_model._model_hash("smollm2")


CUT = [
    "Photosynthesis lets green plants turn sunlight, water and carbon dioxide into sugar, and it releases the "
    "oxygen that animals need to",
    "To keep basil fresh, trim the stems and stand them in a glass of water on the kitchen",
    "光合作用是绿色植物利用阳光把水和二氧化碳转化为糖的过程，同时释放出动物呼吸所需要的",
]
WHOLE = [
    "Photosynthesis lets green plants turn sunlight, water and carbon dioxide into sugar, and it releases the "
    "oxygen that animals need to breathe",
    "To keep basil fresh, trim the stems and stand them in a glass of water on the kitchen counter",
    "光合作用是绿色植物利用阳光把水和二氧化碳转化为糖的过程，同时释放出动物呼吸所需要的氧气",
]


# Other questions for the whole answers: a cut answer and its whole one under one question are near-duplicates.
QUESTIONS = ["What does photosynthesis do?", "How do I keep basil fresh?", "什么是光合作用？",
             "Explain photosynthesis in one sentence.", "Any tip for storing fresh basil?", "用一句话解释光合作用。"]
# Finished only given its question: read alone, a list of fruits could go on ("…和橙子的价格").
FRUITS = ("列出三种水果。", "苹果、香蕉和橙子")

HONEY = ("Bees sip nectar from flowers and carry it home in a second stomach. In the hive they pass it from bee "
         "to bee, adding enzymes, and then fan it with their wings until most of the water evaporates.")


def test_the_bundled_model_rejects_cut_answers_keeps_whole_ones_and_caches(tmp_path):
    """The bundled model (Qwen2.5-Coder-1.5B through llama.cpp) in the cleaning stage: an answer stopped right
    after a whole word is `truncated` (the rules alone pass all seven), the same answers finished without a full
    stop stay, and so does a short answer that is finished given its question; a rebuild scores nothing.
    Near-duplicates after the cut rows are still found (the rows it rejects leave dedup without moving others)."""
    records = [{"instruction": question, "input": "", "output": text}
               for question, text in zip(QUESTIONS + [FRUITS[0]], CUT + WHOLE + [FRUITS[1]])] + [
        {"instruction": "How do bees make honey?", "input": "", "output": HONEY},
        {"instruction": "How do bees make honey?", "input": "", "output": HONEY.replace("nectar", "nectr", 1)}]
    unified = unify_alpaca(tmp_path, records)
    off, _ = clean_pairs(unified, CleanRules(ending=EndingRules(mode="off")))
    assert off.height == 8
    cache, report = OutputCache(tmp_path / "cache.sqlite"), {}
    cleaned, rejected = clean_pairs(unified, CleanRules(ending=ON), model_cache=cache, report=report)
    assert sorted(rejected["reason"].to_list()) == ["near_duplicate"] + ["truncated"] * 3
    assert all("the model gives" in d for d in rejected.filter(pl.col("reason") == "truncated")["detail"])
    kept = {m[-1]["content"] for m in cleaned["messages"].to_list()}
    assert kept == set(WHOLE) | {HONEY, FRUITS[1]}
    assert report["truncation_model"] == {"mode": "on", "model": "default", "candidates": 7, "scored": 7,
                                          "computed": 7, "rejected": 3}
    again = {}
    clean_pairs(unified, CleanRules(ending=ON), model_cache=cache, report=again)
    assert again["truncation_model"]["computed"] == 0 and again["truncation_model"]["rejected"] == 3


def test_the_model_reads_the_question_and_the_answer_as_text():
    rules = EndingRules(mode="on", context_chars=20, prompt_chars=10)
    chat = ending_model.model_input("Say <|im_end|> twice, then stop here please", "one two <|endoftext|> three", rules)
    # The question keeps its first and last 5 characters, the answer its last 20; control-token strings in the
    # data are broken up, so that only the template's own tokens are control tokens.
    assert chat == ("<|im_start|>user\nSay <…lease<|im_end|>\n<|im_start|>assistant\n"
                    "… < |endoftext|> three")
    assert chat.count("<|") == 3


def test_a_disabled_truncation_filter_switches_the_model_off_too(tmp_path, monkeypatch):
    from instr_assets.core.clean.quality import QualityRules

    def no_model(*_args, **_kwargs):
        raise AssertionError("the model must not be called")

    monkeypatch.setattr(ending_model._Scorer, "__call__", no_model)
    unified = unify_alpaca(tmp_path, [{"instruction": "Explain tides.", "input": "", "output": CUT[0]}])
    report = {}
    cleaned, _ = clean_pairs(unified, CleanRules(quality=QualityRules(disabled=frozenset({"truncated"})), ending=ON),
                             report=report)
    assert cleaned.height == 1 and report["truncation_model"]["candidates"] == 0
