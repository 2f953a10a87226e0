"""`cxr export`: a trained classifier as ONNX, verified against PyTorch with onnxruntime.

The graph takes ``image`` ``(batch, 1, S, S)`` float32 in ``[-1, 1]`` (the cxr
intensity convention) and returns ``logits`` and ``probs`` (softmax), with a
dynamic batch axis. It is written through the TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``), which needs no extra packages.
Before the file is put in place it is checked with ``onnx.checker`` and run
under onnxruntime at two batch sizes; a maximum absolute difference above
``atol`` (default 1e-4) from PyTorch aborts the export and leaves no file.
The checkpoint's :class:`ClassifierInfo` is stored as ONNX metadata.
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
    Console(stderr=True, quiet=not progress).print(
        f"wrote {onnx_path} ({info.backbone}, {s}x{s}, dynamic batch); onnxruntime vs PyTorch "
        f"max abs diff {diff['value']:.2e} (limit {atol:g})"
    )
    return diff["value"]
