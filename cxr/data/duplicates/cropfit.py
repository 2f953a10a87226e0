"""Confirm a near-copy candidate by estimating the crop that maps one image onto the other.

A copy re-cropped from ``A`` is ``A[y0:y1, x0:x1]`` resized (and re-encoded,
re-windowed, sometimes shifted with a black band or given a new burnt-in
letter). The 32 x 32 thumbnails of the manifest squash the aspect ratio, so
along each axis independently the copy's thumbnail samples ``A`` at ``o + s * u``
(``u`` in ``[0, 1]`` across the copy, ``s`` the kept fraction, ``o`` where the
copy starts in ``A``). Instead of trying every crop in 2-D (798 alignments per
pair before, issue 23 item 7), the crop is **estimated**:

0. both thumbnails are **rank-equalised** (:func:`equalise`), so any monotone
   change of intensity (gamma, windowing, 12 bits in 16) leaves them as they were;
1. per axis, the copy's row-mean (column-mean) profile, without its outer
   ``_MARGIN`` pixels (shift bands, letters), is matched against the other
   image's profile resampled at every ``(s, o)`` of a coarse grid (``s`` 0.76-1.0,
   i.e. up to 24 % trimmed on an axis; ``o`` with a 3 % overhang for a shift):
   one matrix product for all pairs of a chunk;
2. the estimate is refined twice on a local grid, each time with the larger
   image's profile restricted to the other axis' estimated window (a crop
   changes which columns a row mean covers);
3. the copy's thumbnail is **area-resampled onto the larger image's pixel grid**
   inside the window (as the larger image's own thumbnail averaged the original
   over its pixels: no upsampling blur), and the two are compared over the pixels
   wholly inside the window (less ``_SHRINK`` at its ends and the larger image's
   own ``_BORDER``): the mean of the correlation of intensity and of the detail
   above a Gaussian blur (:func:`compare_at`).

Both directions (``b`` cut from ``a``, ``a`` from ``b``) are tried and the better
kept. Everything is batched over chunks of ``_CHUNK`` pairs;
the cost per pair is fixed (about 0.1-0.2 ms on one loaded core), whatever crops
are possible. ``DEFAULT_MIN_CORR`` (0.95) is tuned on ``benchmarks/dedup_recall.py``
(real Hannover + Kaggle radiographs and phantoms, 16 copy transforms): see
``docs/benchmarks.md``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from cxr.data.duplicates.nearcopy import THUMB

_N = THUMB
DEFAULT_MIN_CORR = 0.95
_S_MIN = 0.76  # smallest kept fraction per axis (two sides trimmed 12 % each)
_OVERHANG = 0.03  # content shifted into the frame (black band) up to this fraction
_COARSE_S = 0.02
_COARSE_O = 0.01  # the first refinement covers +- _FINE_STEPS * _FINE around a coarse point
_FINE = 0.005  # step of the local refinement, in both s and o (halved in the second)
_FINE_STEPS = 3  # +- steps around the estimate
_BORDER = 1  # the larger image's border pixels left out (frames, edges)
_SHRINK = 1  # window pixels left out at each end (estimation error, shift bands)
_HIGHPASS_SIGMA = 3.0
_CHUNK = 512
_WORKERS = 2  # threads for the chunks (the machine this was tuned on has 2 cores)
_MARGIN = 3  # copy's border pixels left out of every comparison (shift bands, letters)


def _interp(pos: np.ndarray, n: int = _N) -> np.ndarray:
    """``(..., m)`` continuous pixel positions -> ``(..., m, n)`` linear-interpolation weights."""
    x = np.clip(pos, 0.0, n - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.int64), n - 2)
    f = (x - x0).astype(np.float32)
    w = np.zeros((*x.shape, n), dtype=np.float32)
    np.put_along_axis(w, x0[..., None], (1 - f)[..., None], axis=-1)
    np.put_along_axis(w, x0[..., None] + 1, f[..., None]
                      + np.take_along_axis(w, x0[..., None] + 1, axis=-1), axis=-1)
    return w


def _positions(s: np.ndarray, o: np.ndarray, inner: bool = False) -> np.ndarray:
    """Pixel positions in the larger image sampled by the copy's pixel centres (all ``n``,
    or the ``n - 2 _MARGIN`` inside the margin)."""
    u = (np.arange(_N, dtype=np.float32) + 0.5) / _N
    if inner:
        u = u[_MARGIN : _N - _MARGIN]
    return (o[..., None].astype(np.float32) + s[..., None].astype(np.float32) * u) * _N - 0.5


@lru_cache(maxsize=1)
def _coarse_grid() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(s, o, W, M)``: the coarse grid, its stacked resampling matrices ``(n, G * m)``
    (``m``: the copy's samples inside the margin) and their means
    over the ``m`` samples ``(n, G)``."""
    ss, oo = [], []
    for s in np.arange(1.0, _S_MIN - 1e-9, -_COARSE_S):
        for o in np.arange(-_OVERHANG, 1.0 - s + _OVERHANG + 1e-9, _COARSE_O):
            ss.append(s)
            oo.append(o)
    s_arr, o_arr = np.array(ss), np.array(oo)
    w = _interp(_positions(s_arr, o_arr, inner=True))  # (G, m, n)
    mean = w.mean(axis=1)  # (G, n)
    return s_arr, o_arr, np.ascontiguousarray(w.reshape(-1, _N).T), np.ascontiguousarray(mean.T)


def _z(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 1e-6)


def _corr(res: np.ndarray, small_z: np.ndarray, mean: np.ndarray | None = None) -> np.ndarray:
    """Correlation of each ``res[c, g]`` (C, G, m) with ``small_z[c]`` (C, m), zero-mean unit."""
    num = np.matmul(res, small_z[:, :, None])[..., 0]
    if mean is None:
        mean = res.mean(axis=2)
    var = np.einsum("cgm,cgm->cg", res, res) - res.shape[2] * mean * mean
    return num / np.sqrt(np.maximum(var, 1e-9))


def _coarse(big: np.ndarray, small: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best coarse ``(s, o, corr)`` aligning profile rows ``big`` (C, n) onto ``small``."""
    s_arr, o_arr, w, mean = _coarse_grid()
    res = (big @ w).reshape(len(big), len(s_arr), -1)  # (C, G, m)
    score = _corr(res, _z(small[:, _MARGIN : _N - _MARGIN]), big @ mean)
    best = score.argmax(axis=1)
    return s_arr[best], o_arr[best], score[np.arange(len(best)), best]


def _sample(profile: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``profile`` (C, n) linearly interpolated at pixel positions ``pos`` (C, ..., m)."""
    x = np.clip(pos, 0.0, _N - 1.001)
    x0 = x.astype(np.int32)
    f = x - x0
    base = (np.arange(len(x0), dtype=np.int32) * _N).reshape(-1, *([1] * (x0.ndim - 1)))
    idx = x0 + base
    flat = np.ascontiguousarray(profile, dtype=np.float32).ravel()
    lo = flat.take(idx)
    return lo + f * (flat.take(idx + 1) - lo)


def _refine(big: np.ndarray, small: np.ndarray, s: np.ndarray, o: np.ndarray,
            step: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Local search around ``(s, o)``, ``+- steps`` steps of ``step`` in each."""
    d = np.arange(-steps, steps + 1) * step
    ds, do = (a.ravel() for a in np.meshgrid(d, d, indexing="ij"))
    s2 = np.clip(s[:, None] + ds[None], _S_MIN - steps * step, 1.0)  # (C, L)
    o2 = o[:, None] + do[None]
    res = _sample(big, _positions(s2, o2, inner=True))  # (C, L, n - 2 margin)
    score = _corr(res, _z(small[:, _MARGIN : _N - _MARGIN]))
    best = score.argmax(axis=1)
    rows = np.arange(len(s))
    return s2[rows, best], o2[rows, best]


def _window(s: np.ndarray, o: np.ndarray) -> np.ndarray:
    """``(C, n)`` weights of the larger image's pixels inside the estimated window."""
    edges = np.arange(_N + 1, dtype=np.float64) / _N
    lo, hi = np.clip(o, 0, 1)[:, None], np.clip(o + s, 0, 1)[:, None]
    cover = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None) * _N
    return (cover / np.maximum(cover.sum(1, keepdims=True), 1e-6)).astype(np.float32)


def _profiles(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return t.mean(axis=2), t.mean(axis=1)


def estimate_crops(big: np.ndarray, small: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(crop, corr)``: ``crop`` (C, 4) = ``(s_y, o_y, s_x, o_x)`` such that ``small`` ~
    ``big`` cut at that crop; ``corr`` (C,) the coarse profile correlation (both axes summed).

    ``big`` and ``small`` are ``(C, n, n)`` float thumbnails.
    """
    (row_b, col_b), (row_s, col_s) = _profiles(big), _profiles(small)
    sy, oy, cy = _coarse(row_b, row_s)
    sx, ox, cx = _coarse(col_b, col_s)
    return np.stack([sy, oy, sx, ox], axis=1), cy + cx


def refine_crops(big: np.ndarray, small: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """The coarse ``crop`` refined, with the larger image's profiles restricted to the other
    axis' window (a crop changes which columns a row mean covers)."""
    sy, oy, sx, ox = crop.T
    row_s, col_s = _profiles(small)
    row_w = np.einsum("cyx,cx->cy", big, _window(sx, ox))
    col_w = np.einsum("cyx,cy->cx", big, _window(sy, oy))
    sy, oy = _refine(row_w, row_s, sy, oy, _FINE, _FINE_STEPS)
    sx, ox = _refine(col_w, col_s, sx, ox, _FINE, _FINE_STEPS)
    row_w = np.einsum("cyx,cx->cy", big, _window(sx, ox))
    col_w = np.einsum("cyx,cy->cx", big, _window(sy, oy))
    sy, oy = _refine(row_w, row_s, sy, oy, _FINE / 2, 1)
    sx, ox = _refine(col_w, col_s, sx, ox, _FINE / 2, 1)
    return np.stack([sy, oy, sx, ox], axis=1)


@lru_cache(maxsize=1)
def _blur_matrix() -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    eye = np.eye(_N, dtype=np.float32)
    return np.asarray(gaussian_filter1d(eye, _HIGHPASS_SIGMA, axis=0, mode="mirror"), np.float32)


def _cells(s: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area resampling of the copy onto the larger image's pixel grid, one axis.

    Returns ``(R, inside)``: ``R`` (C, n, n), the share of the larger image's pixel ``i``
    covered by the copy's pixel ``q`` (the copy's pixel ``q`` spans ``o + s * [q, q + 1] / n``
    there), and ``inside`` (C, n), the larger image's pixels wholly covered by the copy,
    less ``_SHRINK`` at each end of that run (estimation error).
    """
    e = np.arange(_N + 1, dtype=np.float64) / _N
    lo = o[:, None] + s[:, None] * e[None, :-1]
    hi = o[:, None] + s[:, None] * e[None, 1:]
    r = np.minimum(e[1:][None, :, None], hi[:, None, :])
    r = np.clip(r - np.maximum(e[:-1][None, :, None], lo[:, None, :]), 0.0, None) * _N
    full = r.sum(axis=2) > 0.999
    full[:, :_BORDER] = full[:, _N - _BORDER :] = False  # the larger image's own border
    inside = full.copy()
    for k in range(1, _SHRINK + 1):
        inside[:, k:] &= full[:, :-k]
        inside[:, :-k] &= full[:, k:]
    return r.astype(np.float32), inside


def _masked_z(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x`` (C, n, n) to zero mean and unit norm over the mask ``m``, zero outside it."""
    w = m / np.maximum(m.sum(axis=(1, 2), keepdims=True), 1.0)
    d = (x - (x * w).sum(axis=(1, 2), keepdims=True)) * m
    norm = np.sqrt((d * d).sum(axis=(1, 2), keepdims=True))
    return np.divide(d, norm, out=np.zeros_like(d), where=norm > 1e-6)


def compare_at(big: np.ndarray, small: np.ndarray, crop: np.ndarray) -> np.ndarray:
    """``(C, 2)`` intensity and detail correlation of ``big`` with ``small`` mapped onto it.

    ``small`` is area-resampled onto ``big``'s pixel grid inside the crop window (as
    ``big``'s own thumbnail averaged the original over its pixels), and both are
    compared over the pixels wholly inside the window: contrast-normalised intensity,
    and the detail above a Gaussian blur (normalised convolution inside the window).
    """
    ry, in_y = _cells(crop[:, 0], crop[:, 1])
    rx, in_x = _cells(crop[:, 2], crop[:, 3])
    m = (in_y[:, :, None] & in_x[:, None, :]).astype(np.float32)
    mapped = ry @ small @ rx.transpose(0, 2, 1)
    g = _blur_matrix()
    weight = np.maximum(g @ m @ g.T, 1e-6)

    def detail(x: np.ndarray) -> np.ndarray:
        return x - (g @ (x * m) @ g.T) / weight

    intensity = (_masked_z(big, m) * _masked_z(mapped, m)).sum(axis=(1, 2))
    fine = (_masked_z(detail(big), m) * _masked_z(detail(mapped), m)).sum(axis=(1, 2))
    return np.stack([intensity, fine], axis=1)


def pair_scores(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(C, 2)`` intensity and detail correlation of thumbnail pairs ``(a[c], b[c])``, in
    the better direction (``b`` cut from ``a``, or ``a`` from ``b``: the coarse profile
    fit alone does not tell them apart reliably)."""
    best = np.full((len(a), 2), -np.inf, dtype=np.float32)
    for big, small in ((a, b), (b, a)):
        coarse, _ = estimate_crops(big, small)
        scores = compare_at(big, small, refine_crops(big, small, coarse))
        best = np.where((scores.sum(axis=1) > best.sum(axis=1))[:, None], scores, best)
    return best


def equalise(thumbs: np.ndarray) -> np.ndarray:
    """``(K, n, n)`` thumbnails -> their pixel ranks in ``[0, 1]`` (ties share the mean rank).

    Copies are re-windowed (gamma, contrast, 8/12/16-bit conversions): any monotone
    change of intensity leaves the ranks as they were, so the comparison ignores it.
    """
    from scipy.stats import rankdata

    flat = np.asarray(thumbs, dtype=np.float32).reshape(len(thumbs), -1)
    ranks = rankdata(flat, method="average", axis=1) / flat.shape[1]
    return np.asarray(ranks, dtype=np.float32).reshape(len(thumbs), _N, _N)


def crop_correlation(
    pairs: Sequence[tuple[int, int]], thumbs: Sequence[np.ndarray | None]
) -> np.ndarray:
    """Correlation of each pair after the estimated crop, the better of both directions
    (``nan`` where a thumbnail is missing). Chunks of pairs run on up to ``_WORKERS``
    threads (numpy releases the GIL in the array work)."""
    out = np.full(len(pairs), np.nan, dtype=np.float64)
    if not len(pairs):
        return out
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    arr = np.asarray(pairs, dtype=np.int64)
    ok = np.array([thumbs[i] is not None and thumbs[j] is not None for i, j in arr])
    idx = np.flatnonzero(ok)
    used = np.unique(arr[idx])
    if not len(used):
        return out
    eq = equalise(np.stack([np.asarray(thumbs[k]) for k in used.tolist()]))
    pos = np.searchsorted(used, arr)

    def chunk(lo: int) -> None:
        sel = idx[lo : lo + _CHUNK]
        out[sel] = pair_scores(eq[pos[sel, 0]], eq[pos[sel, 1]]).mean(axis=1)

    starts = range(0, len(idx), _CHUNK)
    workers = min(_WORKERS, os.cpu_count() or 1, len(starts))
    # small matrix products: BLAS threads only wait on each other (10x slower under load)
    with threadpool_limits(limits=1, user_api="blas"):
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(chunk, starts))
        else:
            for lo in starts:
                chunk(lo)
    return out
