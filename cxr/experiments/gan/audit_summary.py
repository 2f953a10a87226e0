"""The synthetic-data audit as rows ``(measure, synthetic, real baseline, how to read it)``,
shared by the `cxr gan eval` summary table and the report's audit block."""

from __future__ import annotations

from typing import Any


def _auroc(d: dict[str, Any] | None) -> str:
    if not d or d.get("auroc") is None:
        return "–"
    lo, hi = d.get("ci_low"), d.get("ci_high")
    return f"{d['auroc']:.3f}" + (f" [{lo:.3f}, {hi:.3f}]" if lo is not None else "")


def _pm(d: dict[str, Any], key: str, digits: int = 3) -> str:
    return f"{d[f'{key}_mean']:.{digits}f} ± {d[f'{key}_std']:.{digits}f}"


def audit_rows(a: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    sep = a.get("separability", {})
    if "skipped" in sep:
        rows.append(("separability (probe AUROC)", "skipped", "", sep["skipped"]))
    elif sep:
        rows.append((f"separability, probe AUROC (n={sep['n_per_set']} per set)",
                     _auroc(sep["synthetic_vs_real"]), _auroc(sep["baseline_real_vs_real"]),
                     "GAN vs real target; baseline real vs real. Near 1.0 = a fingerprint"))
    mem = a.get("memorisation", {})
    if mem:
        base = mem.get("baseline_heldout_real") or {}
        rows.append(("memorisation: median NN distance to GAN training set",
                     f"{mem['synthetic']['median_distance']:.4g}",
                     f"{base.get('median_distance', float('nan')):.4g}",
                     "synthetic vs held-out real images; much smaller = copying"))
        rows.append(("memorisation: median / max SSIM to nearest training image",
                     f"{mem['synthetic']['median_ssim']:.3f} / {mem['synthetic']['max_ssim']:.3f}",
                     f"{base.get('median_ssim', float('nan')):.3f} / "
                     f"{base.get('max_ssim', float('nan')):.3f}", ""))
        rows.append(("memorisation: flagged copies", f"{mem['copies']} ({mem['copy_share']:.1%})",
                     "", mem["copy_rule"]))
    div = a.get("diversity", {})
    if div.get("synthetic", {}).get("mean") is not None:
        rows.append((f"diversity: mean pairwise MS-SSIM (n={div['n_per_set']})",
                     f"{div['synthetic']['mean']:.3f}",
                     f"{div['baseline_real_target']['mean']:.3f}",
                     "higher than real = less diverse (mode collapse)"))
    cov = a.get("coverage", {})
    if "synthetic" in cov:
        s, b = cov["synthetic"], cov["baseline_real_vs_real"]
        for key in ("precision", "recall", "density", "coverage"):
            rows.append((f"{key} (k={s['k']}, n={cov['n_per_set']})", f"{s[key]:.3f}",
                         f"{b[key]:.3f}", "Naeem et al. 2020; baseline real vs real"
                         if key == "precision" else ""))
    t = a.get("tstr", {})
    if "train_on_synthetic" in t:
        rows.append((f"train on synthetic, test on real: AUROC (n_test={t['n_test']})",
                     _auroc(t["train_on_synthetic"]), _auroc(t["baseline_train_on_real"]),
                     f"{t['n_positives']} GAN vs {t['n_positives']} real positives, same "
                     "negatives"))
    fid = a.get("fid_kid_equal_n", {})
    if "n" in fid:
        syn = fid.get("synthetic_vs_real_target_heldout")
        for name in ("real_target_train", "real_source_heldout"):
            base = fid.get(f"{name}_vs_real_target_heldout")
            if syn and base:
                what = name.replace("_", " ").replace("heldout", "held-out")
                rows.append((f"FID vs held-out real target (n={fid['n']}, "
                             f"{fid['repeats']} subsamples); baseline {what}",
                             _pm(syn, "fid", 2), _pm(base, "fid", 2), "mean ± sd over subsamples"))
                rows.append((f"KID vs held-out real target; baseline {what}",
                             _pm(syn, "kid", 4), _pm(base, "kid", 4),
                             "unbiased estimate: can be below 0 when the sets match"))
    return rows
