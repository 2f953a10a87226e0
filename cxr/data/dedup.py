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
from collections.abc import Callable, Iterable, Sequence
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
    from cxr.data.imageio import read_image_u8

    return phash_u8(read_image_u8(path))


def compute_fine_phash(path: str | Path) -> object:
    """256-bit perceptual hash (``imagehash.ImageHash``; ``a - b`` is the bit distance)."""
    import imagehash
    from PIL import Image

    from cxr.data.imageio import read_image_u8

    return imagehash.phash(Image.fromarray(read_image_u8(path), mode="L"), hash_size=16)


def _bits(hexes: Sequence[str]) -> np.ndarray:
    """Hex strings of equal length -> (N, B) bool bit matrix."""
    raw = np.array([list(bytes.fromhex(h)) for h in hexes], dtype=np.uint8).reshape(len(hexes), -1)
    return np.unpackbits(raw, axis=1).astype(bool)


def _pairwise(bits: np.ndarray, max_bits: int) -> Iterable[tuple[int, int]]:
    n = len(bits)
    packed = bits.astype(np.uint8)
    for i in range(n - 1):
        dist = np.count_nonzero(packed[i + 1 :] != packed[i], axis=1)
        for j in np.flatnonzero(dist <= max_bits):
            yield i, i + 1 + int(j)


def _multi_index(bits: np.ndarray, max_bits: int) -> Iterable[tuple[int, int]]:
    n, width = bits.shape
    edges = np.linspace(0, width, max_bits + 2).astype(int)
    seen: set[tuple[int, int]] = set()
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        block = np.packbits(bits[:, lo:hi], axis=1)
        for i in range(n):
            buckets[block[i].tobytes()].append(i)
        for members in buckets.values():
            if len(members) < 2:
                continue
            sub = bits[members]
            for a in range(len(members) - 1):
                dist = np.count_nonzero(sub[a + 1 :] != sub[a], axis=1)
                for b in np.flatnonzero(dist <= max_bits):
                    pair = (members[a], members[a + 1 + int(b)])
                    if pair not in seen:
                        seen.add(pair)
                        yield pair


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


def duplicate_components(
    content_hashes: Sequence[str],
    phashes: Sequence[str],
    max_bits: int,
    confirm: Callable[[int, int], bool] | None = None,
) -> list[int]:
    """Component label per image: images linked by equal content hash or close phash share one.

    ``confirm(i, j)``, when given, must also accept a near-duplicate (phash) pair.
    """
    n = len(content_hashes)
    uf = UnionFind(n)
    first: dict[str, int] = {}
    for i, c in enumerate(content_hashes):
        if c:
            if c in first:
                uf.union(first[c], i)
            else:
                first[c] = i
    for i, j in near_duplicate_pairs(phashes, max_bits):
        if uf.find(i) != uf.find(j) and (confirm is None or confirm(i, j)):
            uf.union(i, j)
    return uf.components()
