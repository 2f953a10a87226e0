"""Class-specific lung opacities with their published radiological patterns.

* **Bacterial (lobar) pneumonia**: unilateral, dense, homogeneous
  consolidation filling (part of) one lobe, sharply limited by a fissure,
  often with air bronchograms (Vilar et al., "Radiology of bacterial
  pneumonia", Eur J Radiol 2004; Franquet, Eur Respir J 2001).
* **Viral pneumonia** (e.g. influenza): bilateral, perihilar, interstitial /
  reticular and peribronchial pattern (Koo et al., "Radiographic and CT
  features of viral pneumonia", RadioGraphics 2018).
* **COVID-19**: bilateral, peripheral, lower-zone predominant, multifocal
  ground-glass opacities, hazy rather than dense, consolidating at the peak and
  resolving afterwards (Wong et al., "Frequency and distribution of chest
  radiographic findings in COVID-19 positive patients", Radiology 2020;
  Rubin et al., Fleischner Society statement, Radiology 2020).

A lesion is a set of soft-edged foci anchored to lung coordinates
``(side, q, t)`` (``q``: mediastinum 0 -> chest wall 1, ``t``: apex 0 -> base 1).
Severity in ``[0, 1]`` scales their size and density and switches foci on in
order, so lesion area grows and shrinks monotonically with severity. The
opacity is multiplied by the lung field; the lesion mask is the half-maximum
contour of the foci inside the lung mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cxr.phantom.anatomy import Anatomy, lateral_edge, medial_edge
from cxr.phantom.texture import coarse_noise, noise_at, radial_streaks, ridges
from cxr.phantom.thorax import Thorax

CLASSES: tuple[str, ...] = ("normal", "bacterial", "viral", "covid")
FINDINGS: dict[str, str] = {
    "normal": "No Finding",
    "bacterial": "Pneumonia/Bacterial/Streptococcus",
    "viral": "Pneumonia/Viral/Influenza",
    "covid": "Pneumonia/Viral/COVID-19",
}


@dataclass(frozen=True)
class Focus:
    side: int  # -1 patient right (image left), +1 patient left
    q: float
    t: float
    ru: float  # radii in patient units at full severity
    rv: float
    angle: float
    amp: float  # added attenuation at full severity
    onset: float  # severity at which the focus appears
    edge: float  # softness of the boundary (fraction of the radius)
    lobe: str = ""  # bacterial: upper | middle | lower


@dataclass(frozen=True)
class LesionPlan:
    kind: str
    foci: tuple[Focus, ...]
    seed: int


def _covid(rng: np.random.Generator) -> list[Focus]:
    foci = []
    for side in (-1, 1):
        for j in range(int(rng.integers(1, 4))):
            r = rng.uniform(0.09, 0.15)
            foci.append(Focus(
                side, q=rng.uniform(0.68, 0.98), t=0.5 + 0.45 * rng.uniform() ** 0.7,
                ru=r, rv=r * rng.uniform(1.2, 1.8), angle=rng.normal(0, 0.25),
                amp=rng.uniform(0.2, 0.27), onset=0.0 if j == 0 else rng.uniform(0.15, 0.55),
                edge=0.3,
            ))
    return foci


def _bacterial(rng: np.random.Generator) -> list[Focus]:
    side = int(rng.choice((-1, 1), p=(0.6, 0.4)))  # right-sided lobar pneumonia is commoner
    lobes = ("upper", "middle", "lower") if side < 0 else ("upper", "lower")
    lobe = str(rng.choice(lobes, p=(0.3, 0.2, 0.5) if side < 0 else (0.4, 0.6)))
    q, t = {"upper": (0.5, 0.25), "middle": (0.3, 0.62), "lower": (0.6, 0.8)}[lobe]
    r = rng.uniform(0.16, 0.22)
    main = Focus(side, q + rng.normal(0, 0.05), t + rng.normal(0, 0.03), ru=r,
                 rv=r * rng.uniform(0.9, 1.3), angle=rng.normal(0, 0.3),
                 amp=rng.uniform(0.38, 0.5), onset=0.0, edge=0.2, lobe=lobe)
    return [main]


def _viral(rng: np.random.Generator) -> list[Focus]:
    return [
        Focus(side, q=rng.uniform(0.05, 0.2), t=rng.uniform(0.4, 0.5), ru=rng.uniform(0.22, 0.3),
              rv=rng.uniform(0.26, 0.34), angle=side * rng.uniform(0.1, 0.4),
              amp=rng.uniform(0.15, 0.2), onset=0.0, edge=0.35)
        for side in (-1, 1)
    ]


def sample_lesions(rng: np.random.Generator, kind: str) -> LesionPlan:
    """Draw a patient's lesion layout (fixed across that patient's studies)."""
    makers = {"normal": lambda _r: [], "bacterial": _bacterial, "viral": _viral, "covid": _covid}
    foci = makers[kind](rng)
    return LesionPlan(kind, tuple(foci), int(rng.integers(2**31)))


def _focus_uv(anat: Anatomy, f: Focus) -> tuple[float, float]:
    cp = anat.cp_v[0 if f.side < 0 else 1]
    v = anat.apex_v + f.t * (cp - anat.apex_v)
    med = float(medial_edge(anat, np.array(v, np.float32)))
    lat = float(lateral_edge(anat, np.array(v, np.float32)))
    return f.side * (med + f.q * max(lat - med, 0.05)), v


def _lobe_gate(f: Focus, th: Thorax) -> np.ndarray:
    """Restrict a lobar consolidation: sharp at the horizontal fissure, fuzzy elsewhere."""
    sig = lambda x, w: 1.0 / (1.0 + np.exp(-np.clip(x / w, -30, 30)))  # noqa: E731
    on_side = (th.side == f.side).astype(np.float32)
    if f.lobe == "upper":
        return on_side * sig(0.42 - th.t, 0.01 if f.side < 0 else 0.05)
    if f.lobe == "middle":
        return on_side * sig(th.t - 0.42, 0.01) * sig(0.6 - th.q, 0.08)
    return on_side * sig(th.t - 0.55, 0.06)


def render_lesions(
    plan: LesionPlan, anat: Anatomy, th: Thorax, severity: float
) -> tuple[np.ndarray, np.ndarray]:
    """Added attenuation (inside the lungs) and the binary lesion mask at ``severity``."""
    shape = th.u.shape
    if not plan.foci or severity <= 0:
        return np.zeros(shape, np.float32), np.zeros(shape, bool)
    rng = np.random.default_rng(plan.seed)
    shape_noise = noise_at(coarse_noise(rng, 0.06), th.u, th.v, 0.06)
    texture_noise = noise_at(coarse_noise(rng, 0.03), th.u, th.v, 0.03)
    patch_noise = noise_at(coarse_noise(rng, 0.1), th.u, th.v, 0.1)
    extent = np.zeros(shape, np.float32)
    density = np.zeros(shape, np.float32)
    grow = 0.45 + 0.55 * severity
    for f in plan.foci:
        if severity < f.onset:
            continue
        cu, cv = _focus_uv(anat, f)
        du, dv = th.u - cu, th.v - cv
        cos, sin = np.cos(f.angle), np.sin(f.angle)
        rho = np.sqrt(((cos * du + sin * dv) / (f.ru * grow)) ** 2
                      + ((-sin * du + cos * dv) / (f.rv * grow)) ** 2)
        rho = rho + 0.12 * shape_noise  # irregular margins
        p = 1.0 / (1.0 + np.exp(np.clip((rho - 1.0) / f.edge, -30, 30)))
        if f.lobe:
            p = p * _lobe_gate(f, th)
        extent = np.maximum(extent, p)
        density = np.maximum(density, p * f.amp * (0.55 + 0.45 * severity))
    opacity = density * _texture(plan.kind, rng, th, texture_noise, patch_noise, anat)
    mask = (extent > 0.5) & th.lung_mask
    return (opacity * th.lung_soft).astype(np.float32), mask


def _texture(kind: str, rng: np.random.Generator, th: Thorax, fine: np.ndarray,
             patch: np.ndarray, anat: Anatomy) -> np.ndarray:
    """Internal structure of the opacity (multiplies the density)."""
    if kind == "covid":
        # ground glass: hazy, patchy, vessels stay visible underneath
        return np.clip(0.8 + 0.25 * patch + 0.08 * fine, 0.3, 1.3)
    if kind == "viral":
        # reticular network plus peribronchial streaks, with little haze
        net = ridges(fine, 0.6)
        streak = np.zeros_like(fine)
        for s in (-1, 1):
            du, dv = th.u - s * 0.2, th.v - 0.45
            streak += np.where(th.u * s > 0, np.clip(radial_streaks(rng, du, dv) - 0.3, 0, None),
                               0.0)
        return 0.45 + 0.7 * net + 0.5 * streak
    if kind == "bacterial":
        # dense homogeneous consolidation with air bronchograms branching from the hilum
        out = np.ones_like(fine) * (0.9 + 0.12 * patch)
        for s in (-1, 1):
            du, dv = th.u - s * 0.18, th.v - 0.44
            tubes = ridges(radial_streaks(rng, du, dv, angle_sigma=1.2, radius_sigma=4.0), 0.12)
            taper = np.clip(1.0 - np.hypot(du, dv) / 0.5, 0.0, 1.0)
            out -= np.where(th.u * s > 0, 0.45 * tubes * taper, 0.0)
        return out
    return np.ones_like(fine)
