"""Grad-CAM and Grad-CAM++ through pytorch-grad-cam, hooked on the backbone's ``cam_layer``.

* Grad-CAM (Selvaraju et al., ICCV 2017): channel weights ``alpha_k^c`` are the
  spatially averaged gradients of the class score ``y^c`` w.r.t. the feature
  maps ``A^k`` of the hooked layer; the map is ``ReLU(sum_k alpha_k^c A^k)``.
* Grad-CAM++ (Chattopadhay et al., WACV 2018): pixel-wise weights from second
  and third powers of the gradient (their eq. 19), better for several
  instances of a class (e.g. bilateral opacities).

Every backbone exposes the layer to hook as ``model.cam_layer``, so nothing
here branches on architecture. Maps come back as pytorch-grad-cam makes them:
``float32 (B, H, W)`` in ``[0, 1]`` at the input size (ReLU, min-max per image,
bilinear upsampling). The library's forward hooks are always removed, also when
the forward pass raises (``try/finally``; we avoid the library's ``__exit__``,
which swallows ``IndexError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

CAM_METHODS: tuple[str, ...] = ("gradcam", "gradcam++")
#: fewest cells per side of the hooked map for a CAM that can localize: a
#: stride-32 backbone at the usual 224 px gives 7 x 7 (Selvaraju et al. 2017).
#: Coarser grids come from small inputs, where every cell's receptive field
#: spans the whole image, so the class evidence may be pooled in any cell: on
#: phantoms, resnet18 at 128 px (4 x 4) pointed at the same spot beside the heart
#: for every COVID image (pointing game 0.00, random 0.05), at 256 px (8 x 8) at
#: the lesions (0.67); input-gradient saliency localized at both sizes.
MIN_CAM_CELLS = 7


def cam_layer_of(model: nn.Module) -> nn.Module:
    """The module Grad-CAM hooks; a clear error if the model does not name one."""
    layer = getattr(model, "cam_layer", None)
    if layer is None:
        raise ConfigError(
            f"{type(model).__name__} has no 'cam_layer' attribute: every cxr backbone must name "
            "the layer Grad-CAM hooks"
        )
    return layer


def cam_grid(model: nn.Module, image_size: int, in_chans: int = 1) -> tuple[int, int]:
    """``(h, w)`` of the hooked layer's map for a square input of ``image_size`` px."""
    import torch

    layer = cam_layer_of(model)
    shape: list[int] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: shape.extend(out.shape[-2:]))
    was_training = model.training
    try:
        p = next(model.parameters())
        model.eval()  # a probe must not move batch-norm statistics
        with torch.no_grad():
            model(torch.zeros(1, in_chans, image_size, image_size, device=p.device, dtype=p.dtype))
    finally:
        handle.remove()
        model.train(was_training)
    return int(shape[0]), int(shape[1])


def choose_cam_stage(
    model: nn.Module, spec: str, image_size: int, in_chans: int = 1
) -> tuple[str, tuple[int, int], str | None]:
    """Point ``model.cam_layer`` at the stage ``spec`` names; return ``(stage, grid, note)``.

    ``spec``: ``last`` (the architecture's last stage, the literature's choice), a stage
    name from ``model.cam_stages``, or ``auto``: the last stage when its grid has at least
    :data:`MIN_CAM_CELLS` cells a side (e.g. any stride-32 network at 224 px), else the
    deepest finer stage that has, else the finest. Finer stages can localize where the last
    one cannot (small inputs), at the price of less class-specific features, and their maps
    are seldom all zero (a 2 x 2 grid after ReLU often is). ``note`` says when the choice
    differs from the last stage. A model without ``cam_stages`` (a custom network with a
    fixed ``cam_layer``) is left as it is.
    """
    stages: tuple[str, ...] = tuple(getattr(model, "cam_stages", ()) or ())
    if not stages:
        if spec not in ("auto", "last"):
            raise ConfigError(f"{type(model).__name__} names no Grad-CAM stages: use --cam-layer "
                              "auto or last")
        return "", cam_grid(model, image_size, in_chans), None
    backbone: Any = model  # a cxr Backbone (set_cam_stage, cam_stage)
    set_stage = backbone.set_cam_stage
    if spec != "auto":
        set_stage(spec)
        return str(backbone.cam_stage), cam_grid(model, image_size, in_chans), None
    grids: dict[str, tuple[int, int]] = {}
    for stage in stages:  # stops at the first fine enough, else ends at the finest
        set_stage(stage)
        grids[stage] = cam_grid(model, image_size, in_chans)
        if min(grids[stage]) >= MIN_CAM_CELLS:
            break
    chosen = stage  # the stage set last, which cam_layer now hooks
    if chosen == stages[0]:
        return chosen, grids[chosen], None
    last = grids[stages[0]]
    note = (f"Grad-CAM hooked at {chosen} ({grids[chosen][0]}x{grids[chosen][1]} grid at "
            f"{image_size} px) instead of the last stage {stages[0]} ({last[0]}x{last[1]}, too "
            "coarse to localize): finer, less class-specific features; --cam-layer last for the "
            "last stage")
    return chosen, grids[chosen], note


def coarse_grid_note(grid: tuple[int, int], image_size: int) -> str | None:
    """A warning when the CAM grid is too coarse to localize (see :data:`MIN_CAM_CELLS`)."""
    if min(grid) >= MIN_CAM_CELLS:
        return None
    return (
        f"Grad-CAM maps come from a {grid[0]}x{grid[1]} grid at {image_size} px: each cell sees "
        f"most of the image, so the maps cannot localize (need >= {MIN_CAM_CELLS} cells a side); "
        "train the classifier at >= 224 px (--image-size) or use --method saliency"
    )


def library_cam(
    model: nn.Module,
    images: torch.Tensor,
    target: Sequence[int],
    *,
    method: str = "gradcam",
) -> np.ndarray:
    """Grad-CAM / Grad-CAM++ maps ``(B, H, W)`` in ``[0, 1]`` from pytorch-grad-cam.

    ``images`` is a network-range batch ``(B, 1, H, W)``; ``target`` the class
    index explained for each image (see :mod:`.targets`).
    """
    import torch
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus

    from cxr.explain.targets import library_targets

    classes = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus}
    if method not in classes:
        raise ConfigError(f"unknown CAM method {method!r} (valid: {', '.join(CAM_METHODS)})")
    if len(target) != images.shape[0]:
        raise ValueError(f"{len(target)} targets for a batch of {images.shape[0]} images")
    layer = cam_layer_of(model)
    with torch.no_grad():
        num_outputs = int(model(images[:1]).reshape(1, -1).shape[1])
    cam = classes[method](model=model, target_layers=[layer])
    try:
        with torch.enable_grad():
            maps = cam(input_tensor=images, targets=library_targets(target, num_outputs))
    finally:
        cam.activations_and_grads.release()
        model.zero_grad(set_to_none=True)  # the library leaves parameter gradients behind
    return np.asarray(maps, dtype=np.float32)
