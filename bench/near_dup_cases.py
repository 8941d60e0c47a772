"""Planted near-duplicates and hard negatives built from real instruction pairs in ../shared/data, for developing
and testing the near-duplicate check (instr_assets/core/clean/dup_verify.py). Not the quality bench: that one is
bench/quality_bench.py, kept apart so that passing one does not mean fitting the other.

    .venv/bin/python bench/near_dup_cases.py [--data ../shared/data] [--per-kind 80] [--seed 0]

prints recall per edit kind and language, and the share of hard negatives merged.

Copies (must be found): typos at 1%, 3% and 5% of the characters of prompt and response (substitutions,
insertions, deletions, adjacent transpositions; digits are left alone, since a changed number makes another
pair), a sentence added to or removed from the response, one typo in a 10-40 character prompt (same response,
or with 1% typos).
Hard negatives (must stay apart): a long prompt with another pair's answer, a number of the prompt changed
(and in the answer where it occurs), a named value of the prompt changed (a capitalised word, or a quoted
string in Chinese), and a multi-turn conversation whose last answer is another one's.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Conversation = tuple[tuple[str, str], ...]

# A sentence with the spacing after it; a Latin full stop ends one only before whitespace (not in "25.09").
_SENTENCE = re.compile(r".*?(?:[.!?](?=\s|$)|[。！？]|$)\s*", re.S)
_NUMBER = re.compile(r"\d+")
_LETTERS = re.compile(r"[^\W\d_]")
_MID_NAME = re.compile(r"(?<=[a-z,] )[A-Z][a-z]{2,}")
_ZH_QUOTED = re.compile(r"“([^”]{1,20})”|《([^》]{1,20})》")


@dataclass(frozen=True)
class Case:
    kind: str
    lang: str
    base: Conversation
    variant: Conversation
    duplicate: bool


def _single(prompt: str, response: str) -> Conversation:
    return (("user", prompt), ("assistant", response))


def load_pairs(data: Path) -> dict[str, list[Conversation]]:
    """Distinct single-turn pairs per language, and English multi-turn conversations under 'multi'."""
    out: dict[str, list[Conversation]] = {}
    for lang in ("en", "zh"):
        rows = json.loads((data / "llama_factory" / f"alpaca_{lang}_demo.json").read_text())
        seen, pairs = set(), []
        for r in rows:
            prompt = "\n\n".join(p.strip() for p in (r["instruction"], r["input"]) if p.strip())
            if prompt and r["output"].strip() and prompt not in seen:
                seen.add(prompt)
                pairs.append(_single(prompt, r["output"].strip()))
        out[lang] = pairs
    role = {"human": "user", "gpt": "assistant"}
    convs = json.loads((data / "fastchat" / "dummy_conversation.json").read_text())
    out["multi"] = [tuple((role[m["from"]], m["value"]) for m in c["conversations"]) for c in convs
                    if len(c["conversations"]) >= 4 and len(c["conversations"]) % 2 == 0]
    return out


def _other_char(rng: random.Random, ch: str) -> str:
    if "\u4e00" <= ch <= "\u9fff":
        return chr(0x4E00 + rng.randrange(0x5000))
    return rng.choice("abcdefghijklmnopqrstuvwxyz")


def typos(rng: random.Random, text: str, count: int) -> str:
    """`count` random edits (substitute, insert, delete, swap with the next), never on a digit."""
    s = list(text)
    done = tries = 0
    while done < count and tries < 20 * count + 20:
        tries += 1
        pos = rng.randrange(len(s))
        if s[pos].isdigit() or s[pos].isspace() or (pos + 1 < len(s) and s[pos + 1].isdigit()):
            continue
        op = rng.randrange(4)
        if op == 0:
            s[pos] = _other_char(rng, s[pos])
        elif op == 1:
            s.insert(pos, _other_char(rng, s[pos]))
        elif op == 2 and len(s) > 2:
            del s[pos]
        elif op == 3 and pos + 1 < len(s) and not s[pos + 1].isspace() and s[pos + 1] != s[pos]:
            s[pos], s[pos + 1] = s[pos + 1], s[pos]
        else:
            continue
        done += 1
    return "".join(s)


def _edit_rate(rng: random.Random, conv: Conversation, rate: float) -> Conversation:
    """round(rate x all characters) edits, each in a message drawn by its length (short ones may get none)."""
    sizes = [len(text) for _, text in conv]
    per = [0] * len(conv)
    for i in rng.choices(range(len(conv)), weights=sizes, k=max(1, round(rate * sum(sizes)))):
        per[i] += 1
    return tuple((role, typos(rng, text, k) if k else text) for (role, text), k in zip(conv, per))


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.findall(text) if s.strip()]


def make_cases(pairs: dict[str, list[Conversation]], per_kind: int,
               seed: int = 0) -> tuple[list[Conversation], list[Case]]:
    """(base conversations, planted cases): every case's base is among the bases, each base used once."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for lang in ("en", "zh"):
        pool = pairs[lang][:]
        rng.shuffle(pool)
        responses = [c[1][1] for c in pool]
        free = pool[:]

        def take(pred=lambda c: True):
            for i, conv in enumerate(free):
                if pred(conv):
                    return free.pop(i)
            raise ValueError("pool exhausted")

        for i in range(per_kind):
            base = take(lambda c: 10 <= len(c[0][1]) <= 40)
            response = base[1][1] if i % 2 else typos(rng, base[1][1], max(1, round(0.01 * len(base[1][1]))))
            cases.append(Case("short_prompt_typo", lang, base, _single(typos(rng, base[0][1], 1), response), True))
        long_prompt = 60 if lang == "en" else 25  # characters; a Chinese character says more
        for _ in range(per_kind):
            base = take(lambda c: len(c[0][1]) >= long_prompt)
            cases.append(Case("long_prompt_other_answer", lang, base,
                              _single(base[0][1], rng.choice(responses)), False))
        for rate in (0.01, 0.03, 0.05):
            for _ in range(per_kind):
                base = take(lambda c: len(c[0][1]) >= 20)
                cases.append(Case(f"typos_{round(rate * 100)}pct", lang, base, _edit_rate(rng, base, rate), True))
        for _ in range(per_kind):
            base = take(lambda c: len(_sentences(c[1][1])) >= 3)
            sents = _sentences(base[1][1])
            # A real sentence, not a list marker like "2." that the splitter also cuts off.
            del sents[rng.choice([i for i, x in enumerate(sents) if len(_LETTERS.findall(x)) >= 8] or [0])]
            cases.append(Case("sentence_removed", lang, base, _single(base[0][1], "".join(sents).strip()), True))
        for _ in range(per_kind):
            base = take(lambda c: len(_sentences(c[1][1])) >= 2)
            sents = _sentences(base[1][1])
            at = rng.randrange(1, len(sents) + 1)
            extra = rng.choice([x for x in _sentences(rng.choice(responses)) if len(_LETTERS.findall(x)) >= 8]
                               or [rng.choice(responses)]).strip()
            if lang == "en":
                sents[at - 1] = sents[at - 1].rstrip() + " "
                extra += " " if at < len(sents) else ""
            sents.insert(at, extra)
            cases.append(Case("sentence_added", lang, base, _single(base[0][1], "".join(sents).strip()), True))
        for _ in range(per_kind):
            try:
                base = take(lambda c: _NUMBER.search(c[0][1]) is not None)
            except ValueError:
                break
            number = rng.choice(_NUMBER.findall(base[0][1]))
            other = str(int(number) + rng.randrange(1, 9))
            swap = re.compile(rf"(?<!\d){number}(?!\d)")
            cases.append(Case("number_changed", lang, base,
                              _single(swap.sub(other, base[0][1], count=1), swap.sub(other, base[1][1])), False))
        names = ([m.group(0) for c in pool for m in _MID_NAME.finditer(c[0][1])] if lang == "en" else
                 [next(g for g in m.groups() if g) for c in pool for m in _ZH_QUOTED.finditer(c[0][1])])
        finder = _MID_NAME if lang == "en" else _ZH_QUOTED
        for _ in range(per_kind):
            try:
                base = take(lambda c: finder.search(c[0][1]) is not None)
            except ValueError:
                break
            m = finder.search(base[0][1])
            old = m.group(0) if lang == "en" else next(g for g in m.groups() if g)
            new = rng.choice([n for n in names if n != old])
            cases.append(Case("named_value_changed", lang, base,
                              _single(base[0][1].replace(old, new), base[1][1].replace(old, new)), False))
    multi = pairs["multi"][:]
    rng.shuffle(multi)
    finals = [c[-1][1] for c in multi]
    seen_bases: set[Conversation] = set()
    for conv in multi:
        if len([c for c in cases if c.kind == "branch_other_final_answer"]) >= per_kind:
            break
        other = rng.choice(finals)
        if conv in seen_bases or other == conv[-1][1]:
            continue
        seen_bases.add(conv)
        cases.append(Case("branch_other_final_answer", "en", conv, conv[:-1] + (("assistant", other),), False))
    return [c.base for c in cases], cases


def score(cases: list[Case], same_cluster) -> dict[tuple[str, str], tuple[int, int]]:
    """(kind, lang) -> (merged, total); `same_cluster(i)` says whether case i's base and variant were merged."""
    out: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for i, case in enumerate(cases):
        cell = out[(case.kind, case.lang)]
        cell[0] += bool(same_cluster(i))
        cell[1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def run(cases: list[Case], bases: list[Conversation]):
    """Cluster bases + variants with the cleaning stage's defaults; (representative, score table)."""
    from instr_assets.core.clean.cleaning import CleanRules
    from instr_assets.core.clean.dup_verify import near_duplicate_representatives

    rules = CleanRules()
    convs = bases + [c.variant for c in cases]
    rep, _ = near_duplicate_representatives(convs, rules.near_dup, rules.near_dup_verify)
    n = len(bases)
    return rep, score(cases, lambda i: rep[i] == rep[n + i])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--per-kind", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    bases, cases = make_cases(load_pairs(args.data), args.per_kind, args.seed)
    rep, table = run(cases, bases)
    dup_kinds = {c.kind for c in cases if c.duplicate}
    print(f"{'kind':28} {'lang':4} {'merged':>7} {'of':>5} {'rate':>6}")
    for (kind, lang), (hit, total) in table.items():
        what = "recall" if kind in dup_kinds else "merged (want 0)"
        print(f"{kind:28} {lang:4} {hit:7d} {total:5d} {hit / total:6.1%}  {what}")
    n = len(bases)
    stray = sum(rep[i] != i for i in range(n))
    print(f"base rows merged with another base row: {stray} of {n}")


if __name__ == "__main__":
    main()
