"""Synthetic cleaning-benchmark data built from the real records in ../shared/data, with planted ground truth.

The shared data is read at run time and never copied into the repository. It is turned into unified pairs the
way the pipeline does it (load_sources -> read_all_sources -> unify.unify). From those pairs come two pools per
language: instructions, and sentences split from responses, inputs and passages; both deduped.

Base pairs: one real instruction, optionally an input of 1-3 sentences, and a response of 3-8 sentences drawn
from the whole pool. Two base pairs share at most an instruction and the odd sentence, so no two are copies.

Planted, at rates relative to N (the total number of rows), with what counts as a copy as issue 9 defines it
(see bench/clean_copies.py for how each is made):
  exact_copy  - a copy of another row: byte-identical, or equal only after normalization (doubled and trailing
                spaces, zero-width spaces, full-width ASCII), so it also exercises normalize
  near_copy   - a near-duplicate (variant): 'typos' (1-5% of the conversation's characters mistyped: neighbouring
                keys, dropped, extra, doubled and swapped letters; similar Chinese characters, punctuation typed
                in the wrong width), 'sentence_added' or 'sentence_removed' (in the response), or
                'short_prompt_typo' (one typo in a 10-40 character instruction); numbers, capitalised words and
                quoted text are never edited. Recorded: edits, their share of the conversation's characters,
                and the char-5-gram Jaccard of prompt, response and whole conversation (see `shingles`)
  pii         - a row with 1-2 of: valid e-mail, China mobile, Luhn-valid card, checksum-valid mainland ID
  pii_decoy   - a row with a string shaped like PII that is not: a Luhn-failing 16-digit order number, an ID
                with a wrong check character, an 11-digit number with no mobile prefix, a dotted quad with a
                part over 255, a timestamp, icon@2x.png, a placeholder key; flagging it is a false positive
  junk        - a row whose response was made empty, a refusal, or given an unfilled template slot
  far_copy    - a hard negative (variant): 'other_answer' (the same prompt, another real answer),
                'number_changed' (one number changed) or 'name_changed' (a capitalised English name or a
                Chinese place changed throughout); flagging it as a near-duplicate is a false positive
Roles are disjoint: a row is at most one of original, copy, PII carrier or junk, so that one planted defect
cannot hide another. Rows that can carry a variant (a short instruction, a number, a name) are picked for it
first; a variant that no row can carry falls back to 'typos' (near) or 'other_answer' (far).
"""
from __future__ import annotations

import datetime as dt
import random
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import clean_copies as cc  # noqa: E402

SHARED_DATA = ROOT.parent / "shared" / "data"

# (source name, format, path under shared/data): the single-turn and chat sources the unifier reads cleanly.
REAL_SOURCES = (
    ("alpaca_en", "alpaca", "llama_factory/alpaca_en_demo.json"),
    ("alpaca_zh", "alpaca", "llama_factory/alpaca_zh_demo.json"),
    ("cmrc_dev", "squad", "cmrc2018/cmrc2018_dev.json"),
    ("cmrc_trial", "squad", "cmrc2018/cmrc2018_trial.json"),
    ("dummy", "sharegpt", "fastchat/dummy_conversation.json"),
    ("v1", "messages", "llama_factory/v1_sft_demo.jsonl"),
    ("seed_tasks", "self_instruct", "self_instruct/seed_tasks.jsonl"),
    ("user_oriented", "self_instruct", "self_instruct/user_oriented_instructions.jsonl"),
)

RATES = {"exact": 0.05, "near": 0.05, "far": 0.02, "pii": 0.02, "pii_decoy": 0.01, "junk": 0.02}
# The real records are ~55% zh with cmrc's 3k reading-comprehension pairs, ~30% without; 45% keeps both strong.
ZH_SHARE = 0.45
NGRAM = 5
# Truth columns of a near copy or hard negative: char-5-gram Jaccard of prompt, response, whole text, and the min.
JACCARD_COLUMNS = {"min": "jaccard", "prompt": "jaccard_prompt", "response": "jaccard_response",
                   "text": "jaccard_text"}


def require_shared(path: Path = SHARED_DATA) -> Path:
    missing = [rel for _, _, rel in REAL_SOURCES if not (path / rel).is_file()]
    if missing:
        sys.exit(f"clean bench: the real data under {path} is missing ({', '.join(missing[:3])}...). The benchmark "
                 "reads ../shared/data (next to the repository) at run time; check it out there and rerun.")
    return path


# --------------------------------------------------------------------------------------------- real data
def unify_shared(shared: Path, sources: list[tuple[str, str, str]]) -> pl.DataFrame:
    """(name, format, path relative to `shared`) sources read and unified by the project's own readers."""
    from instr_assets.core.ingest import unify
    from instr_assets.core.ingest.raw_sources import read_all_sources
    from instr_assets.core.ingest.source_config import load_sources

    lines = [f"data_roots: ['{shared}']", "sources:"]  # the shared data lies outside the temp folder
    lines += [f"  - {{name: {n}, format: {f}, path: '{shared / rel}'}}" for n, f, rel in sources]
    with tempfile.TemporaryDirectory() as tmp:
        yaml_path = Path(tmp) / "sources.yaml"
        yaml_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        entries, base = load_sources(yaml_path)
        raw = read_all_sources(entries, base)
    unified, _ = unify.unify(raw, {e.name: e.model_dump() for e in entries})
    return unified


def load_real_unified(shared: Path = SHARED_DATA) -> pl.DataFrame:
    return unify_shared(shared, list(REAL_SOURCES))


_HAN = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_SENT_EN = re.compile(r"(?<=[.!?])\s+|\n+")
_SENT_ZH = re.compile(r"(?<=[。！？])|\n+")
_END = re.compile(r"[.!?。！？]$")
# Kept out of the pools so that only planted rows carry PII or junk: addresses, long digit runs, URLs,
# template slots, refusal phrasing, code (an odd number of fences reads as truncated).
# Also kept out: a closing ellipsis (a pair ending on it reads as truncated), accented Latin letters (the
# "English" records hold some French and Spanish) and kana (cmrc passages quote Japanese titles): the language
# filter removes such pairs, which would blur the scoring of the planted defects.
_UNWANTED = re.compile(r"@|\d[\d\s().-]{6,}\d|://|\{\{|\}\}|\[[A-Z][A-Za-z ]+\]|[\[【](?:你的|您的|请输入|插入)|`|"
                       r"as an ai|language model|i'm sorry|i apologi|i cannot|i can't|人工智能|语言模型|作为.{0,4}ai|"
                       r"抱歉|对不起|无法|不能回答|我是|(?:\.\.\.|…|⋯)$|[À-ÖØ-öø-ÿ]|[\u3040-\u30ff]", re.I)


def _lang_of(s: str) -> str | None:
    han, latin = len(_HAN.findall(s)), len(_LATIN.findall(s))
    if han >= 4 and han >= latin / 4:
        return "zh"
    if han == 0 and latin >= 10:
        return "en"
    return None


def build_pools(unified: pl.DataFrame) -> dict[str, dict[str, list[str]]]:
    """{'en'|'zh': {'instructions': [...], 'sentences': [...]}}, deduped and sorted (deterministic)."""
    instructions = {"en": set(), "zh": set()}
    sentences = {"en": set(), "zh": set()}
    squad_q = re.compile(r"(?:问题|Question)[：:]\s*(.+)\Z", re.S)
    for row in unified.select("instruction", "input", "messages", "task_hint").iter_rows(named=True):
        instr, inp = row["instruction"].strip(), row["input"]
        if row["task_hint"] == "extractive_qa":
            # Every squad pair has the same instruction template; its question is the real instruction here.
            m = squad_q.search(inp)
            instr, inp = (m.group(1).strip() if m else ""), inp.split("\n\n")[0].removeprefix("文章：")
        lang = _lang_of(instr)
        cap = 200 if lang == "en" else 80
        if lang and 4 <= len(instr) <= cap and "\n" not in instr and not _UNWANTED.search(instr):
            instructions[lang].add(instr)
        texts = [inp] + [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        for text in texts:
            for part in _SENT_EN.split(text):
                for s in _SENT_ZH.split(part):
                    s = s.strip()
                    lang = _lang_of(s)
                    lo, hi = (20, 400) if lang == "en" else (8, 200)
                    if lang and lo <= len(s) <= hi and _END.search(s) and not _UNWANTED.search(s):
                        sentences[lang].add(s)
    return {lang: {"instructions": sorted(instructions[lang]), "sentences": sorted(sentences[lang])}
            for lang in ("en", "zh")}


# --------------------------------------------------------------------------------------------- shingles
_WS = re.compile(r"\s+")


def shingles(text: str, n: int = NGRAM) -> set[str]:
    """Character n-grams of lower-cased text with whitespace runs folded to one space (the ground truth's view)."""
    t = _WS.sub(" ", text.lower()).strip()
    if len(t) <= n:
        return {t}
    return {t[i:i + n] for i in range(len(t) - n + 1)}


def gram_keys(text: str, n: int = NGRAM) -> set[int]:
    """The distinct `shingles` of NFKC-normalized `text` as 64-bit polynomial hashes (collisions ~1e-19 a pair).

    NFKC because the cleaner normalizes before it compares: an edit that swaps '-' for its full-width twin
    changes nothing there, so the truth must not count it. numpy makes the exact Jaccard of the 50k planted
    pairs at 1M rows cheap."""
    t = _WS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()
    cp = np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(cp) <= n:
        return {int(cp.sum())}  # one shingle: the whole (short) text
    m = len(cp) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * np.uint64(0x100000001B3) + cp[k:k + m]
    return set(h.tolist())


def jaccard_keys(ka: set[int], kb: set[int]) -> float:
    inter = len(ka & kb)
    return inter / (len(ka) + len(kb) - inter)


def jaccard(a: str, b: str, n: int = NGRAM) -> float:
    """Exact Jaccard of the char n-gram sets of two texts (the ground truth of a planted near-duplicate)."""
    return jaccard_keys(gram_keys(a, n), gram_keys(b, n))


# --------------------------------------------------------------------------------------------- base pairs
def _base_frame(pools, n: int, rng: np.random.Generator, chunk: int = 100_000) -> pl.DataFrame:
    frames = []
    n_zh = int(round(n * ZH_SHARE))
    for lang, total in (("zh", n_zh), ("en", n - n_zh)):
        instr = pl.Series(pools[lang]["instructions"])
        sent = pl.Series(pools[lang]["sentences"])
        sep = "" if lang == "zh" else " "
        # In chunks: the gathered sentence columns are 11 copies of the text, only briefly needed.
        for start in range(0, total, chunk):
            count = min(chunk, total - start)
            k_resp = rng.integers(3, 9, count)  # 3..8 sentences
            k_inp = np.where(rng.random(count) < 0.3, rng.integers(1, 4, count), 0)
            resp_idx = rng.integers(0, len(sent), (count, 8))
            inp_idx = rng.integers(0, len(sent), (count, 3))
            cols = {"instruction": instr.gather(rng.integers(0, len(instr), count)),
                    "k_resp": pl.Series(k_resp), "k_inp": pl.Series(k_inp)}
            cols |= {f"r{j}": sent.gather(resp_idx[:, j]) for j in range(8)}
            cols |= {f"i{j}": sent.gather(inp_idx[:, j]) for j in range(3)}
            frames.append(pl.DataFrame(cols).select(
                "instruction",
                pl.concat_str([pl.when(pl.col("k_inp") > j).then(pl.col(f"i{j}")) for j in range(3)],
                              separator=sep, ignore_nulls=True).alias("input"),
                pl.concat_str([pl.when(pl.col("k_resp") > j).then(pl.col(f"r{j}")) for j in range(8)],
                              separator=sep, ignore_nulls=True).alias("response"),
                pl.lit(lang).alias("lang"),
            ))
    return pl.concat(frames)


# --------------------------------------------------------------------------------------------- plants
_FULLWIDTH = {c: chr(ord(c) + 0xFEE0) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}


def _normalization_variant(text: str, kind: str, r: random.Random) -> str:
    """`text` changed in ways normalize_text undoes (so the copy is an exact duplicate after normalization)."""
    if not text:
        return text
    if kind == "spacing":
        return text.replace(" ", "  ", 3).replace("\n", "\r\n") + "  "
    if kind == "zero_width":
        pos = sorted(r.sample(range(1, len(text)), min(3, len(text) - 1))) if len(text) > 1 else []
        out, prev = [], 0
        for p in pos:
            out += [text[prev:p], "\u200b"]
            prev = p
        return "".join(out + [text[prev:]])
    if kind == "fullwidth":
        return "".join(_FULLWIDTH.get(c, c) if r.random() < 0.3 else c for c in text)
    return text


# PII values, generated to pass the real validity checks (Luhn, ISO 7064 MOD 11-2, real calendar dates).
_NAMES = ["li", "wang", "zhang", "liu", "chen", "anna", "john", "maria", "david", "sara", "kim", "omar"]
_DOMAINS = ["gmail.com", "outlook.com", "qq.com", "163.com", "example.org", "corp-mail.cn", "uni.edu"]
_REGIONS = ["110101", "310104", "440305", "510107", "320102", "420106", "330106", "210203", "610113", "130102"]
_ID_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def _email(r: random.Random) -> str:
    sep = r.choice([".", "_", ""])
    return f"{r.choice(_NAMES)}{sep}{r.choice(_NAMES)}{r.randint(1, 9999)}@{r.choice(_DOMAINS)}"


def _phone(r: random.Random) -> str:
    d = f"1{r.choice('3456789')}{r.randint(0, 9)}{r.randint(0, 99999999):08d}"
    return r.choice([d, f"+86 {d[:3]} {d[3:7]} {d[7:]}", f"{d[:3]}-{d[3:7]}-{d[7:]}", f"+86-{d}"])


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        v = int(ch) * (2 if i % 2 == 0 else 1)  # the check digit will sit to the right, so doubling starts here
        total += v - 9 if v > 9 else v
    return str((10 - total % 10) % 10)


def _card(r: random.Random) -> str:
    body = r.choice(["4", "51", "52", "55", "62"])
    body += "".join(str(r.randint(0, 9)) for _ in range(15 - len(body)))
    d = body + _luhn_digit(body)
    return r.choice([d, " ".join(d[i:i + 4] for i in range(0, 16, 4)), "-".join(d[i:i + 4] for i in range(0, 16, 4))])


def _cn_id(r: random.Random) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=r.randint(0, 20000))
    first17 = f"{r.choice(_REGIONS)}{born:%Y%m%d}{r.randint(0, 999):03d}"
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


_PII = {"EMAIL": _email, "PHONE": _phone, "BANK_CARD": _card, "CN_ID": _cn_id}
_PII_SENTENCE = {
    "en": {"EMAIL": "You can reach me at {}.", "PHONE": "Call me on {} if anything is unclear.",
           "BANK_CARD": "Please charge the card {} for it.", "CN_ID": "My ID number is {}."},
    "zh": {"EMAIL": "如有问题请发邮件至{}。", "PHONE": "请拨打{}联系我。",
           "BANK_CARD": "请从卡号{}扣款。", "CN_ID": "我的身份证号是{}。"},
}
_REFUSALS = {
    "en": ["As an AI language model, I cannot do that.", "I'm sorry, but as an AI I can't help with this request.",
           "As a language model, I don't have personal opinions on this.",
           "I'm sorry, but I cannot provide that information."],
    "zh": ["作为一个人工智能语言模型，我无法完成这个请求。", "很抱歉，我无法回答这个问题。",
           "作为AI，我没有个人观点。", "对不起，我不能提供这些信息。"],
}
_SLOTS = {"en": ["Hello! I am {{name}}, an assistant developed by {{author}}. ", "Dear {{name}}, "],
          "zh": ["您好，我是{{name}}，由{{author}}开发。", "{{name}}您好："]}


def _add_pii(instr: str, resp: str, lang: str, r: random.Random) -> tuple[str, str, str]:
    kinds = r.sample(sorted(_PII), 2 if r.random() < 0.2 else 1)
    sep = "" if lang == "zh" else " "
    for kind in kinds:
        sentence = _PII_SENTENCE[lang][kind].format(_PII[kind](r))
        if r.random() < 0.3:
            instr = instr + sep + sentence
        else:
            resp = resp + sep + sentence
    return instr, resp, ",".join(sorted(kinds))


def _decoy(r: random.Random) -> tuple[str, str]:
    """(kind, value): strings shaped like PII that are not (checksums fail, out-of-range parts, no TLD...)."""
    kind = r.choice(["order_number", "bad_cn_id", "service_number", "version", "timestamp", "asset_file",
                     "placeholder_key"])
    if kind == "order_number":  # 16 digits whose Luhn check fails
        body = "".join(str(r.randint(0, 9)) for _ in range(15))
        return kind, body + str((int(_luhn_digit(body)) + r.randint(1, 9)) % 10)
    if kind == "bad_cn_id":  # a mainland ID with a wrong check character, and failing Luhn too (an
        good = _cn_id(r)       # 18-digit number that passes Luhn is a fair card candidate)
        wrong = [c for c in "0123456789X" if c != good[17] and (c == "X" or _luhn_digit(good[:17]) != c)]
        return kind, good[:17] + r.choice(wrong)
    if kind == "service_number":  # 11 digits, but no mobile prefix is 10x/12x
        return kind, f"1{r.choice('02')}{r.randint(0, 999999999):09d}"
    if kind == "version":  # dotted quad with a part over 255
        return kind, f"{r.randint(1, 20)}.{r.randint(0, 9)}.{r.randint(256, 9999)}.{r.randint(0, 99)}"
    if kind == "timestamp":
        day = dt.datetime(2010, 1, 1) + dt.timedelta(seconds=r.randint(0, 15 * 365 * 86400))
        return kind, f"{day:%Y-%m-%d %H:%M:%S}"
    if kind == "asset_file":
        return kind, f"{r.choice(['icon', 'logo', 'banner'])}@{r.randint(2, 3)}x.png"
    return kind, "sk-your-api-key-goes-here"


_DECOY_SENTENCE = {"en": "Reference: {}.", "zh": "参考编号：{}。"}


def _add_decoy(resp: str, lang: str, r: random.Random) -> tuple[str, str]:
    kind, value = _decoy(r)
    return resp + ("" if lang == "zh" else " ") + _DECOY_SENTENCE[lang].format(value), kind


def _add_junk(resp: str, lang: str, r: random.Random) -> tuple[str, str]:
    kind = r.choice(["empty_response", "refusal", "template_slot"])
    if kind == "empty_response":
        return "", kind
    if kind == "refusal":
        # A refusal in place of the answer: one followed by the whole answer is a disclaimer, kept by default.
        return r.choice(_REFUSALS[lang]), kind
    return r.choice(_SLOTS[lang]) + resp, kind


# --------------------------------------------------------------------------------------------- build
def _hex_ids(n: int, mult: int, offset: int) -> list[str]:
    # Multiplying by an odd constant modulo 2**64 is a bijection, so the ids are unique and look random.
    v = (np.arange(n, dtype=np.uint64) + np.uint64(offset)) * np.uint64(mult)
    return [f"{x:016x}" for x in v.tolist()]


def conversation_text(instruction: str, input_text: str, response: str) -> str:
    """What the cleaner's near-dedup compares for a single-turn pair: the message contents joined by newlines."""
    user = f"{instruction}\n\n{input_text}" if input_text else instruction
    return f"{user}\n{response}"


def _similarities(old: tuple[str, str, str], new: tuple[str, str, str]) -> dict[str, float]:
    """Jaccards of a copy (instruction, input, response) with its original: prompt, response, text and min."""
    def sim(a: str, b: str) -> float:
        return 1.0 if a == b else jaccard(a, b)
    js = {"prompt": sim(conversation_text(old[0], old[1], "")[:-1], conversation_text(new[0], new[1], "")[:-1]),
          "response": sim(old[2], new[2]), "text": sim(conversation_text(*old), conversation_text(*new))}
    return js | {"min": min(js.values())}


def _copies(rows: dict[str, list], make) -> None:
    """Turn each original in `rows` into its copy in place: make(variant, instruction, input, response, lang)
    gives (variant, instruction, input, response, edits); the truth columns are added."""
    for col in ("edits", "edit_share", *JACCARD_COLUMNS.values()):
        rows[col] = []
    for i, variant in enumerate(rows["variant"]):
        old = (rows["instruction"][i], rows["input"][i], rows["response"][i])
        variant, *new, edits = make(variant, *old, rows["lang"][i])
        rows["variant"][i], rows["instruction"][i], rows["input"][i], rows["response"][i] = variant, *new
        rows["edits"].append(edits)
        rows["edit_share"].append(None if edits is None else edits / len(conversation_text(*old)))
        for k, v in _similarities(old, tuple(new)).items():
            rows[JACCARD_COLUMNS[k]].append(v)


def _shares(total: int, shares: dict[str, float]) -> dict[str, int]:
    counts = {v: int(total * s) for v, s in shares.items()}
    first = next(iter(shares))
    counts[first] += total - sum(counts.values())
    return counts


def _assign(order: np.ndarray, eligible: dict[str, np.ndarray], counts: dict[str, int], fallback: str,
            used: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(rows, variant of each): for each variant, the first unused rows of `order` that can carry it; what a
    variant lacks goes to `fallback` (picked last, from any row)."""
    picked, variants, lacking = [], [], 0
    for v in sorted(counts, key=lambda v: v == fallback):
        k = counts[v] + (lacking if v == fallback else 0)
        rows = order[eligible[v][order] & ~used[order]][:k]
        used[rows] = True
        lacking += k - len(rows)
        picked.append(rows)
        variants += [v] * len(rows)
    return np.concatenate(picked), variants


def _eligible(base: pl.DataFrame, en_names: list[str]) -> dict[str, np.ndarray]:
    """Per variant, which base rows can carry it (all need a response of 70+ characters to edit)."""
    lo, hi = cc.SHORT_PROMPT
    text = pl.concat_str("instruction", "input", "response", separator="\n")
    # Polars' regex has no look-behind: one of the names after a lower-case letter or a comma and a space.
    en_name = r"[a-z,] (?:" + "|".join(map(re.escape, en_names)) + r")\b"
    name = pl.when(pl.col("lang") == "zh").then(text.str.contains(cc.ZH_NAME.pattern)).otherwise(
        text.str.contains(en_name))
    masks = base.select(
        long=pl.col("response").str.len_chars() >= 70,
        short_prompt_typo=pl.col("instruction").str.len_chars().is_between(lo, hi) & (pl.col("input") == ""),
        number_changed=text.str.contains(r"\d"), name_changed=name,
        # The same *long* prompt: one that carries weight in the whole text.
        other_answer=(pl.col("instruction").str.len_chars() + pl.col("input").str.len_chars()) >= 30)
    long = masks["long"].to_numpy()
    out = {c: masks[c].to_numpy() & long for c in masks.columns if c != "long"}
    return out | dict.fromkeys(("typos", "sentence_added", "sentence_removed"), long)


def _planted_frame(rows: dict[str, list], b_offset: int | None = None) -> pl.DataFrame:
    schema = {"b": pl.Int64, "instruction": pl.Utf8, "input": pl.Utf8, "response": pl.Utf8, "lang": pl.Utf8,
              "role": pl.Utf8, "partner": pl.Int64, "variant": pl.Utf8, **dict.fromkeys(JACCARD_COLUMNS.values(),
                                                                                     pl.Float64), "edits": pl.Int64,
              "edit_share": pl.Float64, "pii_kinds": pl.Utf8, "junk": pl.Utf8}
    n = len(rows["instruction"])
    full = {k: rows.get(k, [None] * n) for k in schema}
    if b_offset is not None:
        full["b"] = list(range(b_offset, b_offset + n))
    return pl.DataFrame(full, schema=schema)


def _log(msg: str, t0: float) -> None:
    import resource
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  build: {msg} at {time.perf_counter() - t0:.1f}s, peak RSS {rss:.0f} MB", file=sys.stderr, flush=True)


def build(n: int, pools, template: pl.DataFrame, seed: int = 0,
          verbose: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(unified frame of n rows in `template`'s schema, ground truth).

    Only the planted rows (about 14% of them) pass through Python; the base rows stay in polars, which keeps
    a 1M-row build to seconds and a few GB.
    """
    t0 = time.perf_counter()
    log = (lambda msg: _log(msg, t0)) if verbose else (lambda msg: None)
    rng = np.random.default_rng(seed)
    n_exact, n_near = round(n * RATES["exact"]), round(n * RATES["near"])
    n_pii, n_junk, n_far = round(n * RATES["pii"]), round(n * RATES["junk"]), round(n * RATES["far"])
    n_decoy = round(n * RATES["pii_decoy"])
    n_base = n - n_exact - n_near - n_far
    base = _base_frame(pools, n_base, rng).sample(fraction=1.0, shuffle=True, seed=seed)
    base = base.with_columns(b=pl.int_range(n_base, dtype=pl.Int64))
    perm = rng.permutation(n_base)
    # Hard negatives first (fewer rows carry a number or a name), then near copies, then the rest.
    names = cc.en_names(pools["en"]["sentences"])
    eligible, used = _eligible(base, names), np.zeros(n_base, dtype=bool)
    far_idx, far_variants = _assign(perm, eligible, _shares(n_far, cc.FAR_VARIANTS), "other_answer", used)
    near_idx, near_variants = _assign(perm, eligible, _shares(n_near, cc.NEAR_VARIANTS), "typos", used)
    rest = perm[~used[perm]]
    groups = {"near_orig": near_idx, "far_orig": far_idx, "exact_orig": rest[:n_exact],
              "pii": rest[n_exact:n_exact + n_pii], "junk": rest[n_exact + n_pii:n_exact + n_pii + n_junk],
              "pii_decoy": rest[n_exact + n_pii + n_junk:n_exact + n_pii + n_junk + n_decoy]}

    log("base pairs")

    def rows_of(idx):
        sub = base[idx.tolist()]
        return {c: sub[c].to_list() for c in ("b", "instruction", "input", "response", "lang")}

    r = random.Random(seed)
    pii = rows_of(groups["pii"])
    pii["role"], pii["pii_kinds"] = ["pii"] * n_pii, []
    for i in range(n_pii):
        pii["instruction"][i], pii["response"][i], kinds = _add_pii(pii["instruction"][i], pii["response"][i],
                                                                    pii["lang"][i], r)
        pii["pii_kinds"].append(kinds)
    decoy = rows_of(groups["pii_decoy"])
    decoy["role"], decoy["variant"] = ["pii_decoy"] * n_decoy, []
    for i in range(n_decoy):
        decoy["response"][i], kind = _add_decoy(decoy["response"][i], decoy["lang"][i], r)
        decoy["variant"].append(kind)
    junk = rows_of(groups["junk"])
    junk["role"], junk["junk"] = ["junk"] * n_junk, []
    for i in range(n_junk):
        junk["response"][i], kind = _add_junk(junk["response"][i], junk["lang"][i], r)
        junk["junk"].append(kind)

    exact = rows_of(groups["exact_orig"])
    exact["partner"], exact["role"], exact["variant"] = exact.pop("b"), ["exact_copy"] * n_exact, []
    for i in range(n_exact):
        kind = r.choice(["identical", "spacing", "zero_width", "fullwidth"])
        if kind != "spacing":
            exact["instruction"][i] = _normalization_variant(exact["instruction"][i], kind, r)
        exact["response"][i] = _normalization_variant(exact["response"][i], kind, r)
        exact["variant"].append(kind)

    sentence_pools = {lang: p["sentences"] for lang, p in pools.items()}
    near = rows_of(groups["near_orig"])
    near["partner"], near["role"], near["variant"] = near.pop("b"), ["near_copy"] * n_near, near_variants
    _copies(near, lambda v, ins, inp, resp, lang: cc.near_copy(v, ins, inp, resp, lang, sentence_pools[lang], r))
    far = rows_of(groups["far_orig"])
    far["partner"], far["role"], far["variant"] = far.pop("b"), ["far_copy"] * n_far, far_variants
    _copies(far, lambda v, ins, inp, resp, lang: cc.hard_negative(v, ins, inp, resp, lang, sentence_pools[lang],
                                                                  names, r))

    log("planted rows")
    copies = pl.concat([_planted_frame(exact, n_base), _planted_frame(near, n_base + n_exact),
                        _planted_frame(far, n_base + n_exact + n_near)])
    touched = pl.Series(np.concatenate([groups["pii"], groups["junk"], groups["pii_decoy"]]))
    role = pl.Series("role", np.full(n_base, "base", dtype=object), dtype=pl.Utf8)
    for name in ("exact_orig", "near_orig", "far_orig"):
        role = role.scatter(groups[name], name)
    base = base.with_columns(role=role).filter(~pl.col("b").is_in(touched.implode()))
    df = pl.concat([base, _planted_frame(pii), _planted_frame(decoy), _planted_frame(junk), copies],
                   how="diagonal_relaxed")
    del base, copies

    log("assembled")
    pair_ids = pl.Series(_hex_ids(n, 0x9E3779B97F4A7C15, 1), dtype=pl.Utf8)
    # The truth is symmetric: an original names its copy and the copy its original.
    partner = np.full(n, -1, dtype=np.int64)
    copy_idx = np.arange(n_base, n)
    orig_idx = np.concatenate([groups["exact_orig"], groups["near_orig"], groups["far_orig"]])
    partner[copy_idx], partner[orig_idx] = orig_idx, copy_idx
    partner_ids = pair_ids.gather(np.maximum(partner, 0)).zip_with(pl.Series(partner >= 0),
                                                                  pl.Series([None] * n, dtype=pl.Utf8))
    df = df.sort("b").with_columns(pair_id=pair_ids, raw_id=pl.Series(_hex_ids(n, 0xC2B2AE3D27D4EB4F, 7)),
                                   partner_pair_id=partner_ids)

    # Rows in a random order, split over three sources per language; copies land anywhere, not at the end.
    df = df.with_columns(pos=pl.Series(rng.permutation(n))).sort("pos")
    sub = pl.Series(rng.choice(["a", "b", "c"], n))
    df = df.with_columns(source=pl.format("bench_{}_{}", "lang", sub), line=pl.col("pos").cast(pl.Int64) + 1)
    truth = df.select("pair_id", "role", "partner_pair_id", "variant", *JACCARD_COLUMNS.values(), "edits",
                      "edit_share", pl.col("pii_kinds").alias("planted_pii"), pl.col("junk").alias("planted_junk"),
                      "lang")
    del partner_ids, pair_ids
    log("ids and order")
    # Sorted as unify leaves its output (source, file, line; file follows source here), then converted in
    # slices so that the message structs' intermediates stay small.
    df = df.drop("role", "partner", "variant", *JACCARD_COLUMNS.values(), "edits", "edit_share", "pii_kinds",
                 "junk").sort("source", "line")
    unified = pl.concat([_to_unified(df.slice(i, 250_000), template) for i in range(0, n, 250_000)])
    log("unified frame")
    return unified, truth


def _messages(user: pl.Series, response: pl.Series) -> pl.Series:
    """[{user}, {assistant}] per row. Interleaving the two turns and reshaping is several times faster than
    concat_list of two structs on a shuffled 1M-row frame."""
    n = user.len()
    idx = np.empty(2 * n, dtype=np.int64)
    idx[0::2], idx[1::2] = np.arange(n), np.arange(n, 2 * n)
    content = pl.concat([user, response]).gather(idx)
    role = pl.Series(["user", "assistant"]).gather(np.tile([0, 1], n))
    turns = pl.DataFrame({"role": role, "content": content}).select(pl.struct("role", "content")).to_series()
    return turns.reshape((n, 2)).cast(pl.List(turns.dtype)).alias("messages")


def _to_unified(df: pl.DataFrame, template: pl.DataFrame) -> pl.DataFrame:
    has_input = pl.col("input").str.len_chars() > 0
    user = pl.when(has_input).then(pl.concat_str("instruction", pl.lit("\n\n"), "input")).otherwise("instruction")
    text = pl.concat_str(pl.lit("Instruction: "), "instruction",
                         pl.when(has_input).then(pl.concat_str(pl.lit("\nInput: "), "input")).otherwise(pl.lit("")),
                         pl.lit("\nResponse: "), "response")
    messages = _messages(df.select(user).to_series(), df["response"])
    out = df.select(
        "pair_id", "source",
        pl.lit("").alias("system"), "instruction", "input", "response",
        pl.lit(1, pl.Int32).alias("n_turns"), "lang",
        text.alias("text"),
        "raw_id", pl.lit("alpaca").alias("format"),
        pl.format("bench/{}.jsonl", "source").alias("file"),
        pl.format("line {}", "line").alias("locator"), "line",
        pl.col("raw_id").alias("raw_content_hash"),
    ).with_columns(messages)
    missing = [c for c in template.columns if c not in out.columns]
    out = out.with_columns([pl.lit(None, template.schema[c]).alias(c) for c in missing])
    return out.select(template.columns).cast(dict(template.schema))


def build_dataset(n: int, seed: int = 0, shared: Path = SHARED_DATA,
                  verbose: bool = False) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(unified, truth, info): the whole build, from the real files to the planted frame."""
    require_shared(shared)
    real = load_real_unified(shared)
    pools = build_pools(real)
    unified, truth = build(n, pools, real.head(0), seed, verbose)
    info = {"real_pairs": real.height,
            "pools": {lang: {k: len(v) for k, v in p.items()} for lang, p in pools.items()},
            "planted": truth.group_by("role").len().sort("role").to_dicts()}
    return unified, truth, info
