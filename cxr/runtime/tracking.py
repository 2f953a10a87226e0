"""Where runs are recorded: the CSV logs always, plus TensorBoard (default) or MLflow.

``logger`` is one of :data:`LOGGERS`:

* ``csv``: only the CSV files each command writes anyway (``logs/metrics.csv``
  for `cxr classify`, ``losses.csv`` for `cxr gan train`);
* ``tensorboard``: those plus Lightning's :class:`TensorBoardLogger` in
  ``<out>/tensorboard/`` (open with ``tensorboard --logdir <out>``);
* ``mlflow``: those plus Lightning's :class:`MLFlowLogger`, tracking to
  ``mlflow_uri`` or, by default, the local file store ``file:<out>/mlruns``.

MLflow 3 refuses its file store unless ``MLFLOW_ALLOW_FILE_STORE=true``; cxr
sets that (only when the URI is a ``file:`` one and the variable is unset),
because a file store beside the run is what a single-machine run wants. A
resumed run continues the same MLflow run (its id is kept in
``<out>/mlflow.json``).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cxr.runtime.errors import ConfigError
from cxr.runtime.files import atomic_write_text

LOGGERS: tuple[str, ...] = ("csv", "tensorboard", "mlflow")
_FILE_STORE_OPT_IN = "MLFLOW_ALLOW_FILE_STORE"
_RUN_FILE = "mlflow.json"


def check_logger(kind: str, option: str = "--logger") -> None:
    if kind not in LOGGERS:
        raise ConfigError(f"{option} {kind!r} is not one of: {', '.join(LOGGERS)}")
    if kind == "mlflow" and importlib.util.find_spec("mlflow") is None:
        raise ConfigError(f"{option} mlflow needs the mlflow package: pip install 'cxr[mlflow]'")


def mlflow_uri(out: str | Path, given: str = "") -> str:
    """``given``, or the file store ``<out>/mlruns`` as an absolute ``file:`` URI."""
    uri = given or (Path(out).resolve() / "mlruns").as_uri()
    if uri.startswith("file:"):
        os.environ.setdefault(_FILE_STORE_OPT_IN, "true")
    return uri


def lightning_loggers(
    kind: str,
    out: str | Path,
    *,
    csv: bool,
    experiment: str,
    run_name: str,
    uri: str = "",
) -> list[Any]:
    """The Lightning loggers for ``kind``; ``csv`` adds ``CSVLogger(out/logs)`` first."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    check_logger(kind)
    out = Path(out)
    loggers: list[Any] = []
    if csv:
        loggers.append(CSVLogger(out, name="logs", version=""))
    if kind == "tensorboard":
        loggers.append(TensorBoardLogger(out, name="tensorboard", version="",
                                         default_hp_metric=False))
    elif kind == "mlflow":
        loggers.append(_mlflow_logger(out, experiment, run_name, uri))
    return loggers


def _mlflow_logger(out: Path, experiment: str, run_name: str, uri: str) -> Any:
    from lightning.pytorch.loggers import MLFlowLogger

    uri = mlflow_uri(out, uri)
    saved = out / _RUN_FILE
    run_id = None
    if saved.is_file():
        info = json.loads(saved.read_text())
        if info.get("tracking_uri") == uri:
            run_id = info.get("run_id")

    class Logger(MLFlowLogger):
        # Lightning adds an "epoch" metric; the file store keeps metric "a/b" as the file b in
        # the folder a, so "epoch" would collide with "epoch/G" of the GAN
        def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
            renamed = {("trainer_epoch" if k == "epoch" else k): v for k, v in metrics.items()}
            super().log_metrics(renamed, step)

    logger = Logger(experiment_name=experiment, run_name=run_name, tracking_uri=uri,
                    run_id=run_id)
    if logger.run_id and run_id is None:  # rank 0 only: other ranks get no run
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(saved, json.dumps({"tracking_uri": uri, "run_id": logger.run_id,
                                             "experiment": experiment}, indent=2) + "\n")
    return logger


def _extra(loggers: Iterable[Any]) -> list[Any]:
    from lightning.pytorch.loggers import CSVLogger

    return [lg for lg in loggers if not isinstance(lg, CSVLogger)]


def log_params(loggers: Iterable[Any], params: Mapping[str, Any]) -> None:
    """The run's config as TensorBoard hparams / MLflow params (the CSV run has config.yaml)."""
    flat = {k: (",".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
            for k, v in params.items() if not k.startswith("_")}
    for lg in _extra(loggers):
        lg.log_hyperparams(flat)


def log_final(loggers: Iterable[Any], metrics: Mapping[str, float], step: int) -> None:
    """Metrics known after training (the test scores); then flush and close the loggers."""
    for lg in _extra(loggers):
        lg.log_metrics(dict(metrics), step=step)
        lg.finalize("success")


def headline_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``test/<name>`` (+ ``_ci_low`` / ``_ci_high``) for every defined headline metric."""
    out: dict[str, float] = {}
    for name, entry in (metrics.get("headline", metrics) or {}).items():
        for key, suffix in (("value", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high")):
            v = entry.get(key) if isinstance(entry, Mapping) else None
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[f"test/{name}{suffix}"] = float(v)
    return out


def log_run(
    uri: str,
    experiment: str,
    run_name: str,
    *,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    history: Mapping[str, list[tuple[int, float]]] | None = None,
    tags: Mapping[str, str] | None = None,
    once_by: str = "",
) -> str | None:
    """One finished MLflow run with params, final metrics and per-step curves; its id.

    ``once_by`` names a tag whose value identifies the run: when the experiment
    already holds a run with that tag value nothing is logged and ``None`` is
    returned, so a resumed sweep logs each cell once.
    """
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    tags = dict(tags or {})
    if once_by:
        value = tags[once_by]
        found = client.search_runs([exp_id], filter_string=f"tags.`{once_by}` = '{value}'",
                                   max_results=1)
        if found:
            return None
    run = client.create_run(exp_id, run_name=run_name, tags=tags)
    rid = run.info.run_id
    values = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(values), 100):
        client.log_batch(rid, params=values[i:i + 100])
    points = [Metric(k, float(v), 0, step) for k, series in (history or {}).items()
              for step, v in series]
    points += [Metric(k, float(v), 0, 0) for k, v in metrics.items()]
    for i in range(0, len(points), 1000):
        client.log_batch(rid, metrics=points[i:i + 1000])
    client.set_terminated(rid, "FINISHED")
    return rid

