"""Probe classifiers: a small backbone trained briefly on in-memory images.

Audits ask questions of the form "can X be read from the pixels?" (the source
collection, GAN vs real, COVID from GAN-only positives). Each answer is the
held-out AUROC of a classifier trained for that one question. A probe is a
measuring instrument, not a model to ship, so it uses a plain PyTorch loop
without checkpoints, early stopping or Lightning's per-run overhead: a fixed
number of epochs of AdamW (Loshchilov & Hutter, ICLR 2019) on class-weighted
cross-entropy (inverse class frequency, so an unbalanced question is not
answered by the majority class), with horizontal flips off (laterality markers
are part of what a shortcut audit must be able to see).

Randomness: ``seed`` fixes the initialisation and the batch order; the same
inputs and seed give the same probe on one device.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from cxr.classifier.backbones import Backbone
from cxr.classifier.factory import create_backbone
from cxr.data.images.intensity import to_network
from cxr.runtime.errors import ConfigError
from cxr.runtime.runguard import safe_point

__all__ = ["group_holdout", "predict_probe", "train_probe"]


def train_probe(
    images: np.ndarray,
    targets: np.ndarray,
    *,
    n_classes: int,
    backbone: str = "resnet18",
    epochs: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    device: str | torch.device = "cpu",
    on_epoch: Callable[[int, float], None] | None = None,
) -> Backbone:
    """Train ``backbone`` (random init) on uint8 ``(N, S, S)`` images and class indices.

    ``on_epoch(epoch, mean_loss)`` is called after each epoch (progress display).
    Returns the model in eval mode on ``device``.
    """
    images = np.asarray(images)
    y = np.asarray(targets, dtype=np.int64)
    if images.ndim != 3 or len(images) != len(y):
        raise ConfigError(f"probe: need (N, S, S) images and N targets, got {images.shape} "
                          f"and {y.shape}")
    counts = np.bincount(y, minlength=n_classes)
    if (counts > 0).sum() < 2:
        raise ConfigError(f"probe: training needs two classes, got counts {counts.tolist()}")
    if epochs < 1 or batch_size < 1:
        raise ConfigError(f"probe: epochs and batch size must be >= 1 ({epochs}, {batch_size})")
    torch.manual_seed(seed)
    model = create_backbone(backbone, n_classes, pretrained="none", in_chans=1).to(device)
    weight = torch.tensor(
        np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0),
        dtype=torch.float32, device=device,
    )
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    y_t = torch.from_numpy(y)
    model.train()
    # batch norm needs > 1 sample per batch; a last batch of 1 is dropped
    drop_last = len(y) % batch_size == 1
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=gen)
        total, seen = 0.0, 0
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            if drop_last and len(idx) == 1:
                continue
            x = to_network(images[idx.numpy()]).unsqueeze(1).to(device)
            loss = loss_fn(model(x), y_t[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
            safe_point()  # SIGTERM/SIGINT: stop after this step
        if on_epoch is not None:
            on_epoch(epoch, total / max(seen, 1))
    return model.eval()


def predict_probe(
    model: nn.Module, images: np.ndarray, *, batch_size: int = 64
) -> np.ndarray:
    """Softmax probabilities ``(N, C)`` (float64) of uint8 ``(N, S, S)`` images."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.inference_mode():
            for s in range(0, len(images), batch_size):
                x = to_network(np.asarray(images[s : s + batch_size])).unsqueeze(1).to(device)
                out.append(model(x).float().softmax(dim=1).cpu())
    finally:
        model.train(was_training)
    if not out:
        return np.zeros((0, 0))
    return torch.cat(out).double().numpy()


def group_holdout(groups: np.ndarray | list[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of rows held out: a seeded ``fraction`` of the distinct ``groups``
    (patients), at least one group and never all of them when there are two or more."""
    g = np.asarray(groups, dtype=str)
    uniq = np.unique(g)
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    k = min(max(1, int(round(fraction * len(uniq)))), len(uniq) - 1) if len(uniq) > 1 else 0
    return np.isin(g, uniq[:k])
