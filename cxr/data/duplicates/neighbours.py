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
from typing import Any

import numpy as np

from cxr.data.duplicates.nearcopy import THUMB

_BLUR = 1.0  # thumbnail pixels
_SIDE = 16  # embedding grid
_CROPS = (0.0, 0.05, 0.1)  # per side, each side independently
_DIMS = 64  # after PCA
DEFAULT_K = 6
DEFAULT_MIN_SIM = 0.5
_EXACT_MAX = 500_000  # index vectors up to which the search is exact (flat)
_QUERY_BATCH = 4096


def _axis_matrix(lo: float, hi: float) -> np.ndarray:
    """``(THUMB, THUMB)`` linear resampling of one axis: trim ``lo`` / ``hi``, stretch back."""
    n = THUMB
    x = np.clip(lo * n + (1.0 - lo - hi) * (np.arange(n) + 0.5) - 0.5, 0, n - 1)
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
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-6)


def embed(thumbs: np.ndarray, *, views: bool = False) -> np.ndarray:
    """``(N, _SIDE**2)`` plain embeddings, or ``(N, V, _SIDE**2)`` with every crop view."""
    t = np.asarray(thumbs, dtype=np.float32).reshape(-1, THUMB, THUMB)
    axes = np.concatenate(_axis_views() if views else _axis_views()[:1]).astype(np.float32)
    n, a = len(t), len(axes) // _SIDE  # axes: (A * _SIDE, THUMB)
    x = (t.reshape(n * THUMB, THUMB) @ axes.T).reshape(n, THUMB, a * _SIDE)  # x resampled
    y = x.transpose(0, 2, 1).reshape(n * a * _SIDE, THUMB) @ axes.T  # then y
    out = y.reshape(n, a, _SIDE, a, _SIDE).transpose(0, 3, 1, 4, 2)  # (n, ay, ax, sy, sx)
    out = _unit(out.reshape(len(t), a * a, _SIDE * _SIDE))
    return out if views else out[:, 0]


def _index(views: np.ndarray, dims: int) -> tuple[Any, Any]:
    """(PCA, index) over ``(N, V, D)`` views: exact up to ``_EXACT_MAX`` vectors, else IVF."""
    import faiss

    n, v, d = views.shape
    total = n * v
    rng = np.random.default_rng(0)
    flat = views.reshape(total, d)
    pca = faiss.PCAMatrix(d, min(dims, d))
    pca.train(np.ascontiguousarray(flat[rng.choice(total, min(total, 20_000), replace=False)]))
    dim = min(dims, d)
    index: Any
    if total <= _EXACT_MAX:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = int(np.sqrt(total))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = 10
        sample = np.ascontiguousarray(flat[rng.choice(total, min(total, 40 * nlist),
                                                      replace=False)])
        index.train(_reduce(pca, sample))
        index.nprobe = 8
    for lo in range(0, total, 500_000):
        index.add(_reduce(pca, np.ascontiguousarray(flat[lo : lo + 500_000])))
    return pca, index


def _reduce(pca: Any, x: np.ndarray) -> np.ndarray:
    red = np.asarray(pca.apply(x), dtype=np.float32)
    red /= np.maximum(np.linalg.norm(red, axis=1, keepdims=True), 1e-6)
    return red


def neighbour_sims(
    thumbs: Sequence[np.ndarray | None], *, k: int = DEFAULT_K
) -> dict[tuple[int, int], float]:
    """Best view similarity of each pair ``(i, j)``, ``i < j``, where a view of one is among
    the ``k`` nearest of the other's plain embedding (images without a thumbnail left out)."""
    have = np.array([i for i, t in enumerate(thumbs) if t is not None], dtype=np.int64)
    if len(have) < 2:
        return {}
    t = np.stack([np.asarray(thumbs[i], dtype=np.float32) for i in have])
    views = embed(t, views=True)  # (N, V, D)
    n, v, _ = views.shape
    pca, index = _index(views, _DIMS)
    out: dict[tuple[int, int], float] = {}
    kk = min(k + v, n * v)  # an image's own views come back first
    for lo in range(0, n, _QUERY_BATCH):
        q = _reduce(pca, np.ascontiguousarray(views[lo : lo + _QUERY_BATCH, 0]))
        sims, ids = index.search(q, kk)
        owner = np.where(ids >= 0, ids // v, -1)
        for r, (hit_owner, hit_sim) in enumerate(zip(owner.tolist(), sims.tolist(),
                                                     strict=True)):
            a, taken = lo + r, set[int]()
            for b, sim in zip(hit_owner, hit_sim, strict=True):
                if b < 0 or b == a or (b not in taken and len(taken) >= k):
                    continue
                taken.add(b)
                key = (int(min(have[a], have[b])), int(max(have[a], have[b])))
                if sim > out.get(key, -2.0):
                    out[key] = float(sim)
    return out


def neighbour_pairs(
    thumbs: Sequence[np.ndarray | None], *, k: int = DEFAULT_K,
    min_sim: float = DEFAULT_MIN_SIM,
) -> list[tuple[int, int]]:
    """Candidate pairs of :func:`neighbour_sims` whose similarity reaches ``min_sim``."""
    return sorted(p for p, s in neighbour_sims(thumbs, k=k).items() if s >= min_sim)
