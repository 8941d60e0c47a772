"""The planted defects of bench/quality_bench.py: which real rows give a copy, and what is done to the copy.

Each plant_* function draws donor rows through a Planter (never the same row twice) and records every planted
row with its truth; quality_bench.py builds the frame from them and scores the cleaner against that truth.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import zlib
from pathlib import Path

import quality_defects as qd
import quality_pii as qpii
import quality_texts as qt

MT_BENCH = "fastchat/mt_bench_question.jsonl"
_VALUE_NUMBER = re.compile(r"(?<![\d.])\d+(?!\.\s|\d)")  # a number, not a list marker such as "1. "

# How many of each plant per language and seed: three seeds pooled give every class 48 (fewer where the
# data runs out, and where a class is counted per pair or per kind: see the report's n column).
PER_SEED = 16
COUNTS = {k: PER_SEED for k in ("exact", "near_char", "near_sentence", "short_prompt_typo", "prefix", "branch",
                                "same_prompt", "numbers", "named", "mojibake", "refusal", "pure_disclaimer",
                                "disclaimer_answer", "truncated_long", "truncated_short", "repeated", "slot",
                                "third_language", "special_token", "pii", "decoy", "contaminated")}
CMRC_SLICE = 1800  # of cmrc2018's 4.2k reading-comprehension pairs, so that they stay under half of the zh rows
_LATIN = re.compile(r"[A-Za-z]")


def script_lang(row: dict) -> str:
    """'zh' or 'en' by script share: fixed here, so that the draw of donors does not depend on the language
    detector of the code under test (before/after runs must plant the same rows)."""
    text = "".join(m["content"] for m in row["messages"])
    han, latin = len(qd.HAN.findall(text)), len(_LATIN.findall(text))
    return "zh" if han >= 0.2 * (han + latin) and han > 0 else "en"


def _has_code(row: dict) -> bool:
    return "```" in row["response"] or "def " in row["response"] or "{" in row["response"]


# --------------------------------------------------------------------------------------------- planter
class Planter:
    """Draws donor rows (never one twice) and records the planted rows with their truth."""

    def __init__(self, rows: list[dict], seed: int, names: dict[str, dict[str, str]]):
        from instr_assets.core.text import compose_user, detect_lang, render_plain
        self.compose, self._lang, self._render = compose_user, detect_lang, render_plain
        self.r = random.Random(seed)
        self.names = names  # {lang: {name: kind}} harvested from the real data, for hard negatives
        self.made = 0  # rows made so far: a conversation and its prefix are both made before either is planted
        self.pool = {"en": [], "zh": []}
        self.real_slot = []
        # Real multi-turn conversations and rows holding a chat-token string (the t0 completions end in one)
        # stay in the base as they are: a plant rebuilds a row from its first prompt and last answer, and a
        # token string would give a planted row a second defect.
        self.base_only = []
        for row in rows:
            if row["source"] == "v1" and "{{" in row["response"] + row["instruction"]:
                self.real_slot.append(row)  # a real unfilled slot: scored, never a donor
            elif row["n_turns"] > 1 or "<|" in row["instruction"] + row["input"] + row["response"]:
                self.base_only.append(row)
            else:
                self.pool[script_lang(row)].append(row)
        for lang in self.pool:
            self.r.shuffle(self.pool[lang])
        # cmrc holds 4k reading-comprehension pairs; a slice keeps the zh base from being mostly one task.
        cmrc = [x for x in self.pool["zh"] if x["task_hint"] == "extractive_qa"]
        other = [x for x in self.pool["zh"] if x["task_hint"] != "extractive_qa"]
        self.pool["zh"] = other + cmrc[:CMRC_SLICE]
        self.r.shuffle(self.pool["zh"])
        self.used: set[str] = set()
        self.held_out: set[str] = set()
        self.out: list[dict] = []  # planted rows
        self.truth: dict[str, dict] = {}  # pair_id -> truth, for planted rows and the originals they copy

    def donor(self, lang: str, ok=lambda row: True, hold_out: bool = True) -> dict | None:
        for row in self.pool[lang]:
            if row["pair_id"] not in self.used and ok(row):
                self.used.add(row["pair_id"])
                if hold_out:
                    self.held_out.add(row["pair_id"])
                return row
        return None

    def make(self, base: dict, *, instruction=None, input=None, response=None, messages=None) -> dict:
        """A unified row like `base` with new text (single-turn fields, or whole `messages` for multi-turn)."""
        row = dict(base)
        if messages is None:
            instr = base["instruction"] if instruction is None else instruction
            inp = base["input"] if input is None else input
            resp = base["response"] if response is None else response
            system = [{"role": "system", "content": base["system"]}] if base.get("system") else []
            messages = system + [{"role": "user", "content": self.compose(instr, inp)},
                                 {"role": "assistant", "content": resp}]
        else:
            instr, inp, resp = messages[0]["content"], "", messages[-1]["content"]
            row["format"] = "sharegpt"
        n = self.made
        self.made += 1
        row.update(instruction=instr, input=inp, response=resp, messages=messages,
                   n_turns=sum(m["role"] == "user" for m in messages),
                   lang=self._lang(" ".join(m["content"] for m in messages)), text=self._render(instr, inp, resp),
                   pair_id=f"q{hashlib.sha1(f'{n}:{resp}'.encode()).hexdigest()[:15]}", raw_id=f"qb{n:06d}",
                   locator=f"planted[{n}]", raw_content_hash=hashlib.sha256(f"{n}".encode()).hexdigest())
        return row

    def plant(self, row: dict, cls: str, lang: str, expect: str, **truth) -> str:
        self.out.append(row)
        self.truth[row["pair_id"]] = {"cls": cls, "lang": lang, "expect": expect, **truth}
        return row["pair_id"]

    def pair(self, orig: dict, copy: dict, cls: str, lang: str, expect: str, **truth) -> None:
        """An original left in the base and its planted copy, scored together."""
        group = copy["pair_id"]
        self.truth[orig["pair_id"]] = {"cls": cls, "lang": lang, "expect": expect, "group": group, "role": "orig", **truth}
        self.plant(copy, cls, lang, expect, group=group, role="copy", **truth)


# --------------------------------------------------------------------------------------------- plants
def _fields_with_typos(row: dict, rate: float, zh: bool, r: random.Random) -> dict:
    out = {}
    for f in ("instruction", "input", "response"):
        text = row[f]
        if text and qd.typo_positions(text, zh):
            out[f] = qd.add_typos(text, qd.edit_count(len(text), rate, r), zh, r)
    return out


def _exact_variant(row: dict, kind: str) -> dict:
    if kind == "identical":
        return {}
    if kind == "whitespace":
        return {f: "  " + row[f].replace(" ", "  ", 2) + " \t" for f in ("instruction", "response")}
    if kind == "line_breaks":
        return {f: row[f].replace("\n", "\r\n") + "\n\n" for f in ("instruction", "response")}
    if kind == "lower_case":
        return {f: row[f].lower() for f in ("instruction", "response")}
    if kind == "full_width_space":  # a Chinese editor's ideographic space around the text
        return {f: "\u3000" + row[f] + "\u3000" for f in ("instruction", "response")}
    raise ValueError(kind)


def plant_duplicates(p: Planter, lang: str) -> None:
    r, zh = p.r, lang == "zh"
    variants = ["identical", "whitespace", "line_breaks"] + (["full_width_space"] if zh else ["lower_case"])
    for v in variants:
        for _ in range(COUNTS["exact"]):
            orig = p.donor(lang, lambda x: len(x["response"]) > 20, hold_out=False)
            p.pair(orig, p.make(orig, **_exact_variant(orig, v)), f"exact_dup/{v}", lang, "one_of_pair",
                   preferred="orig" if v == "lower_case" else None)
    for rate in (0.01, 0.03, 0.05):
        for _ in range(COUNTS["near_char"]):
            orig = p.donor(lang, lambda x: len(x["response"]) + len(x["input"]) > 60, hold_out=False)
            p.pair(orig, p.make(orig, **_fields_with_typos(orig, rate, zh, r)), f"near_dup/char_{int(rate * 100)}pct",
                   lang, "one_of_pair", preferred="orig")
    for mode in ("sentence_removed", "sentence_added"):
        for _ in range(COUNTS["near_sentence"]):
            orig = p.donor(lang, lambda x: _prose(x["response"], zh), hold_out=False)
            extra = p.donor(lang, lambda x: _prose(x["response"], zh))
            parts = qd.sentences(orig["response"])
            k = r.randrange(1, len(parts))
            if mode == "sentence_removed":
                parts = parts[:k] + parts[k + 1:]
            else:
                parts = parts[:k] + [r.choice(qd.sentences(extra["response"]))] + parts[k:]
            p.pair(orig, p.make(orig, response=qd.join_sentences(parts, zh)), f"near_dup/{mode}", lang, "one_of_pair")
    lo, hi = (10, 40)
    for _ in range(COUNTS["short_prompt_typo"]):
        orig = p.donor(lang, lambda x: lo <= len(x["instruction"]) <= hi and not x["input"] and len(x["response"]) > 20,
                       hold_out=False)
        if orig is None:
            break
        p.pair(orig, p.make(orig, instruction=qd.add_typos(orig["instruction"], 1, zh, r)), "near_dup/short_prompt_typo",
               lang, "one_of_pair", preferred="orig")


def _prose(text: str, zh: bool) -> bool:
    """Running prose of 4+ real sentences (no list items or code), where removing one leaves a clean text."""
    parts = qd.sentences(text)
    return "\n" not in text and len(parts) >= 4 and min(map(len, parts)) >= (8 if zh else 25)


def plant_hard_negatives(p: Planter, lang: str) -> None:
    r, zh = p.r, lang == "zh"
    long_prompt = 50 if zh else 120
    for _ in range(COUNTS["same_prompt"]):
        orig = p.donor(lang, lambda x: len(p.compose(x["instruction"], x["input"])) >= long_prompt
                       and x["task_hint"] != "extractive_qa" and len(x["response"]) > 30, hold_out=False)
        other = p.donor(lang, lambda x: len(x["response"]) > 30 and x["task_hint"] != "extractive_qa")
        p.pair(orig, p.make(orig, response=other["response"]), "hard_neg/same_prompt_other_answer", lang, "keep_pair")
    # Numbers that are the template's values: in a short prompt (not a year deep in a long passage), and not
    # list markers.
    def short_prompt(x) -> bool:
        return len(x["instruction"]) + len(x["input"]) <= 300 and x["task_hint"] != "extractive_qa"

    def short_prompt_numbers(x) -> set[str]:
        return set(_VALUE_NUMBER.findall(x["instruction"] + "\n" + x["input"])) if short_prompt(x) else set()

    for _ in range(COUNTS["numbers"]):
        orig = p.donor(lang, lambda x: bool(short_prompt_numbers(x)), hold_out=False)
        mapping = {}
        for num in sorted(short_prompt_numbers(orig)):  # sorted: set order varies between processes
            new = num
            while new == num:
                new = str(r.randint(10 ** (len(num) - 1) if len(num) > 1 else 0, 10 ** len(num) - 1))
            mapping[num] = new
        change = {f: _VALUE_NUMBER.sub(lambda m: mapping.get(m.group(), m.group()), orig[f])
                  for f in ("instruction", "input", "response")}
        p.pair(orig, p.make(orig, **change), "hard_neg/template_other_numbers", lang, "keep_pair")
    # A named value of the prompt (a person, place or body named in the real data) swapped for another of the
    # same kind throughout the pair.
    names = sorted(p.names[lang], key=len, reverse=True)
    any_name = re.compile("|".join(map(re.escape, names)) if zh else rf"\b(?:{'|'.join(map(re.escape, names))})\b")
    by_kind = {}
    for n in names:
        by_kind.setdefault(p.names[lang][n], []).append(n)
    for _ in range(COUNTS["named"]):
        orig = p.donor(lang, lambda x: short_prompt(x) and any_name.search(x["instruction"] + "\n" + x["input"])
                       is not None, hold_out=False)
        if orig is None:
            break
        old = any_name.search(orig["instruction"] + "\n" + orig["input"]).group()
        text = orig["instruction"] + orig["input"] + orig["response"]
        others = [n for n in by_kind[p.names[lang][old]] if n not in text and old not in n]
        if not others:
            continue
        new = r.choice(others)
        pat = re.compile(re.escape(old) if zh else rf"\b{re.escape(old)}\b")
        change = {f: pat.sub(new, orig[f]) for f in ("instruction", "input", "response")}
        p.pair(orig, p.make(orig, **change), "hard_neg/template_other_names", lang, "keep_pair", swap=f"{old}->{new}")


def _turns(row: dict, compose) -> list[dict]:
    return [{"role": "user", "content": compose(row["instruction"], row["input"])},
            {"role": "assistant", "content": row["response"]}]


def plant_multi_turn(p: Planter, lang: str) -> None:
    """Conversations chained from held-out real pairs: a conversation and its strict prefix (the prefix is
    redundant), and two branches that share their first turns and end differently (both stay)."""
    r = p.r
    ok = lambda x: x["task_hint"] != "extractive_qa" and len(x["response"]) > 20  # noqa: E731
    for _ in range(COUNTS["prefix"]):
        k = r.choice([2, 3])
        donors = [p.donor(lang, ok) for _ in range(k)]
        turns = [t for d in donors for t in _turns(d, p.compose)]
        cut = r.randrange(1, k)
        full = p.make(donors[0], messages=turns)
        prefix = p.make(donors[0], messages=turns[:2 * cut])
        gid = p.plant(full, "multi_turn/prefix", lang, "prefix_dropped", role="full")
        p.truth[gid]["group"] = gid
        p.plant(prefix, "multi_turn/prefix", lang, "prefix_dropped", role="prefix", group=gid)
    for i in range(COUNTS["branch"]):
        donors = [p.donor(lang, ok) for _ in range(r.choice([1, 2]))]
        shared = [t for d in donors for t in _turns(d, p.compose)]
        a, b = _turns(p.donor(lang, ok), p.compose), _turns(p.donor(lang, ok), p.compose)
        # Half end on the same last question with another answer, half on another question and answer.
        ends = (a, [a[0], b[1]]) if i % 2 == 0 else (a, b)
        one = p.make(donors[0], messages=shared + ends[0])
        two = p.make(donors[0], messages=shared + ends[1])
        gid = p.plant(one, "multi_turn/branches", lang, "keep_pair", role="orig")
        p.truth[gid]["group"] = gid
        p.plant(two, "multi_turn/branches", lang, "keep_pair", role="copy", group=gid)


def plant_junk(p: Planter, lang: str) -> None:
    r, zh = p.r, lang == "zh"
    plain = lambda x: x["task_hint"] != "extractive_qa" and not _has_code(x)  # noqa: E731
    kinds = (["utf8_as_cp1252", "utf8_as_latin1", "utf8_as_gbk", "kun_jin_kao", "replacement_chars"] if zh
             else ["utf8_as_cp1252", "utf8_as_latin1", "replacement_chars"])  # GBK misreads are a CJK story
    for kind in kinds:
        for i in range(COUNTS["mojibake"]):
            # Damage to every field or to the answer alone; over a field's whole text or a span of it. A donor
            # whose text the codec would leave as it is (pure ASCII without quotes or dashes) is passed over.
            fields = ("response",) if i % 2 else ("instruction", "input", "response")
            while True:
                d = p.donor(lang, plain)
                if d is None:
                    break
                done = {f: qd.mojibake(d[f], kind, r) for f in fields if d[f]}
                if any(bad != clean for bad, clean in done.values()):
                    break
            if d is None:
                break
            clean = {f: d[f] for f in ("instruction", "input", "response")} | {f: c for f, (_, c) in done.items()}
            p.plant(p.make(d, **{f: bad for f, (bad, _) in done.items()}), f"junk/mojibake_{kind}", lang,
                    "remove_or_repair", clean=clean)
    for _ in range(COUNTS["refusal"]):
        d = p.donor(lang, plain)
        p.plant(p.make(d, response=qt.refusal(lang, r)), "junk/refusal", lang, "remove")
    for _ in range(COUNTS["pure_disclaimer"]):
        d = p.donor(lang, plain)
        p.plant(p.make(d, response=qt.pure_disclaimer(lang, r)), "junk/pure_disclaimer", lang, "remove")
    for _ in range(COUNTS["disclaimer_answer"]):
        d = p.donor(lang, lambda x: plain(x) and len(x["response"]) > 80)
        p.plant(p.make(d, response=qt.disclaimer_lead(lang, r) + d["response"]), "keep/disclaimer_then_answer",
                lang, "keep")
    for name, (lo, hi), (min_len, max_len) in (("truncated_long", (0.3, 0.9), (300, 10**6)),
                                               ("truncated_short", (0.4, 0.85), (40 if zh else 60, 200))):
        for _ in range(COUNTS[name]):
            while True:
                d = p.donor(lang, lambda x: plain(x) and min_len <= len(x["response"]) <= max_len)
                cut = d and qd.truncate(d["response"], zh, lo, hi, r)
                if d is None or cut:
                    break
            if d is None:
                break
            p.plant(p.make(d, response=cut[0]), f"junk/{name}", lang, "remove", cut=cut[1])
    for i in range(COUNTS["repeated"]):
        d = p.donor(lang, lambda x: plain(x) and len(x["response"]) > 40)
        p.plant(p.make(d, response=d["response"] + ["\n\n", "\n", " " if not zh else ""][i % 3] + d["response"]),
                "junk/answer_repeated_twice", lang, "remove")
    for _ in range(COUNTS["slot"]):
        while True:
            d = p.donor(lang, lambda x: plain(x) and len(x["response"]) > 40)
            slotted = d and qt.with_slot(d["response"], lang, r)
            if d is None or slotted:
                break
        if d is None:
            break
        p.plant(p.make(d, response=slotted[0]), "junk/unfilled_slot", lang, "remove", shape=slotted[1])
    for i in range(COUNTS["third_language"]):
        d = p.donor(lang, lambda x: plain(x) and not re.search(r"(?i)translat|翻译|french|spanish|german", x["instruction"]))
        code, text = qt.THIRD_LANGUAGE[i % len(qt.THIRD_LANGUAGE)]
        p.plant(p.make(d, response=text), "junk/third_language_answer", lang, "remove", third=code)
    for i in range(COUNTS["special_token"]):
        d = p.donor(lang, lambda x: plain(x) and len(x["response"]) > 40)
        token = qd.SPECIAL_TOKENS[i % len(qd.SPECIAL_TOKENS)]
        p.plant(p.make(d, response=qd.with_special_token(d["response"], token, r)), "junk/special_token", lang,
                "remove_or_escape", token=token)


def _insert(text: str, sentence: str, zh: bool, r: random.Random) -> str:
    """`sentence` before or after `text` (a person adds it around their request or answer, not inside it)."""
    parts = qd.sentences(text)
    k = r.choice([0, len(parts)])
    sep = "" if zh else " "
    return sep.join(parts[:k] + [sentence] + parts[k:]) if "\n" not in sentence else f"{text}\n\n{sentence}"


def plant_pii(p: Planter, lang: str) -> None:
    """PII and its look-alikes dropped into a request or an answer; in a reading-comprehension pair, into the
    passage (its instruction is a fixed template and its answer a span of the passage)."""
    r, zh = p.r, lang == "zh"
    ok = lambda x: len(x["response"]) > 20 or x["task_hint"] == "extractive_qa"  # noqa: E731

    def where(d: dict, field: str) -> str:
        return "input" if d["task_hint"] == "extractive_qa" else field

    for kind in qpii.PII_KINDS:
        for i in range(COUNTS["pii"]):
            d = p.donor(lang, ok)
            if kind == "kv_secret":
                snippet, value = qpii.kv_secret_snippet(r)
            else:
                snippet = value = qpii.pii_value(kind, lang, r)
            sentence = r.choice(qt.PII_CARRIERS[lang][kind]).format(v=snippet)
            change = {where(d, "instruction"): _insert(d[where(d, "instruction")], sentence, zh, r)}
            if kind in qpii.SECRET_KINDS and i % 3 == 0 and d["task_hint"] != "extractive_qa":
                # the answer quotes the secret back: every occurrence must go
                change["response"] = (f"The value `{value}` looks valid, so the problem is elsewhere. " if not zh
                                      else f"你提供的{value}格式没有问题。") + d["response"]
            elif i % 2:  # or the answer carries it instead of the request
                change = {where(d, "response"): _insert(d[where(d, "response")], sentence, zh, r)}
            p.plant(p.make(d, **change), f"pii/{kind}", lang, "redact", value=value)
    for kind in qpii.DECOY_KINDS:
        for _ in range(COUNTS["decoy"]):
            d = p.donor(lang, ok)
            value = qpii.decoy_value(kind, r)
            carriers = qt.DECOY_CARRIERS[lang][kind]  # one picked by the value: the seeded draws stay as they are
            sentence = carriers[zlib.crc32(value.encode()) % len(carriers)].format(v=value)
            field = where(d, r.choice(["instruction", "response"]))
            p.plant(p.make(d, **{field: _insert(d[field], sentence, zh, r)}), f"pii_decoy/{kind}", lang, "intact",
                    value=value)


def plant_safety(p: Planter, lang: str) -> None:
    for i, (cat, request) in enumerate(qt.UNSAFE[lang]):
        d = p.donor(lang)
        p.plant(p.make(d, instruction=request, input="", response=qt.UNSAFE_OPENERS[lang][i % 2]),
                f"unsafe/{cat}", lang, "remove")
    for request, answer in qt.BENIGN_LOOKALIKES[lang]:
        d = p.donor(lang)
        p.plant(p.make(d, instruction=request, input="", response=answer), "keep/benign_lookalike", lang, "keep")


def plant_translations(p: Planter, lang: str) -> None:
    """Translation tasks answered in the language they ask for (kept; the real rows of this kind are few)."""
    for instruction, text, answer in qt.TRANSLATIONS[lang]:
        d = p.donor(lang)
        p.plant(p.make(d, instruction=instruction, input=text, response=answer), "keep/translation_task", lang, "keep")


def plant_contamination(p: Planter, shared: Path) -> None:
    """MT-bench first turns as prompts, verbatim and after a lead-in, answered by a held-out real response."""
    questions = [json.loads(line)["turns"][0] for line in (shared / MT_BENCH).read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    p.r.shuffle(questions)
    prefixes = ["Please help me with the following task. ", "I got this as homework: ", "Question from my boss: "]
    for i in range(2 * COUNTS["contaminated"]):
        d = p.donor("en", lambda x: len(x["response"]) > 80 and x["task_hint"] != "extractive_qa")
        q = questions[i % len(questions)]
        instr = q if i % 2 == 0 else prefixes[i % 3] + q
        p.plant(p.make(d, instruction=instr, input=""), f"contaminated/{'verbatim' if i % 2 == 0 else 'with_prefix'}",
                "en", "remove")
