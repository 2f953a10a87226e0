"""The shortcut-risk verdict: ``high``, ``medium`` or ``low``, and the evidence behind it.

The rule (also written into ``audit.json`` as ``rule`` and in docs/audit.md):

**high** when any *strong* finding holds:

* S1 source: the source probe reads the collection from the pixels (AUROC
  95 % CI lower bound >= 0.90) **and** the collection predicts the label
  (Cramér's V of dataset x label >= 0.5, or >= 90 % of the positive class
  comes from collections that hold no other label);
* S2 lungs hidden: the classifier's AUROC with the lung field hidden has a CI
  lower bound >= 0.80;
* S3 border only: the same with only the border band kept;
* S4 within-source gap: pooled AUROC minus within-source AUROC >= 0.15 with
  the gap's CI above 0 (checkpoint given, a collection holds both classes).

**medium** when no strong but any *some* finding holds:

* M1 the source probe AUROC >= 0.75 and Cramér's V >= 0.2;
* M2 the data alone are confounded (the collection predicts every label, or
  >= 90 % of the positive class from single-label collections), whether or not
  the probe could read it;
* M3 / M4 lungs hidden / border only: AUROC >= 0.65 with CI lower bound > 0.5;
* M5 Grad-CAM puts less of its energy on the lung field than a uniform map
  would (median energy share < the field's area share) in a collection;
* M6 within-source gap >= 0.05.

**low** otherwise. A probe that could not run (one collection, no lung field,
too few images) contributes nothing and is listed as not applicable; "low"
therefore means "none of the measured routes shows a shortcut", not proof of
its absence.
"""

from __future__ import annotations

from typing import Any

PROBE_STRONG = 0.90
PROBE_SOME = 0.75
CONFOUND_V_STRONG = 0.5
CONFOUND_V_SOME = 0.2
SINGLE_SOURCE_SHARE = 0.9
MASKED_STRONG = 0.80
MASKED_SOME = 0.65
GAP_STRONG = 0.15
GAP_SOME = 0.05

RULE = (
    "high if any strong finding: S1 source probe AUROC CI low >= 0.90 and the collection "
    "predicts the label (Cramér's V >= 0.5 or >= 90% of the positive class from single-label "
    "collections); S2/S3 AUROC with the lungs hidden / only the border kept has CI low >= 0.80; "
    "S4 pooled - within-source AUROC >= 0.15 with CI above 0. medium if any: M1 probe AUROC "
    ">= 0.75 and V >= 0.2; M2 the data are confounded (collection predicts every label or >= "
    "90% of positives from single-label collections); M3/M4 masked AUROC >= 0.65 with CI low "
    "> 0.5; M5 Grad-CAM energy share on the lung field below its area share; M6 gap >= 0.05. "
    "low otherwise (probes that could not run count for nothing)."
)


def _get(d: dict[str, Any] | None, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _masked(name: str, code: str, probe: dict[str, Any] | None) -> tuple[str, str] | None:
    a, lo = _get(probe, "auroc"), _get(probe, "ci_low")
    if a is None or lo is None:
        return None
    what = f"{code} AUROC with {name} {a:.3f} [{lo:.3f}, {_get(probe, 'ci_high'):.3f}]"
    if lo >= MASKED_STRONG:
        return "strong", what
    if a >= MASKED_SOME and lo > 0.5:
        return "some", what
    return None


def decide(audit: dict[str, Any]) -> dict[str, Any]:
    """``{"verdict", "strong": [...], "some": [...], "rule"}`` from an audit dict."""
    strong: list[str] = []
    some: list[str] = []
    conf = _get(audit, "confounding", "all") or {}
    v = conf.get("cramers_v")
    positive = audit.get("positive", "covid")
    share = _get(conf, "single_label_share", positive)
    confounded_strong = (v is not None and v >= CONFOUND_V_STRONG) or (
        share is not None and share >= SINGLE_SOURCE_SHARE
    )
    probe = audit.get("source_probe") or {}
    if probe.get("applicable"):
        a, lo = probe.get("auroc"), probe.get("ci_low")
        what = (f"S1 source probe AUROC {a:.3f} [{lo:.3f}, {probe.get('ci_high'):.3f}]: the "
                f"collection is readable from the pixels and predicts the label (Cramér's V "
                f"{'–' if v is None else f'{v:.2f}'}; "
                f"{'–' if share is None else f'{share:.0%}'} of {positive} images from "
                "single-label collections)")
        if lo is not None and lo >= PROBE_STRONG and confounded_strong:
            strong.append(what)
        elif a is not None and a >= PROBE_SOME and v is not None and v >= CONFOUND_V_SOME:
            some.append("M1 " + what[3:])
    perfect = conf.get("dataset_accuracy") == 1.0 and len(conf.get("labels", [])) > 1
    if perfect or (share is not None and share >= SINGLE_SOURCE_SHARE):
        acc = conf.get("dataset_accuracy")
        some.append(f"M2 data confounded: the collection alone predicts the label of "
                    f"{'–' if acc is None else f'{acc:.0%}'} of images; "
                    f"{'–' if share is None else f'{share:.0%}'} of {positive} images come "
                    "from collections holding no other label")
    masking = audit.get("masking") or {}
    for key, name, s_code, m_code in (("lungs_hidden", "the lungs hidden", "S2", "M3"),
                                      ("border_only", "only the border kept", "S3", "M4")):
        hit = _masked(name, "", _get(masking, key))
        if hit:
            (strong if hit[0] == "strong" else some).append(
                (s_code if hit[0] == "strong" else m_code) + hit[1])
    for ds, row in (_get(audit, "gradcam", "by_dataset") or {}).items():
        med, area = row.get("median_energy_share"), row.get("mean_area_share")
        if med is not None and area is not None and med < area:
            some.append(f"M5 Grad-CAM on {ds}: median lung-field energy share {med:.2f} < "
                        f"area share {area:.2f}")
    gap = _get(audit, "source_gap", "gap") or {}
    g, glo = gap.get("gap"), gap.get("ci_low")
    if g is not None:
        what = f"pooled - within-source AUROC {g:+.3f} [{glo}, {gap.get('ci_high')}]"
        if g >= GAP_STRONG and glo is not None and glo > 0:
            strong.append("S4 " + what)
        elif g >= GAP_SOME:
            some.append("M6 " + what)
    verdict = "high" if strong else "medium" if some else "low"
    return {"verdict": verdict, "strong": strong, "some": some, "rule": RULE}
