"""The model card of a classify run: MODEL_CARD.md and model_card.json beside the weights.

A model handed to a colleague should carry what is known about it (Mitchell et al., "Model
Cards for Model Reporting", FAT* 2019). The card is built from the run's files only
(``config.yaml``, ``metrics.json``, ``run.json``, ``best.ckpt``; never a recomputed number), so
that ``cxr report`` and ``cxr serve`` can show it and ``cxr export`` can copy it beside the
ONNX file.

Format: the Hugging Face model card (https://huggingface.co/docs/hub/model-cards): the JSON's
top-level keys are the hub's metadata fields (``license``, ``library_name``,
``pipeline_tag``, ``tags``, ``datasets``, ``metrics`` and ``model-index`` with one result per
evaluated set), and ``MODEL_CARD.md`` carries the same metadata as its YAML front matter, so a
hub reads either. What the hub has no field for lives under the ``cxr`` key: the test
metrics exactly as in ``metrics.json`` (headline with patient-level bootstrap CIs,
per-source, within-source, external), the decision threshold and how it was chosen, the data
(collections, images and patients per split and class, the patient-level split, duplicate
groups), the shortcut verdict of ``cxr audit shortcuts`` where one was run on the same
manifest, source confounding, GAN lineage, the sha256 of ``config.yaml`` and of the weights,
the intended use and "not for clinical use". ``warnings`` lists what a reader must see before
any result (``cxr serve`` shows them above the prediction).
"""

from __future__ import annotations

import hashlib
import json
from html import escape
from pathlib import Path
from typing import Any

import yaml

from cxr.pipelines.classify.run_folder import ClassifyRunFolder
from cxr.runtime.files import atomic_write_text
from cxr.runtime.fmt import fmt_ci, fmt_num

SCHEMA = "cxr-model-card/1"
NOT_CLINICAL = ("Not for clinical use: a research model, not a medical device; it has not been "
                "validated prospectively or approved by any regulator.")
INTENDED_USE = ("Research on COVID-19 detection in chest radiographs: reproducing, comparing and "
                "explaining classifiers on the collections named below. Out of scope: diagnosis, "
                "triage or any decision about a patient; images unlike the training collections "
                "(other views, paediatric films, other devices or post-processing).")
#: headline keys of metrics.json -> Hugging Face metric types (https://hf.co/metrics)
HF_METRICS = (("auroc", "roc_auc", "AUROC"), ("sensitivity", "recall", "sensitivity"),
              ("specificity", "specificity", "specificity"),
              ("balanced_accuracy", "balanced_accuracy", "balanced accuracy"),
              ("f1", "f1", "F1"), ("average_precision", "average_precision", "average precision"),
              ("accuracy", "accuracy", "accuracy"))
#: an AUROC interval wider than this says the test set is too small to rank models
WIDE_CI = 0.2


def sha256_of(path: Path) -> str | None:
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def find_shortcut_audit(folder: ClassifyRunFolder, manifest: str | None) -> Path | None:
    """An ``audit.json`` of ``cxr audit shortcuts`` run on this run's manifest, if any.

    Looked for in the run folder, its parent and the manifest's folder, and one level below
    each (e.g. ``runs/audit/audit.json``); only an audit of the same manifest file counts.
    """
    if not manifest:
        return None
    target = Path(manifest).resolve()
    roots = [folder.root, folder.root.parent, target.parent]
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            continue
        for cand in [root / "audit.json", *sorted(root.glob("*/audit.json"))]:
            cand = cand.resolve()
            if cand in seen or not cand.is_file():
                continue
            seen.add(cand)
            try:
                doc = json.loads(cand.read_text())
                audited = Path(doc["manifest"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not audited.is_absolute():  # relative to where the audit ran: try both
                if (cand.parent / audited).resolve() != target and audited.resolve() != target:
                    continue
            elif audited.resolve() != target:
                continue
            return cand
    return None


def _shortcut(folder: ClassifyRunFolder, manifest: str | None) -> dict[str, Any]:
    path = find_shortcut_audit(folder, manifest)
    if path is None:
        return {"verdict": "not audited", "audit": None,
                "how": "run `cxr audit shortcuts --manifest MANIFEST --out RUN/../audit`"}
    doc = json.loads(path.read_text())
    v = doc.get("verdict") or {}
    return {"verdict": str(v.get("verdict", "unknown")), "audit": str(path),
            "strong": v.get("strong", []), "some": v.get("some", []), "rule": v.get("rule")}


def _warnings(card: dict[str, Any]) -> list[dict[str, str]]:
    """What a reader must see before any result, most important first."""
    c = card["cxr"]
    out = [{"level": "warning", "topic": "clinical use", "text": NOT_CLINICAL}]
    sc = c["shortcut"]
    if sc["verdict"] in ("high", "medium"):
        why = "; ".join(str(s) for s in (sc.get("strong") or sc.get("some") or []))
        out.append({"level": "warning", "topic": "shortcut",
                    "text": f"Shortcut risk {sc['verdict'].upper()} (cxr audit shortcuts): the "
                    f"data can be solved without looking at the lungs{': ' + why if why else ''}."})
    elif sc["verdict"] == "not audited":
        out.append({"level": "note", "topic": "shortcut",
                    "text": "No shortcut audit of this manifest was found: whether the model "
                    "relies on the collection rather than the lungs is unknown ("
                    f"{sc['how']})."})
    else:
        out.append({"level": "note", "topic": "shortcut",
                    "text": f"Shortcut risk {sc['verdict']} (cxr audit shortcuts)."})
    for w in (c.get("source_confounding") or {}).get("warnings") or []:
        out.append({"level": "warning", "topic": "source confounding", "text": str(w)})
    lineage = c.get("gan_lineage")
    if lineage:
        level = "warning" if lineage.get("trusted_without_record") else "note"
        out.append({"level": level, "topic": "GAN lineage", "text": str(lineage.get("summary"))})
    auroc = ((c["metrics"].get("headline") or {}).get("auroc") or {})
    lo, hi = auroc.get("ci_low"), auroc.get("ci_high")
    if lo is not None and hi is not None and hi - lo > WIDE_CI:
        out.append({"level": "warning", "topic": "uncertainty",
                    "text": f"Test AUROC 95% CI [{fmt_num(lo)}, {fmt_num(hi)}] is wider than "
                    f"{WIDE_CI}: the test set ({c['metrics'].get('n_patients')} patients) is too "
                    "small to rank this model against others."})
    return out


def _hf_results(metrics: dict[str, Any], collections: list[str]) -> list[dict[str, Any]]:
    """model-index results: the internal test split, each source, each external set."""
    ci = metrics.get("ci", "95% patient-level bootstrap")

    def result(name: str, dtype: str, split: str, head: dict[str, Any]) -> dict[str, Any]:
        ms = []
        for key, hf, label in HF_METRICS:
            e = head.get(key)
            if isinstance(e, dict) and e.get("value") is not None:
                ms.append({"type": hf, "value": e["value"],
                           "name": f"{label}, {ci[:3]} CI [{fmt_num(e.get('ci_low'))}, "
                                   f"{fmt_num(e.get('ci_high'))}]"})
        return {"task": {"type": "image-classification", "name": "COVID-19 detection"},
                "dataset": {"name": name, "type": dtype, "split": split}, "metrics": ms}

    out = [result("internal test split", "+".join(collections) or "unknown", "test",
                  metrics.get("headline") or {})]
    for src, d in sorted((metrics.get("by_dataset") or {}).items()):
        out.append(result(f"test split, {src} only", src, "test", d.get("headline") or {}))
    for name, d in sorted((metrics.get("external") or {}).items()):
        out.append(result(f"external: {name}", name, "test", d.get("headline") or {}))
    return [r for r in out if r["metrics"]]


def build_model_card(run_dir: str | Path, *, artifact: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """The card of a finished classify run, from its files (see the module docstring).

    ``artifact`` describes the shipped file when it is not ``best.ckpt`` (``cxr export``).
    """
    from cxr import __version__

    folder = ClassifyRunFolder(run_dir)
    metrics = folder.read_metrics()
    run = folder.read_run()
    config = yaml.safe_load(folder.config.read_text()) if folder.config.is_file() else {}
    config = config if isinstance(config, dict) else {}
    data = run.data or {}
    collections = list(data.get("collections") or [])
    manifest = (run.inputs or {}).get("manifest") or config.get("manifest") or None
    classes = list(run.classes or metrics.get("classes") or [])
    threshold = metrics.get("threshold", run.threshold)
    decision = {
        "threshold": threshold, "positive": metrics.get("positive", "covid"),
        "rule": ("argmax" if threshold is None else
                 f"P({metrics.get('positive', 'covid')}) >= {fmt_num(threshold)}"),
        "how_chosen": ("argmax over the classes (no threshold)" if threshold is None else
                       f"the highest threshold on P({metrics.get('positive', 'covid')}) reaching "
                       f"sensitivity {run.target} on the validation split; never tuned on test"),
        "target_sensitivity": run.target,
    }
    tags = ["image-classification", "chest-x-ray", "covid-19", "medical-imaging", "cxr",
            "not-for-clinical-use", *([run.backbone] if run.backbone else [])]
    if (config.get("synthetic_ratio") or 0) > 0:
        tags.append("gan-augmented")
    card: dict[str, Any] = {
        # Hugging Face model card metadata (the MODEL_CARD.md front matter holds the same)
        "license": "other",
        "license_name": "training-data-terms",
        "license_link": "LICENSE",
        "library_name": "cxr",
        "pipeline_tag": "image-classification",
        "tags": tags,
        "datasets": collections,
        "metrics": [hf for key, hf, _ in HF_METRICS
                    if isinstance((metrics.get("headline") or {}).get(key), dict)],
        "model-index": [{"name": f"cxr-{run.backbone or 'classifier'}-{folder.root.name}",
                         "results": _hf_results(metrics, collections)}],
        "cxr": {
            "schema": SCHEMA, "cxr_version": __version__, "run": str(folder.root.resolve()),
            "intended_use": INTENDED_USE, "clinical_use": NOT_CLINICAL,
            "model": {
                "backbone": run.backbone, "task": run.task, "classes": classes,
                "pretrained": config.get("pretrained"), "transfer": config.get("transfer"),
                "image_size": config.get("image_size"), "resize_mode": config.get("resize_mode"),
                "input": "one grey channel, square-resized as in training, intensities in "
                         "[-1, 1] (air dark); see the README's intensity convention",
                "artifact": artifact or {"file": folder.WEIGHTS,
                                         "sha256": sha256_of(folder.weights)},
            },
            "decision": decision,
            "metrics": metrics,
            "data": {
                "manifest": manifest, "collections": collections,
                "counts": data.get("counts"),
                "patient_level_split": data.get("patient_level_split"),
                "duplicate_groups": data.get("duplicate_groups"),
                "gan_images_train": (run.train_rows or {}).get("gan_available"),
                "synthetic_manifest": (run.inputs or {}).get("synthetic_manifest"),
                "synthetic_ratio": config.get("synthetic_ratio"),
                "recorded": bool(data),
            },
            "shortcut": _shortcut(folder, manifest),
            "source_confounding": run.source_confounding,
            "gan_lineage": run.gan_lineage,
            "training": {
                "config_file": folder.CONFIG, "config_sha256": sha256_of(folder.config),
                "epochs_run": run.epochs_run, "best_val_auroc": run.best_val_auroc,
                "seed": config.get("seed"), "loss": config.get("loss"),
                "augment": config.get("augment"), "balance": config.get("balance"),
                "lr": config.get("lr"), "batch_size": config.get("batch_size"),
            },
        },
    }
    card["cxr"]["warnings"] = _warnings(card)
    return card


def _md_metrics(metrics: dict[str, Any]) -> list[str]:
    rows = ["| set | images / patients | AUROC | sensitivity | specificity |",
            "|---|---|---|---|---|"]

    def row(name: str, d: dict[str, Any]) -> str:
        h = d.get("headline") or {}

        def cell(k: str) -> str:
            e = h.get(k) or {}
            return fmt_ci(e.get("value"), e.get("ci_low"), e.get("ci_high")) if e else "–"

        return (f"| {name} | {d.get('n_images', '?')} / {d.get('n_patients', '?')} | "
                f"{cell('auroc')} | {cell('sensitivity')} | {cell('specificity')} |")

    rows.append(row("internal test split", metrics))
    for src, d in sorted((metrics.get("by_dataset") or {}).items()):
        rows.append(row(f"test, {src} only", d))
    ws = metrics.get("within_source")
    if ws and ws.get("auroc"):
        e = ws["auroc"]
        rows.append(f"| within-source (pairs from one collection) | {ws.get('n_images', '?')} / "
                    f"{ws.get('n_patients', '?')} | "
                    f"{fmt_ci(e.get('value'), e.get('ci_low'), e.get('ci_high'))} | – | – |")
    for name, d in sorted((metrics.get("external") or {}).items()):
        rows.append(row(f"external: {name}", d))
    return rows


def render_markdown(card: dict[str, Any]) -> str:
    """MODEL_CARD.md: the Hugging Face metadata as YAML front matter, then the card in prose."""
    meta = {k: v for k, v in card.items() if k != "cxr"}
    c = card["cxr"]
    m, d, dec = c["model"], c["data"], c["decision"]
    lines = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# Model card: {card['model-index'][0]['name']}", ""]
    lines += [f"> **{w['topic']}** ({w['level']}): {w['text']}" for w in c["warnings"]]
    lines += ["", "## Model", "",
              f"- network: {m['backbone']} ({m['task']}: {', '.join(m['classes'])}), "
              f"pretrained: {m['pretrained']}, transfer: {m['transfer']}",
              f"- input: {m['image_size']} px, {m['resize_mode']}; {m['input']}",
              f"- file: {m['artifact'].get('file')} (sha256 {m['artifact'].get('sha256')})",
              f"- decision: {dec['rule']}; {dec['how_chosen']}",
              "", "## Intended use", "", c["intended_use"], "", c["clinical_use"],
              "", "## Test metrics (95% CI, patient-level bootstrap)", "",
              *_md_metrics(c["metrics"]), "", "## Data", "",
              f"- manifest: {d['manifest']}",
              f"- collections: {', '.join(d['collections']) or 'not recorded'}"]
    if d["counts"]:
        lines += ["", "| split | class | images | patients |", "|---|---|---|---|"]
        for split, per in d["counts"].items():
            lines += [f"| {split} | {cls} | {n['images']} | {n['patients']} |"
                      for cls, n in per.items()]
        lines.append("")
    else:
        lines.append("- counts per split and class: not recorded by this run")
    lines += [f"- patient-level split: {d['patient_level_split']}",
              f"- duplicate groups: {_dup_text(d['duplicate_groups'])}",
              f"- GAN images available to training: {d['gan_images_train']} "
              f"(synthetic ratio {d['synthetic_ratio']}; GAN images are never validated or "
              "tested on)",
              "", "## Shortcuts, confounding, GAN lineage", "",
              f"- shortcut verdict: {c['shortcut']['verdict']}"
              + (f" ({c['shortcut']['audit']})" if c["shortcut"].get("audit") else ""),
              f"- source confounding: "
              f"{'; '.join((c['source_confounding'] or {}).get('warnings') or []) or 'no warning'}",
              f"- GAN lineage: "
              f"{(c['gan_lineage'] or {}).get('summary', 'no GAN images trained on')}",
              "", "## Training", "",
              f"- config: {c['training']['config_file']} (sha256 {c['training']['config_sha256']})",
              f"- epochs run: {c['training']['epochs_run']}, best validation AUROC: "
              f"{fmt_num(c['training']['best_val_auroc'])}, seed {c['training']['seed']}",
              f"- made by cxr {c['cxr_version']} from {c['run']}", ""]
    return "\n".join(lines)


def write_model_card(run_dir: str | Path, dest: str | Path | None = None, *,
                     artifact: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the card of ``run_dir`` and write both files into ``dest`` (default: the run)."""
    card = build_model_card(run_dir, artifact=artifact)
    where = ClassifyRunFolder(dest if dest is not None else run_dir)
    where.root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(where.model_card_json, json.dumps(card, indent=2, default=str) + "\n")
    atomic_write_text(where.model_card_md, render_markdown(card))
    return card


def _dup_text(dup: Any) -> str:
    if not isinstance(dup, dict) or not dup.get("column"):
        return "not recorded"
    return (f"{dup.get('groups_with_copies', 0)} groups of copies "
            f"({dup.get('images_in_them', 0)} images), each kept within one split")


def card_html(card: dict[str, Any], *, warnings: bool = True) -> str:
    """The card as an HTML fragment (warnings first, unless the page shows them already)
    for ``cxr report`` and ``cxr serve``."""
    c = card["cxr"]
    warn = "".join(f"<li class=\"{escape(w['level'])}\"><strong>{escape(w['topic'])}</strong>: "
                   f"{escape(w['text'])}</li>" for w in c["warnings"]) if warnings else ""
    m, dec, d = c["model"], c["decision"], c["data"]
    facts = [("model", f"{m['backbone']} ({m['task']}: {', '.join(m['classes'])})"),
             ("decision", f"{dec['rule']}: {dec['how_chosen']}"),
             ("collections", ", ".join(d["collections"]) or "not recorded"),
             ("patient-level split", str(d["patient_level_split"])),
             ("duplicate groups", _dup_text(d["duplicate_groups"])),
             ("shortcut verdict", c["shortcut"]["verdict"]),
             ("config sha256", str(c["training"]["config_sha256"])),
             ("intended use", c["intended_use"])]
    rows = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in facts)
    counts = ""
    if d["counts"]:
        counts = ("<table class=\"counts\"><thead><tr><th>split</th><th>class</th><th>images</th>"
                  "<th>patients</th></tr></thead><tbody>" + "".join(
                      f"<tr><td>{escape(s)}</td><td>{escape(k)}</td><td>{n['images']}</td>"
                      f"<td>{n['patients']}</td></tr>"
                      for s, per in d["counts"].items() for k, n in per.items())
                  + "</tbody></table>")
    md = _md_metrics(c["metrics"])
    head = "".join(f"<th>{escape(h.strip())}</th>" for h in md[0].strip("|").split("|"))
    body = "".join("<tr>" + "".join(f"<td>{escape(x.strip())}</td>"
                                    for x in r.strip("|").split("|")) + "</tr>" for r in md[2:])
    ci = str(c["metrics"].get("ci", "95% patient-level bootstrap"))
    warn_html = f"<ul class=\"warnings\">{warn}</ul>" if warn else ""
    return (f"{warn_html}<table class=\"card\">{rows}</table>"
            f"<h4>Test metrics, value [{escape(ci)} CI]</h4>"
            f"<table class=\"metrics\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"{counts}")


def data_facts(df: Any, targets: Any, masks: dict[str, Any], classes: tuple[str, ...]
               ) -> dict[str, Any]:
    """run.json's ``data``: collections, images and patients per split and class, duplicates.

    ``df`` is every split row of the run (:class:`~cxr.pipelines.classify.loaders.ClassifyData`),
    ``targets`` the class index per row (-1: left out by the task), ``masks`` split -> rows used.
    """
    import numpy as np

    counts: dict[str, dict[str, dict[str, int]]] = {}
    used = np.zeros(len(df), dtype=bool)
    for split in ("train", "val", "test"):
        if split not in masks:
            continue
        mask = np.asarray(masks[split], dtype=bool)
        used |= mask
        per: dict[str, dict[str, int]] = {}
        for k, cls in enumerate(classes):
            sel = df[mask & (targets == k)]
            real = sel[sel["origin"].astype(str) == "real"]
            per[cls] = {"images": int(len(real)), "patients": int(real["patient_id"].nunique())}
            if (n_gan := int(len(sel) - len(real))) > 0:
                per[cls]["gan_images"] = n_gan
        counts[split] = per
    rows = df[used]
    real = rows[rows["origin"].astype(str) == "real"]
    dup: dict[str, Any] = {"column": "duplicate_group" in rows.columns}
    if dup["column"]:
        g = real["duplicate_group"].astype(str)
        g = g[(g != "") & (g != "nan")]
        sizes = g.value_counts()
        multi = sizes[sizes > 1]
        dup |= {"groups_with_copies": int(len(multi)), "images_in_them": int(multi.sum()),
                "kept_within_one_split": True}
    return {"collections": sorted(real["dataset"].astype(str).unique().tolist()),
            "counts": counts, "patient_level_split": True, "duplicate_groups": dup}
