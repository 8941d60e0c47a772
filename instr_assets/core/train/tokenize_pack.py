"""Chat-template tokenization with prompt tokens masked out of the labels, and packing into fixed-length
sequences whose samples cannot attend to each other."""
from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass

import polars as pl

from ..progress import Progress

_log = logging.getLogger(__name__)
IGNORE = -100

SEQ_SCHEMA = {
    "split": pl.Utf8, "seq_index": pl.Int32, "input_ids": pl.List(pl.Int32), "labels": pl.List(pl.Int32),
    "position_ids": pl.List(pl.Int32), "sample_lens": pl.List(pl.Int32), "pair_ids": pl.List(pl.Utf8),
    "n_tokens": pl.Int32, "n_supervised": pl.Int32,
}
SAMPLE_SCHEMA = {
    "pair_id": pl.Utf8, "split": pl.Utf8, "n_tokens": pl.Int32, "n_supervised": pl.Int32, "status": pl.Utf8,
    "detail": pl.Utf8, "seq_index": pl.Int32,
}


class TemplateError(ValueError):
    pass


def _special_token_pattern(tokenizer) -> re.Pattern:
    """Every special token string of `tokenizer`, longest first, as one pattern."""
    specials = {t.content for t in tokenizer.added_tokens_decoder.values() if t.special}
    return re.compile("|".join(re.escape(t) for t in sorted(specials, key=len, reverse=True)))


def _template_pieces(tokenizer, messages: list[dict], full: str,
                     add_generation_prompt: bool = False) -> list[tuple[str, bool]]:
    """`full` cut into (text, is a special token of the template) pieces.

    The template is rendered once more with a marker in place of each content; a special token string found
    in that rendering is the template's own, one inside a content is text. The contents put back into the
    rendering must give `full` again, which also catches a template that edits contents.
    """
    used = "".join(m["content"] for m in messages)
    mark = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in used)  # a private-use character
    marked = tokenizer.apply_chat_template(
        [{**m, "content": f"{mark}{i}{mark}"} for i, m in enumerate(messages)], tokenize=False,
        add_generation_prompt=add_generation_prompt)
    content_at = re.compile(f"{mark}(\\d+){mark}")
    pieces, at = [], 0
    for match in _special_token_pattern(tokenizer).finditer(marked):
        pieces.append((marked[at:match.start()], False))
        pieces.append((match.group(), True))
        at = match.end()
    pieces.append((marked[at:], False))
    pieces = [(text if special else content_at.sub(lambda found: messages[int(found[1])]["content"], text), special)
              for text, special in pieces if text]
    if "".join(text for text, _ in pieces) != full:
        raise TemplateError("the chat template changes message contents; cannot keep them apart from its special tokens")
    return pieces


def encode_conversation(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """Token ids and labels, with labels only on assistant turns (content and end-of-turn token).

    Assistant spans are found by rendering the conversation prefix by prefix: the text a turn adds after its
    generation prompt is what the model must learn to produce.

    Only the template's own special tokens become special ids: a special token string inside a message
    ("<|im_end|>" quoted in an answer about chat formats) is tokenized as the text it is, so data can never
    end a turn or open a new one. The text between the template's special tokens is tokenized apart, exactly
    as the tokenizer itself cuts a text at its special tokens before anything else (for special tokens that do
    not strip the spaces beside them, as none of SmolLM2's do), so clean conversations get the same ids as
    before.
    """
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True)
        through = tokenizer.apply_chat_template(messages[: i + 1], tokenize=False)
        if not (full.startswith(before) and full.startswith(through) and through.startswith(before)):
            raise TemplateError("the chat template does not render conversations prefix by prefix; cannot locate assistant turns")
        spans.append((len(before), len(through.rstrip("\n"))))
    ids, starts = _encode_pieces(tokenizer, _template_pieces(tokenizer, messages, full))
    labels = [tok if any(s <= start < e for s, e in spans) else IGNORE for tok, start in zip(ids, starts)]
    return ids, labels


def encode_prompt(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of the generation prompt for `messages`, contents kept apart from special tokens as in
    `encode_conversation`, so an evaluation prompt quoting "<|im_end|>" cannot end its own turn."""
    full = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return _encode_pieces(tokenizer, _template_pieces(tokenizer, messages, full, add_generation_prompt=True))[0]


def _encode_pieces(tokenizer, pieces: list[tuple[str, bool]]) -> tuple[list[int], list[int]]:
    """(ids, character offset of each id) of template pieces: special pieces as their one id, the text between
    them tokenized with special token strings read as text."""
    texts = [text for text, special in pieces if not special]
    enc = tokenizer(texts, add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=True)
    texts_ids, texts_offsets = iter(enc["input_ids"]), iter(enc["offset_mapping"])
    ids, starts, at = [], [], 0
    for text, special in pieces:
        if special:
            ids.append(tokenizer.convert_tokens_to_ids(text))
            starts.append(at)
        else:
            ids += next(texts_ids)
            starts += [at + start for start, _end in next(texts_offsets)]
        at += len(text)
    return ids, starts


@dataclass(frozen=True)
class PackRules:
    seq_len: int = 1024
    # 'drop' a sample longer than seq_len, or 'truncate_response' to cut it at seq_len (counted either way).
    overflow: str = "drop"


def pack_best_fit(lengths: list[int], capacity: int) -> list[list[int]]:
    """Best-fit decreasing: each sample goes into the fullest bin it still fits; returns bins of indices."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    bins: list[list[int]] = []
    free: list[int] = []
    for i in order:
        best = -1
        for b, room in enumerate(free):
            if lengths[i] <= room and (best < 0 or room < free[best]):
                best = b
        if best < 0:
            bins.append([i])
            free.append(capacity - lengths[i])
        else:
            bins[best].append(i)
            free[best] -= lengths[i]
    return bins


def _fullest_subset(candidates, lengths: list[int], room: int) -> list[int]:
    """The subset of `candidates` (an iterable, longest first) with the largest total <= room, by exact subset sum.

    Bit s of reach[k] says some subset of the first k candidates sums to s. Among subsets of equal total the
    longer samples are taken, which leaves the short, easy-to-place ones for later bins.
    """
    mask = (1 << (room + 1)) - 1
    seen, reach = [], [1]
    for i in candidates:
        seen.append(i)
        reach.append((reach[-1] | (reach[-1] << lengths[i])) & mask)
        if reach[-1] >> room:  # a perfect fill: no later candidate can beat it
            break
    target = reach[-1].bit_length() - 1
    chosen = []
    for k in range(len(seen), 0, -1):
        if not (reach[k - 1] >> target) & 1:
            chosen.append(seen[k - 1])
            target -= lengths[seen[k - 1]]
    return chosen[::-1]


def pack_min_slack(lengths: list[int], capacity: int) -> list[list[int]]:
    """Minimum bin slack: bin by bin, the longest sample left plus the subset of the rest that fills the bin best.

    Starting each bin with the longest sample keeps long samples from being stranded in the last bins.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    placed = [False] * len(lengths)
    bins: list[list[int]] = []
    head = n_placed = 0  # order[:head] is all placed; n_placed samples of `order` are placed
    while head < len(order):
        first = order[head]
        room = capacity - lengths[first]
        start = bisect.bisect_left(order, -room, lo=head + 1, key=lambda i: -lengths[i])
        fits = (order[k] for k in range(start, len(order)) if not placed[order[k]])
        members = [first] + _fullest_subset(fits, lengths, room)
        for i in members:
            placed[i] = True
        bins.append(members)
        n_placed += len(members)
        if 2 * n_placed >= len(order):  # drop placed samples so skipping them stays cheap
            order = [i for i in order if not placed[i]]
            head = n_placed = 0
        while head < len(order) and placed[order[head]]:
            head += 1
    return bins


def min_bins(lengths: list[int], capacity: int) -> int:
    """The lower bound on the number of bins: ceil(total / capacity)."""
    return -(-sum(lengths) // capacity)


def pack(lengths: list[int], capacity: int) -> list[list[int]]:
    """Bins of sample indices, none over capacity and no sample split: best-fit decreasing, replaced by minimum bin
    slack when that uses fewer bins. The second pass runs only while BFD is above min_bins. Deterministic."""
    if any(n > capacity for n in lengths):
        raise ValueError(f"a sample is longer than the capacity {capacity}")
    bins = pack_best_fit(lengths, capacity)
    if len(bins) > min_bins(lengths, capacity):
        tighter = pack_min_slack(lengths, capacity)
        if len(tighter) < len(bins):
            bins = tighter
    return bins


def tokenize_and_pack(tokenizer, pairs: pl.DataFrame, split: str, rules: PackRules) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(packed sequences, per-sample accounting) for one split.

    A train pair is packed `repeats` times when the splits hold that column (the mixture's up-sampling); its
    accounting row names the sequence of its first copy. Evaluation splits count each pair once."""
    if rules.overflow not in ("drop", "truncate_response"):
        raise ValueError(f"overflow: {rules.overflow!r} is not 'drop' or 'truncate_response'")
    samples, accounting = [], []
    progress = Progress(_log, f"tokenized_shards ({split})", pairs.height, "pairs tokenized")
    copies = (pairs["repeats"].fill_null(1).to_list() if split == "train" and "repeats" in pairs.columns
              else [1] * pairs.height)
    for row, n_copies in zip(pairs.select("pair_id", "messages").iter_rows(named=True), copies):
        ids, labels = encode_conversation(tokenizer, row["messages"])
        progress.advance()
        status, detail = "packed", None
        if len(ids) > rules.seq_len:
            if rules.overflow == "drop":
                status, detail = "dropped_too_long", f"{len(ids)} tokens > seq_len {rules.seq_len}"
            else:
                ids, labels = ids[: rules.seq_len], labels[: rules.seq_len]
                status, detail = "truncated", f"cut to seq_len {rules.seq_len}"
        n_sup = sum(1 for x in labels if x != IGNORE)
        if status != "dropped_too_long" and n_sup == 0:
            status, detail = "dropped_no_supervised_tokens", "no assistant token survived"
        accounting.append({"pair_id": row["pair_id"], "split": split, "n_tokens": len(ids), "n_supervised": n_sup,
                           "status": status, "detail": detail, "seq_index": None})
        if status in ("packed", "truncated"):
            samples += [(row["pair_id"], ids, labels, len(accounting) - 1)] * max(n_copies, 1)
    bins = pack([len(s[1]) for s in samples], rules.seq_len)
    sequences = []
    for seq_index, members in enumerate(bins):
        ids, labels, pos, lens, pids = [], [], [], [], []
        for m in members:
            pid, s_ids, s_labels, acc_idx = samples[m]
            ids += s_ids
            labels += s_labels
            pos += list(range(len(s_ids)))
            lens.append(len(s_ids))
            pids.append(pid)
            if accounting[acc_idx]["seq_index"] is None:
                accounting[acc_idx]["seq_index"] = seq_index
        sequences.append({"split": split, "seq_index": seq_index, "input_ids": ids, "labels": labels,
                          "position_ids": pos, "sample_lens": lens, "pair_ids": pids, "n_tokens": len(ids),
                          "n_supervised": sum(1 for x in labels if x != IGNORE)})
    return pl.DataFrame(sequences, schema=SEQ_SCHEMA), pl.DataFrame(accounting, schema=SAMPLE_SCHEMA)


def splits_without_sequences(samples: pl.DataFrame, splits: tuple[str, ...]) -> list[str]:
    """One line per split in `splits` that packed no sample, saying what became of its samples.

    samples: the per-sample accounting of tokenize_and_pack over all splits. Training and evaluation need every
    split, so a shard version with an empty one must not be published."""
    problems = []
    for split in splits:
        part = samples.filter(pl.col("split") == split)
        if not part["status"].is_in(["packed", "truncated"]).any():
            by_status = ", ".join(f"{s} {n}" for s, n in part.group_by("status").len().sort("status").iter_rows())
            problems.append(f"{split}: no sample packed ({by_status})" if part.height else f"{split}: no samples")
    return problems


def collate(rows: list[dict], seq_len: int, pad_id: int, dtype=None):
    """Batch packed rows into tensors with a block-diagonal causal mask (additive, [B, 1, L, L]).

    Positions restart at each sample, and a token may only attend to earlier tokens of its own sample;
    padding forms its own block so no attention row is empty.
    """
    import torch

    dtype = dtype or torch.float32
    b = len(rows)
    input_ids = torch.full((b, seq_len), pad_id, dtype=torch.long)
    labels = torch.full((b, seq_len), IGNORE, dtype=torch.long)
    position_ids = torch.zeros((b, seq_len), dtype=torch.long)
    segment = torch.zeros((b, seq_len), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        input_ids[i, :n] = torch.tensor(r["input_ids"])
        labels[i, :n] = torch.tensor(r["labels"])
        position_ids[i, :n] = torch.tensor(r["position_ids"])
        start = 0
        for k, length in enumerate(r["sample_lens"], start=1):
            segment[i, start:start + length] = k
            start += length
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
    allowed = (segment[:, :, None] == segment[:, None, :]) & causal
    mask = torch.zeros((b, 1, seq_len, seq_len), dtype=dtype)
    mask.masked_fill_(~allowed[:, None], torch.finfo(dtype).min)
    return {"input_ids": input_ids, "labels": labels, "position_ids": position_ids, "attention_mask": mask,
            "segment_ids": segment}
