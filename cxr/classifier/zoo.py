"""The registered architectures (torchvision networks behind :class:`Backbone`).

=============== ================================ ================== ==========
name            paper                            cam_layer          embedding
=============== ================================ ================== ==========
vgg16           Simonyan & Zisserman, ICLR 2015  last conv's ReLU   4096
resnet18/50     He et al., CVPR 2016             layer4[-1]         512/2048
efficientnet_b0 Tan & Le, ICML 2019              features[-1]       1280
densenet121     Huang et al., CVPR 2017          features.norm5     1024
squeezenet1_1   Iandola et al., 2016             features[-1]       512
inception_v3    Szegedy et al., CVPR 2016        Mixed_7c           2048
=============== ================================ ================== ==========

Notes per architecture:

* **vgg16**: the embedding is the 4096-d output of the classifier MLP before the
  last Linear (the timm "pre-logits"), so a linear probe trains only that Linear.
  The ReLU after the last conv is made non-inplace so Grad-CAM can hook it.
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

from cxr.classifier.backbones import Backbone, register_backbone


class _ResNet(Backbone):
    first_conv = "conv1"

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        return m.layer4(m.layer3(m.layer2(m.layer1(x))))

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.model.avgpool(feats), 1)
        return x if pre_logits else self.model.fc(x)

    @property
    def cam_layer(self) -> nn.Module:
        return self.model.layer4[-1]

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
        self.model.features[29].inplace = False  # the hooked ReLU must not be overwritten

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)

    def forward_head(self, feats: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.model.avgpool(feats), 1)
        x = self.model.classifier[:-1](x)
        return x if pre_logits else self.model.classifier[-1](x)

    @property
    def cam_layer(self) -> nn.Module:
        return self.model.features[29]

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

    @property
    def cam_layer(self) -> nn.Module:
        return self.model.features[-1]

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

    @property
    def cam_layer(self) -> nn.Module:
        return self.model.features.norm5

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

    @property
    def cam_layer(self) -> nn.Module:
        return self.model.features[-1]

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

    @property
    def cam_layer(self) -> nn.Module:
        return self.model.Mixed_7c

    @property
    def head(self) -> nn.Module:
        return self.model.fc

    def reset_head(self, num_classes: int) -> None:
        self.model.fc = nn.Linear(self.num_features, num_classes)
