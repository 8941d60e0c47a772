"""Near-duplicate engine: clustering of small edits (English and Chinese), estimator accuracy against exact
Jaccard, LSH parameter choice, determinism, validation, edge cases."""
import math
import random

import numpy as np
import pytest

from instr_assets.core.clean import dup_verify, near_dedup
from instr_assets.core.clean.dup_verify import VerifyRules, conversation_edits, star_clusters, text_edits
from instr_assets.core.clean.near_dedup import (
    NearDupRules, candidate_pairs, lsh_params, minhash_signatures, near_duplicate_clusters, validate,
)

# The engine as a stand-alone clusterer, at the Jaccard threshold and n-gram its estimates are tested for.
RULES = NearDupRules(threshold=0.8, ngram=5)
WORDS = (
    "the of and to in is was for on that with as by at from this be are or an it not which have has but had "
    "they you were their one all we can her there been if more when will would who so no out up into do any "
    "time about than other its only some could new them these may first then two also after our most over "
    "such many made way even must did well back through where much before right too means old same tell "
    "does set three want air play small end put home read hand port large spell add land here big high act "
    "why ask men change went light kind off need house picture try again animal point mother world near build "
    "self earth father head stand own page should country found answer school grow study still learn plant"
).split()


def english(rng: random.Random, chars: int) -> str:
    out, size = [], 0
    while size < chars:
        w = rng.choice(WORDS)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def chinese(rng: random.Random, chars: int) -> str:
    return "".join(rng.choice("，。") if rng.random() < 0.08 else chr(0x4E00 + rng.randrange(3000))
                   for _ in range(chars))


def edit_chars(rng: random.Random, text: str, edits: int) -> str:
    s = list(text)
    for _ in range(edits):
        pos, op = rng.randrange(len(s)), rng.randrange(3)
        ch = s[rng.randrange(len(s))]
        if op == 0:
            s[pos] = ch
        elif op == 1:
            s.insert(pos, ch)
        else:
            del s[pos]
    return "".join(s)


def shingles(text: str, n: int = 5) -> set[str]:
    """Reference shingling for ASCII and CJK text, as the module documents it."""
    t = " ".join(text.casefold().split())
    if len(t) < n:
        return {t} if t else set()
    return {t[i:i + n] for i in range(len(t) - n + 1)}


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


@pytest.mark.parametrize("make", [english, chinese])
def test_small_edits_cluster_with_the_first_copy_and_unrelated_texts_do_not(make):
    rng = random.Random(7)
    base = make(rng, 800)
    variants = [edit_chars(rng, base, 1), edit_chars(rng, base, 3)]
    if make is english:
        words = base.split(" ")
        variants.append(" ".join(words[:40] + ["inserted"] + words[40:]))
        variants.append(" ".join(words[:60] + words[61:]))
        variants.append(" ".join(words[:20] + ["replaced"] + words[21:]))
    others = [make(rng, 800) for _ in range(20)]
    texts = others[:10] + [base] + others[10:] + variants
    cluster, similarity = near_duplicate_clusters(texts, RULES)
    first = 10
    assert cluster[first] == first and similarity[first] == 1.0
    assert cluster[21:].tolist() == [first] * len(variants)
    assert (similarity[21:] >= RULES.threshold).all()
    assert cluster[:first].tolist() == list(range(first))
    assert cluster[first + 1:21].tolist() == list(range(first + 1, 21))
    assert (similarity[:21] == 1.0).all()


def test_exact_duplicates_and_case_or_whitespace_variants_are_one_cluster_at_similarity_one():
    rng = random.Random(3)
    base = english(rng, 500)
    texts = [english(rng, 500), english(rng, 500), base, english(rng, 500), base,
             "  " + base.upper().replace(" ", " \n\t ") + "\n", base]
    cluster, similarity = near_duplicate_clusters(texts, RULES)
    # The representative is the lowest index of the cluster, whatever the order of the copies.
    assert cluster.tolist() == [0, 1, 2, 3, 2, 2, 2]
    assert similarity.tolist() == [1.0] * 7
    sig = minhash_signatures(texts, RULES)
    assert (sig[5] == sig[2]).all()


def test_chains_join_and_report_similarity_to_the_representative():
    rng = random.Random(13)
    a = english(rng, 400)
    b = edit_chars(rng, a, 6)
    c = edit_chars(rng, b, 6)
    rules = NearDupRules(threshold=0.85, num_perm=256, ngram=5)
    # a~b and b~c pass the threshold, a~c alone does not: single linkage still puts c with a.
    assert jaccard(a, b) > 0.85 and jaccard(b, c) > 0.85 and jaccard(a, c) < 0.8
    cluster, similarity = near_duplicate_clusters([a, b, c], rules)
    assert cluster.tolist() == [0, 0, 0]
    sig = minhash_signatures([a, b, c], rules)
    assert similarity[1] == (sig[0] == sig[1]).mean() >= 0.85
    assert similarity[2] == (sig[0] == sig[2]).mean() < 0.85


def test_estimates_track_exact_jaccard():
    # The estimate is a mean of num_perm bin agreements, each true with probability J; for texts with more
    # shingles than bins its standard deviation is at most sqrt(J(1-J)/K), as for K-permutation MinHash.
    # Each pair must fall within 4 sd (two-sided normal tail 6e-5) and the RMSE within 1.25x the theory.
    rng = random.Random(5)
    rules = NearDupRules(num_perm=256, ngram=5)
    pairs = []
    for i in range(24):
        base = (english if i % 2 else chinese)(rng, rng.randrange(600, 1500))
        pairs.append((base, edit_chars(rng, base, rng.randrange(2, 60))))
    sig = minhash_signatures([t for p in pairs for t in p], rules)
    est = (sig[0::2] == sig[1::2]).mean(axis=1)
    true = np.array([jaccard(a, b) for a, b in pairs])
    assert true.min() < 0.6 and true.max() > 0.95
    sd = np.sqrt(true * (1 - true) / rules.num_perm)
    assert (np.abs(est - true) <= 4 * sd + 1e-9).all()
    assert np.sqrt(((est - true) ** 2).mean()) <= 1.25 * np.sqrt((sd ** 2).mean())


def test_planted_near_duplicates_match_brute_force_jaccard():
    # Truth: every pair whose exact Jaccard is >= the threshold, found by brute force over all pairs.
    rng = random.Random(21)
    texts = [(english if i % 3 else chinese)(rng, rng.randrange(300, 900)) for i in range(90)]
    texts += [edit_chars(rng, texts[rng.randrange(90)], rng.randrange(1, 5)) for _ in range(40)]
    sets = [shingles(t) for t in texts]
    truth = {(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))
             if len(sets[i] & sets[j]) >= RULES.threshold * len(sets[i] | sets[j])}
    cluster, _ = near_duplicate_clusters(texts, RULES)
    found = {(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts)) if cluster[i] == cluster[j]}
    assert len(truth) >= 40
    assert found == truth


def test_unrelated_texts_estimate_near_zero():
    rng = random.Random(2)
    texts = [chinese(rng, 700) for _ in range(5)] + [english(rng, 700) for _ in range(5)]
    sig = minhash_signatures(texts, RULES)
    agree = (sig[:, None, :] == sig[None, :, :]).mean(axis=2)
    off = agree[~np.eye(len(texts), dtype=bool)]
    # Chinese texts from 3000 characters share almost no 5-grams; English ones from a 200-word list share some.
    assert off.max() < 0.25
    assert agree[:5, :5][~np.eye(5, dtype=bool)].max() == 0.0


def test_batching_does_not_leak_ngrams_across_texts(monkeypatch):
    rng = random.Random(9)
    texts = [english(rng, rng.randrange(1, 300)) if i % 3 else chinese(rng, rng.randrange(1, 300))
             for i in range(60)] + ["a", "ab", "abcd", "abcde", "é", "x  y"]
    alone = np.vstack([minhash_signatures([t], RULES) for t in texts])
    monkeypatch.setattr(near_dedup, "_CHUNK_CHARS", 500)
    assert (minhash_signatures(texts, RULES) == alone).all()


def test_short_texts_are_one_shingle_and_empty_texts_stay_alone():
    texts = ["", "ab", "  ", "AB", "ac", "", "\n", "ab "]
    cluster, similarity = near_duplicate_clusters(texts, RULES)
    # "ab", "AB" and "ab " are the same after folding and stripping; "ac" differs in its only shingle.
    # Empty texts have no shingles, so nothing (not even another empty text) is their near-duplicate.
    assert cluster.tolist() == [0, 1, 2, 1, 4, 5, 6, 1]
    assert similarity.tolist() == [1.0] * 8
    sig = minhash_signatures(texts, RULES)
    assert (sig[[0, 2, 5, 6]] == 0xFFFFFFFF).all()
    assert (sig[1] != sig[4]).all()


def test_empty_input_returns_empty_arrays():
    cluster, similarity = near_duplicate_clusters([], RULES)
    assert cluster.shape == (0,) and similarity.shape == (0,)
    assert minhash_signatures([], RULES).shape == (0, RULES.num_perm)


def test_signatures_are_deterministic_per_seed():
    rng = random.Random(1)
    texts = [english(rng, 400), chinese(rng, 400)]
    a = minhash_signatures(texts, RULES)
    assert a.dtype == np.uint32 and a.shape == (2, 128)
    assert (a == minhash_signatures(list(texts), RULES)).all()
    other = minhash_signatures(texts, NearDupRules(threshold=0.8, ngram=5, seed=2))
    assert (a != other).mean() > 0.9


def detection(similarity: float, rules: NearDupRules) -> float:
    """P(a pair of this Jaccard becomes a verified edge): it shares a bucket in some band (the S-curve),
    and its estimate, a Binomial(num_perm, J) count of agreeing bins over num_perm, reaches the threshold."""
    bands, rows = lsh_params(rules)
    k = rules.num_perm
    need = math.ceil(round(rules.threshold * k, 9))
    verified = sum(math.comb(k, i) * similarity ** i * (1 - similarity) ** (k - i) for i in range(need, k + 1))
    return (1 - (1 - similarity ** rows) ** bands) * verified


@pytest.mark.parametrize("threshold,num_perm", [(0.5, 128), (0.7, 128), (0.8, 128), (0.9, 256), (0.8, 64)])
def test_bands_and_rows_put_detection_at_the_threshold(threshold, num_perm):
    rules = NearDupRules(threshold=threshold, num_perm=num_perm)
    bands, rows = lsh_params(rules)
    assert bands * rows <= num_perm
    # The S-curve 1-(1-s^r)^b is 1/2 at `half`: a little below the threshold, as candidates are verified ...
    half = (1 - 0.5 ** (1 / bands)) ** (1 / rows)
    assert threshold - 0.16 < half < threshold
    # ... so that LSH and verification together detect half of the pairs right at the threshold.
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if detection(mid, rules) < 0.5 else (lo, mid)
    assert abs(lo - threshold) < 0.03
    assert detection(min(1.0, threshold + 0.05), rules) > 0.8
    assert detection(threshold - 0.1, rules) < 0.02


def test_lsh_params_defaults_and_partial_choices():
    assert lsh_params(RULES) == (14, 9)
    # With datasketch's equal weights the same search finds the pairs datasketch 2.0's MinHashLSH picks.
    assert near_dedup._optimal_bands_rows(0.8, 128, None, None, 0.5) == (9, 13)
    assert near_dedup._optimal_bands_rows(0.5, 128, None, None, 0.5) == (25, 5)
    assert near_dedup._optimal_bands_rows(0.9, 256, None, None, 0.5) == (9, 28)
    assert lsh_params(NearDupRules(bands=16, rows=8)) == (16, 8)
    bands, rows = lsh_params(NearDupRules(bands=16))
    assert bands == 16 and 16 * rows <= 128
    bands, rows = lsh_params(NearDupRules(rows=4))
    assert rows == 4 and bands * 4 <= 128


@pytest.mark.parametrize("field,value", [
    ("threshold", 0), ("threshold", 1.5), ("threshold", "0.8"), ("num_perm", 0), ("num_perm", 2.5),
    ("num_perm", 10_000), ("bands", 0), ("bands", 200), ("rows", -1), ("rows", True), ("ngram", 0),
    ("seed", -1), ("shared_threshold", 0), ("shared_threshold", 2),
])
def test_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^near_dup\.{field}: "):
        validate(NearDupRules(**{field: value}))
    with pytest.raises(ValueError, match=rf"^near_dup\.{field}: "):
        near_duplicate_clusters(["a"], NearDupRules(**{field: value}))


def test_bands_times_rows_must_fit_in_num_perm():
    with pytest.raises(ValueError, match=r"^near_dup\.bands: .*16 \* 9 = 144 exceeds near_dup\.num_perm = 128"):
        validate(NearDupRules(bands=16, rows=9))
    validate(NearDupRules(bands=16, rows=8))


# ---------------------------------------------------------------- candidates and the precise check

def test_candidates_include_5pct_edits_and_shared_prompts_but_not_unrelated_texts():
    rng = random.Random(11)
    rules = NearDupRules()
    base = english(rng, 600)
    prompt, answer = english(rng, 40), english(rng, 120)
    texts = [base, edit_chars(rng, base, 30), english(rng, 600), english(rng, 600),
             prompt + "\n" + answer, prompt + "\n" + answer + " " + english(rng, 400)]
    sig = minhash_signatures(texts, rules)
    a, b = candidate_pairs(sig, rules)
    assert (0, 1) in set(zip(a.tolist(), b.tolist())) and (2, 3) not in set(zip(a.tolist(), b.tolist()))
    # The answer that grew by a longer sentence than it had falls below the LSH threshold; a shared prompt
    # (its key) still makes the pair a candidate, above the lower shared_threshold.
    assert (sig[4] == sig[5]).mean() < rules.threshold
    shared = np.array([1, 2, 3, 4, 5, 5], dtype=np.uint64)
    a, b = candidate_pairs(sig, rules, [shared])
    assert (4, 5) in set(zip(a.tolist(), b.tolist()))
    assert all(x < y for x, y in zip(a.tolist(), b.tolist())) and len(set(zip(a.tolist(), b.tolist()))) == a.size


RV = VerifyRules()
LONG_EN = ("Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide to make "
           "glucose and oxygen. It takes place mainly in the chloroplasts of leaf cells, where chlorophyll "
           "absorbs light. The oxygen it releases is what most living things breathe.")
LONG_ZH = ("光合作用是绿色植物利用阳光、水和二氧化碳制造葡萄糖和氧气的过程，主要发生在叶片细胞的叶绿体中。"
           "这个过程为地球上几乎所有的生命提供了能量。")


@pytest.mark.parametrize("a,b", [
    (LONG_EN, edit_chars(random.Random(1), LONG_EN, 11)),                      # 5% edits
    (LONG_ZH, edit_chars(random.Random(2), LONG_ZH, 3)),                       # 5% edits, Chinese
    (LONG_EN, LONG_EN.lower()),                                                # lower-cased copy
    (LONG_EN, LONG_EN.replace(" It takes place mainly in the chloroplasts of leaf cells, where chlorophyll "
                              "absorbs light.", "")),                           # a sentence removed
    (LONG_ZH, LONG_ZH + "植物因此被称为生产者。"),                                 # a sentence added
    ("Name three primary colours.", "Name three primary colours!"),           # one typo, 27 characters
    ("Name three primray colours.", "Name three primary colours."),           # a transposition is one edit
    ("给出形容词“清晰”的同义词。", "给出形容词“清晰”的近义词。"),  # one typo, 14 characters
    ("给出形容词“清晰”的同义词。", '给出形容词"清晰”的同义词,'),  # ASCII twins typed by a switched IME
    ("介绍一下北京的历史和文化，北京是中国的首都。", "介绍一下京北的历史和文化，北京是中国的首都。"),  # two swapped
    ("Write a poem about Paris.", "Write a poem about Pairs."),                # a typo inside a name
])
def test_copies_pass(a, b):
    assert text_edits(a, b, RV) is not None
    assert text_edits(b, a, RV) is not None


@pytest.mark.parametrize("a,b", [
    ("What is 12 + 7?", "What is 13 + 7?"),                                    # numbers differ
    (LONG_EN + " It was first described in 1779.", LONG_EN + " It was first described in 1771."),
    ("Write a poem about Paris.", "Write a poem about Rome."),                 # named values differ
    ("Write a short poem about Paris in the spring, with rhymes, for a school reader.",
     "Write a short poem about Tokyo in the spring, with rhymes, for a school reader."),
    ('Translate "good morning" into French.', 'Translate "good evening" into French.'),
    ("给出形容词“清晰”的同义词。", "给出形容词“广播”的同义词。"),  # a quoted value differs
    ("介绍一下北京的历史和文化，北京是中国的首都。", "介绍一下上海的历史和文化，上海是中国的首都。"),  # a city
    ("介绍一下北京的历史和文化，北京是中国的首都。", "介绍一下哈尔滨的历史和文化，哈尔滨是中国的首都。"),
    ("Yes.", "No."), ("是", "否"),                                              # short answers: no typo budget
    ("十号风球", "八号风球"), ("第三章", "第五章"),                                # short answers: a Chinese numeral is the value
    (LONG_EN, "Plants make food from light."),                                 # another answer
    (LONG_EN, LONG_EN[:40]),                                                   # less than a fifth of it
])
def test_other_values_and_answers_fail(a, b):
    assert text_edits(a, b, RV) is None
    assert text_edits(b, a, RV) is None


def test_another_question_about_the_same_passage_is_another_pair():
    passage = "Read the passage and answer.\n\n" + LONG_EN
    asked = passage + "\n\nQuestion: Where does photosynthesis take place?"
    other = passage + "\n\nQuestion: What does chlorophyll absorb?"
    assert text_edits(asked, other, RV) is None
    assert text_edits(asked, asked.replace("Question", "Qeustion"), RV) is not None


def test_conversations_match_message_by_message():
    one = [("user", "How do I boil an egg?"), ("assistant", "Put it in boiling water for eight minutes.")]
    typo = [("user", "How do I boil an egg?"), ("assistant", "Put it in boileng water for eight minutes.")]
    assert conversation_edits(one, typo, RV) == 1
    # Shared turns with another final answer, or a different shape, are not copies.
    branch = one + [("user", "And a soft one?"), ("assistant", "Six minutes gives a runny yolk.")]
    other = one + [("user", "And a soft one?"), ("assistant", "Soft eggs are not safe for everyone.")]
    assert conversation_edits(branch, other, RV) is None
    assert conversation_edits(one, branch, RV) is None
    assert conversation_edits([("system", "Be brief.")] + one, [("user", "Be brief.")] + one, RV) is None


def test_star_clusters_do_not_chain():
    # 0~1 and 1~2 verify, 0~2 does not: 2 stays, since it is no copy of its representative 0.
    a = english(random.Random(4), 300)
    letters = [i for i, ch in enumerate(a) if ch != " "]

    def substitute(text: str, positions: list[int]) -> str:
        return "".join("q" if i in positions else ch for i, ch in enumerate(text))
    # 20 substitutions each, in different halves: a~b and b~c are 20 edits apart (within 300 characters'
    # budget of 26), a~c 40.
    b = substitute(a, letters[:100:5])
    c = substitute(b, letters[-100::5])
    convs = [[("user", "q"), ("assistant", t)] for t in (a, b, c)]
    assert conversation_edits(convs[0], convs[1], RV) is not None
    assert conversation_edits(convs[1], convs[2], RV) is not None
    assert conversation_edits(convs[0], convs[2], RV) is None
    first, second = np.array([0, 0, 1]), np.array([1, 2, 2])
    rep, edits = star_clusters(3, first, second, convs.__getitem__, RV)
    assert rep.tolist() == [0, 0, 2] and edits[1] > 0 and edits[2] == 0


@pytest.mark.parametrize("field,value", [("max_edit_ratio", -0.1), ("max_edit_ratio", 2), ("min_length_ratio", "x"),
                                         ("min_typo_chars", -1), ("min_typo_chars", 1.5)])
def test_verify_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^near_dup_verify\.{field}: "):
        dup_verify.validate(VerifyRules(**{field: value}))


def test_names_are_capitalised_words_inside_sentences_all_caps_and_quotes():
    text = 'We met Bob in New York City. Then NASA called, Alice said "hi there" and 《三体》 ends. Ok A1 x AB'
    assert dup_verify._names(text) == {"bob", "new", "york", "city", "nasa", "alice", "hi there", "三体"}


def test_punctuation_twins_fold_like_their_ascii_twins():
    assert dup_verify.fold("  “你好，”  世界！\n‘Hi’ ") == dup_verify.fold('"你好,"  世界!\n\'hi\'') == '"你好," 世界! \'hi\''


def _conversation_frame(conversations):
    import polars as pl
    return pl.DataFrame({
        "messages": [[{"role": r, "content": c} for r, c in conv] for conv in conversations],
        "n_turns": [sum(r == "user" for r, _ in conv) for conv in conversations]})


def test_exact_keys_fold_case_and_whitespace_and_key_prefixes_like_conversations():
    from instr_assets.core.clean.dedup import dup_keys
    first = [("user", "Hi  there"), ("assistant", "Hello.")]
    longer = [("user", "hi there"), ("assistant", "hello."), ("user", "And?"), ("assistant", "Bye.")]
    other = [("user", "Hi there"), ("assistant", "Hello!")]
    frame = _conversation_frame([first, longer, other])
    norm_hash, prefixes = dup_keys(frame, fold_text=True)
    assert norm_hash.str.len_chars().to_list() == [32, 32, 32]
    assert norm_hash[0] != norm_hash[2] and norm_hash[0] != norm_hash[1]
    assert prefixes.to_list() == [None, [norm_hash[0]], None]
    # Unfolded, case and the doubled space tell the first exchange apart from the longer one's.
    unfolded, unfolded_prefixes = dup_keys(frame, fold_text=False)
    assert unfolded_prefixes[1].to_list() != [unfolded[0]]
    assert dup_keys(_conversation_frame([first]), fold_text=False)[0][0] == unfolded[0]
