"""Near-duplicate candidates and clusters of texts: one-permutation MinHash over character n-grams, LSH banding,
and candidate pairs verified on the signatures, either handed back or joined by union-find.

Text preparation. A text is stripped, casefolded (simple one-to-one folding: a character whose full folding
is longer, like 'ß', falls back to `lower()`), and every run of whitespace (`str.isspace`) becomes one space.
Its shingles are its character n-grams, so Chinese needs no word segmentation; a text shorter than n is one
shingle. A text that is empty after stripping has no shingles: Jaccard is undefined for it, so it is never a
near-duplicate of anything, not even of another empty text (its signature row is all 0xFFFFFFFF).

Estimator. Each shingle is hashed once to 32 bits (a polynomial over its code points with a seeded odd
multiplier, then the murmur3 finalizer). The hash's high bits pick one of `num_perm` bins and the signature
keeps the smallest hash per bin: one-permutation hashing (Li, Owen & Zhang 2012). A bin that no shingle fell
into takes the value of the nearest filled bin to its right (circularly), remixed with the distance:
rotation densification (Shrivastava & Li 2014). Two texts then agree in a bin with probability equal to the
Jaccard similarity of their shingle sets, and the estimate is the fraction of agreeing bins. It costs one
hash per shingle where K-permutation MinHash costs `num_perm`, and has about the same variance once a text
has more shingles than bins; shorter texts borrow more bins and get noisier estimates.

Clustering. `bands` x `rows` of the signature form LSH bands; texts that share a band's bucket are candidate
pairs, each verified by its estimated similarity >= `threshold`, and verified pairs are joined into connected
components (so a chain A~B~C clusters A with C even when A and C alone fall below the threshold). Since every
candidate is verified, the default bands/rows lean towards recall: the S-curve's midpoint sits a little below
`threshold`, and the verification makes the cut.

Candidates. `candidate_pairs` stops before clustering: it returns the distinct band-sharing pairs whose
estimate passes `threshold`, for the cleaning stage to check on the texts (dup_verify.py) and cluster there.

Implementation. Texts go through in chunks of about 64K characters, concatenated into one code-point array,
and every step (folding, n-gram hashing, per-bin minimum with `np.minimum.at`, densification) is a whole-array
numpy operation; LSH buckets come from sorting 64-bit band keys, and union-find is vectorised (hooking and
pointer jumping). Two threads share the chunks, and the bands of `candidate_pairs`, as numpy drops the GIL
inside its loops.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Sequence

import numpy as np

_EMPTY_BIN = np.uint32(0xFFFFFFFF)
# Pads a short text to one full n-gram; it is past the last Unicode code point, so it matches no character.
_PAD = np.uint32(0x110000)
# Characters per chunk. The per-character arrays (up to 0.5 MB) are then recycled by malloc from chunk to
# chunk; at 4x this size a fresh process spent about as long in page faults as in hashing. Much smaller
# chunks pay numpy's per-call overhead instead.
_CHUNK_CHARS = 1 << 16
# Band-bucket neighbours paired directly, plus every member with its bucket's first: buckets of up to
# _NEIGHBOURS + 2 texts get all their pairs checked, larger ones (mostly exact copies) stay connected.
_NEIGHBOURS = 3
# Weight of the false-positive area when bands/rows are chosen (false negatives get the rest). An LSH false
# positive only costs one verification, a miss loses a near-duplicate for good, so misses weigh more than
# in datasketch (0.5/0.5, which it needs as it does not verify): for threshold 0.8 and 128 bins this picks
# 14 bands of 9 rows instead of 9 of 13, and pairs at Jaccard 0.85 become candidates 97% of the time, not 69%.
_FP_WEIGHT = 0.1
_MAX_NUM_PERM = 4096
_MAX_NGRAM = 64


@dataclass(frozen=True)
class NearDupRules:
    # Estimated Jaccard similarity of character n-gram sets at/above which two texts are near-duplicates
    # (`clusters_from_signatures`) or candidates for the cleaning stage's precise check (`candidate_pairs`).
    # The default is that of candidates: a copy with 5% of its characters edited keeps a 4-gram Jaccard of
    # about 0.65, one that doubled its length by an added sentence about 0.5.
    threshold: float = 0.5
    # MinHash signature length (bins of the one-permutation sketch).
    num_perm: int = 128
    # LSH bands and rows per band; None picks the pair that minimises the weighted false positive + false
    # negative area under the S-curve around `threshold`, weighted towards recall (see _FP_WEIGHT).
    # bands * rows <= num_perm.
    bands: int | None = None
    rows: int | None = None
    # Estimated Jaccard at/above which texts that share a part (`candidate_pairs`' shared_keys) are candidates:
    # a short answer with a sentence added shares its prompt with the original but may fall below `threshold`.
    shared_threshold: float = 0.25
    # Character n-gram length: each edit changes up to this many n-grams, so shorter ones keep edited copies
    # closer (4 where 3 would make unrelated texts share too many).
    ngram: int = 4
    seed: int = 1


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def validate(rules: NearDupRules) -> None:
    """Raise ValueError naming the offending field ('near_dup.<field>: ...')."""
    def fail(name: str, why: str):
        raise ValueError(f"near_dup.{name}: {why}")

    for name in ("threshold", "shared_threshold"):
        t = getattr(rules, name)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 1:
            fail(name, f"{t!r} must be a number in (0, 1]")
    if not _is_int(rules.num_perm) or not 1 <= rules.num_perm <= _MAX_NUM_PERM:
        fail("num_perm", f"{rules.num_perm!r} must be an integer in [1, {_MAX_NUM_PERM}]")
    if not _is_int(rules.ngram) or not 1 <= rules.ngram <= _MAX_NGRAM:
        fail("ngram", f"{rules.ngram!r} must be an integer in [1, {_MAX_NGRAM}]")
    if not _is_int(rules.seed) or rules.seed < 0:
        fail("seed", f"{rules.seed!r} must be a non-negative integer")
    for name in ("bands", "rows"):
        v = getattr(rules, name)
        if v is not None and (not _is_int(v) or not 1 <= v <= rules.num_perm):
            fail(name, f"{v!r} must be None or an integer in [1, num_perm={rules.num_perm}]")
    if rules.bands is not None and rules.rows is not None and rules.bands * rules.rows > rules.num_perm:
        fail("bands", f"bands * rows = {rules.bands} * {rules.rows} = {rules.bands * rules.rows} "
                      f"exceeds near_dup.num_perm = {rules.num_perm}")


def lsh_params(rules: NearDupRules) -> tuple[int, int]:
    """(bands, rows) used for `rules`: the given ones, the missing ones chosen as `NearDupRules` describes."""
    validate(rules)
    return _optimal_bands_rows(float(rules.threshold), int(rules.num_perm), rules.bands, rules.rows)


@lru_cache(maxsize=64)
def _optimal_bands_rows(threshold: float, num_perm: int, bands: int | None, rows: int | None,
                        fp_weight: float = _FP_WEIGHT) -> tuple[int, int]:
    if bands is not None and rows is not None:
        return bands, rows
    combos = [(b, r) for b in ([bands] if bands else range(1, num_perm + 1))
              for r in ([rows] if rows else range(1, num_perm // b + 1)) if b * r <= num_perm]
    b = np.array([c[0] for c in combos], dtype=np.float64)[:, None]
    r = np.array([c[1] for c in combos], dtype=np.float64)[:, None]
    below = np.linspace(0.0, threshold, 501)
    above = np.linspace(threshold, 1.0, 501)
    false_pos = np.trapezoid(1 - (1 - below ** r) ** b, below, axis=1)
    false_neg = np.trapezoid((1 - above ** r) ** b, above, axis=1)
    # argmin keeps the first (fewest bands) of equally good pairs.
    return combos[int(np.argmin(fp_weight * false_pos + (1 - fp_weight) * false_neg))]


@lru_cache(maxsize=1)
def _fold_table() -> np.ndarray:
    """Code point -> code point after simple casefolding, with every whitespace character mapped to ' '."""
    table = np.arange(0x110000, dtype=np.uint32)
    # Past U+1E950 no character changes under folding and none is whitespace.
    changed, target = [], []
    for cp, ch in enumerate(map(chr, range(0x1E950))):
        folded = ch.casefold()
        if folded == ch and not ch.isspace():
            continue
        if ch.isspace():
            folded = " "
        elif len(folded) != 1:
            folded = ch.lower()
        if len(folded) == 1:
            changed.append(cp)
            target.append(ord(folded))
    table[changed] = target
    return table


@lru_cache(maxsize=1)
def _ascii_fold() -> bytes:
    """The ASCII part of `_fold_table` as a `bytes.translate` table (only ASCII input reaches it)."""
    return bytes(_fold_table()[:128].astype(np.uint8)) + bytes(range(128, 256))


@dataclass(frozen=True)
class _Hashing:
    num_perm: int
    ngram: int
    multiplier: np.uint32  # odd, seeded: the n-gram polynomial's base
    band_weights: np.ndarray  # (bands, rows) seeded odd uint64 weights folding a band's rows into one key

    @classmethod
    def of(cls, rules: NearDupRules) -> "_Hashing":
        bands, rows = lsh_params(rules)
        rng = np.random.default_rng(rules.seed)
        multiplier = np.uint32(int(rng.integers(0, 2 ** 32, dtype=np.uint64)) | 1)
        weights = rng.integers(0, 2 ** 64, size=(bands, rows), dtype=np.uint64) | np.uint64(1)
        return cls(rules.num_perm, rules.ngram, multiplier, weights)


def _fmix32(h: np.ndarray, tmp: np.ndarray) -> None:
    """murmur3's 32-bit finalizer, in place (tmp: scratch of the same shape)."""
    np.right_shift(h, np.uint32(16), out=tmp)
    h ^= tmp
    h *= np.uint32(0x85EBCA6B)
    np.right_shift(h, np.uint32(13), out=tmp)
    h ^= tmp
    h *= np.uint32(0xC2B2AE35)
    np.right_shift(h, np.uint32(16), out=tmp)
    h ^= tmp


def _code_points(chunk: list[str], ascii_only: bool) -> np.ndarray:
    """Folded code points of the concatenated texts (uint8 when all ASCII, else uint32)."""
    joined = "".join(chunk)
    if ascii_only:
        return np.frombuffer(joined.encode("ascii").translate(_ascii_fold()), dtype=np.uint8)
    # surrogatepass: a lone surrogate in a str is still one code point here.
    raw = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _fold_table()[raw]


def _chunk_signatures(chunk: list[str], lengths: np.ndarray, ascii_only: bool, hashing: _Hashing) -> np.ndarray:
    """(len(chunk), num_perm) signatures of non-empty, stripped texts of these lengths."""
    n, k = hashing.ngram, hashing.num_perm
    m = len(chunk)
    starts = np.zeros(m, dtype=np.intp)
    np.cumsum(lengths[:-1], out=starts[1:])
    folded = _code_points(chunk, ascii_only)
    # Collapse whitespace runs to their first space. Texts are stripped, so no run crosses a text boundary.
    space = folded == 32
    drop = np.flatnonzero(space[1:] & space[:-1]) + 1
    if drop.size:
        keep = np.ones(folded.size, dtype=bool)
        keep[drop] = False
        folded = folded[keep]
        starts -= np.searchsorted(drop, starts)
        lengths = np.diff(np.append(starts, folded.size))
    total = folded.size
    codes = np.empty(total + n - 1, dtype=np.uint32)
    codes[:total] = folded
    codes[total:] = _PAD

    # Polynomial hash of the n-gram starting at every position (Horner, wrapping uint32).
    mult = hashing.multiplier
    h = np.multiply(codes[:total], mult)
    for j in range(1, n):
        h += codes[j:j + total]
        if j < n - 1:
            h *= mult
    short = np.flatnonzero(lengths < n)
    if short.size:
        # A text shorter than n is one shingle: itself padded, in place of its first n-gram.
        offsets = np.arange(n)
        block = codes[starts[short, None] + offsets]
        block[offsets >= lengths[short, None]] = _PAD
        poly = block[:, 0] * mult
        for j in range(1, n):
            poly += block[:, j]
            if j < n - 1:
                poly *= mult
        h[starts[short]] = poly
    tmp = np.empty_like(h)
    _fmix32(h, tmp)

    # Bin = high bits of the hash (multiply-shift, any num_perm <= 2**16), plus the row's offset; the slot
    # past the last row swallows the n-grams that run into the next text.
    np.right_shift(h, np.uint32(16), out=tmp)
    tmp *= np.uint32(k)
    tmp >>= np.uint32(16)
    slot = np.repeat(np.arange(0, m * k, k, dtype=np.intp), lengths)
    slot += tmp
    tail = np.arange(1, n)
    ends = starts + lengths
    slot[(ends[:, None] - tail)[tail < np.minimum(lengths, n)[:, None]]] = m * k
    flat = np.full(m * k + 1, _EMPTY_BIN, dtype=np.uint32)
    np.minimum.at(flat, slot, h)
    return _densify(flat[:-1].reshape(m, k))


def _densify(sig: np.ndarray) -> np.ndarray:
    """Fill empty bins from the nearest filled bin to the right (circularly), remixed with the distance so
    that a borrowed value never matches a genuine one."""
    flat = sig.reshape(-1)
    empty = flat == _EMPTY_BIN
    holes = np.flatnonzero(empty)
    if holes.size == 0:
        return sig
    k = sig.shape[1]
    filled = np.flatnonzero(~empty)
    row_start = holes - holes % k
    # The next filled position after each hole, over the rows laid end to end; where that lies past the
    # hole's row (or there is none), the row's first filled bin instead. No row is all empty.
    after = np.searchsorted(filled, holes)
    source = filled[np.minimum(after, filled.size - 1)]
    wrap = (after == filled.size) | (source >= row_start + k)
    source[wrap] = filled[np.searchsorted(filled, row_start[wrap])]
    values = flat[source] ^ ((source - holes) % k).astype(np.uint32) * np.uint32(0x9E3779B9)
    _fmix32(values, np.empty_like(values))
    flat[holes] = values
    return sig


def _chunks(lengths: np.ndarray, is_ascii: np.ndarray) -> list[tuple[np.ndarray, bool]]:
    """Index sets of about _CHUNK_CHARS characters each, ASCII texts apart (they take a faster encoding)."""
    out = []
    for flag in (True, False):
        idx = np.flatnonzero((is_ascii == flag) & (lengths > 0))
        if idx.size == 0:
            continue
        cut = np.searchsorted(np.cumsum(lengths[idx]), np.arange(_CHUNK_CHARS, lengths[idx].sum(), _CHUNK_CHARS))
        out.extend((part, flag) for part in np.split(idx, np.unique(cut)) if part.size)
    return out


def minhash_signatures(texts: Sequence[str], rules: NearDupRules, threads: int = 2) -> np.ndarray:
    """(len(texts), num_perm) uint32 one-permutation MinHash signatures (see the module docstring); the
    fraction of equal entries of two rows estimates the Jaccard similarity of the two texts. Empty texts get
    rows of _EMPTY_BIN, which match nothing. `threads`: 1 where every core is busy anyway (in the cleaning
    stage's worker processes a second thread only adds contention, about a fifth more CPU)."""
    validate(rules)
    hashing = _Hashing.of(rules)
    prepared = [(t or "").strip() for t in texts]
    n = len(prepared)
    lengths = np.fromiter(map(len, prepared), dtype=np.intp, count=n)
    is_ascii = np.fromiter(map(str.isascii, prepared), dtype=bool, count=n)
    # Every non-empty row is written by its chunk; only the empty ones need filling here.
    sig = np.empty((n, rules.num_perm), dtype=np.uint32)
    sig[lengths == 0] = _EMPTY_BIN

    def work(part: tuple[np.ndarray, bool]) -> tuple[np.ndarray, np.ndarray]:
        idx, flag = part
        return idx, _chunk_signatures([prepared[i] for i in idx.tolist()], lengths[idx], flag, hashing)

    # A second thread runs one chunk's array work while the other holds the GIL (join, encode).
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for idx, s in pool.map(work, _chunks(lengths, is_ascii)):
            sig[idx] = s
    return sig


def _bucket_pairs(band_keys: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (a < b) of `live` texts whose keys in one band are equal: each member with its next
    _NEIGHBOURS members of the bucket, and members further down with the bucket's first."""
    # The low bits of a key give way to the text's index: sorting the keys then lines buckets up with their
    # members in index order, and no ties are left for a sort to order differently between builds.
    shift = np.uint64(max(1, int(live.max(initial=0)).bit_length()))
    tagged = np.sort((band_keys[live] << shift) | live.astype(np.uint64))
    members = (tagged & ((np.uint64(1) << shift) - np.uint64(1))).astype(np.intp)
    buckets = tagged >> shift
    firsts, seconds = [], []
    for d in range(1, _NEIGHBOURS + 1):
        same = buckets[d:] == buckets[:-d]
        firsts.append(members[:-d][same])
        seconds.append(members[d:][same])
    positions = np.arange(live.size)
    opens = np.ones(live.size, dtype=bool)
    opens[1:] = buckets[1:] != buckets[:-1]
    first = np.maximum.accumulate(np.where(opens, positions, 0))
    far = positions - first > _NEIGHBOURS
    firsts.append(members[first[far]])
    seconds.append(members[far])
    return np.concatenate(firsts), np.concatenate(seconds)


def _agreement(sig: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of equal bins of rows a[i] and b[i], in slices to bound the gathered copies."""
    out = np.empty(a.size, dtype=np.int64)
    step = 1 << 15
    for s in range(0, a.size, step):
        out[s:s + step] = (sig[a[s:s + step]] == sig[b[s:s + step]]).sum(axis=1)
    return out


def _join(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union of the edges a-b into `parent` (every entry pointing at its root, the lowest index of its
    component): hook roots onto the smaller root, then pointer jumping, until every edge lies inside one tree.
    parent[x] <= x throughout, so each root stays the minimum of its component."""
    while a.size:
        ra, rb = parent[a], parent[b]
        split = ra != rb
        if not split.any():
            break
        a, b, ra, rb = a[split], b[split], ra[split], rb[split]
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return parent


def connected_components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per node of 0..n-1, the lowest node of its connected component under the edges a[i]-b[i]."""
    return _join(np.arange(n), np.asarray(a, dtype=np.intp), np.asarray(b, dtype=np.intp))


def clusters_from_signatures(sig: np.ndarray, rules: NearDupRules) -> tuple[np.ndarray, np.ndarray]:
    """(cluster, similarity) from signatures made by `minhash_signatures` with the same rules; signatures of
    separate batches may be stacked, since a text's signature does not depend on its batch."""
    validate(rules)
    if sig.ndim != 2 or sig.shape[1] != rules.num_perm:
        raise ValueError(f"near_dup.num_perm: signatures have shape {sig.shape}, rules want {rules.num_perm} columns")
    weights = _Hashing.of(rules).band_weights
    rows = weights.shape[1]
    live = np.flatnonzero((sig != _EMPTY_BIN).any(axis=1))
    n = sig.shape[0]
    need = math.ceil(round(rules.threshold * rules.num_perm, 9))
    cluster = np.arange(n)
    # Band by band, so candidates never pile up: a pair already joined (directly or through others) is not
    # verified again, which leaves true near-duplicates about one check each. Keys are made per band, which
    # keeps the extra memory to one band's worth.
    for band in range(weights.shape[0]):
        keys = (sig[:, band * rows:(band + 1) * rows].astype(np.uint64) * weights[band]).sum(axis=1)
        a, b = _bucket_pairs(keys, live)
        unjoined = cluster[a] != cluster[b]
        a, b = a[unjoined], b[unjoined]
        verified = _agreement(sig, a, b) >= need
        cluster = _join(cluster, a[verified], b[verified])
    similarity = np.ones(n, dtype=np.float64)
    members = np.flatnonzero(cluster != np.arange(n))
    similarity[members] = _agreement(sig, members, cluster[members]) / rules.num_perm
    return cluster, similarity


def near_duplicate_clusters(texts: Sequence[str], rules: NearDupRules) -> tuple[np.ndarray, np.ndarray]:
    """(cluster, similarity): cluster[i] = index of the lowest-index member of i's cluster (so the caller orders
    texts by preference first and the representative is the best one); similarity[i] = estimated Jaccard between
    i and its representative (1.0 for the representative itself)."""
    return clusters_from_signatures(minhash_signatures(texts, rules), rules)


def candidate_pairs(sig: np.ndarray, rules: NearDupRules,
                    shared_keys: Sequence[np.ndarray] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Distinct index pairs (a < b), candidates for a precise check (no clustering): pairs that share an LSH
    band bucket and whose estimated Jaccard is >= `threshold`, and pairs that share a value in one of the
    `shared_keys` arrays (say a hash of the prompt, or of the response) and whose estimate is >=
    `shared_threshold`. Two threads take alternate bands (numpy drops the GIL in its loops), so memory stays
    two bands' pairs plus the pairs each thread found so far, and the signatures' low bytes."""
    validate(rules)
    weights = _Hashing.of(rules).band_weights
    rows = weights.shape[1]
    live = np.flatnonzero((sig != _EMPTY_BIN).any(axis=1))
    # Most bucket pairs share little (a common instruction or template): a first check on one byte per bin
    # (a quarter of the memory traffic) drops them; a byte agrees by chance 1 time in 256, which the slack
    # absorbs, and survivors are checked on the full values.
    low = sig.astype(np.uint8)
    slack = rules.num_perm // 64 + 1
    n = np.uint64(sig.shape[0])

    def band_keys(band: int) -> np.ndarray:
        return (sig[:, band * rows:(band + 1) * rows].astype(np.uint64) * weights[band]).sum(axis=1)

    # (keys, threshold) of each way to share a bucket: the shared parts, then the bands.
    sources = [(partial(np.asarray, keys, dtype=np.uint64), rules.shared_threshold) for keys in shared_keys]
    sources += [(partial(band_keys, band), rules.threshold) for band in range(weights.shape[0])]

    def found_in(share: list) -> np.ndarray:
        found = np.empty(0, dtype=np.uint64)
        for keys, threshold in share:
            # A bucket's members come in index order and each pair once, so a < b and there is nothing to dedupe.
            a, b = _bucket_pairs(keys(), live)
            need = math.ceil(round(threshold * rules.num_perm, 9))
            pair = a.astype(np.uint64) * n + b.astype(np.uint64)
            if found.size:  # a pair this thread already found is not checked again
                at = np.minimum(np.searchsorted(found, pair), found.size - 1)
                fresh = found[at] != pair
                a, b, pair = a[fresh], b[fresh], pair[fresh]
            likely = _agreement(low, a, b) >= need - slack
            a, b, pair = a[likely], b[likely], pair[likely]
            found = np.union1d(found, pair[_agreement(sig, a, b) >= need])
        return found

    # A pair that both threads find is checked twice; the union is the same as one thread's.
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = np.union1d(*pool.map(found_in, (sources[0::2], sources[1::2])))
    return (found // n).astype(np.intp), (found % n).astype(np.intp)
