"""Patient ids carried by file names in public chest X-ray collections.

* **NIH ChestX-ray14** (Wang et al., CVPR 2017): ``00000013_005.png`` is the
  6th study of patient 13 (8-digit patient, 3-digit follow-up number).
  Folder-per-class COVID collections copy these images under their NIH names.
* **Kermany pediatric** (Cell 2018): ``personN_bacteria_M`` / ``personN_virus_M``
  and ``[NORMAL2-]IM-XXXX-YYYY``, see :mod:`.kaggle_pneumonia`.
* **covid-chestxray / Figure1** ids with a letter suffix for one patient's
  several images (``COVID-00003a``, ``COVID-00003b``): :func:`strip_image_suffix`.
"""

from __future__ import annotations

import re

_NIH = re.compile(r"^(\d{8})_(\d{3})$")
_SUFFIX = re.compile(r"^(.*\d)[a-z]$", re.IGNORECASE)


def parse_nih_name(stem: str) -> str | None:
    """``nih-<8 digits>`` for an NIH ChestX-ray14 file stem, else ``None``."""
    m = _NIH.match(stem)
    return f"nih-{m.group(1)}" if m else None


def strip_image_suffix(image_id: str) -> str:
    """``COVID-00003a`` -> ``COVID-00003``; ids without such a suffix are returned as is."""
    m = _SUFFIX.match(image_id.strip())
    return m.group(1) if m else image_id.strip()


def patient_from_name(stem: str) -> str | None:
    """The patient id a known naming scheme gives ``stem``, else ``None``."""
    from cxr.data.index.adapters.kaggle_pneumonia import parse_kermany_name

    nih = parse_nih_name(stem)
    if nih:
        return nih
    kermany = parse_kermany_name(stem)
    return kermany[0] if kermany else None
