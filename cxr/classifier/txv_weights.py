"""Chest-X-ray-pretrained weights of torchxrayvision, from a file the user placed.

torchxrayvision (Cohen et al., MIDL 2022, https://github.com/mlmed/torchxrayvision) publishes
DenseNet-121 weights trained at 224 px on public chest X-ray collections
(``densenet121-res224-all``, ``-nih``, ``-pc``, ``-chex``, ``-rsna``, ``-mimic_nb``,
``-mimic_ch``) and a ResNet-50 trained at 512 px (``resnet50-res512-all``). Its own names,
file names and resolutions (``torchxrayvision.models.model_urls``) are the source of truth
here; the library is an optional dependency (``pip install 'cxr[txv]'``), imported only when
a ``txv:`` spec is used.

**Where the file is.** ``txv:NAME`` reads the file torchxrayvision's own cache convention
names, ``~/.torchxrayvision/models_data/<basename of the release URL>``; ``txv:NAME=PATH``
reads PATH (the file, or a folder holding it under its release name). Nothing is ever
downloaded: a missing file is a one-line error naming the file, its URL and the folder.

**Reading it without running pickled code.** The DenseNet releases are a whole pickled
``torchxrayvision.models.DenseNet``; the ResNet release is a state dict. Both are read with
``torch.load(weights_only=True)``, allowing only the ``nn.Module`` classes of ``torch.nn`` and
``torchxrayvision.models`` to be rebuilt (their state is set, no code of the file runs).

**Intensity, channels, resolution.** torchxrayvision feeds one grey channel scaled to
``[-1024, 1024]``: ``xrv.utils.normalize(u8, 255) = (2 u8 / 255 - 1) * 1024``. cxr's network
input (:mod:`cxr.data.images.intensity`) is ``x = u8 / 127.5 - 1 = 2 u8 / 255 - 1``, so
``x_xrv = 1024 x`` exactly. Both first convolutions are bias-free and zero-padded, so
``W * (1024 x) = (1024 W) * x`` holds everywhere, borders included: the first convolution is
loaded as ``1024 W``, and the whole network then computes torchxrayvision's features from
cxr's input (unlike the ImageNet grey fold of :mod:`cxr.classifier.stem`, there is no border
caveat). The new convolution carries a zero bias so that the network has the same parameters
as every one-channel cxr backbone (``best.ckpt`` reloads unchanged). torchxrayvision resizes
any input to the weights' resolution (bilinear); cxr does not resize inside the network, so
the weights' resolution is reported (``LoadReport.input_size``) and callers use it or warn.
The 18-pathology head is not used: the classifier gets a fresh head for its own classes.
"""

from __future__ import annotations

import dataclasses
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from cxr.classifier.pretrained import LoadReport, load_into, strip_prefixes
from cxr.classifier.stem import get_submodule_parent
from cxr.runtime.errors import CheckpointError, ConfigError
from cxr.runtime.files import safe_torch_load, sha256_file

if TYPE_CHECKING:
    from cxr.classifier.backbones import Backbone

PREFIX = "txv:"
#: torchxrayvision's input is cxr's network input times this (both from the same uint8)
XRV_SCALE = 1024.0
#: weight-name prefix -> cxr backbone
ARCHITECTURES: dict[str, str] = {"densenet121-": "densenet121", "resnet50-": "resnet50"}
#: buffers of torchxrayvision's models that are calibration, not weights
CALIBRATION_KEYS: tuple[str, ...] = ("op_threshs",)


@dataclasses.dataclass(frozen=True)
class TxvWeights:
    """One torchxrayvision weight set: its name, cxr backbone, expected file and resolution."""

    name: str
    backbone: str
    file: Path
    url: str
    resolution: int
    labels: tuple[str, ...]

    @property
    def spec(self) -> str:
        """The spec without a path, as recorded in outputs (``txv:NAME``)."""
        return PREFIX + self.name


def is_txv(spec: str | Path | None) -> bool:
    """Whether ``spec`` names torchxrayvision weights (``txv:NAME`` or ``txv:NAME=PATH``)."""
    return isinstance(spec, str) and spec.startswith(PREFIX)


def import_xrv() -> ModuleType:
    """torchxrayvision, imported without its side effect on the process's warning filters.

    (Its ``models`` module runs ``warnings.filterwarnings("ignore")`` on import, which would
    silence every later warning of cxr.)
    """
    try:
        with warnings.catch_warnings():
            import torchxrayvision
    except ImportError as exc:
        raise ConfigError(
            f"txv: weights need torchxrayvision, which is not installed ({exc}); "
            "pip install 'cxr[txv]'"
        ) from None
    return torchxrayvision


def _canonical(urls: dict[str, Any]) -> dict[str, str]:
    """Every accepted name (aliases such as ``all`` included) -> its architecture-prefixed name."""
    names = {k: k for k in urls if any(k.startswith(p) for p in ARCHITECTURES)}
    for alias, entry in urls.items():
        if alias not in names:
            for k in list(names.values()):
                if urls[k] is entry:
                    names[alias] = k
                    break
    return names


def txv_names() -> list[str]:
    """The weight names cxr can load (architecture-prefixed; torchxrayvision's aliases work too)."""
    urls = import_xrv().models.model_urls
    return sorted(set(_canonical(urls).values()))


def parse_txv(spec: str) -> TxvWeights:
    """``txv:NAME`` or ``txv:NAME=PATH`` -> the weights it names and the file expected.

    Raises :class:`ConfigError` for an unknown name; the file's presence is checked by
    :func:`require_file` (and by :func:`load_txv`).
    """
    if not is_txv(spec):
        raise ConfigError(f"not a torchxrayvision spec: {spec!r} (expected txv:NAME[=PATH])")
    body = spec[len(PREFIX) :]
    name, _, path = body.partition("=")
    xrv = import_xrv()
    urls = xrv.models.model_urls
    names = _canonical(urls)
    if name not in names:
        raise ConfigError(
            f"unknown torchxrayvision weights {name!r} (valid: {', '.join(txv_names())})"
        )
    canonical = names[name]
    entry = urls[canonical]
    url = str(entry["weights_url"])
    basename = url.rsplit("/", 1)[-1]
    if path:
        given = Path(path).expanduser()
        file = given / basename if given.is_dir() else given
    else:
        file = Path(xrv.utils.get_cache_dir()).expanduser() / basename
    backbone = next(b for p, b in ARCHITECTURES.items() if canonical.startswith(p))
    return TxvWeights(
        name=canonical,
        backbone=backbone,
        file=file,
        url=url,
        resolution=int(entry.get("input_resolution", 224)),
        labels=tuple(str(x) for x in entry.get("labels", ())),
    )


def require_file(w: TxvWeights) -> Path:
    """The weights file, or a one-line error saying which file to put where."""
    if not w.file.is_file():
        raise CheckpointError(
            f"torchxrayvision weights {w.name} not found: {w.file.name} is not in {w.file.parent} "
            f"(cxr never downloads; fetch {w.url} and put it there, "
            f"or give its path as {w.spec}=PATH)"
        )
    return w.file


def _allowed_classes() -> list[Callable[..., Any]]:
    """``nn.Module`` classes a pickled model may rebuild: torch.nn's, torchxrayvision's and
    torchvision's DenseNet/ResNet parts (no other globals)."""
    from torchvision.models import densenet, resnet

    found: list[Callable[..., Any]] = []
    for mod in (nn, import_xrv().models, densenet, resnet):
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, nn.Module):
                found.append(obj)
    return found


def _refuse_foreign_globals(path: Path, what: str, allowed: list[Callable[..., Any]]) -> None:
    """Name the first globals a (zip) file needs beyond ``allowed`` and torch's own defaults."""
    if not zipfile.is_zipfile(path):
        return  # legacy files: torch's weights-only unpickler still refuses, without the names
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # unreadable: safe_torch_load says so in one line
        return
    names = {f"{c.__module__}.{c.__qualname__}" for c in allowed}
    foreign = sorted(set(needed) - names)
    if foreign:
        raise CheckpointError(
            f"{path}: {what} needs {', '.join(foreign[:3])}, not a torch.nn / torchvision / "
            "torchxrayvision module class; refused (nothing in the file was run)"
        )


def read_txv_state_dict(path: Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a torchxrayvision file: a pickled model or a state dict, read safely."""
    allowed = _allowed_classes()
    if path.is_file():
        _refuse_foreign_globals(path, what, allowed)
    with torch.serialization.safe_globals(list[Any](allowed)):
        obj = safe_torch_load(path, what=what)
    if isinstance(obj, nn.Module):
        for mod in obj.modules():  # as torchxrayvision does for models pickled by old torch
            if not hasattr(mod, "_non_persistent_buffers_set"):
                mod._non_persistent_buffers_set = set()
        obj = obj.state_dict()
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(
        isinstance(v, torch.Tensor) for v in obj.values()
    ):
        raise CheckpointError(f"{path}: not a {what} (neither a model nor a state dict)")
    return {k: v for k, v in obj.items() if k not in CALIBRATION_KEYS}


def _module_path(root: nn.Module, module: nn.Module) -> str:
    return next(n for n, m in root.named_modules() if m is module)


@torch.no_grad()
def _one_channel_conv(conv: nn.Conv2d, weight: torch.Tensor, scale: float) -> nn.Conv2d:
    """A one-channel copy of ``conv``'s geometry with kernel ``scale * weight`` and zero bias."""
    new = nn.Conv2d(
        1,
        conv.out_channels,
        conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        dilation=conv.dilation,  # type: ignore[arg-type]
        bias=True,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    new.weight.copy_(weight.to(new.weight.dtype) * scale)
    assert new.bias is not None
    new.bias.zero_()
    return new


def load_txv(model: Backbone, spec: str, *, in_chans: int = 1) -> LoadReport:
    """Initialise ``model`` (still the RGB torchvision network) from torchxrayvision weights.

    Afterwards ``model`` takes one grey channel in cxr's ``[-1, 1]`` and its ``features``
    equal torchxrayvision's on the same image at the weights' resolution (module docstring).
    """
    w = parse_txv(spec)
    if model.name != w.backbone:
        raise ConfigError(
            f"{w.spec} holds {w.backbone} weights; use --backbone {w.backbone} (got {model.name})"
        )
    if in_chans != 1:
        raise ConfigError(
            f"{w.spec}: torchxrayvision weights take one grey channel, not {in_chans}"
        )
    if model.in_chans != 3:
        raise ConfigError(f"{w.spec}: load torchxrayvision weights into a freshly built backbone")
    path = require_file(w)
    what = f"torchxrayvision weights file ({w.name})"
    sd = model.remap_state_dict(strip_prefixes(read_txv_state_dict(path, what)))
    first = f"{model.first_conv}.weight"
    kernel = sd.pop(first, None)
    conv = model.model.get_submodule(model.first_conv)
    if kernel is None or kernel.ndim != 4 or kernel.shape[1] != 1 or (
        kernel.shape[0] != conv.out_channels or tuple(kernel.shape[2:]) != conv.kernel_size
    ):
        shape = "missing" if kernel is None else tuple(kernel.shape)
        raise CheckpointError(
            f"{path}: first convolution {first} is {shape}, expected a one-channel "
            f"{w.backbone} kernel ({conv.out_channels}, 1, {conv.kernel_size[0]}, "
            f"{conv.kernel_size[1]})"
        )
    head = _module_path(model.model, model.head)
    head_keys = [k for k in sd if k.startswith(head + ".")]
    for k in head_keys:
        sd.pop(k)
    report = load_into(model, sd, w.spec)
    report.missing = [k for k in report.missing if k != first and not k.startswith(head + ".")]
    if report.missing or report.unexpected or report.mismatched:
        raise CheckpointError(f"{path}: does not fit {w.backbone} ({report.summary()})")
    parent, leaf = get_submodule_parent(model.model, model.first_conv)
    setattr(parent, leaf, _one_channel_conv(conv, kernel, XRV_SCALE))
    model.in_chans = 1
    report.loaded += 1
    report.file = str(path)
    report.sha256 = sha256_file(path)
    report.input_size = w.resolution
    report.notes.append(
        f"first conv x{XRV_SCALE:g} ([-1024, 1024] input), "
        f"{len(w.labels)}-pathology head replaced, trained at {w.resolution} px"
    )
    return report
