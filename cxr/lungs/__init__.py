"""The lung segmentation stage: a compact U-Net, its losses and metrics, and mask plausibility.

Public entry points: :class:`UNet` (:mod:`.unet`), :func:`dice_iou` and
:func:`bootstrap_scores` (:mod:`.seg_metrics`), :func:`check_mask` and
:func:`clean_mask` (:mod:`.plausibility`), :class:`LungSegModule` (:mod:`.seg_module`).
"""

from __future__ import annotations
