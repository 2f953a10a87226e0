"""Parametric chest anatomy for PA/AP radiograph phantoms.

Geometry is defined in *patient coordinates*: ``u`` runs across the image
(negative = image left = the patient's right in a PA view), ``v`` runs down
from the top of the image (lung apices near 0.13, costophrenic angles near
0.78). An affine map (shift, scale, small rotation) takes image pixels to
patient coordinates, so every structure moves together between patients and
between the studies of one patient.

Proportions follow standard radiographic anatomy (e.g. Felson's *Principles of
Chest Roentgenology*, 4th ed.; Raoof et al., "Interpretation of plain chest
roentgenogram", Chest 2012): cardiothoracic ratio below 0.5 with the heart
shadow mostly left of the midline (image right), right hemidiaphragm 1-2 cm
higher than the left, sharp lateral costophrenic angles, posterior ribs
curving down laterally, clavicles over the apices, a gastric air bubble under
the left hemidiaphragm.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

# sides: patient right (image left) = -1, patient left (image right) = +1
SIDES = (-1, 1)


@dataclass(frozen=True)
class Anatomy:
    """Per-patient anatomy and acquisition parameters (all in patient units)."""

    sex: str
    view: str
    body_w: float  # torso half width
    chest_w: float  # lateral lung edge distance from the midline
    apex_v: float
    cp_v: tuple[float, float]  # costophrenic angles (right, left)
    dome_v: tuple[float, float]  # diaphragm dome heights (right, left)
    med_w: float  # half width of the superior mediastinum
    heart: tuple[float, float, float, float, float]  # cx, cy, a, b, angle (rad)
    aorta: tuple[float, float, float]  # knob cx, cy, radius
    rib_v0: float
    rib_step: float
    rib_bend: float
    clav_v: float
    breast: float
    bubble: float  # gastric bubble size (0 = none)
    tissue: float  # soft-tissue density (habitus)
    # placement of the patient on the detector
    shift: tuple[float, float]
    scale: tuple[float, float]
    rot: float
    # exposure / processing
    level: float
    gain: float
    gamma: float
    heel: float
    noise: float
    sharpen: float


def sample_anatomy(rng: np.random.Generator, sex: str, view: str) -> Anatomy:
    """Draw one patient's anatomy (size-independent)."""
    u = rng.uniform
    ap = view == "AP"
    dome_r = u(0.60, 0.66)
    cp_r = dome_r + u(0.09, 0.13)
    drop = u(0.015, 0.04)  # left hemidiaphragm lower than the right
    heart_scale = u(0.9, 1.1) * (1.12 if ap else 1.0)
    return Anatomy(
        sex=sex,
        view=view,
        body_w=u(0.9, 1.02),
        chest_w=u(0.74, 0.82),
        apex_v=u(0.11, 0.15),
        cp_v=(cp_r, cp_r + drop),
        dome_v=(dome_r, dome_r + drop),
        med_w=u(0.085, 0.11),
        heart=(
            u(0.08, 0.12),
            dome_r + u(-0.01, 0.02),
            0.34 * heart_scale,
            0.22 * heart_scale,
            u(0.4, 0.55),
        ),
        aorta=(u(0.09, 0.12), u(0.29, 0.33), u(0.04, 0.055)),
        rib_v0=u(0.06, 0.09),
        rib_step=u(0.062, 0.072),
        rib_bend=u(0.28, 0.38),
        clav_v=u(0.15, 0.19) - (0.03 if ap else 0.0),
        breast=u(0.1, 0.22) if sex == "F" else 0.0,
        bubble=u(0.04, 0.07) if rng.random() < 0.7 else 0.0,
        tissue=u(0.9, 1.12),
        shift=(rng.normal(0, 0.02), rng.normal(0.0, 0.02)),
        scale=(u(0.95, 1.05), u(0.95, 1.05)),
        rot=rng.normal(0, np.deg2rad(1.5)),
        level=u(0.55, 0.62),
        gain=u(3.3, 3.9),
        gamma=u(0.9, 1.15),
        heel=u(-0.06, 0.06),
        noise=u(0.010, 0.020),
        sharpen=u(0.4, 0.8),
    )


def jitter(anat: Anatomy, rng: np.random.Generator) -> Anatomy:
    """Same patient, another day: small positioning, inspiration and exposure changes."""
    insp = rng.normal(0, 0.012)  # depth of inspiration moves the diaphragm
    return dataclasses.replace(
        anat,
        cp_v=(anat.cp_v[0] + insp, anat.cp_v[1] + insp),
        dome_v=(anat.dome_v[0] + insp, anat.dome_v[1] + insp),
        shift=(anat.shift[0] + rng.normal(0, 0.015), anat.shift[1] + rng.normal(0, 0.015)),
        scale=(anat.scale[0] * rng.uniform(0.98, 1.02), anat.scale[1] * rng.uniform(0.98, 1.02)),
        rot=anat.rot + rng.normal(0, np.deg2rad(1.0)),
        level=anat.level + rng.normal(0, 0.015),
        gain=anat.gain * rng.uniform(0.95, 1.05),
        gamma=anat.gamma * rng.uniform(0.95, 1.05),
        heel=anat.heel + rng.normal(0, 0.02),
    )


# ------------------------------------------------------------------ geometry
def patient_grid(anat: Anatomy, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Image pixel centres -> patient coordinates ``(u, v)``."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = np.meshgrid(c, c * 2.0 - 1.0, indexing="ij")
    x = x - anat.shift[0]
    y = y - 0.45 - anat.shift[1]
    cos, sin = np.cos(anat.rot), np.sin(anat.rot)
    u = (cos * x - sin * y) / anat.scale[0]
    v = (sin * x + cos * y) / anat.scale[1] + 0.45
    return u.astype(np.float32), v.astype(np.float32)


def _s(anat: Anatomy, v: np.ndarray) -> np.ndarray:
    """Normalised height in the chest: 0 at the apices, 1 at the costophrenic angles."""
    return (v - anat.apex_v) / (max(anat.cp_v) - anat.apex_v)


def lateral_edge(anat: Anatomy, v: np.ndarray) -> np.ndarray:
    """Distance of the lateral lung edge from the midline: a rounded apex, widest at the base."""
    s = _s(anat, v)
    arc = np.sqrt(np.clip(1.0 - ((0.8 - s) / 0.8) ** 2, 0.0, 1.0))
    upper = anat.chest_w * (0.36 + 0.64 * arc)
    lower = anat.chest_w * (1.0 + 0.03 * (s - 0.8) / 0.2)
    out = np.where(s < 0.8, upper, lower)
    return np.where(s < 0, -1.0, out).astype(np.float32)


def medial_edge(anat: Anatomy, v: np.ndarray) -> np.ndarray:
    """Distance of the mediastinal border from the midline (curving out to the apex)."""
    s = _s(anat, v)
    apex = np.clip(1.0 - s / 0.22, 0.0, 1.0) ** 2 * (0.31 * anat.chest_w - anat.med_w)
    return (anat.med_w + apex + 0.02 * np.clip((s - 0.2) / 0.3, 0.0, 1.0)).astype(np.float32)


def diaphragm(anat: Anatomy, d: np.ndarray, side: int) -> np.ndarray:
    """Height ``v`` of the hemidiaphragm at distance ``d`` from the midline."""
    i = 0 if side < 0 else 1
    dome, cp, w = anat.dome_v[i], anat.cp_v[i], anat.chest_w
    peak = 0.42 * w
    lat = np.clip((d - peak) / (w - peak), 0.0, None) ** 2.2
    med = np.clip((peak - d) / peak, 0.0, None) ** 2
    return (dome + (cp - dome) * lat + 0.25 * (cp - dome) * med).astype(np.float32)


def ellipse(u: np.ndarray, v: np.ndarray, cx: float, cy: float, a: float, b: float,
            angle: float = 0.0) -> np.ndarray:
    """Squared normalised distance to an ellipse centre (< 1 inside)."""
    du, dv = u - cx, v - cy
    cos, sin = np.cos(angle), np.sin(angle)
    return ((cos * du + sin * dv) / a) ** 2 + ((-sin * du + cos * dv) / b) ** 2
