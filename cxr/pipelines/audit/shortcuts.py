"""`cxr audit shortcuts`: can this data set be solved without looking at the lungs?

On public COVID-19 collections the positives and negatives often come from
different hospitals, and a classifier scores well by recognising the source
(Zech et al., PLOS Med 2018; DeGrave, Janizek & Lee, Nat. Mach. Intell. 2021;
Roberts et al., Nat. Mach. Intell. 2021). The audit measures the routes to
such a shortcut on the real-origin rows of a manifest:

1. confounding tables, per split and pooled (:mod:`cxr.data.leakage.confounding`);
2. the source probe: is the collection readable from the pixels?
3. masking probes: the classifier (``checkpoint``, or a probe classifier
   trained on the train split for the positive class) on the full images, with
   the lung field hidden and with only the border band kept;
4. with a checkpoint: Grad-CAM energy on the lung field per collection, and the
   pooled vs within-source AUROC gap.

The verdict (:mod:`.verdict`) and every number behind it go to ``audit.json``;
figures to ``figures/``; ``audit.html`` is the report section on its own page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxr.config import AuditConfig
from cxr.runtime.errors import ConfigError, ManifestError
from cxr.runtime.files import atomic_write_text


@dataclass
class AuditResult:
    out_dir: Path
    audit: dict[str, Any]


def _real_rows(manifest: str | Path, cfg: AuditConfig) -> tuple[Any, dict[str, int]]:
    """Real rows of the views ``cfg.views`` keeps, and ``{"<view> view": rows left out}``."""
    from cxr.data.manifest import load_manifest
    from cxr.data.views import select_views

    df = load_manifest(manifest)
    df = df[df["origin"].astype(str) == "real"].reset_index(drop=True)
    df, views_out = select_views(df, cfg.views)
    if df.empty:
        raise ManifestError(f"{manifest}: no real-origin rows of the kept views to audit")
    if cfg.max_per_dataset > 0:
        rng = np.random.default_rng(cfg.seed)
        keep: list[int] = []
        for _, idx in df.groupby("dataset", sort=True).indices.items():
            keep.extend(rng.choice(idx, min(len(idx), cfg.max_per_dataset), replace=False))
        df = df.iloc[np.sort(np.asarray(keep, dtype=np.int64))].reset_index(drop=True)
    return df, views_out


def _confounding(df: Any) -> dict[str, Any]:
    from cxr.data.leakage.confounding import source_confounding

    out = {"all": source_confounding(df).to_dict()}
    for split in ("train", "val", "test"):
        if (df["split"].astype(str) == split).any():
            out[split] = source_confounding(df, split=split).to_dict()
    return out


def check_views_policy(policy: str) -> None:
    from cxr.data.views import check_views_policy as check

    check(policy)


def check_audit_options(cfg: AuditConfig) -> None:
    if cfg.epochs < 1 or cfg.batch_size < 2:
        raise ConfigError(f"--epochs must be >= 1 and --batch-size >= 2 "
                          f"(got {cfg.epochs}, {cfg.batch_size})")
    if not 0.0 <= cfg.box_margin < 0.5 or not 0.0 < cfg.border_width < 0.5:
        raise ConfigError("--box-margin must be in [0, 0.5) and --border-width in (0, 0.5)")
    if cfg.bootstrap < 0:
        raise ConfigError(f"--bootstrap must be >= 0 (got {cfg.bootstrap})")
    check_views_policy(cfg.views)


def run_shortcut_audit(
    cfg: AuditConfig,
    *,
    manifest: str | Path,
    out_dir: str | Path,
    checkpoint: str | Path | None = None,
    progress: bool = True,
) -> AuditResult:
    """Run every applicable probe, decide the verdict, write ``audit.json`` and figures."""
    from rich.console import Console

    from cxr.pipelines.audit import probes as pr
    from cxr.pipelines.audit import shortcut_figures as figures
    from cxr.pipelines.audit.verdict import decide

    check_audit_options(cfg)
    console = Console(stderr=True, quiet=not progress)
    out = Path(out_dir)
    df, views_out = _real_rows(manifest, cfg)
    from cxr.runtime.device import resolve_device

    device = resolve_device(cfg.device)
    audit: dict[str, Any] = {
        "manifest": str(manifest), "checkpoint": str(checkpoint) if checkpoint else None,
        "positive": cfg.positive, "n_images": len(df),
        "n_patients": int(df["patient_id"].nunique()),
        "views_left_out": views_out,
        "datasets": {str(k): int(v) for k, v in df["dataset"].value_counts().sort_index().items()},
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
    }
    audit["confounding"] = _confounding(df)

    data = pr.load_images(df, cfg, cfg.image_size, cfg.resize_mode, progress=progress)
    audit["lung_field"] = pr.lung_field_counts(data)
    console.print("lung field per collection: " + "; ".join(
        f"{ds}: " + ", ".join(f"{n} {k}" for k, n in kinds.items())
        for ds, kinds in audit["lung_field"]["by_dataset"].items()))
    console.print(f"source probe: {cfg.backbone} at {cfg.image_size} px, {cfg.epochs} epochs")
    audit["source_probe"] = pr.source_probe(data, cfg, device, _printer(console, "source"))

    clf = _classifier(data, cfg, checkpoint, device, console, progress)
    figs: list[str] = []
    if clf.model is None:
        audit["masking"] = {"applicable": False, "reason": clf.what}
    else:
        masking = pr.masking_probe(clf.data, clf.rows, clf.model, clf.pos, cfg)
        scores = masking.pop("_scores")
        audit["masking"] = {"applicable": True, "classifier": clf.what, **masking}
        if checkpoint is not None:
            audit["gradcam"] = pr.gradcam_energy(clf.data, clf.rows, clf.model, clf.pos, cfg)
            audit["source_gap"] = pr.source_gap(clf.data, clf.rows, scores["full"], cfg)
        figs.append(figures.masked_examples(clf.data, clf.rows, cfg, out / "figures"))
    audit["verdict"] = decide(audit)
    audit["figures"] = [*figures.write_all(audit, out / "figures"), *figs]
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "audit.json", json.dumps(audit, indent=2, default=_json))
    _write_page(out)
    return AuditResult(out, audit)


def _write_page(out: Path) -> None:
    """``audit.html``: the report's audit section on its own page."""
    from cxr.pipelines.report.build import render_html
    from cxr.pipelines.report.shortcuts_section import audit_section

    html = render_html(f"cxr audit shortcuts: {out.resolve().name}", str(out),
                       [audit_section(out / "audit.json")], [])
    atomic_write_text(out / "audit.html", html)


def _json(x: Any) -> Any:
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, tuple):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _printer(console: Any, what: str) -> Any:
    return lambda epoch, loss: console.print(f"  {what} probe epoch {epoch + 1}: loss {loss:.4f}")


@dataclass
class _Classifier:
    """The classifier the masking probes evaluate, on ``data`` (its own image size) at
    the rows of ``rows``; ``model`` None when none could be had (``what`` says why)."""

    model: Any
    data: Any
    pos: int
    rows: np.ndarray
    what: str


def _classifier(data: Any, cfg: AuditConfig, checkpoint: str | Path | None, device: Any,
                console: Any, progress: bool) -> _Classifier:
    from cxr.pipelines.audit import probes as pr

    none = np.zeros(len(data.df), dtype=bool)
    if checkpoint is not None:
        from cxr.classifier.checkpoint import load_classifier

        model, info = load_classifier(checkpoint, map_location=device)
        classes = list(info.classes)
        if cfg.positive not in classes:
            raise ConfigError(f"{checkpoint}: classes {classes} lack --positive {cfg.positive}")
        cdata = data
        if (info.image_size, info.resize_mode) != (data.size, cfg.resize_mode):
            cdata = pr.load_images(data.df, cfg, info.image_size, info.resize_mode,
                                   progress=progress)
        split = cdata.df["split"].astype(str).to_numpy()
        test = split == "test"
        rows = test if test.any() else np.ones(len(split), dtype=bool)
        what = (f"{info.backbone} from {checkpoint} at {info.image_size} px, on the "
                f"{'test split' if test.any() else 'whole manifest'}")
        return _Classifier(model, cdata, classes.index(cfg.positive), rows, what)
    positive = (data.df["label"].astype(str) == cfg.positive).to_numpy()
    if not positive.any() or positive.all():
        return _Classifier(None, data, 0, none,
                           f"the manifest has no {cfg.positive} / non-{cfg.positive} contrast")
    train, held, how = pr.probe_split(data.df, "label", cfg.seed)
    if len(set(positive[held])) < 2 or len(set(positive[train])) < 2:
        return _Classifier(None, data, 0, none,
                           "too few patients for a train/evaluation split of the classes")
    console.print(f"masking probe: training a {cfg.backbone} for {cfg.positive} vs rest")
    model = pr.fit_probe(cfg, data.images[train], positive[train].astype(np.int64), 2, device,
                     _printer(console, "classifier"))
    what = (f"a probe {cfg.backbone} ({cfg.epochs} epochs, {cfg.image_size} px) trained for "
            f"{cfg.positive} vs rest (split: {how}), evaluated on the held-out rows")
    return _Classifier(model, data, 1, held, what)


def audit_table(res: AuditResult) -> Any:
    """One-screen summary of the audit."""
    from rich.table import Table

    a = res.audit
    v = a["verdict"]
    t = Table(title=f"shortcut audit: {v['verdict'].upper()} risk ({a['n_images']} real images, "
                    f"{len(a['datasets'])} collections)")
    t.add_column("measure")
    t.add_column("value", justify="right")
    sp = a["source_probe"]
    t.add_row("source probe AUROC (dataset from pixels)",
              _ci(sp) if sp.get("applicable") else f"n/a: {sp['reason']}")
    conf = a["confounding"]["all"]
    if conf.get("cramers_v") is not None:
        t.add_row("Cramér's V dataset x label", f"{conf['cramers_v']:.2f}")
    m = a.get("masking", {})
    if m.get("applicable"):
        for key, name in (("full", "AUROC full image"), ("lungs_hidden", "AUROC lungs hidden"),
                          ("border_only", "AUROC border only")):
            t.add_row(name, _ci(m[key]))
    gap = a.get("source_gap", {})
    if gap.get("applicable"):
        t.add_row("within-source AUROC", _ci(gap["within_source"]))
        t.add_row("pooled - within-source", f"{gap['gap']['gap']:+.3f}")
    kinds = a.get("lung_field", {}).get("by_kind", {})
    if kinds:
        t.add_row("lung field (images per kind)", ", ".join(f"{n} {k}" for k, n in kinds.items()))
    for line in v["strong"] + v["some"]:
        t.add_row("finding", line)
    for note in (m.get("note"), (a.get("gradcam") or {}).get("note")):
        if note:
            t.add_row("note", note)
    return t


def _ci(d: dict[str, Any]) -> str:
    if d.get("auroc") is None:
        return "undefined"
    lo, hi = d.get("ci_low"), d.get("ci_high")
    return f"{d['auroc']:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None else "")
