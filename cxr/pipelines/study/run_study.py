"""`cxr study CONFIG --out DIR --profile P`: the seed paper's question on real radiographs.

Does CycleGAN-synthesised COVID-19 help VGG16, ResNet50 and EfficientNet-B0 detect COVID-19
on real chest radiographs, by how much, when, and is what they detect the disease or the
source? (Zebin & Rezvy, Applied Intelligence 2020, drew its COVID-19 images from the
covid-chestxray collection and its other classes from Kermany's pediatric collection.)

One resumable command chaining the existing stages, each in its own module here:

=================  ==========================================================================
stage              what (module)
=================  ==========================================================================
index / select /   ``cxr data index`` of the collections, frontal views, patient caps,
split              ``cxr data split`` with duplicate grouping across collections (study_data)
reference          a real-only binary classifier: FID/KID features, audit, severity
gan:<arm>          CycleGAN on train patients + synthesis, per source domain (gan_arms)
gan-eval:<arm>     FID/KID, label preservation, synthetic audit, 16 pairs (gan_arms)
protocol           tasks x backbones x arms x paired seeds (protocol_grid, cxr ablate)
scarcity           10/25/50/100 % of COVID-19 train patients (scarcity)
lodo, within       leave-one-collection-out; within-source (generalisation)
lungs              with ``lung_model``: ``cxr lungs predict`` on the split (study_audit)
audit              ``cxr audit shortcuts`` with dataset or predicted lung fields (study_audit)
severity           STAGE HOOK for ``cxr explain severity`` (severity_hook)
results, report    results.json, tables/*.csv, report.html (study_results, study_report)
=================  ==========================================================================

Resuming: :class:`.study_stages.StageLedger` skips a stage whose config hash is unchanged;
inside a stage the sweeps keep finished cells (keyed by their resolved config's hash) and a
GAN resumes from its epoch checkpoint; every file is written atomically. So a study killed
at any point (SIGTERM, SIGKILL) and rerun with the same command finishes with the same
results table as an uninterrupted run.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from cxr.config import StudyConfig, build_config, config_to_dict, save_config
from cxr.config.study import PROFILES
from cxr.pipelines.study import gan_arms as ga
from cxr.pipelines.study import study_data as sd
from cxr.pipelines.study.generalisation import lodo_sweep, within_source_sweep
from cxr.pipelines.study.protocol_grid import classify_fields, protocol_sweeps
from cxr.pipelines.study.scarcity import scarcity_sweeps
from cxr.pipelines.study.severity_hook import find_severity, severity_stage
from cxr.pipelines.study.study_audit import lung_model_key, predict_lung_fields, run_audit
from cxr.pipelines.study.study_report import build_study_markdown, build_study_report
from cxr.pipelines.study.study_results import (
    heldout_of_cells,
    not_learned,
    results_table,
    sweep_tables,
    within_source_of_cells,
    write_results,
)
from cxr.pipelines.study.study_stages import StageLedger, key_hash
from cxr.runtime.errors import ConfigError
from cxr.runtime.fmt import fmt_duration

#: fields a profile may not set (they are the run's identity, given on the command line)
NOT_IN_PROFILE = frozenset({"out", "profile", "data_root", "index", "profiles"})


def effective(cfg: StudyConfig) -> StudyConfig:
    """``cfg`` with its ``profiles[cfg.profile]`` entry laid over it."""
    if cfg.profile not in PROFILES:
        raise ConfigError(f"--profile must be one of {', '.join(PROFILES)}, got {cfg.profile!r}")
    over = cfg.profiles.get(cfg.profile) or {}
    if not isinstance(over, dict):
        raise ConfigError(f"profiles.{cfg.profile}: expected a mapping of study settings")
    bad = sorted(set(over) & NOT_IN_PROFILE)
    if bad:
        raise ConfigError(f"profiles.{cfg.profile}.{bad[0]}: not a profile setting")
    return build_config(StudyConfig, None, **{**config_to_dict(cfg), **over})


def _identity(cfg: StudyConfig) -> dict[str, Any]:
    d = config_to_dict(cfg)
    # lung_model: only the audit and severity stages read it (their keys carry its hash)
    for k in ("out", "index", "profiles", "profile", "lung_model"):
        d.pop(k, None)
    return d


def run_study(cfg: StudyConfig, *, console: Console | None = None) -> Path:
    """Run (or resume) the study into ``cfg.out``; return the report path."""
    console = console or Console()
    cfg = effective(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out, name="study.yaml")
    t0 = time.perf_counter()
    led = StageLedger(out, console)
    sel = {k: getattr(cfg, k) for k in ("views", "max_patients", "seed")}
    data = out / "data"

    roots, _ = sd.collection_roots(cfg)
    idx = led.run("index", [[str(r.resolve()) for r in roots], cfg.collections,
                            [r.stat().st_mtime_ns for r in roots]],
                  lambda: sd.index_collections(cfg, data / "index.csv", console))
    chosen = led.run("select", [idx["key"], sel],
                     lambda: sd.select_rows(cfg, data / "index.csv", data / "selected.csv"))
    split_info = led.run("split", [chosen["key"], cfg.seed, cfg.val_fraction, cfg.test_fraction],
                         lambda: sd.split_rows(cfg, data / "selected.csv", data / "split.csv",
                                               console))
    split = data / "split.csv"
    skey = split_info["key"]

    ref_fields = {**classify_fields(cfg, "binary"),
                  **(cfg.classify_by_backbone.get(cfg.reference_backbone) or {}),
                  "backbone": cfg.reference_backbone, "seed": cfg.seed}
    ref = led.run("reference", [skey, ref_fields],
                  lambda: _reference(ref_fields, split, out / "reference" /
                                     f"{cfg.reference_backbone}-{key_hash(ref_fields)[:8]}"))

    arms: dict[str, Any] = {}
    gan_eval: dict[str, Any] = {}
    for arm in cfg.gan_arms:
        arm_dir = out / "gan" / arm
        gkey = [skey, cfg.gan_arms[arm], config_to_dict(ga.gan_config(cfg, arm)), cfg.ratios]
        arms[arm] = led.run(f"gan:{arm}", gkey,
                            functools.partial(ga.train_arm, cfg, arm, split, arm_dir, console))
        gan_eval[arm] = led.run(
            f"gan-eval:{arm}", [gkey, ref, cfg.gan_audit],
            functools.partial(ga.evaluate_arm, cfg, arm, arms[arm], ref["checkpoint"], arm_dir))
        # the sentence is a pure function of the stored metrics: written by this code's rule
        gan_eval[arm] = {**gan_eval[arm],
                         "verdict": ga.cue_verdict(arm, gan_eval[arm].get("metrics") or {})}

    grid = [skey, key_hash(arms), _identity(cfg)]
    protocol = led.run("protocol", grid, lambda: protocol_sweeps(cfg, split, arms,
                                                                 out / "protocol", console))
    scarcity = led.run("scarcity", grid, lambda: scarcity_sweeps(
        cfg, split, arms, out / "scarcity", console, protocol_dir=out / "protocol"))
    lodo = led.run("lodo", grid, lambda: lodo_sweep(cfg, split, out / "lodo", console))
    within = led.run("within-source", grid,
                     lambda: within_source_sweep(cfg, split, out / "within-source", console))
    fields = split  # the split, with predicted lung fields when a lung model is given
    lung_key = lung_model_key(cfg)
    if lung_key:
        lungs = led.run("lungs", [skey, lung_key],
                        lambda: predict_lung_fields(cfg, split, out / "lungs"))
        fields = Path(lungs["manifest"])
    audit = led.run("audit", [skey, ref, cfg.audit, cfg.image_size, *lung_key[1:]],
                    lambda: run_audit(cfg, fields, ref["checkpoint"], out / "audit"))
    severity = led.run("severity", [skey, ref, find_severity()[1], *lung_key[1:],
                                    "held-out scored rows"],
                       lambda: severity_stage(fields, ref["checkpoint"], out / "severity",
                                              index=data / "index.csv", views=cfg.views,
                                              seed=cfg.seed,
                                              device="cuda" if cfg.accelerator == "gpu"
                                              else "cpu"))

    sweeps: list[tuple[str, dict[str, Any], str]] = []
    for task, by_arm in protocol.items():
        sweeps += [("protocol", {"task": task, "gan_arm": arm}, s["dir"])
                   for arm, s in by_arm.items()]
    sweeps += [("scarcity", {"task": cfg.scarcity_task, "gan_arm": cfg.scarcity_gan_arm,
                             "level": lvl}, s["dir"]) for lvl, s in scarcity.items()]
    sweeps.append(("lodo", {"task": cfg.lodo_task}, lodo["dir"]))
    sweeps.append(("within_source", {"task": "binary"}, within["dir"]))
    tables = sweep_tables(sweeps)
    cells = tables["cells"]
    tables["results"] = results_table(cells)
    prot = cells[cells["section"] == "protocol"] if not cells.empty else cells
    tables["within_source_protocol"] = within_source_of_cells(prot)
    tables["lodo_heldout"] = heldout_of_cells(
        cells[cells["section"] == "lodo"] if not cells.empty else cells)
    for name in ("lodo", "within_source"):
        tables[name] = (cells[cells["section"] == name].reset_index(drop=True)
                        if not cells.empty else cells)
    ledger = json.loads((out / "stages.json").read_text())
    doc = {"title": "does CycleGAN-synthesised COVID-19 help on real radiographs?",
           "profile": cfg.profile, "config_hash": key_hash(_identity(cfg)),
           "config": config_to_dict(cfg), "data": {"index": idx, "select": chosen,
                                                   "split": split_info},
           "data_counts": sd.data_counts(split), "reference": ref, "gan_arms": gan_eval,
           "scarcity": {k: {x: v[x] for x in ("level", "covid_train_patients", "of", "gan")}
                        for k, v in scarcity.items()},
           "audit": audit, "severity": severity, "did_not_learn": not_learned(cells),
           "stages": {k: {"key": v["key"], "seconds": v["seconds"]} for k, v in ledger.items()}}
    # paths differ between runs and machines: results.json keeps the cells without them
    tables["cells"] = cells.drop(columns=[c for c in ("run_dir",) if c in cells.columns])
    write_results(out, doc, tables)
    tables["results"].to_csv(out / "results.csv", index=False, float_format="%.6g",
                             lineterminator="\n")
    report = build_study_report(out, doc, tables)
    build_study_markdown(out, doc, tables)
    for line in doc["did_not_learn"]:
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"study done in {fmt_duration(time.perf_counter() - t0)} "
                  f"(audit verdict {str(audit['verdict'].get('verdict', '?')).upper()}); "
                  f"report: {report.resolve()}", highlight=False)
    return report


def _reference(fields: dict[str, Any], split: Path, out: Path) -> dict[str, Any]:
    from cxr.config import ClassifyConfig
    from cxr.pipelines.classify.run_classify import run_classify
    from cxr.pipelines.classify.run_folder import ClassifyRunFolder

    res = run_classify(build_config(ClassifyConfig, None, **fields, manifest=str(split)), out,
                       progress=False)
    from cxr.pipelines.ablate.learning import learning_verdict

    head = res.metrics.get("headline", {})
    return {"checkpoint": str(ClassifyRunFolder(out).weights),
            "auroc": (head.get("auroc") or {}).get("value"), "run_dir": str(out),
            "did_not_learn": learning_verdict(out, res.metrics)}
