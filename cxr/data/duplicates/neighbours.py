"""Near-copy candidates from a nearest-neighbour index over the thumbnails' crop views.

Why not the hashes: radiographs look alike, so 64-bit pHashes of different
patients fall within a few bits of each other (on 14,899 real images the hash
bands gave 297,182 candidate pairs, 99.8 % of them rejected), while a copy
re-cropped on one side moves its pHash far away (issue 23, item 7).

Here every image is described by the 32 x 32 thumbnail the manifest already
holds (:mod:`cxr.data.duplicates.nearcopy`):

* an **embedding**: the thumbnail blurred (``_BLUR`` pixels) and reduced to
  ``_SIDE x _SIDE``, contrast-normalised (zero mean, unit norm), so the inner
  product is a correlation that tolerates a pixel of misalignment;
* its **crop views**: the same embedding of the thumbnail cropped by
  ``_CROPS`` on each side independently (one or two sides trimmed, which also
  shifts the content) and stretched back to the full frame. A copy ``B`` cut
  from ``A`` looks like one of ``A``'s views.

The views of all images go into a ``faiss`` inverted-file index (Jegou et al.,
"Product quantization for nearest neighbor search", TPAMI 2011; Johnson et al.,
"Billion-scale similarity search with GPUs", 2017) after a PCA to ``_DIMS``
dimensions; each image's plain embedding then asks for its ``k`` nearest views.
A hit on a view of another image whose similarity reaches ``min_sim`` makes the
pair a candidate. The cost is near-linear in the number of images (a query
scans ``nprobe / nlist`` of the index); the candidates still go through the
aligned thumbnail confirmation.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from cxr.data.duplicates.nearcopy import THUMB

_BLUR = 1.0  # thumbnail pixels
_SIDE = 16  # embedding grid
_CROPS = (0.0, 0.05, 0.1)  # per side, each side independently
_DIMS = 64  # after PCA
_MARGIN = 3 / THUMB  # each view's border left out (shift bands, letters, frames)
DEFAULT_K = 6
DEFAULT_MIN_SIM = 0.5
_EXACT_MAX = 500_000  # index vectors up to which the search is exact (flat)
_QUERY_BATCH = 4096
_EMBED_BATCH = 1024  # images whose crop views are embedded at once (1024 x 81 x 256 floats)
_NPROBE = 8


def _axis_matrix(lo: float, hi: float) -> np.ndarray:
    """``(THUMB, THUMB)`` linear resampling of one axis: trim ``lo`` / ``hi``, stretch back."""
    n = THUMB
    u = _MARGIN + (1.0 - 2 * _MARGIN) * (np.arange(n) + 0.5) / n  # inside the margin
    x = np.clip((lo + (1.0 - lo - hi) * u) * n - 0.5, 0, n - 1)
    x0 = np.minimum(np.floor(x).astype(int), n - 2)
    f = x - x0
    w = np.zeros((n, n), dtype=np.float32)
    w[np.arange(n), x0] += 1 - f
    w[np.arange(n), x0 + 1] += f
    return w


def _reduce_matrix() -> np.ndarray:
    """``(_SIDE, THUMB)``: blur then area-average one axis to ``_SIDE`` samples."""
    from scipy.ndimage import gaussian_filter1d

    eye = np.eye(THUMB, dtype=np.float32)
    blur = gaussian_filter1d(eye, _BLUR, axis=0, mode="nearest")
    pool = np.kron(np.eye(_SIDE), np.ones((1, THUMB // _SIDE)) / (THUMB // _SIDE))
    return np.asarray(pool @ blur, dtype=np.float32)


def _axis_views() -> list[np.ndarray]:
    """Per-axis ``(_SIDE, THUMB)`` maps, one per (trim low side, trim high side)."""
    red = _reduce_matrix()
    return [red @ _axis_matrix(a, b) for a in _CROPS for b in _CROPS]


def _unit(x: np.ndarray) -> np.ndarray:
    """Rows to zero mean and unit norm, in place (constant rows stay zero)."""
    x -= x.mean(axis=-1, keepdims=True)
    norm = np.sqrt(np.einsum("...i,...i->...", x, x))[..., None]
    x /= np.maximum(norm, 1e-6)
    return x


@lru_cache(maxsize=1)
def _axes() -> np.ndarray:
    """Every per-axis view map, stacked: ``(A * _SIDE, THUMB)``."""
    return np.ascontiguousarray(np.concatenate(_axis_views()), dtype=np.float32)


def embed(thumbs: np.ndarray, *, views: bool = False) -> np.ndarray:
    """``(N, _SIDE**2)`` plain embeddings, or ``(N, V, _SIDE**2)`` with every crop view."""
    t = np.asarray(thumbs, dtype=np.float32).reshape(-1, THUMB, THUMB)
    axes = _axes() if views else _axes()[:_SIDE]
    n, a = len(t), len(axes) // _SIDE  # axes: (A * _SIDE, THUMB)
    x = (t.reshape(n * THUMB, THUMB) @ axes.T).reshape(n, THUMB, a * _SIDE)  # x resampled
    y = x.transpose(0, 2, 1).reshape(n * a * _SIDE, THUMB) @ axes.T  # then y
    out = y.reshape(n, a, _SIDE, a, _SIDE).transpose(0, 3, 1, 4, 2)  # (n, ay, ax, sy, sx)
    out = _unit(np.ascontiguousarray(out).reshape(len(t), a * a, _SIDE * _SIDE))
    return out if views else out[:, 0]


def _pca(t: np.ndarray, dims: int, rng: np.random.Generator) -> Any:
    """PCA to ``dims`` trained on the crop views of up to 256 images."""
    import faiss

    sample = embed(t[rng.choice(len(t), min(len(t), 256), replace=False)], views=True)
    flat = np.ascontiguousarray(sample.reshape(-1, sample.shape[-1]))
    pca = faiss.PCAMatrix(flat.shape[1], min(dims, flat.shape[1]))
    pca.train(flat)
    return pca


def _index(t: np.ndarray, pca: Any, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
    """(index over every crop view, ``(N, dims)`` plain embeddings), views embedded in chunks.

    Exact search up to ``_EXACT_MAX`` vectors; beyond, an inverted file with 8-bit
    scalar-quantised vectors (64 bytes a view: 100k images x 81 views hold about 0.5 GiB)
    and ``sqrt(nprobe N)`` lists, which balances assigning the ``N V`` views to lists
    (``N V nlist`` products) against scanning ``nprobe`` lists per query
    (``N nprobe N V / nlist``); ``sqrt(N V)`` lists cost twice as much at 15k images.
    """
    import faiss

    n, v, dim = len(t), n_index_views(), pca.d_out
    index: Any
    if n * v <= _EXACT_MAX:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(min(max(16, np.sqrt(_NPROBE * n)), n * v // 40))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, nlist,
                                              faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        per = max(1, 40 * nlist // n + 1)  # 40 training points per list (faiss warns below 39)
        pick = rng.choice(len(t), min(len(t), 40 * nlist // per + 1), replace=False)
        keep = rng.permutation(v)[:per]  # views of each picked image used for training
        views = np.concatenate([embed(t[pick[lo : lo + _EMBED_BATCH]], views=True)[:, keep]
                                for lo in range(0, len(pick), _EMBED_BATCH)])
        index.train(_reduce(pca, np.ascontiguousarray(views.reshape(-1, views.shape[-1]))))
        index.nprobe = _NPROBE
    plain = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, _EMBED_BATCH):
        views = embed(t[lo : lo + _EMBED_BATCH], views=True)
        red = _reduce(pca, np.ascontiguousarray(views.reshape(-1, views.shape[-1])))
        index.add(red)
        plain[lo : lo + len(views)] = red.reshape(len(views), v, dim)[:, 0]
    return index, plain


def n_index_views() -> int:
    return len(_CROPS) ** 4


def _reduce(pca: Any, x: np.ndarray) -> np.ndarray:
    red = np.asarray(pca.apply(x), dtype=np.float32)
    red /= np.maximum(np.linalg.norm(red, axis=1, keepdims=True), 1e-6)
    return red


def _best_k(rows: np.ndarray, owners: np.ndarray, sims: np.ndarray,
            k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per query row, its ``k`` most similar distinct owners (their best similarity)."""
    keep = owners >= 0
    rows, owners, sims = rows[keep], owners[keep], sims[keep]
    order = np.lexsort((-sims, owners, rows))  # best hit of each (row, owner) first
    rows, owners, sims = rows[order], owners[order], sims[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (owners[1:] != owners[:-1])
    rows, owners, sims = rows[first], owners[first], sims[first]
    order = np.lexsort((-sims, rows))
    rows, owners, sims = rows[order], owners[order], sims[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
    top = rank < k
    return rows[top], owners[top], sims[top]


def neighbour_sims(
    thumbs: Sequence[np.ndarray | None], *, k: int = DEFAULT_K
) -> dict[tuple[int, int], float]:
    """Best view similarity of each pair ``(i, j)``, ``i < j``, where a view of one is among
    the ``k`` nearest of the other's plain embedding (images without a thumbnail left out)."""
    have = np.array([i for i, t in enumerate(thumbs) if t is not None], dtype=np.int64)
    if len(have) < 2:
        return {}
    t = np.stack([np.asarray(thumbs[i], dtype=np.uint8) for i in have])
    rng = np.random.default_rng(0)
    pca = _pca(t, _DIMS, rng)
    index, plain = _index(t, pca, rng)
    n, v = len(t), n_index_views()
    kk = min(k + v, n * v)  # an image's own views come back first
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for lo in range(0, n, _QUERY_BATCH):
        sims, ids = index.search(plain[lo : lo + _QUERY_BATCH], kk)
        rows = np.repeat(np.arange(lo, lo + len(ids)), kk)
        owners = np.where(ids >= 0, ids // v, -1).ravel()
        owners[owners == rows] = -1  # the image's own views
        found.append(_best_k(rows, owners, sims.ravel(), k))
    a = have[np.concatenate([f[0] for f in found])]
    b = have[np.concatenate([f[1] for f in found])]
    sim = np.concatenate([f[2] for f in found])
    out: dict[tuple[int, int], float] = {}
    for i, j, s in zip(np.minimum(a, b).tolist(), np.maximum(a, b).tolist(), sim.tolist(),
                       strict=True):
        if s > out.get((i, j), -2.0):
            out[(i, j)] = s
    return out


def neighbour_pairs(
    thumbs: Sequence[np.ndarray | None], *, k: int = DEFAULT_K,
    min_sim: float = DEFAULT_MIN_SIM,
) -> list[tuple[int, int]]:
    """Candidate pairs of :func:`neighbour_sims` whose similarity reaches ``min_sim``."""
    return sorted(p for p, s in neighbour_sims(thumbs, k=k).items() if s >= min_sim)
