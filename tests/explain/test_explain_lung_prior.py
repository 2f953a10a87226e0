"""The lung-prior baseline and penultimate features, on hand-made masks and a tiny backbone."""

from __future__ import annotations

import numpy as np
import pytest

from cxr.explain.scores import lung_prior_scores, score_map


def _masks() -> tuple[np.ndarray, np.ndarray]:
    lung = np.zeros((40, 40), dtype=bool)
    lung[5:35, 4:18] = True  # 30 x 14 = 420 px
    lung[5:35, 22:36] = True  # 420 px
    lesion = np.zeros_like(lung)
    lesion[10:20, 6:16] = True  # 100 px, inside the left lung
    return lung, lesion


def test_lung_prior_scores_are_the_lesion_share_of_the_lung_field() -> None:
    lung, lesion = _masks()
    s = lung_prior_scores(lung, lesion)
    # flat top over 840 lung pixels, 100 of them in the lesion
    assert s["pointing"] == pytest.approx(100 / 840)
    assert s["lesion_energy"] == pytest.approx(100 / 840)
    # the region is the whole lung field (ties at the cut kept): IoU = 100 / 840
    assert s["lesion_iou"] == pytest.approx(100 / 840)
    assert lung_prior_scores(lung, np.zeros_like(lesion)) == {
        "pointing": None, "lesion_energy": None, "lesion_iou": None}
    with pytest.raises(ValueError, match="differ"):
        lung_prior_scores(lung, lesion[:, :20])


def test_a_map_on_the_lesion_beats_both_baselines_and_one_elsewhere_loses() -> None:
    lung, lesion = _masks()
    on = np.zeros(lung.shape)
    on[10:20, 6:16] = 1.0
    on[14, 10] = 2.0  # the peak inside the lesion
    off = np.zeros(lung.shape)
    off[25:33, 24:34] = 1.0  # in the other lung
    prior = lung_prior_scores(lung, lesion)
    good = score_map(on, lesion=lesion, lung=lung, top_fraction=100 / 1600)
    bad = score_map(off, lesion=lesion, lung=lung, top_fraction=80 / 1600)
    assert good["pointing"] == 1.0 and bad["pointing"] == 0.0
    assert good["lesion_energy"] == 1.0 and bad["lesion_energy"] == 0.0
    assert good["lesion_iou"] == pytest.approx(1.0) and bad["lesion_iou"] == 0.0
    assert good["pointing_baseline"] == pytest.approx(100 / 1600)  # random point
    for k in ("pointing", "lesion_energy", "lesion_iou"):
        assert bad[k] < prior[k] < good[k]


def test_penultimate_features_have_the_backbone_width(tmp_path) -> None:
    import torch

    from cxr.classifier.checkpoint import ClassifierInfo
    from cxr.classifier.factory import create_backbone
    from cxr.data.images.imageio import write_png
    from cxr.explain.embeddings import penultimate_features
    from cxr.explain.inputs import items_from_paths

    rng = np.random.default_rng(0)
    for i in range(3):
        write_png(tmp_path / f"im{i}.png", rng.integers(0, 255, (40, 40), dtype=np.uint8))
    model = create_backbone("squeezenet1_1", 2, pretrained="none", in_chans=1).eval()
    info = ClassifierInfo(("other", "covid"), "covid-vs-rest", "squeezenet1_1", 48, "pad")
    items = items_from_paths([tmp_path])
    f = penultimate_features(model, info, items, batch_size=2)
    assert f.shape == (3, model.num_features) and np.isfinite(f).all()
    with torch.no_grad():  # the same vector the head reads
        from cxr.data.images.intensity import to_network
        from cxr.explain.inputs import load_item

        x = to_network(torch.from_numpy(load_item(items[1], 48, "pad")[0])).view(1, 1, 48, 48)
        # batched vs single-image convolutions differ in the last float bits
        np.testing.assert_allclose(f[1], model.features(x)[0].numpy(), rtol=1e-4, atol=1e-4)
