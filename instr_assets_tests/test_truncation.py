"""The truncation check: answers cut off by a length limit, and finished answers it must leave alone.

Hand-written cases (not the quality bench's strings). The detector's recall and false-positive rate on real
text are measured by bench/truncation_dev.py and bench/quality_bench.py.
"""
from __future__ import annotations

import pytest

from instr_assets.core.clean.clause_end import last_word, open_ending
from instr_assets.core.clean.junk import truncated
from instr_assets.core.clean.quality_rules import QualityRules

LONG_EN = ("Photosynthesis turns light into chemical energy. The light reactions take place in the thylakoid "
           "membranes, where water is split and oxygen is released. The Calvin cycle then fixes carbon dioxide "
           "into sugars in the stroma of the chloroplast.")


def _reason(text: str, prompt: str = "") -> str | None:
    issue = truncated(text, prompt=prompt)
    assert issue is None or issue[0] == "truncated"
    return issue and issue[1]


# ---------------------------------------------------------------- Chinese: the last word's part of speech

def test_last_word_is_the_longest_dictionary_word_ending_the_clause():
    assert last_word("他们的研究方向是机器学习") == ("学习", "v")
    assert last_word("会议地点在") == ("在", "p")


@pytest.mark.parametrize(("clause", "ending"), [
    ("这个方法可以快速处理大量数据，但是它也可能导", "导"),  # a verb cut from its second character
    ("会议的时间定在下午三点，地点在", "在"),  # a preposition without its object
    ("排序算法的复杂度是O(n^2)，这", "这"),  # a demonstrative without its noun
])
def test_open_ending_names_the_character_that_needs_a_continuation(clause, ending):
    assert open_ending(clause) == ending


@pytest.mark.parametrize("clause", ["他们的研究方向是机器学习", "这一过程主要发生在叶绿体中", "你好哦",
                                    "每块石头重2吨"])
def test_open_ending_spares_whole_words_interjections_and_measures(clause):
    assert open_ending(clause) is None


@pytest.mark.parametrize("text", [
    "天气预报说明天会下雨。我们可能需要带",
    "这个方法可以快速处理大量数据，但是它也可能导",
    "冒泡排序在最坏情况下的时间复杂度是O(n^2)，这",
    "很抱歉，我无法替您预订机票。我",  # a sentence that is only its subject
    "很抱歉，我无法替您预订机票。目前我的功能仅限于查询天气，以及",
    "蜜蜂为大多数开花作物授粉。蜜蜂数量在过去几十年里在许多地区持续",  # run-on after a finished sentence
    "请按以下步骤操作：\n1. 打开设置\n2. 选择网络\n3",  # the next item's number and nothing else
    "地球绕太阳公转一周约为365天。此外",  # a connective that opens what follows
])
def test_chinese_cut_offs_are_flagged(text):
    assert _reason(text)


@pytest.mark.parametrize("text", [
    "他们的研究方向是机器学习",  # one sentence without its stop
    "光合作用把光能转化为化学能。\n这一过程主要发生在叶绿体中",  # a paragraph of its own without its stop
    "以上就是全部步骤。祝你好运",  # a closing wish
    "以上就是全部步骤。希望这些信息对你有所帮助，祝你一切顺利",
    "步骤如下：\n1. 打开设置\n2. 选择网络\n40",  # a result after a list, not the next item's number
])
def test_finished_chinese_answers_are_not_flagged(text):
    assert _reason(text) is None


# ---------------------------------------------------------------- English

@pytest.mark.parametrize("text", [
    "Based on your income and the loan term, the monthly payment would",  # an auxiliary without its verb
    "Apples, pears and berries are good sources of fibre, such as",
    "Photosynthesis happens in the chloroplast. This",  # a sentence of its opening word only
    "Water boils at 100 degrees at sea level. Could",
    "The reaction releases a lot of heat. Th",  # two letters that are no word
    "Regularization keeps weights small, and dropout is another form of regulariza",  # a stub of a word used
    "If you want to learn more about the history of the city",  # a clause without its main clause
    LONG_EN + " It also produces the sugar that feeds the plant",  # run-on: the paragraph's others have a stop
    "Here is a summary of the report.\n\nSo,",  # a short closing paragraph that is no letter's sign-off
])
def test_english_cut_offs_are_flagged(text):
    assert _reason(text)


@pytest.mark.parametrize("text", [
    "Call me whenever you can",
    "Yes, it has",  # an auxiliary after its subject
    "The sample weighs 5 kg",  # units and abbreviations of two letters
    "Measure the length in cm",
    "While You Were Sleeping",  # a title, not a clause
    "Because it was raining",  # answers a why-question on its own
    "Sure! Here you go",  # short chatty answers may close without a stop
    "Thanks for asking. Have a nice day",
    LONG_EN + "\nThe whole process is powered by sunlight",  # a paragraph of its own without its stop
    LONG_EN + "\n\nBest regards,",
    LONG_EN + "\n\nLooking forward to hearing from you,",
    "Steps:\n1. Mix the flour.\n2. Add the eggs.\n3. Bake for twenty minutes",  # a list item without a stop
])
def test_finished_english_answers_are_not_flagged(text):
    assert _reason(text) is None


def test_a_word_stub_counts_only_when_the_whole_word_is_written_elsewhere():
    answer = "Light drives ATP synthesis in the thylakoids; this is called photophosphoryla"
    assert _reason(answer) is None  # too rare a word for the frequency list to know its whole
    assert "photophosphoryla" in _reason(answer, prompt="What is photophosphorylation?")
    assert "photophosphoryla" in _reason("Photophosphorylation needs light. In the dark, no photophosphoryla")


def test_an_extractive_span_is_judged_by_its_source():
    passage = "The river flows through the capital and into the sea"
    assert _reason("flows through the capital and", prompt=f"Where does it flow?\n{passage}") is None


# ---------------------------------------------------------------- a last line without the stop the others have

_PARAGRAPHS = ("Bread needs flour, water, salt and yeast, mixed and kneaded until the dough is smooth.\n\n"
               "The dough then rises for an hour or two in a warm place, until it has doubled in size.\n\n")


def test_a_last_paragraph_without_the_stop_every_earlier_one_has_is_cut():
    last = "After shaping, the loaf bakes for about forty minutes in a very hot oven"  # no word-level evidence
    assert "full stop" in _reason(_PARAGRAPHS + last)
    assert truncated(_PARAGRAPHS + last, QualityRules(truncation_consistent_lines=0)) is None  # the switch
    # One earlier paragraph is not enough to call the writer's habit.
    assert _reason(LONG_EN + "\n\n" + last) is None


def test_a_chinese_last_item_without_the_stop_every_earlier_item_has_is_cut():
    items = "1. 数据收集：从多个来源收集原始数据。\n2. 数据清洗：删除重复和错误的记录。\n"
    assert _reason(items + "3. 模型训练：使用清洗后的数据训练分类模型并调整") is not None
    assert _reason("1. 数据收集\n2. 数据清洗\n3. 模型训练：使用清洗后的数据训练分类模型并评估效果") is None


@pytest.mark.parametrize("last_line", ["[2024-05-01 12:00:00] INFO worker started on port 8080",
                                       "Brand: Acme, Capacity: 2TB, Interface: NVMe, Form factor: M.2 2280"])
def test_a_log_line_or_a_record_of_fields_is_not_an_unfinished_sentence(last_line):
    assert _reason(_PARAGRAPHS * 2 + last_line) is None
