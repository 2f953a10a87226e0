"""Patients, studies and their rendering: the deterministic core of the phantom generator.

Each patient is drawn from ``numpy.random.SeedSequence([seed, index])`` so
adding patients never changes the earlier ones. Classes are assigned by an
additive-recurrence (golden-ratio Weyl) sequence over the patient index, so the
class counts follow the configured mix closely for any number of patients and
remain stable when patients are added (Kuipers & Niederreiter, *Uniform
Distribution of Sequences*, 1974).

Longitudinal patients get several studies whose severity follows a
gamma-variate-like course peaking at the middle study (COVID-19 radiographic
severity peaks about 10-12 days after symptom onset: Wong et al., Radiology
2020), so lesions grow and then resolve over the offsets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from cxr.config import PhantomConfig
from cxr.data.images.intensity import float_to_uint8
from cxr.phantom.anatomy import Anatomy, jitter, sample_anatomy
from cxr.phantom.lesions import CLASSES, FINDINGS, LesionPlan, render_lesions, sample_lesions
from cxr.phantom.texture import expose
from cxr.phantom.thorax import render_thorax
from cxr.runtime.errors import ConfigError

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0
_SQRT2 = np.sqrt(2.0) - 1.0
# typical age ranges per class (years): pneumonia collections skew young, COVID-19 older
_AGES = {"normal": (18, 85), "bacterial": (18, 90), "viral": (18, 75), "covid": (30, 90)}
AP_FRACTION = 0.2  # independent of the class: the phantom must not teach a view shortcut


@dataclass(frozen=True)
class Study:
    offset: int  # days since the first study
    severity: float  # 0 for normal patients
    anatomy: Anatomy  # with this day's positioning/exposure
    noise_seed: int


@dataclass(frozen=True)
class PatientPlan:
    index: int
    patient_id: str
    kind: str
    sex: str
    age: int
    view: str
    lesions: LesionPlan
    studies: tuple[Study, ...]

    @property
    def finding(self) -> str:
        return FINDINGS[self.kind]

    def filename(self, study: Study) -> str:
        return f"{self.patient_id}_d{study.offset:03d}.png"


def validate_config(cfg: PhantomConfig) -> None:
    """Raise :class:`ConfigError` naming the offending option."""
    if cfg.patients < 1:
        raise ConfigError(f"phantom: patients must be at least 1, got {cfg.patients}")
    if cfg.seed < 0:
        raise ConfigError(f"phantom: seed must be non-negative, got {cfg.seed}")
    if not 32 <= cfg.image_size <= 4096:
        raise ConfigError(f"phantom: image_size must be in [32, 4096], got {cfg.image_size}")
    mix = class_mix(cfg)
    for kind, p in mix.items():
        if not np.isfinite(p) or p < 0:
            raise ConfigError(f"phantom: mix_{kind} must be a non-negative number, got {p}")
    total = sum(mix.values())
    if abs(total - 1.0) > 1e-6:
        parts = " + ".join(f"mix_{k}={v:g}" for k, v in mix.items())
        raise ConfigError(f"phantom: class mix must sum to 1, got {parts} = {total:g}")
    if not 0.0 <= cfg.longitudinal_fraction <= 1.0:
        raise ConfigError(
            f"phantom: longitudinal_fraction must be in [0, 1], got {cfg.longitudinal_fraction}"
        )
    if not 2 <= cfg.max_studies <= 20:
        raise ConfigError(f"phantom: max_studies must be in [2, 20], got {cfg.max_studies}")


def class_mix(cfg: PhantomConfig) -> dict[str, float]:
    return {k: float(getattr(cfg, f"mix_{k}")) for k in CLASSES}


def _weyl(seed: int, index: int, alpha: float, stream: int) -> float:
    start = np.random.default_rng(np.random.SeedSequence([seed, 2**32 - 1, stream])).random()
    return float((start + index * alpha) % 1.0)


def _severity_course(offsets: list[int], rng: np.random.Generator) -> list[float]:
    """Severity per study: rises to 1 at the middle study, then resolves."""
    if len(offsets) == 1:
        return [float(rng.uniform(0.55, 1.0))]
    onset = rng.uniform(2.0, 5.0)  # days from symptom onset to the first study
    peak = offsets[len(offsets) // 2] + onset
    x = (np.asarray(offsets, float) + onset) / peak
    return [float(s) for s in np.maximum((x * np.exp(1.0 - x)) ** 3, 0.12)]


def plan_patient(cfg: PhantomConfig, index: int) -> PatientPlan:
    """Everything random about patient ``index`` (cheap: nothing is rendered)."""
    cum = np.cumsum([class_mix(cfg)[k] for k in CLASSES])
    kind = CLASSES[min(int(np.searchsorted(cum, _weyl(cfg.seed, index, _GOLDEN, 0), "right")),
                       len(CLASSES) - 1)]
    longitudinal = _weyl(cfg.seed, index, _SQRT2, 1) < cfg.longitudinal_fraction
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, index]))
    sex = "F" if rng.random() < 0.5 else "M"
    lo, hi = _AGES[kind]
    age = int(rng.integers(lo, hi + 1))
    view = "AP" if rng.random() < AP_FRACTION else "PA"
    anat = sample_anatomy(rng, sex, view)
    lesions = sample_lesions(rng, kind)
    n = int(rng.integers(2, cfg.max_studies + 1)) if longitudinal else 1
    offsets = [0]
    for _ in range(n - 1):
        offsets.append(offsets[-1] + int(rng.integers(3, 9)))
    severities = _severity_course(offsets, rng) if kind != "normal" else [0.0] * n
    studies = []
    for k, (off, sev) in enumerate(zip(offsets, severities, strict=True)):
        day = anat if k == 0 else jitter(anat, rng)
        studies.append(Study(off, sev, day, int(rng.integers(2**31))))
    return PatientPlan(index, f"P{index:05d}", kind, sex, age, view, lesions, tuple(studies))


@dataclass(frozen=True)
class Rendered:
    image: np.ndarray  # uint8 (S, S)
    lung_mask: np.ndarray  # bool (S, S)
    lesion_mask: np.ndarray  # bool (S, S)


def render_study(plan: PatientPlan, study: Study, size: int) -> Rendered:
    """Render one study of a patient at ``size`` x ``size`` pixels."""
    rng = np.random.default_rng(study.noise_seed)
    anat = study.anatomy
    thorax = render_thorax(anat, size, rng)
    opacity, lesion = render_lesions(plan.lesions, anat, thorax, study.severity)
    img = expose(thorax.attenuation + opacity, rng, level=anat.level, gain=anat.gain,
                 gamma=anat.gamma, heel=anat.heel, noise=anat.noise, sharpen=anat.sharpen)
    return Rendered(float_to_uint8(img), thorax.lung_mask.copy(), lesion)


def with_size(cfg: PhantomConfig, size: int) -> PhantomConfig:
    return dataclasses.replace(cfg, image_size=size)
