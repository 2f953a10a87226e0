"""Synthetic-data audit measures: memorisation, diversity, fidelity/coverage, matched FID.

Each measure is computed the same way on a real-image baseline by the caller
(:mod:`cxr.pipelines.gan.synthetic_checks`); here are the computations only.

* :func:`nearest_training`: for each query image, its nearest reference
  (training) images in a feature space (L2) and the highest SSIM (Wang et al.,
  IEEE TIP 2004; torchmetrics) among those ``k``, with references of the same
  patient excluded (a CycleGAN output resembles its own source by design).
  A GAN that copies training images shows synthetic images nearer to the
  training set than unseen real images are (the memorisation test of
  Meehan et al., AISTATS 2020, in its simplest nearest-neighbour form).
* :func:`mean_pairwise_ms_ssim`: mean MS-SSIM (Wang et al., Asilomar 2003;
  torchmetrics) over random pairs within one set; higher = less diverse (the
  mode-collapse check of Odena et al., ICML 2017). Five scales need > 160 px
  with the 11-px window; smaller images use the scales that fit
  (:func:`ms_ssim_scales`), with the standard weights of those scales
  renormalised to sum to 1.
* :func:`prdc`: precision, recall, density and coverage (Naeem et al.,
  ICML 2020; their reference ``prdc`` package) with ``k`` nearest neighbours.
* :func:`matched_fid_kid`: FID/KID of two feature sets subsampled to the same
  size ``n`` (without replacement), repeated; mean and standard deviation.
  FID is biased by sample size (Chong & Forsyth, CVPR 2020), so only numbers
  computed at one ``n`` are comparable.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from cxr.cyclegan.fid_kid import fid_kid

__all__ = ["MS_SSIM_BETAS", "matched_fid_kid", "mean_pairwise_ms_ssim", "ms_ssim_scales",
           "nearest_training", "prdc"]

MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _u8_to_unit(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0).unsqueeze(1)


def nearest_training(
    query_feats: np.ndarray,
    ref_feats: np.ndarray,
    query_images: np.ndarray,
    ref_images: np.ndarray,
    *,
    query_patients: Sequence[str] | np.ndarray | None = None,
    ref_patients: Sequence[str] | np.ndarray | None = None,
    k: int = 5,
) -> dict[str, np.ndarray]:
    """Per query: ``distance`` to the nearest reference (features), ``index`` of it, and
    ``ssim``, the highest SSIM among the ``k`` feature-nearest references (uint8 images),
    with ``ssim_index`` the reference it belongs to."""
    q = torch.as_tensor(np.asarray(query_feats, dtype=np.float64))
    r = torch.as_tensor(np.asarray(ref_feats, dtype=np.float64))
    dist = torch.cdist(q, r)
    if query_patients is not None and ref_patients is not None:
        same = np.asarray(query_patients, dtype=str)[:, None] == np.asarray(ref_patients, dtype=str)
        dist[torch.from_numpy(same)] = float("inf")
    k = max(1, min(k, r.shape[0]))
    d_k, i_k = torch.topk(dist, k, dim=1, largest=False)
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    kernel = 11 if min(query_images.shape[-2:]) >= 11 else 3
    qi = _u8_to_unit(query_images)
    ri = _u8_to_unit(ref_images)
    scores = torch.empty(len(q), k, dtype=torch.float64)
    for j in range(k):
        val = ssim(qi, ri[i_k[:, j]], data_range=1.0, kernel_size=kernel, reduction="none")
        assert isinstance(val, torch.Tensor)  # a tuple only with return_full_image
        scores[:, j] = val.double()
    scores[torch.isinf(d_k)] = float("nan")
    best = torch.nan_to_num(scores, nan=-2.0).argmax(dim=1)
    rows = torch.arange(len(q))
    return {"distance": d_k[:, 0].numpy(), "index": i_k[:, 0].numpy(),
            "ssim": scores[rows, best].numpy(), "ssim_index": i_k[rows, best].numpy()}


def ms_ssim_scales(size: int, kernel: int = 11, max_scales: int = 5) -> int:
    """Most MS-SSIM scales an image of ``size`` px supports with a ``kernel`` window
    (torchmetrics needs size > (kernel - 1) * 2 ** (scales - 1))."""
    s = 1
    while s < max_scales and size > (kernel - 1) * 2 ** s:
        s += 1
    return s


def mean_pairwise_ms_ssim(
    images: np.ndarray, *, pairs: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Mean MS-SSIM over ``pairs`` random distinct pairs of uint8 ``(N, S, S)`` images."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    n, size = len(images), int(images.shape[-1])
    if n < 2:
        return {"mean": None, "n_pairs": 0, "n_images": n}
    kernel = 11 if size > 20 else 3
    scales = ms_ssim_scales(size, kernel)
    w = np.asarray(MS_SSIM_BETAS[:scales])
    betas = tuple(float(b) for b in w / w.sum())
    rng = np.random.default_rng(seed)
    all_pairs = n * (n - 1) // 2
    if all_pairs <= pairs:
        a, b = np.triu_indices(n, 1)
    else:
        a = rng.integers(0, n, pairs * 2)
        b = rng.integers(0, n, pairs * 2)
        keep = a != b
        a, b = a[keep][:pairs], b[keep][:pairs]
    x = _u8_to_unit(images)
    vals = multiscale_structural_similarity_index_measure(
        x[a], x[b], data_range=1.0, kernel_size=kernel, betas=betas, reduction="none"
    )
    v = vals.double().numpy()
    return {"mean": float(v.mean()), "std": float(v.std()), "n_pairs": int(len(v)),
            "n_images": n, "scales": scales, "kernel": kernel, "image_size": size}


def prdc(real: np.ndarray, fake: np.ndarray, *, k: int = 5) -> dict[str, float]:
    """Precision, recall, density, coverage of ``fake`` against ``real`` features."""
    from prdc import compute_prdc

    # the package takes the (k+1)-th smallest distance within each set (self at 0)
    k = min(k, len(real) - 2, len(fake) - 2)
    if k < 1:
        raise ValueError(f"density/coverage need >= 3 images per set ({len(real)}, {len(fake)})")
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints the set sizes
        out = compute_prdc(np.asarray(real, np.float32), np.asarray(fake, np.float32), k)
    return {**{key: float(v) for key, v in out.items()}, "k": k, "n_real": len(real),
            "n_fake": len(fake)}


def matched_fid_kid(
    a: torch.Tensor, b: torch.Tensor, *, n: int, repeats: int = 10, seed: int = 0,
    kid_subsets: int = 50,
) -> dict[str, Any]:
    """FID/KID of ``a`` vs ``b`` each subsampled to ``n`` rows, ``repeats`` times."""
    if n < 2 or n > min(len(a), len(b)):
        raise ValueError(f"matched FID needs 2 <= n <= min set size ({len(a)}, {len(b)}), got {n}")
    rng = np.random.default_rng(seed)
    fids, kids = [], []
    for r in range(repeats):
        ia = torch.from_numpy(rng.choice(len(a), n, replace=False))
        ib = torch.from_numpy(rng.choice(len(b), n, replace=False))
        with warnings.catch_warnings():  # torchmetrics warns that KID keeps its features
            warnings.simplefilter("ignore", UserWarning)
            res = fid_kid(a[ia], b[ib], kid_subsets=kid_subsets, seed=seed + r)
        fids.append(res["fid"])
        kids.append(res["kid_mean"])
    return {"n": n, "repeats": repeats, "fid_mean": float(np.mean(fids)),
            "fid_std": float(np.std(fids, ddof=1)) if repeats > 1 else 0.0,
            "kid_mean": float(np.mean(kids)),
            "kid_std": float(np.std(kids, ddof=1)) if repeats > 1 else 0.0}
