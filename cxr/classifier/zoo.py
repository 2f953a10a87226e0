"""The registered architectures (torchvision networks behind :class:`Backbone`).

=============== ================================ ====================================== =========
name            paper                            cam_stages (last first, then finer)    embedding
=============== ================================ ====================================== =========
vgg16           Simonyan & Zisserman, ICLR 2015  features.29, .22 (conv5_3/4_3 ReLUs)   4096
resnet18/50     He et al., CVPR 2016             layer4, layer3, layer2                 512/2048
efficientnet_b0 Tan & Le, ICML 2019              features.8, .5, .3                     1280
densenet121     Huang et al., CVPR 2017          features.norm5, denseblock3, 2         1024
squeezenet1_1   Iandola et al., 2016             features.12, .7                        512
inception_v3    Szegedy et al., CVPR 2016        Mixed_7c, Mixed_6e, Mixed_5d           2048
=============== ================================ ====================================== =========

``cam_layer`` is the first stage unless ``set_cam_stage`` (``cxr explain --cam-layer``) picks
a finer one: at small inputs the last stage is a 1x1-3x3 grid that cannot localize.

Notes per architecture:

* **vgg16**: the embedding is the 4096-d output of the classifier MLP before the
  last Linear (the timm "pre-logits"), so a linear probe trains only that Linear.
  The ReLUs Grad-CAM may hook are made non-inplace.
* **squeezenet1_1**: torchvision ends with conv1x1 -> ReLU -> global pool. The
  ReLU is dropped so logits can be negative (softmax/sigmoid calibration);
  conv1x1 and average pooling commute, so ``features`` is the pooled 512-d map.
* **inception_v3**: auxiliary logits are off; inputs must be at least 75 px.
  Google's weights expect ``(u - 0.5) / 0.5`` (torchvision's ``transform_input``),
  so the grey fold uses mean = std = 0.5 and reduces to summing the RGB kernels.
* **densenet121**: published weights use legacy ``norm.1`` style keys; they are
  renamed as torchvision's own loader does.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models as tvm

from cxr.classifier.backbones import Backbone
from cxr.classifier.registry import register_backbone


class _ResNet(Backbone):
    first_conv = "conv1"

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        return m.layer4(m.layer3(m.layer2(m.layer1(x))))

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.model.avgpool(feats), 1)
        return x if pre_logits else self.model.fc(x)

    cam_stages = ("layer4", "layer3", "layer2")

    @property
    def head(self) -> nn.Module:
        return self.model.fc

    def reset_head(self, num_classes: int) -> None:
        self.model.fc = nn.Linear(self.num_features, num_classes)


@register_backbone("resnet18", lambda: tvm.resnet18())
class ResNet18(_ResNet):
    num_features = 512


@register_backbone("resnet50", lambda: tvm.resnet50())
class ResNet50(_ResNet):
    num_features = 2048


@register_backbone("vgg16", lambda: tvm.vgg16())
class VGG16(Backbone):
    num_features = 4096
    first_conv = "features.0"

    def __init__(self, model: nn.Module) -> None:
        super().__init__(model)
        for stage in self.cam_stages:  # the ReLUs Grad-CAM may hook must not be overwritten
            self.model.get_submodule(stage).inplace = False

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.model.avgpool(feats), 1)
        x = self.model.classifier[:-1](x)
        return x if pre_logits else self.model.classifier[-1](x)

    cam_stages = ("features.29", "features.22")  # conv5_3 and conv4_3 ReLUs (stride 16, 8)

    @property
    def head(self) -> nn.Module:
        return self.model.classifier[-1]

    def reset_head(self, num_classes: int) -> None:
        self.model.classifier[-1] = nn.Linear(self.num_features, num_classes)


@register_backbone("efficientnet_b0", lambda: tvm.efficientnet_b0())
class EfficientNetB0(Backbone):
    num_features = 1280
    first_conv = "features.0.0"

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.model.avgpool(feats), 1)
        return x if pre_logits else self.model.classifier(x)

    cam_stages = ("features.8", "features.5", "features.3")  # strides 32, 16, 8

    @property
    def head(self) -> nn.Module:
        return self.model.classifier[-1]

    def reset_head(self, num_classes: int) -> None:
        self.model.classifier[-1] = nn.Linear(self.num_features, num_classes)


_DENSE_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


@register_backbone("densenet121", lambda: tvm.densenet121())
class DenseNet121(Backbone):
    num_features = 1024
    first_conv = "features.conv0"

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(F.adaptive_avg_pool2d(F.relu(feats), 1), 1)
        return x if pre_logits else self.model.classifier(x)

    cam_stages = ("features.norm5", "features.denseblock3", "features.denseblock2")

    @property
    def head(self) -> nn.Module:
        return self.model.classifier

    def reset_head(self, num_classes: int) -> None:
        self.model.classifier = nn.Linear(self.num_features, num_classes)

    def remap_state_dict(self, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for k, v in sd.items():
            m = _DENSE_LEGACY.match(k)
            out[m.group(1) + m.group(2) if m else k] = v
        return out


@register_backbone("squeezenet1_1", lambda: tvm.squeezenet1_1())
class SqueezeNet11(Backbone):
    num_features = 512
    first_conv = "features.0"

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(feats, 1)
        if pre_logits:
            return torch.flatten(x, 1)
        return torch.flatten(self.model.classifier(x), 1)

    cam_stages = ("features.12", "features.7")  # last and middle Fire stages (stride 16, 8)

    @property
    def head(self) -> nn.Module:
        return self.model.classifier[1]

    def reset_head(self, num_classes: int) -> None:
        # Dropout -> conv1x1 (no final ReLU: logits must be free to go negative)
        self.model.classifier = nn.Sequential(
            nn.Dropout(p=0.5), nn.Conv2d(self.num_features, num_classes, kernel_size=1)
        )


@register_backbone(
    "inception_v3",
    lambda: tvm.inception_v3(aux_logits=False, transform_input=False, init_weights=True),
)
class InceptionV3(Backbone):
    num_features = 2048
    first_conv = "Conv2d_1a_3x3.conv"
    input_mean = (0.5, 0.5, 0.5)
    input_std = (0.5, 0.5, 0.5)
    min_input_size = 75
    ignored_key_prefixes = ("AuxLogits.",)

    _BLOCKS = (
        "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
        "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a",
        "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
    )  # fmt: skip

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for name in self._BLOCKS:
            x = getattr(self.model, name)(x)
        return x

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.model.avgpool(feats), 1)
        return x if pre_logits else self.model.fc(self.model.dropout(x))

    cam_stages = ("Mixed_7c", "Mixed_6e", "Mixed_5d")  # strides 32, 16, 8

    @property
    def head(self) -> nn.Module:
        return self.model.fc

    def reset_head(self, num_classes: int) -> None:
        self.model.fc = nn.Linear(self.num_features, num_classes)
