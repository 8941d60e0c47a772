"""Refusals and AI disclaimers in English and Chinese.

A response that only refuses ("I'm sorry, but I can't help with that.", "抱歉，我无法提供。") teaches the model to
refuse; one that opens with a disclaimer and then answers ("As an AI I have no opinion, but here are the main
arguments: …") is an answer. The policy (`QualityRules.refusal_policy`) says which of the two is rejected.
"""
from __future__ import annotations

import re

import polars as pl

from .quality_rules import DEFAULT_RULES, QualityRules
from .textshape import without_lookarounds

Issue = tuple[str, str]

_APOS = "['’]"
_I_CANT = (rf"(?:i (?:cannot|can{_APOS}?t|can not|am unable to|am not able to|won{_APOS}?t be able to|"
           rf"will not be able to|do not have the ability to|don{_APOS}?t have the ability to)|"
           rf"i{_APOS}m (?:unable|not able) to)")
_DECLINE = (r"(?:pass on (?:this|that|it)\b|pass(?= *(?:[.!,;]|$| for now| this time))|decline\b|say no\b"
            r"|sit this one out)")
_I_AM_GOING = rf"(?:{_APOS}m| am) (?:going to|gonna)"
_EN_REFUSALS = [
    r"as an? (?:\w+ ){0,2}(?:ai|artificial intelligence|language model)\b",
    r"being an? (?:\w+ ){0,2}(?:ai|artificial intelligence|language model)\b",
    # "I'm an AI …" declines only with a limitation after it; "Hi, I'm an AI assistant!" introduces.
    r"i(?:['’]m| am) (?:just |only )?an? (?:\w+ ){0,2}(?:ai|artificial intelligence|language model|bot)\b"
    r"[^.!?\n]{0,80}?(?:don['’]t|do not|can['’]?t|cannot|unable|not able|no (?:personal|access|ability))",
    rf"i{_APOS}?m (?:very |so |really )?sorry,? (?:but )?(?:as an ai|{_I_CANT}|i won{_APOS}t|i must|i have to)",
    rf"i apologi[sz]e,? (?:but )?{_I_CANT}", r"my apologies,? (?:but )?i\b",
    # "I can't …" but not "I can't stress enough", "I can't wait", "I can't help but smile".
    rf"(?:unfortunately,? )?{_I_CANT} (?!stress|believe|wait|imagine|emphasi[sz]e|overstate|thank|help but|"
    rf"get enough|say enough|recommend \w+ enough)\w+",
    rf"i(?: won{_APOS}t| will not| must not|{_APOS}m not going to| am not going to) (?:be able to |be )?(?:help|"
    r"assist|provide|answer|write|create|generate|do|engage|participate|share|give|comply|support|discuss)",
    # "That isn't something I can do", "This is a task I can't complete" (not "That's something I can do").
    rf"(?:that|this|it)(?:{_APOS}s not| is not| isn{_APOS}t) (?:something|a task|a request|anything) (?:that )?i\b",
    rf"(?:that|this|it)(?:{_APOS}s| is) (?:something|a task|a request) (?:that )?i (?:can(?:not|{_APOS}t)|"
    rf"won{_APOS}t|am not able|{_APOS}m not able)",
    r"(?:outside|beyond)(?: of)? (?:the scope of )?(?:what i can|my (?:scope|capabilities|abilities|guidelines))",
    # Declining in so many words: "I'll have to pass on this one", "I'm afraid I must decline", "I'd rather
    # not write that". Passing on a thing, not passing a test ("I have to pass the exam").
    rf"i(?:{_APOS}ll| will|{_APOS}d| would|{_I_AM_GOING})? (?:have to|need to|must|(?:have )?got to) {_DECLINE}",
    rf"i(?:{_APOS}ll| will|{_I_AM_GOING}) {_DECLINE}",
    rf"i(?:{_APOS}d| would) (?:rather|prefer) not\b",
    # "I don't think I should answer that", "Not something I can assist with".
    rf"i do(?:n{_APOS}t| not) think i (?:should|can|could|ought to) (?:help|assist|provide|answer|respond|write|"
    r"create|generate|do|share|discuss|comply|engage)",
    r"not something (?:that )?i (?:can|could|will|would|am able to)\b",
    rf"(?:guidelines|polic(?:y|ies)|rules|programming) (?:don{_APOS}t|do not|doesn{_APOS}t|does not|won{_APOS}t) "
    r"(?:allow|permit|let) me",
    r"i (?:refuse to|must refuse to|decline to)\b",
    rf"i{_APOS}?m afraid i (?:can(?:not|{_APOS}t)|won{_APOS}t)", r"i must (?:respectfully )?decline",
    r"i(?:['’]m| am) not in a position to", r"i do(?: not|n['’]t) feel comfortable",
    r"i(?: a|['’])m not (?:comfortable|allowed|permitted) (?:to )?",
    r"it(?: is|['’]s| would be| would not be| wouldn['’]t be) (?:not |in)?appropriate for me",
    r"(?:is|are) an? external task", r"i do(?: not|n['’]t) have (?:a|the|any) function",
    r"i do(?: not|n['’]t) have (?:personal (?:opinions|preferences|feelings|experiences|beliefs|views)|"
    r"the (?:ability|capability|capacity) to|access to (?:real[- ]time|the internet|current|your))",
]
_ZH_REFUSALS = [
    # Not after a letter: "你作为一个人工智能助手…" talks about someone else, "。作为一个人工智能…" is the model.
    r"(?<!\w)作为(?:一个|一名)?(?:人工智能|ai)", r"(?<!\w)作为(?:一个)?(?:大型)?语言模型",
    # "我无法…" declines what was asked ("我无法回答/提供/为您…"); with another verb it is content, as in a
    # rewritten leave note ("我无法参加明天的会议") or "我无法想象".
    r"我(?:目前|暂时|实在)?(?:无法|不能|不可以|没办法|没有办法|没法)(?:直接|准确|实时|真正|完全)?"
    r"(?:(?:为|帮|给|向|替)?(?:你|您)|回答|回复|提供|帮|协助|满足|完成|执行|处理|生成|给出|编写|撰写|创作|翻译|访问|获取"
    r"|查看|查询|检索|预测|确定|判断|浏览|联网|上网|做到|做出|进行|参与|讨论|评论|评价|透露|分享|推荐|保证|告诉|得知|知道"
    r"|了解|识别|看到|听到|观看|感受|体验|表达|拥有|具备|发表|支持|继续|这样做|这么做)",
    r"我不会(?:提供|回答|写|帮|协助|参与|讨论|回复)", r"帮不[上了]忙|做不到",
    r"超出(?:了)?[^。，,]{0,8}范围", r"不予(?:回答|回复|提供|讨论|置评)", r"我就不(?:回答|讨论|提供|回复)了",
    r"(?:抱歉|对不起|不好意思|遗憾|请原谅)[,，]?\s*(?:但是?)?(?:作为\w{0,12}[,，]?\s*)?我?"
    r"(?:不能|无法|不可以|没办法|没有|没法|帮不了)", r"帮不了(?:你|您)|无能为力|爱莫能助|恕难从命",
    # "我是一个人工智能助手，旨在…" introduces; "我是一个人工智能，没有…" declines.
    r"我(?:只)?是(?:一个|一名)?(?:人工智能|ai|语言模型|机器人|程序)[^。！？]{0,12}(?:无法|不能|没有|不具备)",
    # "我不便协助完成这个请求", "这个问题我不回答", "这个不能做".
    r"不方?便(?:回答|透露|提供|讨论|帮|协助|处理|写|完成|参与|回复|生成|作答|评论|置评|发表|分享)", r"无可奉告|不便奉告", r"(?:这个|这件事|这种事|此)(?:问题)?我?(?:不回答|不能做|不会做|做不了)",
    r"这个问题我(?:无法|不能)回答", r"我(?:必须|只能)?(?:拒绝|婉拒)", r"恕我(?:不能|无法|直言不能)",
    r"我没有(?:个人|自己的)(?:观点|意见|看法|感受|感情|情感|经历|偏好|喜好)",
    r"我(?:目前)?(?:没有|不具备)[^。，,]{0,20}(?:能力|功能)",
]
_EN_PATTERN = re.compile(r"(?<!\w)(?:" + "|".join(_EN_REFUSALS) + ")", re.I)
_ZH_PATTERN = re.compile("|".join(_ZH_REFUSALS), re.I)
_LATIN_WORD = re.compile(r"[A-Za-z]{2}")
_HAN = re.compile(r"[\u3400-\u9fff]")


def _find_refusal(text: str) -> re.Match | None:
    """The first refusal or disclaimer phrase; each language's patterns run only on text in its script."""
    m_en = _EN_PATTERN.search(text) if _LATIN_WORD.search(text) else None
    m_zh = _ZH_PATTERN.search(text) if _HAN.search(text) else None
    return min((m for m in (m_en, m_zh) if m), key=lambda m: m.start(), default=None)


# Sentences that go with a refusal without answering anything: offers of other help, statements of what the
# assistant can do, invitations to ask again.
_OFFERS = re.compile(r"(?:^|(?<=[\s,，]))(?:" + "|".join([
    r"(?:however|but|instead|for (?:example|instance)|in this case)?,?\s*i (?:can|could|am able to|"
    r"(?:would|'d|’d|will) be (?:happy|glad) to)\b",
    r"(?:my|the) (?:current |only )?(?:function|capabilit|abilit|purpose)\w*", r"(?:currently|right now),? i ",
    r"if you (?:need|have|would like|want|provide)", r"(?:is there|do you have) anything else", r"feel free",
    r"please (?:let me know|feel free|ask|provide|consult|check|contact|visit|use)", r"let me know",
    r"(?:can|may|how can|how else can) i (?:help|assist)", r"i (?:suggest|recommend) (?:that )?you",
    r"(?:could|can|would) you (?:please )?(?:provide|give|share|tell|clarify)",
    r"(?:但是?|不过|然而)?[,，]?\s*我(?:可以|能够?|只能|很乐意|将很高兴|目前的?(?:功能|能力)?)",
    r"(?:目前)?我的(?:功能|能力|主要功能|当前功能)", r"目前[,，]?我",
    r"如果(?:您|你)?(?:能|可以|还)?(?:需要|有|想|愿意|提供|告诉|给出|给我)", r"在(?:这种情况下|我的能力范围内)",
    r"请(?:提供|告诉|给出|给我|随时)",
    r"(?:您|你)是否还有", r"还有(?:什么|其他)", r"我建议(?:您|你)", r"(?:您|你)可以(?:尝试|使用|联系|咨询)",
]) + ")", re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*|\n+")
_WORDISH = re.compile(r"[^\W\d_]+")
# "As an AI I can't taste food, but chefs describe umami as …": what follows the "but" is judged on its own.
# So is what follows "that said" and its kin ("I have no browser, that said, here is a list: …").
_CONTRAST = re.compile(r"(?i),\s*but\s+|;\s*however,?\s*|[,;]\s*(?:that said|that being said|having said that"
                       r"|with that said|even so|nonetheless|nevertheless),?\s*|[,，]\s*(?:但是?|不过|然而)[,，]?")


def _answers(text: str, rules: QualityRules) -> bool:
    """Whether the sentences and clauses of `text` that neither refuse nor offer other help add up to an answer
    (`refusal_min_answer_words` words, or `refusal_min_answer_chars_zh` Han characters)."""
    words = han = 0
    for sentence in _SENTENCE_END.split(text):
        for clause in _CONTRAST.split(sentence):
            if not clause.strip() or _find_refusal(clause) or _OFFERS.match(clause.strip(" \"'“‘*#>-")):
                continue
            han += len(_HAN.findall(clause))
            words += len(_WORDISH.findall(_HAN.sub(" ", clause)))
            if words >= rules.refusal_min_answer_words or han >= rules.refusal_min_answer_chars_zh:
                return True
    return False


REFUSAL_WITHIN = 300
_LEADING_MARKS = " \n\"'“‘*#>-"


def _superset_for_polars(pattern: str) -> str:
    r"""`pattern` without lookarounds and word boundaries, \w and \s widened to what they are in Python (which
    also counts other numbers like '²' as word characters, and \x1c-\x1f as spaces): a pattern for polars'
    engine that matches wherever `pattern` matches in Python."""
    return (without_lookarounds(pattern).replace(r"\b", "").replace(r"\w", r"[\w\p{No}]")
            .replace(r"\s", r"[\s\x1c-\x1f]"))


# Python's case-insensitive [a-z] also matches the dotted and dotless i, which polars' engine does not.
_MAY_REFUSE = (f"(?i)(?:{_superset_for_polars(_EN_PATTERN.pattern)})|(?:{_superset_for_polars(_ZH_PATTERN.pattern)})"
               r"|[\u0130\u0131]")


def may_refuse(responses: pl.Series) -> pl.Series:
    """False where `refusal` cannot flag the response: no refusal or disclaimer phrase in its opening."""
    return responses.str.strip_chars_start(_LEADING_MARKS).str.slice(0, REFUSAL_WITHIN).str.contains(_MAY_REFUSE)


def refusal(response: str, rules: QualityRules = DEFAULT_RULES) -> Issue | None:
    head = response.lstrip(_LEADING_MARKS)
    # A refusal comes first: after its opening few hundred characters a response has answered something.
    m = _find_refusal(head[:REFUSAL_WITHIN])
    if not m:
        return None
    if not _answers(head, rules):
        return "refusal", f"only a refusal/disclaimer: {m.group(0)!r}"
    # A disclaimer up front, then an answer: a refusal only under the stricter policy.
    if rules.refusal_policy == "any_disclaimer" and m.start() == 0:
        return "refusal", f"opens with a refusal/disclaimer: {m.group(0)!r}"
    return None
