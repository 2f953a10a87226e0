"""The covid-chestxray finding vocabulary (Cohen et al. 2020): every value, one mapping.

The collection spelled findings flat until mid-2020 (``COVID-19``, ``COVID-19, ARDS``,
``Mycoplasma Bacterial Pneumonia``, ``Lipoid``, ...) and hierarchically after
(``Pneumonia/Viral/COVID-19``, ``Pneumonia/Bacterial/Mycoplasma``, ``Tuberculosis``).
:data:`FLAT_FINDINGS` lists the flat vocabulary in full (the table in docs/data.md is
this table); hierarchical values are read by their path. ``None`` means "not a
finding" (``todo``, ``Unknown``, empty): those rows are left out of the index, counted.

Decisions (torchxrayvision's COVID19_Dataset groups the same way):

* ``COVID-19, ARDS`` is COVID-19 with acute respiratory distress: ``covid``.
* ``ARDS`` alone is a syndrome with many causes, not a pneumonia type: ``other``.
* ``Lipoid`` (exogenous lipoid pneumonia) is filed under Pneumonia by the
  collection itself (``Pneumonia/Lipoid``): ``pneumonia``, detail ``lipoid``.
* ``Tuberculosis`` is a mycobacterial infection that the two-class and three-class
  COVID tasks do not treat as pneumonia: ``other``, detail ``tuberculosis``.
* Organisms keep their family as the detail (``bacterial``, ``viral``, ``fungal``),
  the detail the pneumonia subtypes of every other adapter use.
"""

from __future__ import annotations

import re

COVID = ("covid", "covid-19")
VIRAL = ("pneumonia", "viral")
BACTERIAL = ("pneumonia", "bacterial")
FUNGAL = ("pneumonia", "fungal")

#: flat 2020 finding (lower case, stripped) -> (label, label_detail); None = no finding given
FLAT_FINDINGS: dict[str, tuple[str, str] | None] = {
    "covid-19": COVID,
    "covid-19, ards": COVID,
    "sars": VIRAL,
    "mers": VIRAL,
    "mers-cov": VIRAL,
    "influenza": VIRAL,
    "h1n1": VIRAL,
    "varicella": VIRAL,
    "herpes": VIRAL,
    "rsv": VIRAL,
    "streptococcus": BACTERIAL,
    "staphylococcus": BACTERIAL,
    "mrsa": BACTERIAL,
    "klebsiella": BACTERIAL,
    "legionella": BACTERIAL,
    "e.coli": BACTERIAL,
    "chlamydophila": BACTERIAL,
    "mycoplasma": BACTERIAL,
    "mycoplasma bacterial pneumonia": BACTERIAL,
    "nocardia": BACTERIAL,
    "bacterial": BACTERIAL,
    "pneumocystis": FUNGAL,
    "aspergillosis": FUNGAL,
    "histoplasmosis": FUNGAL,
    "fungal": FUNGAL,
    "lipoid": ("pneumonia", "lipoid"),
    "aspiration": ("pneumonia", "aspiration"),
    "pneumonia": ("pneumonia", ""),
    "viral": VIRAL,
    "ards": ("other", "ards"),
    "tuberculosis": ("other", "tuberculosis"),
    "no finding": ("normal", ""),
    "normal": ("normal", ""),
    "unknown": None,
    "todo": None,
    "": None,
}
_ALIASES = {"e. coli": "e.coli", "ecoli": "e.coli", "covid19": "covid-19", "sars-cov-2": "covid-19",
            "n/a": "", "na": "", "nan": "", "none": "", "no findings": "no finding"}
_FAMILIES = {"viral": "viral", "bacterial": "bacterial", "fungal": "fungal"}


def _key(text: str) -> str:
    key = re.sub(r"\s+", " ", text.strip().lower())
    key = re.sub(r"\s*,\s*", ", ", key)
    return _ALIASES.get(key, key)


def known_finding(finding: str) -> bool:
    """Whether ``finding`` is in the vocabulary (flat table or a hierarchical path)."""
    return _lookup(finding)[1]


def map_finding(finding: str) -> tuple[str, str] | None:
    """(label, label_detail) for a covid-chestxray finding; ``None`` if none is given.

    A value outside the vocabulary maps to ``other`` with the value as detail (the
    adapter lists such values in a notice, so a new spelling is seen, not guessed).
    """
    return _lookup(finding)[0]


def _lookup(finding: str) -> tuple[tuple[str, str] | None, bool]:
    key = _key(finding)
    if key in FLAT_FINDINGS:
        return FLAT_FINDINGS[key], True
    if "/" in key:  # hierarchical: Pneumonia/Viral/COVID-19, Pneumonia/Bacterial/Mycoplasma
        parts = [p.strip() for p in key.split("/") if p.strip()]
        if any(re.fullmatch(r"covid-?19|sars-cov-2", p) for p in parts):
            return COVID, True
        leaf = FLAT_FINDINGS.get(_ALIASES.get(parts[-1], parts[-1])) if parts else None
        if parts and parts[0] == "pneumonia":
            if len(parts) == 1:
                return ("pneumonia", ""), True
            family = _FAMILIES.get(parts[1])
            if family:
                return ("pneumonia", family), True
            if leaf is not None and leaf[0] == "pneumonia":
                return leaf, True
            return ("pneumonia", parts[1]), False
        if leaf is not None:
            return leaf, True
    if re.search(r"covid[\s\-_]?19|sars-cov-2", key):  # "COVID-19, pneumothorax"
        return COVID, True
    return ("other", key), False
