"""Rendering the sampled anatomy: attenuation map, lung fields and in-lung coordinates.

:mod:`cxr.phantom.anatomy` holds the anatomy model (what is sampled per patient);
this module turns one :class:`~cxr.phantom.anatomy.Anatomy` into pixels, with the
bones of :mod:`cxr.phantom.bones` and the textures of :mod:`cxr.phantom.texture`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from cxr.phantom.anatomy import (
    SIDES,
    Anatomy,
    diaphragm,
    ellipse,
    lateral_edge,
    medial_edge,
    patient_grid,
)
from cxr.phantom.bones import bone_map
from cxr.phantom.texture import radial_streaks, smooth_field


@dataclass
class Thorax:
    """Rendered anatomy: attenuation map plus the lung fields and their coordinates."""

    u: np.ndarray
    v: np.ndarray
    attenuation: np.ndarray
    lung_soft: np.ndarray  # anti-aliased lung field in [0, 1]
    lung_mask: np.ndarray  # bool
    side: np.ndarray  # -1 right lung (image left), +1 left lung, 0 elsewhere
    q: np.ndarray  # 0 at the mediastinal border, 1 at the lateral chest wall
    t: np.ndarray  # 0 at the apex, 1 at the costophrenic angle


def lung_fields(anat: Anatomy, u: np.ndarray, v: np.ndarray, px: float):
    """Lung field (soft), side label and normalised in-lung coordinates ``(q, t)``."""
    d = np.abs(u)
    side = np.where(u < 0, -1, 1).astype(np.int8)
    lat = lateral_edge(anat, v)
    med = medial_edge(anat, v)
    # left mediastinal border between aortic knob and heart (pulmonary trunk)
    med = med + np.where(u > 0, 0.05 * np.exp(-(((v - anat.aorta[1] - 0.08) / 0.06) ** 2)), 0.0)
    dia = np.where(u < 0, diaphragm(anat, d, -1), diaphragm(anat, d, 1))
    hx, hy, ha, hb, hang = anat.heart
    heart = ellipse(u, v, hx, hy, ha, hb, hang)
    ax, ay, ar = anat.aorta
    knob = ellipse(u, v, ax, ay, ar, ar * 1.4)
    # signed margins (positive inside), combined as a soft intersection
    edge = 1.2 * px
    margins = [lat - d, d - med, dia - v, np.sqrt(heart) - 1.0, np.sqrt(knob) - 1.0]
    soft = np.ones_like(u)
    for m in margins:
        soft *= 1.0 / (1.0 + np.exp(-np.clip(m / edge, -30, 30)))
    cp = np.where(u < 0, anat.cp_v[0], anat.cp_v[1])
    q = np.clip((d - med) / np.maximum(lat - med, 1e-3), 0.0, 1.0)
    t = np.clip((v - anat.apex_v) / (cp - anat.apex_v), 0.0, 1.0)
    return soft.astype(np.float32), side, q.astype(np.float32), t.astype(np.float32)


def render_thorax(anat: Anatomy, size: int, rng: np.random.Generator) -> Thorax:
    """Attenuation map of the normal chest (soft tissue, lungs, heart, bones)."""

    u, v = patient_grid(anat, size)
    px = 2.0 / size  # one pixel in patient units
    d = np.abs(u)
    lung, side, q, t = lung_fields(anat, u, v, px)
    lung_mask = lung > 0.5
    side = np.where(lung_mask, side, 0).astype(np.int8)

    # body outline: neck, shoulders, elliptical torso cross-section
    shoulder = 1.0 / (1.0 + np.exp(-(v - 0.03) / 0.025))
    half_w = 0.24 + (anat.body_w + 0.1 - 0.24) * shoulder - 0.08 * np.clip(v - 0.3, 0, None)
    body = np.sqrt(np.clip(1.0 - (u / half_w) ** 2, 0.0, 1.0))
    body = ndimage.gaussian_filter(body, 0.8)
    below = np.clip((v - np.where(u < 0, diaphragm(anat, d, -1), diaphragm(anat, d, 1))) / 0.02,
                    0, 1)
    soft = anat.tissue * body * (1.0 - 0.64 * lung) * (1.0 + 0.08 * below)
    soft = soft * (1.0 + 0.04 * smooth_field(rng, size, 0.25))

    hx, hy, ha, hb, hang = anat.heart
    heart_d = ellipse(u, v, hx, hy, ha, hb, hang)
    heart = np.sqrt(np.clip(1.0 - heart_d, 0.0, 1.0))
    breast = anat.breast * np.exp(
        -np.minimum(ellipse(u, v, -0.55, 0.78, 0.3, 0.16), ellipse(u, v, 0.55, 0.78, 0.3, 0.16))
    )
    bubble = 0.0
    if anat.bubble > 0:
        bubble = np.exp(-ellipse(u, v, 0.5, anat.dome_v[1] + 0.07, anat.bubble * 1.4,
                                 anat.bubble) ** 2)
    trachea = np.exp(-((u - 0.012 * (v - 0.1)) / 0.032) ** 6) * (v < 0.40) * np.clip(
        (0.40 - v) / 0.03, 0, 1)

    # pulmonary vessels: radial streaks fanning out of each hilum, tapering peripherally
    vessels = np.zeros_like(u)
    for s in SIDES:
        du, dv = u - s * 0.09, v - 0.46  # vessels fan out from behind the hilum
        r = np.hypot(du, dv)
        trunks = np.clip(radial_streaks(rng, du, dv, n_angles=70, radius_sigma=1.5) - 0.5, 0, None)
        twigs = np.clip(radial_streaks(rng, du, dv, n_angles=200, radius_sigma=1.2) - 0.8, 0, None)
        fan = 1.5 * trunks * np.exp(-r / 0.16) + twigs * np.exp(-r / 0.3)
        vessels += np.where(u * s > 0, fan, 0.0)
    hilum = sum(np.exp(-ellipse(u, v, s * 0.2, 0.45, 0.07, 0.09)) for s in SIDES)

    att = (
        soft
        + 0.07 * heart
        + breast
        - 0.22 * bubble * body
        - 0.12 * trachea
        + (0.15 * vessels + 0.07 * hilum) * lung
        + bone_map(anat, u, v, lung)
    )
    return Thorax(u, v, att.astype(np.float32), lung, lung_mask, side, q, t)
