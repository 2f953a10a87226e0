"""Random textures and the image-formation model of the phantom radiographs.

* Smooth random fields: white noise on a coarse grid, cubic-spline upsampled
  (resolution independent, cheap at any size; cf. value noise, Perlin 1985).
* Radial streaks around the hila: noise smooth along the radius and sharp
  across the angle, sampled in polar coordinates, as a stand-in for the
  branching pulmonary vessels ("lung markings").
* Film/detector response: a sigmoid of total attenuation, the shape of the
  Hurter-Driffield characteristic curve (Hurter & Driffield 1890; Bushberg et
  al., *The Essential Physics of Medical Imaging*, ch. 7), followed by unsharp
  masking as done by digital radiography post-processing, a low-frequency
  exposure gradient (anode heel effect) and quantum (Poisson-like) noise.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _cubic_weights(n_in: int, pos: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation matrix ``(len(pos), n_in)`` (C1-smooth, separable upsampling)."""
    i = np.floor(pos).astype(int)
    t = (pos - i)[:, None]
    w = np.concatenate([
        ((-t + 2) * t - 1) * t / 2,
        ((3 * t - 5) * t * t + 2) / 2,
        ((-3 * t + 4) * t + 1) * t / 2,
        (t - 1) * t * t / 2,
    ], axis=1)
    out = np.zeros((pos.size, n_in), np.float32)
    for k in range(4):
        out[np.arange(pos.size), np.clip(i - 1 + k, 0, n_in - 1)] += w[:, k]
    return out


def smooth_field(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-std random field with correlation length ``scale`` (fraction of the image).

    The number of random draws depends on ``scale`` only (not ``size``) for
    ``size`` larger than the coarse grid, so the same seed gives the same
    pattern at every resolution.
    """
    n = int(np.clip(round(2.0 / scale), 3, size))
    coarse = rng.standard_normal((n + 3, n + 3)).astype(np.float32)
    m = _cubic_weights(n + 3, np.linspace(1.5, n + 1.5, size))
    field = m @ coarse @ m.T
    std = float(field.std())
    return ((field - field.mean()) / (std if std > 1e-8 else 1.0)).astype(np.float32)


def radial_streaks(
    rng: np.random.Generator,
    du: np.ndarray,
    dv: np.ndarray,
    *,
    n_angles: int = 160,
    n_radii: int = 20,
    angle_sigma: float = 0.7,
    radius_sigma: float = 2.5,
) -> np.ndarray:
    """Noise that is smooth along rays from an origin and sharp across them.

    ``du``/``dv`` are the offsets of each pixel from the origin (patient units).
    Returns a zero-mean, unit-std field of radial stripes.
    """
    polar = rng.standard_normal((n_angles, n_radii)).astype(np.float32)
    polar = ndimage.gaussian_filter(polar, (angle_sigma, radius_sigma), mode=("wrap", "nearest"))
    polar /= max(float(polar.std()), 1e-8)
    theta = (np.arctan2(dv, du) + np.pi) / (2 * np.pi) * n_angles
    radius = np.log1p(np.hypot(du, dv) / 0.05) / np.log1p(1.0 / 0.05) * (n_radii - 1)
    return ndimage.map_coordinates(polar, [theta, radius], order=1, mode="grid-wrap").astype(
        np.float32
    )


def ridges(field: np.ndarray, width: float = 0.35) -> np.ndarray:
    """Thin network along the zero crossings of a random field (reticular pattern), in [0, 1]."""
    return np.exp(-((field / width) ** 2)).astype(np.float32)


def expose(
    attenuation: np.ndarray,
    rng: np.random.Generator,
    *,
    level: float,
    gain: float,
    gamma: float,
    heel: float,
    noise: float,
    sharpen: float,
) -> np.ndarray:
    """Attenuation map -> displayed radiograph in ``[0, 1]`` (air dark, bone bright)."""
    size = attenuation.shape[0]
    # low-frequency exposure variation: vertical heel-effect ramp + smooth field
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)[:, None] * heel
    exposure = ramp + 0.025 * smooth_field(rng, size, 0.5)
    img = 1.0 / (1.0 + np.exp(-gain * (attenuation - level + exposure)))
    lo = 1.0 / (1.0 + np.exp(gain * level))
    img = np.clip((img - lo) / (1.0 - lo), 0.0, 1.0) ** gamma
    # digital radiography edge enhancement (unsharp mask)
    blur = ndimage.gaussian_filter(img, 0.025 * size)
    img = img + sharpen * (img - blur)
    # quantum noise, slightly correlated by the detector's point-spread function
    grain = rng.standard_normal((size, size)).astype(np.float32)
    grain = ndimage.gaussian_filter(grain, 0.6) * 1.6
    img = img + noise * grain * (0.6 + 0.6 * np.sqrt(np.clip(img, 0.0, 1.0)))
    return np.clip(img, 0.0, 1.0).astype(np.float32)


# extent of patient coordinates covered by anchored noise (u, v)
_U_RANGE = (-1.4, 1.4)
_V_RANGE = (-0.4, 1.4)


def coarse_noise(rng: np.random.Generator, scale: float) -> np.ndarray:
    """Coarse white noise to be sampled in patient coordinates with :func:`noise_at`."""
    nu = int(np.ceil((_U_RANGE[1] - _U_RANGE[0]) / scale)) + 4
    nv = int(np.ceil((_V_RANGE[1] - _V_RANGE[0]) / scale)) + 4
    return rng.standard_normal((nv, nu)).astype(np.float32)


def noise_at(coarse: np.ndarray, u: np.ndarray, v: np.ndarray, scale: float) -> np.ndarray:
    """Smooth noise (unit std approx.) anchored to the anatomy rather than the pixel grid.

    Anchoring keeps a lesion's shape identical across a patient's studies even
    when positioning changes between them.
    """
    up = 4  # upsample the coarse grid separably, then interpolate bilinearly (cheap)
    nv, nu = coarse.shape
    fine = _cubic_weights(nv, np.arange(nv * up) / up) @ coarse
    fine = fine @ _cubic_weights(nu, np.arange(nu * up) / up).T
    rows = ((v - _V_RANGE[0]) / scale + 1.5) * up
    cols = ((u - _U_RANGE[0]) / scale + 1.5) * up
    out = ndimage.map_coordinates(fine, [rows, cols], order=1, mode="nearest")
    return (out / 0.8).astype(np.float32)  # Catmull-Rom of white noise has std ~0.8
