"""Tokenization with masked prompts, packing isolation, and the training loop on the tiny model."""
import math
import random

import polars as pl
import pytest
import torch

from instr_assets.core.models import modeling
from instr_assets.core.train.tokenize_pack import (
    IGNORE, PackRules, collate, encode_conversation, min_bins, pack, pack_best_fit, pack_min_slack, tokenize_and_pack,
)
from instr_assets.core.train.train import TrainSettings, lr_at, train
from instr_assets.core.ingest.unify import MESSAGE_DTYPE


@pytest.fixture(scope="module")
def tok():
    return modeling.load_tokenizer()


@pytest.fixture(scope="module")
def tiny(tok):
    model, _ = modeling.load_base_model("tiny", seed=0)
    return model


def supervised_text(tok, ids, labels):
    return tok.decode([i for i, l in zip(ids, labels) if l != IGNORE])


def test_only_assistant_turns_are_supervised(tok):
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "你好"},
            {"role": "assistant", "content": "你好！"}, {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"}]
    ids, labels = encode_conversation(tok, msgs)
    assert len(ids) == len(labels)
    assert supervised_text(tok, ids, labels) == "你好！<|im_end|>4<|im_end|>"
    # The prompt, including the user's words, is never a training target.
    assert "What is" not in supervised_text(tok, ids, labels)


def test_pack_best_fit_respects_capacity_and_keeps_every_sample():
    lengths = [90, 60, 50, 40, 30, 30, 10, 100]
    bins = pack_best_fit(lengths, 100)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= 100 for b in bins)
    assert len(bins) == math.ceil(sum(lengths) / 100)  # this set packs perfectly


@pytest.mark.parametrize("lengths, capacity", [
    ([4, 4, 3, 3, 3, 3], 10),  # BFD pairs the 4s and needs 3 bins; {4, 3, 3} twice fills 2
    ([18, 41, 54, 43, 11, 46, 21, 38, 28], 100),  # BFD needs 4; {54, 46}, {43, 28, 18, 11}, {41, 38, 21}
])
def test_pack_reaches_the_lower_bound_where_best_fit_does_not(lengths, capacity):
    assert len(pack_best_fit(lengths, capacity)) > min_bins(lengths, capacity)
    bins = pack(lengths, capacity)
    assert len(bins) == min_bins(lengths, capacity)
    assert sorted(i for b in bins for i in b) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= capacity for b in bins)


def _perfectly_packable(rng, capacity, n_bins):
    """Lengths made by cutting n_bins full bins at random points, shuffled: min_bins is reachable."""
    lengths = []
    for _ in range(n_bins):
        cuts = sorted(rng.sample(range(1, capacity), rng.randint(1, 7)))
        lengths += [b - a for a, b in zip([0, *cuts], [*cuts, capacity])]
    rng.shuffle(lengths)
    return lengths


def test_pack_mostly_reaches_the_lower_bound_where_it_is_reachable():
    rng = random.Random(0)
    cases = [_perfectly_packable(rng, 1024, rng.randint(2, 12)) for _ in range(100)]
    bfd = sum(len(pack_best_fit(c, 1024)) == min_bins(c, 1024) for c in cases)
    ours = sum(len(pack(c, 1024)) == min_bins(c, 1024) for c in cases)
    assert bfd < 20 and ours >= 95  # measured: 7 and 97 of 100


def test_pack_places_every_sample_once_within_capacity_deterministically():
    rng = random.Random(1)
    for _ in range(200):
        capacity = rng.choice([10, 100, 256, 1024])
        lengths = [rng.randint(1, capacity) for _ in range(rng.randint(0, 200))]
        bins = pack(lengths, capacity)
        for packing in (bins, pack_min_slack(lengths, capacity)):
            assert sorted(i for b in packing for i in b) == list(range(len(lengths)))
            assert all(sum(lengths[i] for i in b) <= capacity for b in packing)
        assert min_bins(lengths, capacity) <= len(bins) <= len(pack_best_fit(lengths, capacity))
        assert pack(list(lengths), capacity) == bins
    with pytest.raises(ValueError):
        pack([11], 10)


def _pairs(rows):
    return pl.DataFrame([{"pair_id": f"p{i}", "messages": m} for i, m in enumerate(rows)],
                        schema={"pair_id": pl.Utf8, "messages": MESSAGE_DTYPE})


def test_overflow_is_dropped_and_counted(tok):
    long = [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]
    short = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    seqs, samples = tokenize_and_pack(tok, _pairs([long, short, short]), "train", PackRules(seq_len=64))
    status = dict(zip(samples["pair_id"], samples["status"]))
    assert status == {"p0": "dropped_too_long", "p1": "packed", "p2": "packed"}
    assert seqs["n_supervised"].min() >= 1 and seqs["n_tokens"].max() <= 64
    seqs_t, samples_t = tokenize_and_pack(tok, _pairs([long]), "train", PackRules(seq_len=64, overflow="truncate_response"))
    # Truncating the prompt leaves no response token: that is caught, not trained on.
    assert samples_t["status"].to_list() == ["dropped_no_supervised_tokens"] and seqs_t.is_empty()


def test_train_pairs_are_packed_as_often_as_the_mixture_repeats_them(tok):
    convs = [[{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": "An answer."}]
             for i in range(3)]
    pairs = _pairs(convs).with_columns(pl.Series("repeats", [3, 1, 2], pl.Int32))
    packed_ids = {}
    for split in ("train", "test"):
        seqs, samples = tokenize_and_pack(tok, pairs, split, PackRules(seq_len=256))
        packed_ids[split] = sorted(p for row in seqs["pair_ids"] for p in row)
        # One accounting row per pair whatever its copies.
        assert samples["pair_id"].to_list() == ["p0", "p1", "p2"]
    assert packed_ids["train"] == ["p0", "p0", "p0", "p1", "p2", "p2"]
    assert packed_ids["test"] == ["p0", "p1", "p2"]


def test_tokenize_and_pack_uses_the_tighter_packing_and_keeps_each_sample_whole(tok):
    convs = [[{"role": "user", "content": "Repeat:" + " go" * n}, {"role": "assistant", "content": "ok"}]
             for n in (45, 45, 25, 25, 25, 25)]
    lengths = [len(encode_conversation(tok, c)[0]) for c in convs]
    assert lengths == [80, 80, 60, 60, 60, 60]  # BFD: {80, 80}, {60, 60, 60}, {60}; best: {80, 60, 60} twice
    assert len(pack_best_fit(lengths, 200)) == 3
    seqs, samples = tokenize_and_pack(tok, _pairs(convs), "train", PackRules(seq_len=200))
    assert seqs.height == min_bins(lengths, 200) == 2
    assert sorted(p for row in seqs["pair_ids"] for p in row) == [f"p{i}" for i in range(6)]
    for row in seqs.iter_rows(named=True):
        assert sum(row["sample_lens"]) == row["n_tokens"] == len(row["input_ids"]) <= 200
        assert row["position_ids"] == [p for n in row["sample_lens"] for p in range(n)]
        assert row["sample_lens"] == [lengths[int(pid[1:])] for pid in row["pair_ids"]]
    assert dict(zip(samples["pair_id"], samples["seq_index"])) == {
        pid: row["seq_index"] for row in seqs.iter_rows(named=True) for pid in row["pair_ids"]}


def test_packed_samples_do_not_see_each_other(tok, tiny):
    convs = [
        [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "5"}],
        [{"role": "user", "content": "把这句话翻译成英文：今天天气很好。"}, {"role": "assistant", "content": "The weather is nice today."}],
        [{"role": "user", "content": "List three colors."}, {"role": "assistant", "content": "Red, green, blue."}],
    ]
    seqs, _ = tokenize_and_pack(tok, _pairs(convs), "train", PackRules(seq_len=256))
    assert seqs.height == 1 and len(seqs["sample_lens"][0]) == 3
    row = seqs.to_dicts()[0]
    batch = collate([row], 256, tok.pad_token_id)
    tiny.eval()
    with torch.no_grad():
        packed = tiny(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits[0]
        start = 0
        for pid, n in zip(row["pair_ids"], row["sample_lens"]):
            ids, _ = encode_conversation(tok, convs[int(pid[1:])])
            alone = tiny(input_ids=torch.tensor([ids])).logits[0]
            assert torch.allclose(packed[start:start + n], alone, atol=1e-4)
            start += n


def test_lr_schedule_warms_up_then_decays():
    s = TrainSettings(max_steps=20, warmup_steps=4, lr=1e-3, min_lr_ratio=0.1)
    lrs = [lr_at(i, s) for i in range(20)]
    assert lrs[0] < lrs[3] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[-1] >= 1e-4 - 1e-12


def test_training_lowers_validation_loss_and_keeps_the_best(tok):
    model, _ = modeling.load_base_model("tiny", seed=1)
    convs = [[{"role": "user", "content": f"What is {a} plus {a}?"}, {"role": "assistant", "content": str(2 * a)}] for a in range(40)]
    seqs, _ = tokenize_and_pack(tok, _pairs(convs), "train", PackRules(seq_len=128))
    rows = seqs.to_dicts()
    saved = []
    s = TrainSettings(max_steps=12, batch_size=2, lr=3e-3, warmup_steps=2, eval_every=4, seq_len=128)
    result = train(model, rows, rows[:2], s, tok.pad_token_id, save_best=lambda m: saved.append(result_step(m)), log=lambda _: None)
    vals = [h["val_loss"] for h in result["history"] if h["val_loss"] is not None]
    assert vals[-1] < vals[0]
    assert result["best_val_loss"] == min(vals)
    assert len(saved) >= 2  # step 0 and at least one improvement
    assert all(math.isfinite(h["train_loss"]) for h in result["history"][1:])


def result_step(model):
    return sum(p.detach().float().sum().item() for p in model.parameters())


def test_tokenizer_fingerprint_changes_with_the_chat_template(tok):
    import copy

    before = modeling.tokenizer_fingerprint(tok)
    changed = copy.deepcopy(tok)
    changed.chat_template = tok.chat_template.replace("<|im_start|>", "<|im_start|> ")
    after = modeling.tokenizer_fingerprint(changed)
    assert before["tokenizer_sha"] == after["tokenizer_sha"]
    assert before["chat_template_sha"] != after["chat_template_sha"]


def test_token_nll_scores_only_supervised_positions_exactly(tok, tiny):
    import torch.nn.functional as F

    from instr_assets.core.train.train import token_nll

    convs = [[{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello!"}],
             [{"role": "user", "content": "1+1"}, {"role": "assistant", "content": "2"},
              {"role": "user", "content": "2+2"}, {"role": "assistant", "content": "4"}]]
    rows = []
    for c in convs:
        ids, labels = encode_conversation(tok, c)
        rows.append({"input_ids": ids, "labels": labels, "position_ids": list(range(len(ids))), "sample_lens": [len(ids)]})
    batch = collate(rows, 64, tok.pad_token_id)
    with torch.no_grad():
        nll, mask = token_nll(tiny, batch, torch.device("cpu"))
        full = tiny(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits
    targets = batch["labels"][:, 1:]
    reference = F.cross_entropy(full[:, :-1].reshape(-1, full.size(-1)), targets.reshape(-1), ignore_index=IGNORE, reduction="sum")
    assert torch.equal(mask, targets != IGNORE)
    assert nll.sum().item() == pytest.approx(reference.item(), rel=1e-5)
    assert (nll[~mask] == 0).all()
