"""`cxr export`: a trained classifier as ONNX, verified against PyTorch with onnxruntime.

The graph takes ``image`` ``(batch, 1, S, S)`` float32 in ``[-1, 1]`` (the cxr
intensity convention) and returns ``logits`` and ``probs`` (softmax), with a
dynamic batch axis. It is written through the TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``), which needs no extra packages.
Before the file is put in place it is checked with ``onnx.checker`` and run
under onnxruntime at two batch sizes; a maximum absolute difference above
``atol`` (default 1e-4) from PyTorch aborts the export and leaves no file.
The checkpoint's :class:`ClassifierInfo` is stored as ONNX metadata.

The model card goes with the model: when the checkpoint is the ``best.ckpt`` of a classify
run, ``MODEL_CARD.md`` and ``model_card.json`` (:mod:`cxr.pipelines.classify.model_card`) are
written beside the ONNX file, describing it (file name, sha256, opset, the measured
onnxruntime difference) with the run's metrics, data and warnings. A checkpoint outside a run
folder has no card to copy; the export says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from cxr.runtime.errors import CheckpointError, ConfigError

# opsets the TorchScript-based exporter accepts (torch.onnx._constants); softmax over a
# chosen axis and the backbones' pooling need opset 9 or later
MIN_OPSET, MAX_OPSET = 9, 20


def run_export(
    checkpoint: str | Path,
    onnx_path: str | Path,
    *,
    opset: int = 17,
    atol: float = 1e-4,
    progress: bool = True,
) -> float:
    """Export, verify and write; returns the maximum absolute difference seen."""
    import onnx
    import onnxruntime as ort
    import torch
    from rich.console import Console
    from torch import nn

    from cxr.classifier import load_classifier
    from cxr.runtime.files import atomic_save

    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ConfigError(f"--opset must be between {MIN_OPSET} and {MAX_OPSET}, got {opset}")
    model, info = load_classifier(checkpoint)

    class WithProbs(nn.Module):
        def __init__(self, m: nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            logits = self.m(x)
            return logits, logits.softmax(dim=1)

    net = WithProbs(model).eval()
    s = info.image_size
    gen = torch.Generator().manual_seed(0)
    example = torch.rand(2, 1, s, s, generator=gen) * 2 - 1
    checks = [example, torch.rand(3, 1, s, s, generator=gen) * 2 - 1]
    diff = {"value": float("inf")}

    def write(tmp: str) -> None:
        import warnings

        with warnings.catch_warnings():
            # the tracer warns that shape checks become constants in the graph; the exported
            # model is verified below against PyTorch on two batch sizes, which is the check
            # the warning asks for
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                net, (example,), tmp, dynamo=False, opset_version=opset,
                input_names=["image"], output_names=["logits", "probs"],
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"},
                              "probs": {0: "batch"}},
            )
        proto = onnx.load(tmp)
        onnx.checker.check_model(proto)
        meta = {"cxr_info": json.dumps(info.to_dict()), "producer": "cxr export"}
        for k, v in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.save(proto, tmp)
        sess = ort.InferenceSession(tmp, providers=["CPUExecutionProvider"])
        worst = 0.0
        with torch.no_grad():
            for x in checks:
                ref = net(x)
                got = sess.run(None, {"image": x.numpy()})
                for r, g in zip(ref, got, strict=True):
                    worst = max(worst, float((r - torch.from_numpy(g)).abs().max()))
        diff["value"] = worst
        if not worst <= atol:
            raise CheckpointError(
                f"ONNX export of {checkpoint} disagrees with PyTorch under onnxruntime: "
                f"max abs diff {worst:.3g} > {atol:g}; nothing written"
            )

    atomic_save(Path(onnx_path), write)
    console = Console(stderr=True, quiet=not progress)
    console.print(
        f"wrote {onnx_path} ({info.backbone}, {s}x{s}, dynamic batch); onnxruntime vs PyTorch "
        f"max abs diff {diff['value']:.2e} (limit {atol:g})"
    )
    console.print(_export_card(Path(checkpoint), Path(onnx_path), opset, diff["value"]))
    return diff["value"]


def _export_card(checkpoint: Path, onnx_path: Path, opset: int, max_diff: float) -> str:
    """The run's model card beside the ONNX file; one line saying what was written."""
    from cxr.pipelines.classify.model_card import sha256_of, write_model_card
    from cxr.pipelines.classify.run_folder import ClassifyRunFolder

    run = ClassifyRunFolder(checkpoint.parent)
    if checkpoint.name != run.WEIGHTS or not run.metrics.is_file():
        return (f"[yellow]no model card:[/] {checkpoint} is not the {run.WEIGHTS} of a "
                "`cxr classify` run folder")
    dest = ClassifyRunFolder(onnx_path.parent)
    if dest.root.resolve() == run.root.resolve():
        return f"model card: {run.model_card_md} (the run's own, kept)"
    write_model_card(run.root, dest.root, artifact={
        "file": onnx_path.name, "format": "onnx", "opset": opset, "sha256": sha256_of(onnx_path),
        "from_checkpoint": str(checkpoint.resolve()), "checkpoint_sha256": sha256_of(checkpoint),
        "inputs": "image: (batch, 1, S, S) float32 in [-1, 1]", "outputs": "logits, probs",
        "onnxruntime_max_abs_diff": max_diff})
    return f"model card: {dest.model_card_md} and {dest.model_card_json}"
