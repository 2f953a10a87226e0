"""Exact and near-duplicate images, grouped with union-find.

Public COVID-19 chest X-ray collections copy each other (the COVIDx family
merges covid-chestxray-dataset, Figure1, ActualMed, RSNA, ...; Cohen et al.
2020, Wang et al. 2020), often re-encoded or resized. Two images are treated
as the same radiograph when

* their file bytes are identical (``content_hash``, sha256), or
* their perceptual hashes (``phash``: DCT hash of Zauner 2010, as computed by
  ``imagehash.phash``, 64 bits by default) differ in at most ``max_bits`` bits.

Near-duplicate search uses **multi-index hashing** (Manku, Jain & Das Sarma,
"Detecting near-duplicates for web crawling", WWW 2007; Norouzi et al. 2012):
split each B-bit hash into ``max_bits + 1`` disjoint blocks; by the pigeonhole
principle two hashes within ``max_bits`` of each other agree exactly on at
least one block, so only hashes sharing a block value are compared. The result
is identical to a full pairwise search (tested against it) at close to linear
cost for distinct images; for very small blocks (< 4 bits) it falls back to
the O(N^2) pairwise comparison, which is also used for N <= 512 where it is
cheapest.

Chest radiographs all share the same low-frequency layout, so the 64-bit phash
alone over-matches: on 200 phantom patients (256 px) 0.1 % of cross-patient
pairs lie within 4 bits, and union-find chains such pairs into large groups.
Candidate pairs are therefore **confirmed** on a finer 256-bit phash
(``hash_size=16``) within ``4 * max_bits`` bits (same fraction of the hash):
re-encoded/resized copies measured 0-2 bits there, the cross-patient
candidates 22 or more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PAIRWISE_MAX_N = 512


class UnionFind:
    """Disjoint sets over ``0..n-1`` (path halving, union by size)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def components(self) -> list[int]:
        """Root of every element (a component label)."""
        return [self.find(i) for i in range(len(self.parent))]


def phash_u8(img_u8: np.ndarray) -> str:
    """Perceptual hash (hex, as ``str(imagehash.phash(img))``) of a decoded uint8 image.

    The one definition of the manifest's ``phash`` column: the indexer writes it and
    the split fills in missing ones with it, so the two always agree.
    """
    import imagehash
    from PIL import Image

    return str(imagehash.phash(Image.fromarray(img_u8, mode="L")))


def compute_phash(path: str | Path) -> str:
    """:func:`phash_u8` of the image file at ``path``."""
    from cxr.data.images.imageio import read_image_u8

    return phash_u8(read_image_u8(path))


def _bits(hexes: Sequence[str]) -> np.ndarray:
    """Hex strings of equal length -> (N, B) bool bit matrix."""
    raw = np.array([list(bytes.fromhex(h)) for h in hexes], dtype=np.uint8).reshape(len(hexes), -1)
    return np.unpackbits(raw, axis=1).astype(bool)


def _words(bits: np.ndarray) -> np.ndarray:
    """(N, B) bool -> (N, ceil(B / 64)) uint64, for XOR + popcount distances."""
    n, width = bits.shape
    padded = np.zeros((n, -(-width // 64) * 64), dtype=bool)
    padded[:, :width] = bits
    return np.packbits(padded, axis=1).view(">u8").astype(np.uint64)


def _close(words: np.ndarray, rows: np.ndarray, max_bits: int) -> Iterable[tuple[int, int]]:
    """Pairs (a, b), a < b, among ``rows`` of ``words`` within ``max_bits`` (blocks of rows)."""
    sub = words[rows]
    step = max(1, 4_000_000 // max(1, len(rows)))
    for lo in range(0, len(rows), step):
        block = sub[lo : lo + step]
        dist = np.bitwise_count(block[:, None, :] ^ sub[None, :, :]).sum(axis=2)
        a, b = np.nonzero(dist <= max_bits)
        keep = b > a + lo
        for x, y in zip((a[keep] + lo).tolist(), b[keep].tolist(), strict=True):
            yield int(rows[x]), int(rows[y])


def _pairwise(bits: np.ndarray, max_bits: int) -> Iterable[tuple[int, int]]:
    yield from _close(_words(bits), np.arange(len(bits)), max_bits)


def _multi_index(bits: np.ndarray, max_bits: int) -> Iterable[tuple[int, int]]:
    n, width = bits.shape
    words = _words(bits)
    edges = np.linspace(0, width, max_bits + 2).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        block = np.packbits(bits[:, lo:hi], axis=1)
        key = np.unique(block, axis=0, return_inverse=True)[1].reshape(-1)
        order = np.argsort(key, kind="stable")
        bounds = np.flatnonzero(np.diff(key[order])) + 1
        for members in np.split(order, bounds):
            if len(members) > 1:
                yield from _close(words, np.sort(members), max_bits)


def near_duplicate_pairs(
    hashes: Sequence[str], max_bits: int, *, method: str = "auto"
) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, whose hex hashes differ in <= ``max_bits`` bits.

    Empty hashes are skipped; only hashes of equal length are compared.
    ``method`` is ``auto``, ``pairwise`` or ``multi_index``.
    """
    if max_bits < 0:
        return []
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, h in enumerate(hashes):
        if h:
            by_len[len(h)].append(i)
    pairs: set[tuple[int, int]] = set()
    for idx in by_len.values():
        if len(idx) < 2:
            continue
        bits = _bits([hashes[i] for i in idx])
        block_bits = bits.shape[1] // (max_bits + 1)
        use = method
        if method == "auto":
            use = "pairwise" if len(idx) <= PAIRWISE_MAX_N or block_bits < 4 else "multi_index"
        finder = _pairwise if use == "pairwise" else _multi_index
        for a, b in finder(bits, max_bits):
            i, j = idx[a], idx[b]
            pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def candidate_pairs(
    phashes: Sequence[str], crop_hashes: Sequence[str], max_bits: int
) -> list[tuple[int, int]]:
    """Image pairs ``(i, j)``, ``i < j``, with a hash of one within ``max_bits`` of the other's.

    ``phashes[i]`` is image ``i``'s whole-image hash, ``crop_hashes[i]`` its
    centre-crop hashes (space-separated, may be empty). A pair is a candidate
    when the whole-image hashes are close, or a crop hash of one is close to the
    whole-image hash of the other (a copy with trimmed borders). All hashes go
    through one multi-index search, so the cost stays near linear.
    """
    items: list[str] = []
    owner: list[int] = []
    is_crop: list[bool] = []
    for i, (h, crops) in enumerate(zip(phashes, crop_hashes, strict=True)):
        for k, value in enumerate([h, *str(crops).split()]):
            if value:
                items.append(value)
                owner.append(i)
                is_crop.append(k > 0)
    out: set[tuple[int, int]] = set()
    for a, b in near_duplicate_pairs(items, max_bits):
        i, j = owner[a], owner[b]
        if i != j and not (is_crop[a] and is_crop[b]):
            out.add((min(i, j), max(i, j)))
    return sorted(out)


def duplicate_components(
    content_hashes: Sequence[str], pairs: Iterable[tuple[int, int]] = ()
) -> list[int]:
    """Component label per image: images linked by equal content hash or a given pair share one."""
    n = len(content_hashes)
    uf = UnionFind(n)
    first: dict[str, int] = {}
    for i, c in enumerate(content_hashes):
        if c:
            if c in first:
                uf.union(first[c], i)
            else:
                first[c] = i
    for i, j in pairs:
        uf.union(i, j)
    return uf.components()
