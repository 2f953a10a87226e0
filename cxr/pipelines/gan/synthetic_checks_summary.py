"""The synthetic-data audit as rows ``(measure, synthetic, real baseline, how to read it)``,
shared by the `cxr gan eval` summary table and the report's audit block."""

from __future__ import annotations

from typing import Any


def _auroc(d: dict[str, Any] | None) -> str:
    from cxr.runtime.fmt import fmt_num

    if not d or d.get("auroc") is None:
        return "–"
    lo, hi = d.get("ci_low"), d.get("ci_high")
    ci = f" [{fmt_num(lo)}, {fmt_num(hi)}]" if lo is not None and hi is not None else ""
    return fmt_num(d["auroc"]) + ci


def _pm(d: dict[str, Any], key: str, digits: int = 3) -> str:
    from cxr.runtime.fmt import fmt_pm

    return fmt_pm(d[f"{key}_mean"], d[f"{key}_std"])


def audit_rows(a: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    from cxr.runtime.fmt import fmt_num

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
                     fmt_num(mem['synthetic']['median_distance']),
                     fmt_num(base.get('median_distance', float('nan'))),
                     "synthetic vs held-out real images; much smaller = copying"))
        rows.append(("memorisation: median / max SSIM to nearest training image",
                     f"{fmt_num(mem['synthetic']['median_ssim'])} / "
                     f"{fmt_num(mem['synthetic']['max_ssim'])}",
                     f"{fmt_num(base.get('median_ssim'))} / {fmt_num(base.get('max_ssim'))}",
                     ""))
        rows.append(("memorisation: flagged copies", f"{mem['copies']} ({mem['copy_share']:.1%})",
                     "", mem["copy_rule"]))
    div = a.get("diversity", {})
    if div.get("synthetic", {}).get("mean") is not None:
        rows.append((f"diversity: mean pairwise MS-SSIM (n={div['n_per_set']})",
                     fmt_num(div['synthetic']['mean']),
                     fmt_num(div['baseline_real_target']['mean']),
                     "higher than real = less diverse (mode collapse)"))
    cov = a.get("coverage", {})
    if "synthetic" in cov:
        s, b = cov["synthetic"], cov["baseline_real_vs_real"]
        for key in ("precision", "recall", "density", "coverage"):
            rows.append((f"{key} (k={s['k']}, n={cov['n_per_set']})", fmt_num(s[key]),
                         fmt_num(b[key]), "Naeem et al. 2020; baseline real vs real"
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
