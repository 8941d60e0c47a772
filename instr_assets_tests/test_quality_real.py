"""Quality filters and language judgement on the shapes real data has (issue 9): each class of good answer the
filters used to reject, each class of junk they used to miss, and the false-rejection rate on public sets."""
import json
from collections import Counter

import polars as pl
import pytest

from instr_assets.core.clean import language
from instr_assets.core.clean.junk import OWN_PLACEHOLDERS, doubled_answer, template_slots, truncated
from instr_assets.core.clean.quality import FILTERS, QualityRules, quality_issue, refusal, repetition
from instr_assets.core.clean.textshape import is_code_line, prose
from instr_assets.core.text import normalize_series

EN = ("Photosynthesis lets plants turn sunlight, water and carbon dioxide into glucose and oxygen. The light "
      "reactions happen in the thylakoid membranes, while the Calvin cycle fixes carbon in the stroma.")
ZH = "细胞理论认为所有生命体都由细胞构成，细胞是生物结构和功能的基本单位。日心说则认为太阳位于太阳系的中心，行星围绕太阳运行。"

UNFENCED_PYTHON = """def fibonacci(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a

print(fibonacci(10))"""
JAVA_TAIL = EN + "\n\n```java\nint x = compute();\nSystem.out.println(x);\n```"

# ---------------------------------------------------------------- truncation


@pytest.mark.parametrize("text", [
    UNFENCED_PYTHON, JAVA_TAIL, "for i in range(3):\n    print(i)",
    EN + "\n6- For great food and ghost tours: Savannah, GA",
    EN + "\n- Paris\n- Berlin\n- the city of light and",  # a list item may end on "and" only when cut: see below
    EN + "\n1) Mix the flour\n2) Add the eggs",
    EN + "\n| Item | Price |\n|---|---|\n| Tea | 3 |",
    EN + "\nThese events can be seen as a build-up of tension that finally boiled over",  # no final period
    "Photosynthesis turns light into chemical energy",
    ZH + "\n1、细胞理论\n2、日心说", "北京", "红色的", "42", "Vitamin A", "Portland, OR", "I'd love to",
    EN + "\n\nBest regards,", "学校位于南宁市武鸣区", "Install it with pip and then import numpy",
    "Click the button to log in", "I don't know where it is", "That is what the tool is used for",
    "Built with kubectl", "Water boils at 100 degrees",
])
def test_truncation_spares_code_lists_tables_and_unpunctuated_sentences(text):
    if text.endswith("the city of light and"):
        assert truncated(text)[0] == "truncated"  # the one cut-off in this list of good answers
        return
    assert truncated(text) is None, text


@pytest.mark.parametrize(("text", "why"), [
    (EN + " In short, the process is one of the most important reactions for the", "dangling word 'the'"),
    ("The capital of France is Paris and", "dangling word 'and'"),  # a short answer cut off
    ("The main causes are poverty, war, and the", "dangling word 'the'"),
    (EN + " See the list (sunlight, water", "unclosed ("),
    ('He said "we will be there by', 'unclosed "'),
    ("```python\nprint(1)\n", "unclosed code fence"),
    (EN + " It is one of the most impor", "mid-word on 'impor'"),
    ("Plants need light, water and carbon dioxide. The process mainly takes place in the chloroplasts of leaf "
     "cells, which contain the green pigment chlorophyll. It provides energy for almost every ecosys", "mid-word"),
    ("The capital of France is", "dangling word 'is'"),
    ("Add the flour and stir it in with", "dangling word 'with'"),
    ("The ingredients are: flour, sugar,", "ends on ','"),
    ("以下是步骤：", "ends on '："),
    (ZH + "此外，细胞还可以进行分裂和", "mid-clause on '和'"),
    (ZH + "这些发现推动了近代科学的", "mid-clause on '的'"),
    (ZH + "在2016年，他带领阿根廷获得了美洲杯亚军，并在202", "mid-clause on '在202'"),
])
def test_truncation_fires_on_real_cut_offs(text, why):
    issue = truncated(text)
    assert issue and issue[0] == "truncated" and why in issue[1], (text, issue)


def test_extractive_span_is_not_judged_truncated():
    prompt = "文章：学校位于南宁市武鸣区里建广西—东盟经济技术开发区园区内，占地面积很大。\n\n问题：学校在哪里？"
    assert truncated("学校位于南宁市武鸣区里建广西—东盟经济技术开发区园区内，", prompt=prompt) is None
    assert truncated("学校位于南宁市武鸣区里建广西—东盟经济技术开发区园区内，")[0] == "truncated"


# ---------------------------------------------------------------- repetition

MARKUP = {
    "html": "<ul>\n" + "".join(f"  <li class=\"item\">Item {i}</li>\n" for i in range(30)) + "</ul>",
    "xml": "<items>\n" + "".join(f"  <item><name>n{i}</name><value>v</value></item>\n" for i in range(30)) + "</items>",
    "json": json.dumps([{"name": f"user{i}", "active": True, "role": "member"} for i in range(30)], indent=2),
    "csv": "name,age,city\n" + "".join(f"person{i},30,London\n" for i in range(30)),
    "table": "| name | age | city |\n|---|---|---|\n" + "".join(f"| person{i} | 30 | London |\n" for i in range(30)),
    "regex": r"^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}"
             r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$",
    "code": "\n".join(f"    x{i} = compute(x{i - 1}, step=1, scale=1.0)" for i in range(1, 30)),
}


@pytest.mark.parametrize("kind", sorted(MARKUP))
def test_repetition_spares_code_and_markup(kind):
    for lang in ("en", "zh"):
        assert repetition(MARKUP[kind], lang) is None, kind


def test_repetition_still_catches_prose_loops_next_to_code():
    loop = "I like it. " * 30
    assert repetition(loop + "\n```python\nprint(1)\n```", "en")[0] == "repetitive"
    assert repetition("好的，" * 60, "zh")[0] == "repetitive"


# ---------------------------------------------------------------- template slots


@pytest.mark.parametrize("text", [
    "2024-01-01 12:00:01 [INFO] server started\n2024-01-01 12:00:02 [ERROR] disk full\n[WARN] retrying [DEBUG] ok",
    "BERT puts [CLS] first and [SEP] between sentences; [MASK] hides a token, [PAD] fills and [UNK] is unknown.",
    "完全离解为直线型的 [NO] 离子，[OH] 基团也很常见。", "选项：[I] 懒惰 [II] 爱运动 [III] 不健康",
    "Contact <EMAIL> or call <PHONE> for details.", "Use <div> and <span>, then <BR> for a break.",
    "Set $HOME and $PATH before you start; it costs $100.", r"The area is \text{cm}^{2} and x^{2} = {1, 2}.",
    'In Python: print(f"Hello {name}") prints the name.', "Super Bowl 50 and the 1990s; a T-shirt in XL.",
    "Chapter XXX of the novel is the longest one.",
    "See [the docs](https://example.com) and [1].",
])
def test_slots_spare_log_tags_tokens_markers_and_our_placeholders(text):
    assert template_slots(text) is None, text


@pytest.mark.parametrize("text", [
    "Hello! I am {{name}}, built by {{author}}.", "Dear {name}, welcome to {company_name}.",
    "Dear <NAME>, thank you.", "Regards, <YOUR NAME>", "Sincerely, <Your Name>",
    "Send it to ${EMAIL_ADDRESS} today.", "Hi $FIRST_NAME, your order shipped.",
    "Our company XXX was founded in XXXX.", "Contact xxx for help.", "我们XX公司成立于2010年。", "尊敬的某某先生：您好！",
    "Best regards,\n[Your Name]", "Dear [Recipient's Name],", "此致，\n【你的名字】", "Regards, [COMPANY NAME]",
])
def test_slots_catch_every_shape(text):
    assert template_slots(text)[0] == "template_slot", text


def test_slots_in_code_and_in_requested_templates_are_fine():
    code = "```python\ngreeting = f'Hello {name}'\n```\nThe f-string fills in the name."
    assert template_slots(code) is None
    assert template_slots("Dear [Customer Name],\nThank you for [Product].", "Write an email template.") is None
    # Unmistakable slots in the prompt count too; the PII placeholders are our own and never do.
    assert template_slots("Sure.", "Hi, I am {{name}}.")[0] == "template_slot"
    assert {"<EMAIL>", "<PHONE>"} <= OWN_PLACEHOLDERS and all(template_slots(p) is None for p in OWN_PLACEHOLDERS)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("text", [
    "I'm not able to provide that information.", "I can't help with that.", "I must decline this request.",
    "It would not be appropriate for me to answer that.", "I'm afraid I can't do that.",
    "Unfortunately, I cannot provide medical advice. Please consult a doctor.",
    "I'm sorry, but I can't help with that. Is there anything else I can help you with?",
    "抱歉，我无法提供这方面的信息。", "我不能帮助你做这件事。", "这个问题我无法回答。", "作为AI助手，我没有个人观点。",
    "对不起，我不能回答这个问题。如果您有其他问题，请随时提问。",
])
def test_refusals_in_english_and_chinese(text):
    assert refusal(text)[0] == "refusal", text


def test_disclaimer_that_goes_on_to_answer_is_an_answer_by_default():
    answer_en = "As an AI, I don't have personal opinions, but here are the main arguments. " + EN
    answer_zh = "作为AI助手，我没有个人观点，但可以介绍主要的理论。" + ZH
    for text in (answer_en, answer_zh):
        assert refusal(text) is None
        assert refusal(text, QualityRules(refusal_policy="any_disclaimer"))[0] == "refusal"
    assert refusal("I cannot stress enough how important sleep is.") is None
    # Content in the first person is no refusal: a leave note rewritten formally, a sentence of a story.
    assert refusal("领导您好，因家中有事需要处理，我无法参加明天的会议，特此请假，敬请谅解。") is None
    assert refusal("我无法想象没有音乐的生活。") is None
    assert refusal("As an AI I can't taste food, but chefs describe umami as a savory, meaty flavour found in "
                   "broths, aged cheese, mushrooms and soy sauce.") is None
    with pytest.raises(ValueError, match="refusal_policy"):
        quality_issue("Hi", "", "Hello.", "en", QualityRules(refusal_policy="sometimes"))


# ---------------------------------------------------------------- doubled answers and the filter switches


def test_doubled_answer():
    assert doubled_answer("Paris is the capital of France. Paris is the capital of France.")[0] == "doubled_answer"
    assert doubled_answer(EN + "\n\n" + EN)[0] == "doubled_answer"
    assert doubled_answer("答案是北京。答案是北京。")[0] == "doubled_answer"
    for text in ("No no.", EN, "哈" * 50, "Step one. Step two."):
        assert doubled_answer(text) is None, text
    assert quality_issue("Capital?", "", "Paris. Paris.", "en")[0] == "doubled_answer"


def test_each_filter_can_be_switched_off():
    assert {"doubled", "truncated", "template_slot", "refusal", "repetitive"} <= set(FILTERS)
    cases = {"doubled": "Paris is nice. Paris is nice.", "truncated": "The answer is the",
             "template_slot": "Dear {name}, hi.", "refusal": "I can't help with that."}
    for name, response in cases.items():
        assert quality_issue("Question?", "", response, "en") is not None, name
        assert quality_issue("Question?", "", response, "en", QualityRules(disabled=frozenset({name}))) is None, name


# ---------------------------------------------------------------- language: translation, code, third language


@pytest.mark.parametrize(("instruction", "target"), [
    ("Translate into French: I love you.", "fr"), ("Translate the sentence to Spanish.", "es"),
    ("把下面的句子翻译成英文", "en"), ("翻译成日语：早上好", "ja"), ("请用中文回答", "zh"),
    ("What is 'cat' in German?", "de"), ("Translate this sentence.", "*"), ("Explain the French Revolution.", None),
])
def test_translation_target(instruction, target):
    assert language.translation_target(instruction) == target


def test_translation_task_is_judged_by_the_language_it_asks_for():
    (lang, _, response_lang, issue), = language.judge_pairs(
        ["Translate into French: Good morning, how are you today? I hope the weather is nice where you are."],
        ["Bonjour, comment allez-vous aujourd'hui ? J'espère qu'il fait beau là où vous êtes."], ("en", "zh"))
    assert (lang, response_lang, issue) == ("en", "fr", None)


def test_third_language_answer_is_a_mismatch():
    prompts = ["Explain why the sky is blue.", "解释一下为什么天空是蓝色的。", "Explain why the sky is blue."]
    answers = ["空が青いのは、太陽の光が大気中の分子によって散乱されるためです。特に青い光はよく散乱されます。",
               "El cielo es azul porque la atmósfera dispersa la luz del sol, y la luz azul se dispersa más.",
               "Небо голубое, потому что атмосфера рассеивает солнечный свет, особенно синий."]
    for verdict in language.judge_pairs(prompts, answers, ("en", "zh")):
        assert verdict[3][0] == "language_mismatch", verdict
    # An English answer to a Chinese prompt, or names and titles in another language, are no mismatch.
    ok = language.judge_pairs(["解释一下为什么天空是蓝色的。", "Name Italian dishes.", "Name a French film."],
                              ["Because air scatters blue light more than red light.",
                               "- Ragu alla Bolognese\n- Risotto alla Milanese\n- Spaghetti alla Carbonara",
                               "Un Monde Sans Danger"], ("en", "zh"))
    assert [v[3] for v in ok] == [None, None, None]


def test_code_is_not_a_natural_language():
    assert is_code_line("    return a + b") and is_code_line("SELECT name FROM users;") and not is_code_line(EN)
    assert language.identify([UNFENCED_PYTHON, "import numpy as np\nx = np.zeros((3, 3))\nprint(x.sum())"]) == [
        ("und", 0.0), ("und", 0.0)]
    (lang, _, _, issue), = language.judge_pairs(["Write a Python function for Fibonacci numbers."],
                                                [UNFENCED_PYTHON], ("en", "zh"))
    assert lang == "en" and issue is None
    assert prose(JAVA_TAIL).strip() == EN


# ---------------------------------------------------------------- real data


def _alpaca(path):
    return [(r["instruction"], r.get("input", ""), r["output"]) for r in json.loads(path.read_text("utf-8"))]


def _sharegpt(path):
    rows = []
    for r in json.loads(path.read_text("utf-8")):
        turns = r["conversations"]
        rows.append((turns[0]["value"], "", turns[-1]["value"]))
    return rows


def _rejects(rows):
    columns = [normalize_series(pl.Series(column, dtype=pl.Utf8)).to_list() for column in zip(*rows)]
    rows = list(zip(*columns))
    verdicts = language.judge_pairs([r[0] for r in rows], [r[2] for r in rows], ("en", "zh"))
    out = []
    for (instruction, input_text, response), (lang, _, response_lang, issue) in zip(rows, verdicts):
        issue = issue or quality_issue(instruction, input_text, response,
                                       lang if response_lang == "und" else response_lang)
        if issue:
            out.append((issue, response))
    return out


def test_false_rejections_on_public_sets(data_dir):
    """Reviewed by hand (see the report of issue 9): what is still rejected is junk by the filters' own
    definitions: letters signed "[Your Name]", pure refusals, answers cut off mid-list or inside a fence."""
    lf = data_dir / "llama_factory"
    sets = {"alpaca_en": _alpaca(lf / "alpaca_en_demo.json"), "alpaca_zh": _alpaca(lf / "alpaca_zh_demo.json"),
            "dummy": _sharegpt(data_dir / "fastchat" / "dummy_conversation.json")}
    for name, rows in sets.items():
        rejects = _rejects(rows)
        reasons = Counter(issue[0] for issue, _ in rejects)
        assert set(reasons) <= {"template_slot", "refusal", "truncated"}, (name, reasons)
        assert len(rejects) <= 0.025 * len(rows), (name, reasons)
        # The classes issue 9 found wrongly rejected are gone: no code, list or unpunctuated sentence is
        # called truncated, nothing is repetitive or in the wrong language. A last sentence without a full stop
        # counts only after a finished one on its line ("… over time, it may need to be re"): the three answers
        # of these sets it fires on were read by hand and are all cut off.
        for (reason, detail), response in rejects:
            if reason == "truncated":
                assert detail.startswith(("unclosed", "ends on", "ends mid", "a sentence stops")), detail
    assert not _rejects(sets["dummy"])


def test_clean_stage_judges_translations_and_third_languages(tmp_path):
    from instr_assets.core.clean.cleaning import clean_pairs
    from test_clean_augment_split import unify_alpaca

    unified = unify_alpaca(tmp_path, [
        {"instruction": "Translate into French.", "input": "Good morning, how are you today? I hope you slept well.",
         "output": "Bonjour, comment allez-vous aujourd'hui ? J'espère que vous avez bien dormi."},
        {"instruction": "Explain why the sky is blue.", "input": "",
         "output": "空が青いのは、太陽の光が大気中の分子によって散乱されるためです。特に青い光はよく散乱されます。"},
        {"instruction": "Write a Python function that returns the n-th Fibonacci number.", "input": "",
         "output": UNFENCED_PYTHON},
    ])
    cleaned, rejected = clean_pairs(unified)
    assert sorted(cleaned["lang"]) == ["en", "en"]
    (row,) = rejected.rows(named=True)
    assert row["reason"] == "language_mismatch" and row["detail"].startswith("response in ja")
