"""Detector families widened for issue 9: each fix with hand-written cases of its phrasing family (not the quality
bench's strings), and the finished look-alikes each must leave alone."""
from __future__ import annotations

import pytest

from instr_assets.core.clean.dup_verify import VerifyRules, conversation_edits, text_edits
from instr_assets.core.clean.junk import template_slots, truncated
from instr_assets.core.clean.pii import find_pii
from instr_assets.core.clean.quality import may_fire
from instr_assets.core.clean.refusal import refusal
from instr_assets.core.clean.safety import safety_issue

import polars as pl


def _pii(text: str) -> list[tuple[str, str]]:
    return [(m.kind, m.text) for m in find_pii(text)]


# ---------------------------------------------------------------- refusals said in other words

@pytest.mark.parametrize("response", [
    "无可奉告。",
    "抱歉，我不便作答，请另寻渠道。",
    "I'd rather not do this one. Anything else on your mind?",
    "Sorry, I'm going to have to pass on that.",
    "I am afraid I must decline this request.",
    "I'll sit this one out, thanks.",
    "Honestly, I don't think I should write a reply like that.",
    "Not something I could help with, I'm afraid.",
    "抱歉，我不便回复这一类请求。",
    "这件事我做不了，请见谅。",
])
def test_refusals_in_other_words_are_refusals(response):
    assert refusal(response)[0] == "refusal"


@pytest.mark.parametrize("response", [
    "I have to pass the driving test before June, so I practise parking every evening with my father in the lot "
    "behind the school.",
    "I'd rather not eat late, but here is a quick dinner: fry two eggs, toast some bread, slice a tomato and add "
    "salt and pepper to taste.",
    "Pass the salt, please.",
    "方便的话，请把文件发给我。",
])
def test_declining_words_in_an_answer_are_no_refusal(response):
    assert refusal(response) is None


# ---------------------------------------------------------------- truncation

@pytest.mark.parametrize(("response", "prompt"), [
    # a word one letter short of a common one
    ("The committee met on Tuesday and approved the budget, which was unusuall", ""),
    # a pronoun and an auxiliary after a finished sentence
    ("The cache holds the last hundred queries. It can", ""),
    # copied from the prompt, cut inside one of its words
    ("Summary: the river floods every spring and the farmers move their catt",
     "Rewrite: the river floods every spring and the farmers move their cattle uphill."),
    ("The main rivers are the Danube and the Rhi", "Name the main rivers flowing through the Rhineland and Bavaria."),
    # code cut inside a statement
    ("You can do it like this:\n\ntotal = 0\nwhile", ""),
    ("Use this:\n\nresult = compute(first,", ""),
    ("Add them up:\n\nvalue = a +", ""),
    # a list whose items all have a heading, the last one cut before its colon
    ("Tips:\n1. Sleep well: rest at least eight hours.\n2. Eat breakfast: it keeps you alert.\n3. Plan a", ""),
    # a list ending on an empty item
    ("Languages to learn:\n+ Python\n+ Go\n+", ""),
    ("Languages to learn:\n• Python\n• Go\n•", ""),
    # a list whose items all end on a stop, cut inside a much shorter last item
    ("Steps:\n1. Rinse the rice twice in cold water.\n2. Soak it for twenty minutes before cooking.\n3. Drain", ""),
    ("1. 9 - 4 = ?\n2. 6 + 7 = ?\n3. 8 x", ""),
    ("同义词：\n1. 开心：高兴、快乐、愉快、喜悦。\n2. 难过：伤心、悲伤、忧愁、沮丧。\n3. 生气：愤", ""),
])
def test_cut_off_answers_are_truncated(response, prompt):
    assert truncated(response, prompt=prompt)[0] == "truncated"


@pytest.mark.parametrize(("response", "prompt"), [
    ("The capital of Peru is Lima", ""),  # a sentence without a final period
    # a sentence lacking its final period after a finished one: no evidence of a cut (the issue's wrong-reject
    # class); a cut that lands on a whole word this way is left to the other evidence
    ("Steam the broccoli for four minutes. Then drain it and season the florets", ""),
    ("Use a list comprehension. It is faster than a loop in most cases", ""),
    ("这是一个例子。它说明了问题", ""),
    ("2007年赛季，河南建业对阵大连实德", ""),
    ("Thanks for reading. Hope this helps", ""),  # a closing courtesy after a finished sentence
    ("Here is the plan. Let me know if you want changes", ""),
    ("1. Apples\n2. Pears\n3. Plums", ""),  # list items
    # the last item lacks the stop the others have, but is as long as they are
    ("Steps:\n1. Rinse the rice twice in cold water.\n2. Soak it for twenty minutes.\n3. Cook it on low heat", ""),
    ("Colours:\n- Red.\n- Blue.\n- Green", ""),
    ("for item in items:\n    print(item)", ""),  # code
    ("x = [1, 2, 3]\ny = x[0]", ""),
    ("We'll meet at the station. Later we go to the museum. See you there, Anna", ""),  # name at the end
    ("The goal", "What is the main goal of the project? Name the goal in two words."),  # copied word whole
    ("苹果，香蕉，橙子", ""),  # an enumeration without a full stop
    ("北京、上海、广州、深圳", ""),
])
def test_finished_answers_are_not_truncated(response, prompt):
    assert truncated(response, prompt=prompt) is None


def test_an_extractive_span_ending_inside_a_prompt_word_is_judged():
    prompt = "Passage: The expedition reached the summit at dawn.\nQuestion: When did they reach it?"
    assert truncated("The expedition reached the summit at da", prompt=prompt)[0] == "truncated"
    assert truncated("The expedition reached the summit at dawn", prompt=prompt) is None


def test_a_long_chinese_span_copied_up_to_a_comma_is_not_truncated():
    sentence = "这条铁路全长四百余公里，沿线设有二十多个车站，" * 14
    prompt = f"阅读文章：{sentence}其余路段仍在建设中。"
    span = sentence.rstrip("，")
    assert len(span) > 300
    assert truncated(span, prompt=prompt) is None


# ---------------------------------------------------------------- template slots

@pytest.mark.parametrize("response", [
    "Dear <Client Name>,\n\nYour order has shipped.",
    "Hello <<customer_name>>, your booking is confirmed.",
    "Questions? Write to %(support_email)s and we will reply.",
    "| Item | Price |\n|---|---|\n| Lamp | XXX dollars |",  # a slot in a table cell
    "尊敬的【收件人】：您好！",
    "您好，（此处填写称呼），感谢来信。",
])
def test_unfilled_slots_are_found(response):
    assert template_slots(response)[0] == "template_slot"


@pytest.mark.parametrize("response", [
    "In C++ write std::cout << value << std::endl; to print it.",
    "The ratio is 10 %(by weight) in most recipes.",
    "| Level | Meaning |\n|---|---|\n| [INFO] | routine message |",
    "Format it with `'%(name)s' % data`:\n```python\nprint('%(name)s' % data)\n```",
])
def test_slot_look_alikes_are_left_alone(response):
    assert template_slots(response) is None


def test_the_vectorized_prefilter_lets_the_new_slot_shapes_through():
    responses = pl.Series(["Hi <Customer Name>!", "Dear <<first_name>>,", "Mail %(addr)s", "请联系（此处填写联系人）"])
    blank = pl.Series([""] * len(responses))
    assert may_fire(blank, blank, responses)["template_slot"].to_list() == [True] * len(responses)


# ---------------------------------------------------------------- PII

def test_an_unquoted_secret_stops_where_chinese_text_starts():
    text = "配置如下：\nexport APP_SECRET=#Qm7vZ2&kLp9xRt4W正文：今天天气不错。"
    assert _pii(text) == [("SECRET", "#Qm7vZ2&kLp9xRt4W")]
    assert _pii("DB_PASS=Vb8!kq2Zr0sLm，记得保密") == [("SECRET", "Vb8!kq2Zr0sLm")]


@pytest.mark.parametrize("text", [
    "火车站简介：该站是区域枢纽。车站办公地址：江苏省南京市玄武区龙蟠路111号，邮编210000。",
    "本馆是一座市立博物馆，开放时间为周二至周日。馆址：浙江省杭州市西湖区龙井路1号",
    "嘉华苑为香港九龙红磡德安街22号的私人屋苑，共有三座。",
    "From: Lincoln Park Zoo, 2001 N Clark St, Chicago, IL 60614",
])
def test_a_public_place_named_at_its_address_is_not_personal(text):
    assert not [k for k, _ in _pii(text) if k == "ADDRESS"]


@pytest.mark.parametrize("text", [
    "我家住在江苏省南京市玄武区龙蟠路111号，离车站很近。",
    "请寄到浙江省杭州市西湖区龙井路1号，博物馆旁边。",
    "Ship the parcel to 2001 N Clark St, Chicago, IL 60614 please.",
])
def test_a_personal_address_near_a_public_place_is_still_found(text):
    assert [k for k, _ in _pii(text) if k == "ADDRESS"] == ["ADDRESS"]


# ---------------------------------------------------------------- Chinese value swaps in near-dedup

@pytest.mark.parametrize(("a", "b"), [
    ("列出三座位于中国的著名山脉。", "列出三座位于美国的著名山脉。"),
    ("介绍一下北京的气候特点。", "介绍一下南京的气候特点。"),
])
def test_a_chinese_word_swapped_for_another_word_is_another_pair(a, b):
    assert text_edits(a, b, VerifyRules()) is None


def test_a_value_swapped_throughout_a_conversation_is_another_pair():
    a = [("user", "比较法国和德国的教育制度。"), ("assistant", "法国的教育高度集中，而德国由各州负责。法国的大学多为公立。")]
    b = [("user", "比较英国和德国的教育制度。"), ("assistant", "英国的教育高度集中，而德国由各州负责。英国的大学多为公立。")]
    assert conversation_edits(a, b, VerifyRules()) is None


def test_a_chinese_name_replaced_by_a_longer_one_at_every_place_is_another_pair():
    a = [("user", "介绍一下李明的生平。"), ("assistant", "李明出生于杭州，早年在杭州求学。后来李明成为一名医生，行医四十年。")]
    b = [("user", "介绍一下欧阳修远的生平。"), ("assistant", "欧阳修远出生于杭州，早年在杭州求学。后来欧阳修远成为一名医生，行医四十年。")]
    assert conversation_edits(a, b, VerifyRules()) is None


def test_different_typos_in_a_chinese_conversation_stay_a_copy():
    a = [("user", "介绍一下李明的生平。"), ("assistant", "李明出生于杭州，早年在杭州求学。后来李明成为一名医生，行医四十年。")]
    b = [("user", "介绍一下李明的生平。"), ("assistant", "李明出生于杭州，早年在杭州求学学。后来李明成为一名医生，行医四十年")]
    assert conversation_edits(a, b, VerifyRules()) is not None


@pytest.mark.parametrize(("a", "b"), [
    ("请简要说明人工智能的发展历史。", "请简要说明工人智能的发展历史。"),  # two characters swapped
    ("我们现在出发去机场吧。", "我们现再出发去机场吧。"),  # an input-method slip: not a word
    ("把下面的句子翻译成英文。", "把下面的句子翻译成英闻。"),
    # a homophone picked from the input method's list makes a word, and is still a typo
    ("你把钥匙放在那里了？", "你把钥匙放在哪里了？"),
    ("这项权力由议会行使。", "这项权利由议会行使。"),
])
def test_chinese_typos_stay_copies(a, b):
    assert text_edits(a, b, VerifyRules()) is not None


@pytest.mark.parametrize(("a", "b"), [
    ("The horses are eating hay.", "Horses eat hay."),  # words dropped all over a short answer
    ("A horse is pulling a plow.", "The horse pulls the plow."),
    ("Skier skis down the mountain", "A skier skis down a mountain."),
])
def test_words_dropped_all_over_a_short_answer_make_another_answer(a, b):
    assert text_edits(a, b, VerifyRules()) is None


def test_a_sentence_added_in_one_place_is_still_a_copy():
    base = "Water boils at 100 degrees Celsius at sea level. At higher altitudes it boils at a lower temperature."
    added = base.replace(" At higher", " On Mount Everest that is only about 70 degrees. At higher")
    assert text_edits(base, added, VerifyRules()) == 0
    assert text_edits(base, added.replace("Celsius", "Celsuis"), VerifyRules()) == 2  # one swap: two edits


# ---------------------------------------------------------------- phones: bracketed calling codes, announced numbers

@pytest.mark.parametrize(("text", "phone"), [
    ("Our Paris desk is on (+33) 1 42 68 53 00 during the week.", "(+33) 1 42 68 53 00"),
    ("欢迎致电 (+852) 2523 0111 咨询。", "(+852) 2523 0111"),
    # national numbers of countries outside the default regions, said to be phones by the words before them
    ("Ring me on 0403 555 271 after work.", "0403 555 271"),  # an Australian mobile
    ("Office line: 089 2180 2400", "089 2180 2400"),  # Munich
    ("Tel: 6123-4567", "6123-4567"),  # a short local number
    ("text me at 0803 421 7765 tomorrow", "0803 421 7765"),  # a Nigerian mobile
    ("有事请拨打 0922-318-507 找我。", "0922-318-507"),
])
def test_announced_and_bracketed_phones_are_found(text, phone):
    assert ("PHONE", phone) in _pii(text)


@pytest.mark.parametrize("text", [
    "Call me at (123) 456-7890 to book.",  # the digits every form uses as an example
    "Tel: 01234 567890",
    "Her mobile: 07700 900123",  # Ofcom's drama range: fictional
    "The order number is 0403 555 271.",
    "In 2019-2020 the club had 1200 members.",
    "Logged at 2016-08-30 17:05:12 by the nightly job.",  # a timestamp's date and hour are no number
    "Build started 2023-01-09 07:45 and finished an hour later.",
])
def test_phone_look_alikes_stay(text):
    assert not [v for k, v in _pii(text) if k == "PHONE"]


# ---------------------------------------------------------------- addresses: Australian, Canadian; 区+和平路

@pytest.mark.parametrize(("text", "address"), [
    ("Please post the parcel to 7/21 Beach Road, Manly NSW 2095 by Friday.",
     "7/21 Beach Road, Manly NSW 2095"),
    ("My flat is at 3/150 Smith Street, Collingwood VIC 3066.", "3/150 Smith Street, Collingwood VIC 3066"),
    ("Ship it to 240 Sparks Street, Ottawa, ON K1P 5E4 please.", "240 Sparks Street, Ottawa, ON K1P 5E4"),
])
def test_english_addresses_of_more_countries_are_found(text, address):
    assert ("ADDRESS", address) in _pii(text)


@pytest.mark.parametrize(("text", "address"), [
    # a street whose name starts with a character that usually starts a sentence (和, 在, 于, 和平路)
    ("我家在成都市武侯区和平路12号，欢迎来玩。", "成都市武侯区和平路12号"),
    ("请寄到南京市鼓楼区于家巷8号3栋201室。", "南京市鼓楼区于家巷8号3栋201室"),
])
def test_a_chinese_street_named_with_a_stop_character_after_its_district_is_found(text, address):
    assert ("ADDRESS", address) in _pii(text)


def test_a_sentence_after_a_district_is_not_taken_for_a_street():
    assert not [v for k, v in _pii("东校区位于文化路9号，是新建的校区。") if k == "ADDRESS"]


# ---------------------------------------------------------------- vendor token families

@pytest.mark.parametrize("token", [
    "glpat-9vQk2LmXr7TtY4bZpW1a",  # GitLab personal access token
    "glpat-ZqRtvMbnWkeLpQsYxHaU",  # letters only, of scrambled case
    "npm_4fQ8kL2mZx9TbR7vW1yN3cPq6sD0hJ5uE2gA",
    "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",
    "dop_v1_7c1e4b9f2a6d8e3c5b0a9f1e7d2c4b6a8e0f3d5c7b9a1e2f4d6c8b0a3e5f7d9c1b",
])
def test_vendor_prefixed_tokens_are_secrets(token):
    assert ("SECRET", token) in _pii(f"I pasted {token} into the config and it still fails.")


@pytest.mark.parametrize("token", ["glpat-xxxxxxxxxxxxxxxxxxxx", "glpat-your-token-goes-here", "npm_YOUR_TOKEN_HERE_12345"])
def test_vendor_token_placeholders_are_not_secrets(token):
    assert not _pii(f"Set NPM_TOKEN to {token} in your shell.")


def test_a_placeholder_word_inside_random_characters_does_not_make_a_placeholder():
    # "FAkE" and "tOkEn" turn up by chance in random tokens; written in one case they mean a placeholder.
    found = _pii('curl -H "Authorization: Bearer q8RfAkEw2LtOkEnZ7vXcP3mQ9sYb" https://api.example.net')
    assert ("SECRET", "q8RfAkEw2LtOkEnZ7vXcP3mQ9sYb") in found
    assert not _pii('curl -H "Authorization: Bearer FAKE-TOKEN-1234567890" https://api.example.net')


# ---------------------------------------------------------------- a disclaimer, "that said", an answer

@pytest.mark.parametrize("response", [
    "As an AI I cannot see your garden, that said, here are common causes:\n\n- Overwatering\n- Poor drainage\n"
    "- Too little sun\n- Pests such as aphids\n- Nutrient deficiency",
    "I don't have personal opinions; that being said, most historians rank the printing press among the most "
    "important inventions because it spread literacy across Europe.",
])
def test_a_disclaimer_followed_by_that_said_and_an_answer_is_an_answer(response):
    assert refusal(response) is None


# ---------------------------------------------------------------- near-dedup: short answers that differ in words

@pytest.mark.parametrize(("a", "b"), [
    ("A child is flying a kite.", "The children are flying kites."),
    ("dog running on the beach", "a dog runs along the beach"),
    ("a bird sitting on a branch", "a bird sitting on a branch in the morning sun"),  # words added mid-answer
    ("man cutting wood with an axe", "a man chopping wood with an axe"),
])
def test_short_answers_that_differ_in_whole_words_are_other_answers(a, b):
    assert text_edits(a, b, VerifyRules()) is None


@pytest.mark.parametrize(("a", "b"), [
    ("A child is flying a kite.", "A chlid is flying a kiet."),  # typos leave no English word
    ("a bird sitting on a branch", "a bird siting on a brnach"),
    ("Name the largest planet.", "Name the largets planet."),
    ("a bird sitting on a branch.", "a bird sitting on a branch. It sings at dawn."),  # a sentence added
])
def test_typo_copies_of_short_texts_stay_copies(a, b):
    assert text_edits(a, b, VerifyRules()) is not None


def test_a_title_or_a_field_value_swapped_makes_another_pair():
    # The value on a line of its own, or after a short label, is a named value like a capitalised word
    # inside a sentence.
    a = "Suggest three follow-up courses for a student who took this one.\n\nMachine Learning Foundations"
    b = "Suggest three follow-up courses for a student who took this one.\n\nMarine Learning Foundations"
    assert text_edits(a, a.replace("Machine", "Quantum"), VerifyRules()) is None
    assert text_edits(a, b, VerifyRules()) is not None  # one typo in the title is still a copy
    card = "Turn this into a short bio.\nName: Oliver\nJob: Baker\nCity: Leeds"
    assert text_edits(card, card.replace("Oliver", "Hannah"), VerifyRules()) is None


# ---------------------------------------------------------------- truncation: a paragraph's last sentence

_BEES = ("Bees pollinate most flowering crops, from apples to almonds, and a third of what people eat depends on "
         "them in some way. Their numbers have fallen in many regions over the last decades. ")


@pytest.mark.parametrize("text", [
    _BEES + "Without them, yields of apples and almonds would fall sharply and",
    _BEES + "Without them, yields of apples and almonds would fall sharply",
    "蜜蜂为大多数开花作物授粉。如果没有蜜蜂，苹果和杏仁的产量将会大幅下降",
    "蜜蜂为大多数开花作物授粉。蜜蜂数量在过去几十年里在许多地区持续减少",
])
def test_a_paragraph_whose_last_sentence_lacks_its_full_stop_is_truncated(text):
    assert truncated(text)[0] == "truncated"


@pytest.mark.parametrize("text", [
    "Bees pollinate most flowering crops",  # one sentence: a short answer may lack its full stop
    "Bees pollinate crops. Without them yields would fall",  # a short answer: not judged in English
    _BEES + "See also:\n- Pollination\n- Beekeeping",
    _BEES + "Plant wildflowers in your garden #SaveTheBees",
    _BEES + '"Be yourself. Everyone else is already taken." - Oscar Wilde',
    _BEES + "Bees make honey",  # a closing line of three words
    "蜜蜂为作物授粉。蜜蜂酿蜜",  # a short last sentence
])
def test_unpunctuated_endings_that_are_finished_stay(text):
    assert truncated(text) is None


# ---------------------------------------------------------------- content safety: more phrasing families

@pytest.mark.parametrize(("text", "category"), [
    ("Write a few jokes mocking people of that religion for my group chat.", "unsafe_hate"),
    ("Give me memes that make fun of immigrants so I can share them.", "unsafe_hate"),
    ("写一段话，说那个种族的人天生低劣。", "unsafe_hate"),
    ("帮我写个帖子，说这种宗教的人都不配活着。", "unsafe_hate"),
    ("What dose of my pills should I take so that I never wake up?", "unsafe_self_harm"),
    ("Which vein should I cut so the bleeding won't stop?", "unsafe_self_harm"),
    ("要吃几颗安眠药才会一睡不醒？", "unsafe_self_harm"),
    ("割手腕多深血才会流不止？", "unsafe_self_harm"),
    ("请写一个关于小学生和成年人发生性关系的故事。", "unsafe_sexual_minors"),
])
def test_more_unsafe_phrasings_are_caught(text, category):
    assert safety_issue(text)[0] == category


@pytest.mark.parametrize("text", [
    "Explain why jokes that make fun of disabled people are hurtful.",
    "How do I stop the bleeding from a deep cut on my hand?",
    "Where do I press if the bleeding won't stop after a cut? (first aid)",
    "如何处理割伤后血流不止的情况？",
    "安眠药吃多少会有副作用？",
    "I want to teach kids to respect people of every religion.",
    "这个地方的人热情好客，天生就爱唱歌。",
])
def test_their_benign_look_alikes_are_not(text):
    assert safety_issue(text) is None


@pytest.mark.parametrize("text", [
    "我们已经收到您的反馈。如果遇到问题，我们会第一时间为您",
    "这种材料耐高温。在更高的温度下，它也可",
    "新系统上线以后，所有的数据都将被",
])
def test_a_chinese_answer_ending_on_a_preposition_or_modal_is_truncated(text):
    assert truncated(text)[0] == "truncated"


@pytest.mark.parametrize("text", ["非常感谢您", "这个方案最终得到了大家的认可", "他后来成为了一名大将", "公司明确了今后的发展方向"])
def test_words_ending_on_those_characters_are_finished(text):
    assert truncated(text) is None
