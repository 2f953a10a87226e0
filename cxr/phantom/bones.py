"""Bony thorax of the phantom: spine, posterior and anterior ribs, clavicles, shoulders.

Posterior ribs leave the spine nearly horizontally and curve down towards the
lateral chest wall; anterior ribs run obliquely down towards the sternum and
are fainter (Felson, *Principles of Chest Roentgenology*). Ribs are drawn as
cortical tubes (bright margins) so they stay visible through the lung fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cxr.phantom.anatomy import Anatomy


def _tube(delta: np.ndarray) -> np.ndarray:
    """Projected thickness of a hollow bone of half-width 1 (cortex brighter than marrow)."""
    outer = np.sqrt(np.clip(1.0 - delta**2, 0.0, None))
    inner = np.sqrt(np.clip(1.0 - (delta / 0.7) ** 2, 0.0, None))
    return outer - 0.55 * inner


def _ribs(anat: Anatomy, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    d = np.abs(u)
    w = anat.chest_w
    x = d / w
    out = np.zeros_like(u)
    # posterior ribs: periodic in v once the lateral downward bend is removed
    bend = anat.rib_bend * x**2 - 0.14 * x
    vp = v - bend
    k = (vp - anat.rib_v0) / anat.rib_step
    kr = np.round(k)
    delta = (k - kr) * anat.rib_step / (0.014 + 0.008 * x)
    valid = (kr >= 1) & (kr <= 10) & (d > 0.05) & (x < 1.06)
    lateral_fade = np.clip((1.1 - x) / 0.12, 0.0, 1.0)
    out += np.where(valid, _tube(delta) * lateral_fade, 0.0)
    # anterior ribs: fainter, running obliquely down and medially from the chest wall
    va = v - 0.35 * (1.0 - x)
    ka = (va - anat.rib_v0 + 0.05) / (anat.rib_step * 1.35)
    kar = np.round(ka)
    delta_a = (ka - kar) * anat.rib_step * 1.35 / 0.022
    valid_a = (kar >= 1) & (kar <= 6) & (x > 0.3) & (x < 1.02)
    out += 0.3 * np.where(valid_a, _tube(delta_a) * np.clip((x - 0.3) / 0.2, 0, 1), 0.0)
    return out


def _spine(anat: Anatomy, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    half = 0.065 + 0.012 * np.clip(v, 0, 1)
    body = np.sqrt(np.clip(1.0 - (u / half) ** 2, 0.0, None))
    # vertebral bodies with darker disc spaces; spinous processes down the middle
    phase = (v - anat.rib_v0) / (anat.rib_step * 1.02)
    discs = 1.0 - 0.35 * np.exp(-(((phase % 1.0) - 0.5) / 0.08) ** 2)
    spinous = 0.4 * np.exp(-((u / 0.012) ** 2)) * np.exp(
        -((((phase + 0.3) % 1.0) - 0.5) / 0.2) ** 2
    )
    pedicles = sum(
        0.35 * np.exp(-(ellipse_sq(u, v, s * 0.045, phase, anat)) ** 2) for s in (-1, 1)
    )
    return body * discs + spinous + pedicles


def ellipse_sq(u: np.ndarray, v: np.ndarray, cx: float, phase: np.ndarray, anat: Anatomy):
    """Normalised distance to the pedicle ring of the nearest vertebra."""
    dv = (((phase + 0.2) % 1.0) - 0.5) * anat.rib_step * 1.02
    r = np.sqrt(((u - cx) / 0.016) ** 2 + (dv / 0.02) ** 2)
    return (r - 1.0) * 2.0


def _clavicles(anat: Anatomy, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    d = np.abs(u)
    curve = anat.clav_v - 0.1 * d + 0.018 * np.sin(2 * np.pi * np.clip(d / 0.8, 0, 1))
    delta = (v - curve) / (0.017 + 0.008 * d)
    extent = np.clip((d - 0.03) / 0.03, 0, 1) * np.clip((0.85 - d) / 0.05, 0, 1)
    return _tube(delta) * extent


def _shoulders(anat: Anatomy, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    # humeral heads at the upper corners and the scapular margins
    out = np.zeros_like(u)
    for s in (-1, 1):
        r = np.hypot(u - s * (anat.body_w + 0.05), (v - anat.clav_v - 0.04) / 1.1)
        out += np.sqrt(np.clip(1.0 - (r / 0.11) ** 2, 0.0, None))
        scap = np.abs(u - s * (anat.chest_w + 0.06 + 0.25 * (v - 0.15))) / 0.05
        out += 0.12 * np.exp(-scap**2) * np.clip((v - 0.12) / 0.05, 0, 1) * (v < 0.42)
    return out


def bone_map(anat: Anatomy, u: np.ndarray, v: np.ndarray, lung: np.ndarray) -> np.ndarray:
    """Attenuation added by bone (ribs slightly reduced outside the lung fields)."""
    ribs = _ribs(anat, u, v)
    return (
        0.10 * _spine(anat, u, v) * np.clip((v + 0.1) / 0.2, 0, 1)
        + 0.07 * ribs * (0.6 + 0.4 * lung)
        + 0.26 * _clavicles(anat, u, v)
        + 0.30 * _shoulders(anat, u, v)
    ).astype(np.float32)
