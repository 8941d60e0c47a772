"""Syntactic transformation by rules: question <-> imperative in several request frames per language, moving a
leading condition clause, and active -> passive for a simple English transitive clause.

Each rule matches a whole one-sentence request and offers one or more rewrites; a seeded rng picks one of all the
rewrites on offer (without one, the first). What no rule matches is reported as not transformable with the
reason, never forced. The material after the request (protect.editable_end) is carried over untouched, and so is
every protected span inside the request (protect.protected_mask): a rewrite that would alter one is refused.
"""
from __future__ import annotations

import random
import re
from functools import lru_cache

from .lexicons import load_wordnet
from .protect import editable_end, protected_mask

Rewrite = tuple[str, str]  # (new request, rule name)

# ------------------------------------------------------------------------------------------------ English frames
# An imperative verb phrase ("describe the water cycle") is wrapped in one of these.
_EN_QUESTION_FRAMES = ("Can you {}?", "Could you {}?", "Would you {}?", "Could you please {}?")
_EN_REQUEST_FRAMES = ("{}.", "Please {}.", "I'd like you to {}.")
_EN_VERBS = (
    "Explain|Describe|Summarize|Summarise|List|Name|Identify|Suggest|Give|Provide|Write|Create|Compare|Translate|"
    "Find|Tell me|Give me|Generate|Outline|Classify|Rewrite|Calculate|Recommend|Discuss|Analyze|Analyse|Convert|"
    "Edit|Design|Develop|Compose|Produce|Propose|Brainstorm|Evaluate|Determine|Predict|Estimate|Categorize|"
    "Categorise|Sort|Arrange|Choose|Select|Rank|Paraphrase|Correct|Complete|Reword|Shorten|Define|Illustrate|"
    "Detect|Extract|Formulate|Draft|Construct|Assess|Critique|Come up with|Think of|Make|Build|Plan|Add|Remove|"
    "Replace|Change|Fix|Show me|Show|Invent|Devise|Research|Review|Proofread|Simplify|Interpret|Bring|Help me|"
    "Read|Check|Count|Solve|Answer|Fill in|Match|Label|Organize|Organise|Restate|Transform|Modify|Improve|Update")
# "Please describe …", "I'd like you to describe …", "Describe …": the verb phrase, without its frame.
_EN_IMPERATIVE = re.compile(rf"^(?:Please |I'd like you to )?((?:{_EN_VERBS}) [^?!]+?)\.?$", re.IGNORECASE)
_EN_POLITE_QUESTION = re.compile(r"^(Can|Could|Would) you (?:please )?(.+)\?$")
# Questions whose imperative form is a fixed verb phrase; groups as named in each builder.
_EN_WH_QUESTIONS = [
    (re.compile(r"^What (is|are|was|were) (.+)\?$"), lambda m: [f"explain what {m[2]} {m[1]}",
                                                               f"tell me what {m[2]} {m[1]}"]),
    (re.compile(r"^Who (is|are|was|were) (.+)\?$"), lambda m: [f"tell me who {m[2]} {m[1]}"]),
    (re.compile(r"^Why (is|are|was|were) ([^,]+?) (\w+(?: \w+)?)\?$"),
     lambda m: [f"explain why {m[2]} {m[1]} {m[3]}"]),
    (re.compile(r"^How (?:do|can|should) (?:I|you|we|one) (.+)\?$"), lambda m: [f"explain how to {m[1]}",
                                                                               f"tell me how to {m[1]}"]),
]
# Imperatives whose question form is a wh-question: "Explain what a black hole is." -> "What is a black hole?"
_EN_WH_IMPERATIVES = [
    (re.compile(r"^(?:explain|tell me) what (.+) (is|are|was|were)$", re.IGNORECASE), lambda m: [f"What {m[2]} {m[1]}?"]),
    (re.compile(r"^tell me who (.+) (is|are|was|were)$", re.IGNORECASE), lambda m: [f"Who {m[2]} {m[1]}?"]),
    (re.compile(r"^(?:explain|tell me|describe) how to (.+)$", re.IGNORECASE),
     lambda m: [f"How do you {m[1]}?", f"How would you {m[1]}?", f"How can I {m[1]}?"]),
]
# A leading phrase that sets up the request ("Given a list of numbers, sort them.") stays in front of any frame.
_EN_LEAD = re.compile(r"^((?:Given|Using|Based on|In|For|From|With) [^,;]+, )([A-Z]?[a-z].*)$")
# A leading condition clause moves behind the main clause: "If it rains, bring an umbrella." ->
# "Bring an umbrella if it rains."
_EN_CLAUSE = re.compile(r"^(If|When|Before|After|Once|Unless|While) ([^,;]+), ([a-z][^,;]*?)([.?!])$")
_EN_TRAILING_CLAUSE = re.compile(r"^([A-Z][^,;]*?) (if|when|before|after|once|unless) ([^,;]+?)([.?!])$")

# ------------------------------------------------------------------------------------------------ active -> passive
# A simple past-tense clause "<noun phrase> <verb>ed <noun phrase>", whole or after a subordinator ("Explain why
# the committee rejected the plan."). Each noun phrase: a determiner and up to three words, or a pronoun.
_DETERMINERS = "the|a|an|this|that|these|those|my|your|his|her|its|our|their"
_NP = rf"(?:(?:{_DETERMINERS}) [a-z]+(?: [a-z]+){{0,2}}|I|he|she|we|they|you|it|me|him|her|us|them)"
_EN_ACTIVE = re.compile(rf"^(|.* (?:why|that|whether|how|when) )({_NP}) ([a-z]+) ({_NP})([.?!]?)$", re.IGNORECASE)
_SUBJECT_TO_AGENT = {"i": "me", "he": "him", "she": "her", "we": "us", "they": "them", "you": "you", "it": "it"}
_OBJECT_TO_SUBJECT = {v: k for k, v in _SUBJECT_TO_AGENT.items() if k != "i"} | {"me": "I"}
_PLURAL_PRONOUNS = {"we", "they", "you", "us", "them"}
# Verbs of state or measure read wrongly in the passive ("The box contained the gift" -> "The gift was contained").
_NO_PASSIVE = {"have", "lack", "resemble", "cost", "weigh", "fit", "suit", "become", "mean", "equal", "contain",
               "include", "hold", "own", "possess", "want", "need", "get", "let", "do", "be", "seem", "last"}
# Words that show the clause is not "subject verb object" after all.
_FUNCTION_WORDS = {"not", "no", "and", "or", "but", "of", "to", "in", "on", "at", "for", "with", "by", "from",
                   "as", "is", "are", "was", "were", "be", "been", "has", "have", "had", "will", "would", "can",
                   "could", "should", "may", "might", "must", "do", "does", "did", "who", "which", "that", "what"}
# Transitive frames of a WordNet verb sense: "Somebody ----s something/somebody", "Something ----s …".
_TRANSITIVE_FRAMES = {8, 9, 10, 11}

# ------------------------------------------------------------------------------------------------ Chinese
_ZH_WH = r"(?:什么|为什么|为何|如何|怎么|怎样|哪些|哪个|哪里|多少|几)"
_ZH_QUESTION = re.compile(rf"^(?!请|我想知道)(.*{_ZH_WH}.*?)[？?]$")
_ZH_YES_NO = re.compile(r"[吗嘛][？?]$")
_ZH_WH_IMPERATIVE = re.compile(rf"^(请(?:你)?(?:说明|解释|介绍一下|说说|告诉我)|我想知道)(.*{_ZH_WH}.*?)[。.]?$")
# Verbs that read well with 一下 ("解释一下"); resultative ones ("列出", "写出") do not take it.
_ZH_TENTATIVE_VERBS = "说明|解释|介绍|描述|概括|总结|分析|比较|评价|讨论|翻译|解答|检查|修改|改写|润色|梳理|点评"
_ZH_OTHER_VERBS = ("列出|列举|给出|提供|推荐|生成|设计|创作|编写|写出|写|撰写|制定|构思|起草|编|想出|计算|判断|识别|归纳|"
                   # and request openers that are not verbs of telling: 阅读…, 根据…回答, 把…翻译成…, 为…写…
                   "阅读|找出|创建|回答|选择|指出|提出|帮我|给我|根据|把|为(?!什么|何)")
_ZH_IMPERATIVE = re.compile(
    rf"^(?:请(?:你)?|我想请你|麻烦你)?({_ZH_TENTATIVE_VERBS}|{_ZH_OTHER_VERBS})(?!一下)([^？?吗]+?)[。.]?$")
_ZH_POLITE_QUESTION = re.compile(
    rf"^(?:你能|能否|可以请你|你可以)({_ZH_TENTATIVE_VERBS}|{_ZH_OTHER_VERBS})(?:一下)?([^？?]+?)(?:吗)?[？?]$")
_ZH_REQUEST_FRAMES = ("请{}。", "我想请你{}。", "麻烦你{}。")
_ZH_QUESTION_FRAMES = ("你能{}吗？", "能否{}？", "可以请你{}吗？")


def _first_word_lower(text: str) -> str:
    # "I" and names (a capital inside the word or a capitalized second word) keep their case.
    first = text.split(" ", 1)[0]
    return text if first in ("I", "I'd") or not first[1:].islower() else text[0].lower() + text[1:]


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def _framed(phrase: str, frames: tuple[str, ...], rule: str) -> list[Rewrite]:
    phrase = _first_word_lower(phrase)
    return [(_capital(frame.format(phrase)), rule) for frame in frames]


# ------------------------------------------------------------------------------------------------ passive
@lru_cache(maxsize=1)
def _verb_frames() -> dict[int, set[int]]:
    """Synset offset -> its verb frame numbers, from data.verb."""
    wn = load_wordnet()
    frames: dict[int, set[int]] = {}
    offset = 0
    for line in (wn.folder / "data.verb").read_bytes().splitlines(keepends=True):
        text = line.decode("latin-1")
        if not text.startswith(" "):
            fields = text.split("|", 1)[0].split()
            n_words = int(fields[3], 16)
            at = 4 + 2 * n_words
            at += 1 + 4 * int(fields[at])  # pointers
            if at < len(fields):
                frames[offset] = {int(fields[at + 2 + 3 * k]) for k in range(int(fields[at]))}
        offset += len(line)
    return frames


def _participle(base: str, past: str) -> str | None:
    """The past participle of `base` given its simple past: an irregular one where the exception list has exactly
    one besides the past ("wrote" -> "written", "showed" -> "shown"), else the past itself; None where unclear."""
    others = {f for f in load_wordnet().inflected["verb"].get(base, []) if f != past and not f.endswith(("ing", "s"))}
    return None if len(others) > 1 else others.pop() if others else past


def _past_to_base_and_participle(word: str) -> tuple[str, str] | None:
    """'approved' -> ('approve', 'approved'), 'wrote' -> ('write', 'written'); None where it is not clearly the
    simple past of one verb."""
    wn = load_wordnet()
    irregular = wn.exceptions["verb"].get(word)
    if irregular:
        bases = set(irregular)
    elif word.endswith("ed"):
        stem = word[:-2]
        candidates = [stem + "e", stem] + ([stem[:-1]] if len(stem) > 2 and stem[-1] == stem[-2] else []) \
            + ([stem[:-1] + "y"] if stem.endswith("i") else [])
        bases = {c for c in candidates if wn.entry(c, "verb") is not None}
    else:
        return None
    if len(bases) != 1:
        return None
    base = bases.pop()
    participle = _participle(base, word)
    return (base, participle) if participle else None


def _singulars(noun: str) -> list[str]:
    """The singular forms a regular English plural may come from: 'apples' -> apple, 'boxes' -> box, 'cities'."""
    if not noun.endswith("s") or noun.endswith("ss"):
        return []
    return [noun[:-1], noun[:-2]] + ([noun[:-3] + "y"] if noun.endswith("ies") else [])


def _noun_phrase_issue(phrase: str) -> str | None:
    words = phrase.lower().split()
    if len(words) == 1:
        return None  # a pronoun
    if any(w in _FUNCTION_WORDS for w in words[1:]):
        return f"{phrase!r} is not a plain noun phrase"
    wn = load_wordnet()
    head = words[-1]
    known = [w for w in [head, *_singulars(head)] if wn.entry(w, "noun") is not None]
    if not known and head not in wn.exceptions["noun"]:
        return f"{head!r} is not a known noun"
    return None


def _is_plural(phrase: str) -> bool | None:
    """Whether the noun phrase is plural; None where its number is unclear."""
    words = phrase.lower().split()
    if len(words) == 1:
        return words[0] in _PLURAL_PRONOUNS
    wn = load_wordnet()
    head, det = words[-1], words[0]
    as_singular = wn.entry(head, "noun") is not None
    as_plural = any(w != head for w in wn.exceptions["noun"].get(head, [])) \
        or any(wn.entry(w, "noun") is not None for w in _singulars(head))
    if as_singular == as_plural:
        return None  # "glasses", "arms": both readings exist (or neither)
    if det in ("a", "an", "this", "that") and as_plural or det in ("these", "those") and as_singular:
        return None  # determiner and noun disagree: not a phrase this rule understands
    return as_plural


def _passive(request: str) -> Rewrite | str:
    """The passive rewrite of a simple transitive clause, or why it is not clearly safe."""
    m = _EN_ACTIVE.match(request)
    if not m:
        return "no simple subject-verb-object clause"
    lead, subject, verb, obj, end = m.groups()
    if verb.lower() in _FUNCTION_WORDS:
        return f"{verb!r} is not a main verb"
    forms = _past_to_base_and_participle(verb.lower())
    if forms is None:
        return f"{verb!r} is not clearly a simple past tense"
    base, participle = forms
    if base in _NO_PASSIVE:
        return f"{base!r} is a verb of state: its passive reads wrongly"
    entry = load_wordnet().entry(base, "verb")
    if not _verb_frames().get(entry.synsets[0], set()) & _TRANSITIVE_FRAMES:
        return f"{base!r} is not transitive in its most frequent sense"
    for phrase in (subject, obj):
        issue = _noun_phrase_issue(phrase)
        if issue:
            return issue
    plural = _is_plural(obj)
    if plural is None:
        return f"cannot tell whether {obj!r} is singular or plural"
    agent = _SUBJECT_TO_AGENT.get(subject.lower(), subject if subject == "I" else _first_word_lower(subject))
    if len(obj.split()) == 1:
        new_subject = _OBJECT_TO_SUBJECT.get(obj.lower())
        if new_subject is None:
            return f"{obj!r} is not an object pronoun"
    else:
        new_subject = _first_word_lower(obj)
    if lead:
        clause = f"{new_subject} {'were' if plural else 'was'} {participle} by {agent}"
        return f"{lead}{clause}{end}", "active_to_passive"
    return f"{_capital(new_subject)} {'were' if plural else 'was'} {participle} by {agent}{end}", "active_to_passive"


# ------------------------------------------------------------------------------------------------ per language
def _en(request: str) -> tuple[list[Rewrite], str]:
    """Every rewrite the rules offer for an English request, and why none if there is none."""
    out: list[Rewrite] = []
    m = _EN_CLAUSE.match(request)
    if m and not re.match(r"(?:I|[A-Z])\b", m[3]):
        out.append((f"{_capital(m[3])} {m[1].lower()} {m[2]}{m[4]}", "clause_to_end"))
    m = _EN_TRAILING_CLAUSE.match(request)
    if m and len(m[1].split()) >= 2:
        out.append((f"{m[2].capitalize()} {m[3]}, {_first_word_lower(m[1])}{m[4]}", "clause_to_front"))
    passive = _passive(request)
    if isinstance(passive, tuple):
        out.append(passive)
    if request.endswith(":"):
        return out, "the request ends in a colon: its material is missing"
    if request.endswith("?"):
        m = _EN_POLITE_QUESTION.match(request)
        if m:
            out += _framed(m[2], _EN_REQUEST_FRAMES, "question_to_imperative")
            out += [r for r in _framed(m[2], _EN_QUESTION_FRAMES, "question_frame") if r[0] != request]
        for pattern, build in _EN_WH_QUESTIONS:
            m = pattern.match(request)
            if m:
                out += [r for phrase in build(m) for r in _framed(phrase, _EN_REQUEST_FRAMES, "question_to_imperative")]
        return out, "no rule for a question of this shape"
    m = _EN_IMPERATIVE.match(request)
    if m:
        phrase = m[1]
        for pattern, build in _EN_WH_IMPERATIVES:
            wh = pattern.match(phrase)
            if wh:
                out += [(q, "imperative_to_question") for q in build(wh)]
        out += _framed(phrase, _EN_QUESTION_FRAMES, "imperative_to_question")
        out += [r for r in _framed(phrase, _EN_REQUEST_FRAMES, "request_frame") if r[0].rstrip(".") != request.rstrip(".")]
    m = _EN_LEAD.match(request)
    if m and not out:
        # "Given a list, create …": the frames wrap the main clause behind its leading phrase.
        framed, _ = _en(m[2])
        out += [(m[1] + _first_word_lower(new), rule) for new, rule in framed
                if rule in ("imperative_to_question", "request_frame") and (m[1] + _first_word_lower(new)) != request]
    # A clause the passive rule recognised but refused says why; anything else has no rule at all.
    return out, "no rule for this request" if passive == "no simple subject-verb-object clause" else passive


def _zh(request: str) -> tuple[list[Rewrite], str]:
    if _ZH_YES_NO.search(request) and not _ZH_POLITE_QUESTION.match(request):
        return [], "yes/no question (吗): no rule"
    m = _ZH_QUESTION.match(request)
    if m:
        return [(f"{lead}{m[1]}。", "question_to_imperative") for lead in ("请说明", "请告诉我", "我想知道")], ""
    m = _ZH_WH_IMPERATIVE.match(request)
    if m:
        others = [(f"{lead}{m[2]}。", "request_frame") for lead in ("请说明", "请告诉我", "我想知道")
                  if not request.startswith(lead)]
        return [(f"{m[2]}？", "imperative_to_question")] + others, ""
    m = _ZH_IMPERATIVE.match(request) or _ZH_POLITE_QUESTION.match(request)
    if m:
        verb, rest = m[1], m[2]
        tentative = verb + ("一下" if re.fullmatch(_ZH_TENTATIVE_VERBS, verb) else "")
        asked = request.endswith(("？", "?"))
        # A question particle after a second, comma-joined clause reads awkwardly: "你能解释…的目的，用两句话吗？"
        questions = [] if re.search(r"[，,]", rest) else [
            (f.format(tentative + rest), "question_frame" if asked else "imperative_to_question")
            for f in _ZH_QUESTION_FRAMES]
        requests = [(f.format(verb + rest), "question_to_imperative" if asked else "request_frame")
                    for f in _ZH_REQUEST_FRAMES]
        strip = request.rstrip("。.")
        return [r for r in questions + requests if r[0].rstrip("。") != strip], ""
    return [], "no rule for this request"


def _keeps_protected(old: str, new: str) -> bool:
    """Every protected span of the old request appears, unchanged, in the new one."""
    mask = protected_mask(old)
    start = None
    for i, flag in enumerate(mask + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if old[start:i] not in new:
                return False
            start = None
    return True


def transform_syntax(instruction: str, lang: str, rng: random.Random | None = None) -> tuple[str | None, str]:
    """(new instruction, which rule) or (None, why not). `rng` picks among the rewrites on offer; without one,
    the first."""
    end = editable_end(instruction)
    request, material = instruction[:end].strip(), instruction[end:]
    if not request:
        return None, "empty request"
    if lang == "en":
        if material and re.match(r"(?:What|Who|Why|How|Can|Could|Would)\b", request) and not request.endswith("?"):
            request += "?"  # "What is the main idea of this text:" asks a question before its material
        if re.search(r"[.!?]\s+\S", request):
            return None, "more than one sentence"
        rewrites, why = _en(request)
    elif lang == "zh":
        if re.search(r"[。！？!?].", request):
            return None, "more than one sentence"
        rewrites, why = _zh(request)
    else:
        return None, f"no rules for language {lang!r}"
    if material and rewrites:
        # "Can you classify the sentiment: I loved it." would lose its question mark to the material.
        rewrites = [r for r in rewrites if not r[0].endswith(("?", "？"))]
        why = why if rewrites else "a question cannot end before the material it asks about"
    kept = [r for r in rewrites if _keeps_protected(request, r[0])]
    if not kept:
        return None, "every rewrite would alter a protected span" if rewrites else why
    rewrites = kept
    new, rule = rewrites[rng.randrange(len(rewrites))] if rng else rewrites[0]
    if material:
        # "Explain …: <material>" keeps its colon: the request no longer ends a sentence there.
        new = new.rstrip(".。?？") if material.startswith((":", "：")) else new
        new += material
    return new, rule
