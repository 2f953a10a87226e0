"""Built-in synthetic chest radiographs ("phantoms") with exact ground truth.

``generate_phantoms(out_dir, cfg)`` writes normal, bacterial-pneumonia,
viral-pneumonia and COVID-19 phantoms, with lung and lesion masks, in the
covid-chestxray-dataset layout so the whole pipeline runs offline. Modules:

* :mod:`~cxr.phantom.anatomy` - body, lungs, heart, mediastinum, diaphragm
* :mod:`~cxr.phantom.bones` - spine, ribs, clavicles, shoulders
* :mod:`~cxr.phantom.lesions` - class-specific opacities (published patterns)
* :mod:`~cxr.phantom.texture` - noise fields, vessels, detector response
* :mod:`~cxr.phantom.generator` - patients, studies, determinism, rendering
* :mod:`~cxr.phantom.writer` - files, resume, metadata, summary
* :mod:`~cxr.phantom.measure` - where lesions lie (peripheral/lower/bilateral)
* :mod:`~cxr.phantom.sheet` - contact sheet PNG for people to look at
"""

from __future__ import annotations

from cxr.phantom.generator import (
    PatientPlan,
    Rendered,
    Study,
    plan_patient,
    render_study,
    validate_config,
)
from cxr.phantom.lesions import CLASSES, FINDINGS
from cxr.phantom.writer import METADATA_COLUMNS, generate_phantoms

__all__ = [
    "CLASSES",
    "FINDINGS",
    "METADATA_COLUMNS",
    "PatientPlan",
    "Rendered",
    "Study",
    "generate_phantoms",
    "plan_patient",
    "render_study",
    "validate_config",
]
