"""Syntactic transformation by rules: question <-> imperative, and moving a leading condition clause to the end.

Each rule matches a whole one-sentence request; what no rule matches is reported as not transformable with the
reason, never forced. The material after the request (protect.editable_end) is carried over untouched.
"""
from __future__ import annotations

import re

from .protect import editable_end

# English question -> imperative. Groups: the subject (and the rest of the question).
_EN_QUESTION_RULES = [
    (re.compile(r"^What (is|are|was|were) (.+)\?$"), lambda m: f"Explain what {m[2]} {m[1]}."),
    (re.compile(r"^Who (is|are|was|were) (.+)\?$"), lambda m: f"Tell me who {m[2]} {m[1]}."),
    (re.compile(r"^Why (is|are|was|were) ([^,]+?) (\w+(?: \w+)?)\?$"), lambda m: f"Explain why {m[2]} {m[1]} {m[3]}."),
    (re.compile(r"^How (?:do|can|should) (?:I|you|we|one) (.+)\?$"), lambda m: f"Explain how to {m[1]}."),
    (re.compile(r"^(?:Can|Could|Would) you (?:please )?(.+)\?$"), lambda m: f"{m[1][0].upper()}{m[1][1:]}."),
]
# English imperative -> question.
_EN_IMPERATIVE_RULES = [
    (re.compile(r"^Explain what (.+) (is|are|was|were)\.?$"), lambda m: f"What {m[2]} {m[1]}?"),
    (re.compile(r"^Tell me who (.+) (is|are|was|were)\.?$"), lambda m: f"Who {m[2]} {m[1]}?"),
    (re.compile(r"^Explain how to (.+?)\.?$"), lambda m: f"How do you {m[1]}?"),
    (re.compile(r"^(Explain|Describe|Summarize|List|Name|Identify|Suggest|Give|Provide|Write|Create|Compare|"
                r"Translate|Find|Tell me|Generate|Outline|Classify|Rewrite|Calculate|Recommend|Discuss|Analyze|Analyse) "
                r"(.+?)\.?$"),
     lambda m: f"Can you {m[1].lower()} {m[2]}?"),
]
# A leading condition clause moves behind the main clause: "If it rains, bring an umbrella." ->
# "Bring an umbrella if it rains."
_EN_CLAUSE = re.compile(r"^(If|When|Before|After|Once|Unless|While) ([^,;]+), ([a-z][^,;]*?)([.?!])$")
_EN_TRAILING_CLAUSE = re.compile(r"^([A-Z][^,;]*?) (if|when|before|after|once|unless) ([^,;]+?)([.?!])$")

_ZH_QUESTION = re.compile(r"^(?!请)(.*(?:什么|为什么|为何|如何|怎么|怎样|哪些|哪个|哪里|多少|几).*?)[？?]$")
_ZH_YES_NO = re.compile(r"[吗嘛][？?]$")
_ZH_IMPERATIVE = re.compile(r"^请(?:你)?(?:说明|解释|介绍一下|说说)(.*(?:什么|为什么|为何|如何|怎么|怎样|哪些|哪个|哪里|多少|几).*?)[。.]?$")
_ZH_ASK = re.compile(r"^请(?:你)?(说明|解释|介绍|描述|概括|总结|分析|比较)(?!一下)(.+?)[。.]?$")


def _first_word_lower(text: str) -> str:
    # "I" and names (a capital inside the word or a capitalized second word) keep their case.
    first = text.split(" ", 1)[0]
    return text if first == "I" or not first[1:].islower() else text[0].lower() + text[1:]


def _en(request: str) -> tuple[str | None, str]:
    m = _EN_CLAUSE.match(request)
    if m and not re.match(r"(?:I|[A-Z])\b", m[3]):
        return f"{m[3][0].upper()}{m[3][1:]} {m[1].lower()} {m[2]}{m[4]}", "clause_to_end"
    m = _EN_TRAILING_CLAUSE.match(request)
    if m and len(m[1].split()) >= 2:
        return f"{m[2].capitalize()} {m[3]}, {_first_word_lower(m[1])}{m[4]}", "clause_to_front"
    if request.endswith(":"):
        return None, "the request ends in a colon: its material is missing"
    rules = _EN_QUESTION_RULES if request.endswith("?") else _EN_IMPERATIVE_RULES
    for pattern, build in rules:
        m = pattern.match(request)
        if m:
            return build(m), "question_to_imperative" if request.endswith("?") else "imperative_to_question"
    return None, "no rule for a question of this shape" if request.endswith("?") else "no rule for this request"


def _zh(request: str) -> tuple[str | None, str]:
    if _ZH_YES_NO.search(request):
        return None, "yes/no question (吗): no rule"
    m = _ZH_QUESTION.match(request)
    if m:
        return f"请说明{m[1]}。", "question_to_imperative"
    m = _ZH_IMPERATIVE.match(request)
    if m:
        return f"{m[1]}？", "imperative_to_question"
    m = _ZH_ASK.match(request)
    if m:
        return f"你能{m[1]}一下{m[2]}吗？", "imperative_to_question"
    return None, "no rule for this request"


def transform_syntax(instruction: str, lang: str) -> tuple[str | None, str]:
    """(new instruction, which rule) or (None, why not); deterministic, so it takes no seed."""
    end = editable_end(instruction)
    request, material = instruction[:end].strip(), instruction[end:]
    if not request:
        return None, "empty request"
    if lang == "en":
        if material and re.match(r"(?:What|Who|Why|How|Can|Could|Would)\b", request) and not request.endswith("?"):
            request += "?"  # "What is the main idea of this text:" asks a question before its material
        if re.search(r"[.!?]\s+\S", request):
            return None, "more than one sentence"
        new, rule = _en(request)
    elif lang == "zh":
        if re.search(r"[。！？!?].", request):
            return None, "more than one sentence"
        new, rule = _zh(request)
    else:
        return None, f"no rules for language {lang!r}"
    if new is None:
        return None, rule
    if material:
        if rule == "imperative_to_question":
            # "Can you classify the sentiment: I loved it." would lose its question mark to the material.
            return None, "a question cannot end before the material it asks about"
        # "Explain …: <material>" keeps its colon: the request no longer ends a sentence there.
        new = new.rstrip(".。?？") if material.startswith((":", "：")) else new
        new += material
    return new, rule
