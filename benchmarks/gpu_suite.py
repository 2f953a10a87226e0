"""One prepared GPU benchmark run: everything a user choosing cxr would compare, in 8 minutes.

On one GPU, within ``--total`` seconds (480, start-up included), measures and writes one
JSON file and one markdown table:

* **CycleGAN training** it/s at 256 px (ngf = ndf = 64, 9 blocks, batch 1, the reference
  settings): cxr's real ``CycleGANModule`` step under a Lightning Trainer beside the
  reference implementation's ``optimize_parameters`` (``benchmarks/reference_cyclegan.py``,
  same networks), in fp32, bf16-mixed, bf16 + channels_last, and bf16 + channels_last +
  ``torch.compile``;
* **synthesis** images/s (``cxr.cyclegan.translate.translate_batch``, uint8 in and out);
* **classifier training** images/s at 224 px for VGG16, ResNet50 and EfficientNet-B0:
  a plain torchvision loop (3-channel, fp32, eager) beside cxr's backbone (1 channel,
  bf16 autocast, channels_last), eager and compiled, and torchvision at cxr's settings;
* **FID 10k vs 10k**: seconds for torchmetrics ``FrechetInceptionDistance`` on 10,000 +
  10,000 images at 299 px, features and the Frechet distance included (an InceptionV3 with
  random weights: the time does not depend on them, and nothing downloads);
* **Grad-CAM** maps/s at 224 px on ResNet50: cxr's batched engine beside pytorch-grad-cam;
* **peak GPU memory** of each (``torch.cuda.max_memory_allocated``).

Every measurement has a time budget; one whose budget would not fit in what is left of
the total is skipped and says so, and an alarm stops a measurement that overruns the
total, so the run always ends in time with its JSON written. The measurements run in
priority order (eager first, ``torch.compile`` last: compiling costs the most).

    python benchmarks/gpu_suite.py --out bench-gpu          # on a machine with a GPU
    python benchmarks/gpu_suite.py --tiny --out /tmp/tiny   # CPU, seconds: tiny sizes, 1 step

Without a GPU and without ``--tiny`` it says so, prints the command to run on a device
and exits 0. ``make bench-gpu`` runs the first line.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # reference_cyclegan beside this file
    sys.path.insert(0, str(HERE))
if str(HERE.parent) not in sys.path:  # the cxr checkout this file belongs to
    sys.path.insert(0, str(HERE.parent))

DEVICE_COMMAND = "make bench-gpu   # or: python benchmarks/gpu_suite.py --out bench-gpu"


def process_age() -> float:
    """Seconds since this process started (interpreter start-up included), from /proc."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


_IMPORTED = time.monotonic()


@dataclass(frozen=True)
class Sizes:
    """What one mode measures: full GPU sizes, or tiny CPU sizes that only exercise the code."""

    gan_size: int = 256
    gan_ngf: int = 64
    gan_blocks: int = 9
    gan_batch: int = 1
    synth_batch: int = 32
    synth_images: int = 512
    clf_size: int = 224
    clf_batch: int = 64
    fid_images: int = 10_000
    fid_batch: int = 250
    cam_images: int = 256
    cam_batch: int = 32
    warmup: int = 3
    min_steps: int = 5
    max_steps: int = 200
    window_s: float = 8.0  # seconds of timed steps per measurement (after warm-up)
    backbones: tuple[str, ...] = ("vgg16", "resnet50", "efficientnet_b0")
    cam_backbone: str = "resnet50"
    fid_features: str = "inception"  # the tiny run: a one-layer stand-in (FID's 2048-d sqrtm
    # alone takes seconds on a CPU)
    gan_variants: tuple[tuple[str, str, bool], ...] = (
        ("fp32", "32-true", False), ("bf16", "bf16-mixed", False),
        ("bf16 channels_last", "bf16-mixed", True),
    )


TINY = Sizes(
    gan_size=32, gan_ngf=4, gan_blocks=1, gan_batch=1, synth_batch=2, synth_images=4,
    clf_size=32, clf_batch=2, fid_images=4, fid_batch=4, cam_images=2, cam_batch=2,
    warmup=1, min_steps=1, max_steps=1, window_s=0.0,
    # one mission backbone (the others share the code path) and the cheapest CAM network
    backbones=("efficientnet_b0",), cam_backbone="resnet18", fid_features="tiny",
    gan_variants=(("fp32", "32-true", False), ("bf16 channels_last", "bf16-mixed", True)),
)


@dataclass
class Result:
    group: str
    name: str
    impl: str
    unit: str
    value: float | None = None
    peak_mib: float | None = None
    status: str = "ok"
    note: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class OverTotal(Exception):
    """The suite's total time ran out inside a measurement."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`OverTotal` in this thread after ``seconds`` (POSIX main thread only)."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    def _raise(*_: Any) -> None:
        raise OverTotal()

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Suite:
    """Runs measurements in order within the total; each has its own budget."""

    def __init__(self, total_s: float, device: Any, sizes: Sizes, tiny: bool) -> None:
        self.total_s, self.device, self.sizes, self.tiny = total_s, device, sizes, tiny
        self.results: list[Result] = []
        self.margin_s = 10.0 if not tiny else 0.0  # left for writing the JSON and table

    def left(self) -> float:
        return self.total_s - process_age() - self.margin_s

    def run(self, group: str, name: str, impl: str, unit: str, budget_s: float,
            fn: Callable[[], tuple[float, dict[str, Any]]]) -> Result:
        import torch

        res = Result(group, name, impl, unit)
        left = self.left()
        if not self.tiny and budget_s > left:
            res.status = "skipped"
            res.note = f"needs about {budget_s:.0f} s, {max(left, 0):.0f} s left of the total"
            print(f"[skip] {group} / {name} / {impl}: {res.note}", flush=True)
            self.results.append(res)
            return res
        cuda = self.device.type == "cuda"
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            with alarm(0 if self.tiny else left):
                res.value, res.extra = fn()
        except OverTotal:
            res.status, res.note = "stopped", "the suite's total ran out during this measurement"
        except Exception as e:  # noqa: BLE001 - one failure must not cost the others
            res.status, res.note = "failed", f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
        res.seconds = time.perf_counter() - start
        if cuda:
            torch.cuda.synchronize()
            res.peak_mib = torch.cuda.max_memory_allocated() / 2**20
        shown = f"{res.value:.2f} {unit}" if res.value is not None else res.status
        print(f"[{res.seconds:5.1f} s] {group} / {name} / {impl}: {shown} {res.note}", flush=True)
        self.results.append(res)
        return res


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def usage() -> tuple[float, float, int]:
    """This process's (user s, system s, minor page faults) so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime, r.ru_minflt


def per_step(before: tuple[float, float, int], n: int) -> dict[str, float]:
    after = usage()
    return {"user_s_per_step": (after[0] - before[0]) / n,
            "sys_s_per_step": (after[1] - before[1]) / n,
            "minflt_per_step": (after[2] - before[2]) / n}


LAST_USAGE: dict[str, float] = {}


def timed_steps(step: Callable[[], Any], device: Any, sizes: Sizes) -> tuple[float, int]:
    """Warm-up, then steps until the window or the step cap; (steps per second, steps).

    The CPU time and page faults of the timed steps are left in ``LAST_USAGE``."""
    for _ in range(sizes.warmup):
        step()
    _sync(device)
    before = usage()
    n, start = 0, time.perf_counter()
    while n < sizes.min_steps or (
        n < sizes.max_steps and time.perf_counter() - start < sizes.window_s
    ):
        step()
        n += 1
        if n % 5 == 0:
            _sync(device)
    _sync(device)
    rate = n / (time.perf_counter() - start)
    LAST_USAGE.clear()
    LAST_USAGE.update(per_step(before, n))
    return rate, n


# ------------------------------------------------------------------------- CycleGAN
def _gan_images(sizes: Sizes, n: int = 16) -> Any:
    import numpy as np

    return np.random.default_rng(0).integers(0, 256, (n, sizes.gan_size, sizes.gan_size),
                                             dtype=np.uint8)


def gan_cxr(sizes: Sizes, device: Any, precision: str, channels_last: bool,
            compiled: bool) -> tuple[float, dict[str, Any]]:
    """cxr's CycleGANModule step under a Lightning Trainer, as `cxr gan train` runs it."""
    import lightning as L
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from cxr.config import GanConfig
    from cxr.cyclegan.domains import Domains, UnpairedBatches, UnpairedSampler
    from cxr.pipelines.gan.train_gan import build_module, build_networks
    from cxr.runtime.lightning_quiet import quiet_lightning

    cfg = GanConfig(image_size=sizes.gan_size, ngf=sizes.gan_ngf, ndf=sizes.gan_ngf,
                    n_blocks=sizes.gan_blocks, batch_size=sizes.gan_batch, precision=precision)
    nets = build_networks(cfg)
    for net in nets.values():
        if channels_last:
            net.to(memory_format=torch.channels_last)
        if compiled:
            net.compile()
    module = build_module(nets, cfg)
    images = _gan_images(sizes)
    half = len(images) // 2
    dom = Domains(a=np.arange(half), b=np.arange(half, len(images)), source=("normal",),
                  target="covid")
    if sizes.warmup < 1:
        raise ValueError("the Lightning clock needs at least one warm-up step")
    cap = sizes.warmup + sizes.max_steps + 1
    loader = DataLoader(UnpairedBatches(images, dom),
                        sampler=UnpairedSampler(half, half, sizes.gan_batch, cap, seed=0),
                        batch_size=None)
    marks: list[float] = []  # marks[k]: end of step k + 1; timing starts after the warm-up
    use: list[tuple[float, float, int]] = []

    class Clock(L.Callback):
        def on_train_batch_end(self, trainer: Any, *a: Any) -> None:
            _sync(device)
            marks.append(time.perf_counter())
            use.append(usage())
            timed = len(marks) - sizes.warmup
            if timed >= sizes.max_steps or (
                timed >= sizes.min_steps
                and marks[-1] - marks[sizes.warmup - 1] >= sizes.window_s
            ):
                trainer.should_stop = True

    quiet_lightning()
    trainer = L.Trainer(
        max_epochs=1, precision=precision,  # type: ignore[arg-type]
        accelerator="gpu" if device.type == "cuda" else "cpu", devices=1,
        logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[Clock()], num_sanity_val_steps=0,
    )
    trainer.fit(module, train_dataloaders=loader)
    n = len(marks) - sizes.warmup
    if n < 1:
        raise RuntimeError(f"only {len(marks)} steps ran")
    (u0, s0, f0), (u1, s1, f1) = use[sizes.warmup - 1], use[-1]
    cpu = {"user_s_per_step": (u1 - u0) / n, "sys_s_per_step": (s1 - s0) / n,
           "minflt_per_step": (f1 - f0) / n}
    return n / (marks[-1] - marks[sizes.warmup - 1]), {"steps": n, **cpu}


def gan_reference(sizes: Sizes, device: Any, precision: str, channels_last: bool,
                  compiled: bool) -> tuple[float, dict[str, Any]]:
    """The reference implementation's step on the same networks and settings."""
    import torch
    from reference_cyclegan import ReferenceCycleGAN

    from cxr.data.images.intensity import to_network

    ref = ReferenceCycleGAN(ngf=sizes.gan_ngf, ndf=sizes.gan_ngf, n_blocks=sizes.gan_blocks,
                            device=device, precision=precision, channels_last=channels_last)
    if compiled:
        ref.compile()
    images = torch.from_numpy(_gan_images(sizes))
    half, bs = len(images) // 2, sizes.gan_batch
    it = [0]

    def step() -> None:
        i = (it[0] * bs) % half
        it[0] += 1
        a = to_network(images[i:i + bs]).unsqueeze(1)
        b = to_network(images[half + i:half + i + bs]).unsqueeze(1)
        ref.set_input(a, b)
        ref.optimize_parameters()

    rate, n = timed_steps(step, device, sizes)
    return rate, {"steps": n, **LAST_USAGE}


def synthesis(sizes: Sizes, device: Any) -> tuple[float, dict[str, Any]]:
    """`cxr gan synth`'s generator call: uint8 batch in, translated uint8 batch out."""
    import numpy as np

    from cxr.cyclegan.networks import ResnetGenerator
    from cxr.cyclegan.translate import translate_batch

    net = ResnetGenerator(1, 1, sizes.gan_ngf, sizes.gan_blocks).to(device).eval()
    images = _gan_images(sizes, sizes.synth_batch)
    translate_batch(net, images, device)  # warm-up
    _sync(device)
    n, start = 0, time.perf_counter()
    while n < sizes.synth_images:
        out = translate_batch(net, images, device)
        n += len(out)
    assert out.dtype == np.uint8
    return n / (time.perf_counter() - start), {"images": n, "batch": sizes.synth_batch}


# ------------------------------------------------------------------------ classifiers
def classifier(sizes: Sizes, device: Any, backbone: str, impl: str,
               compiled: bool) -> tuple[float, dict[str, Any]]:
    """Training images/s. ``torchvision``: the plain loop (3 channels, fp32, eager);
    ``torchvision-amp``: the same at cxr's settings; ``cxr``: cxr's 1-channel backbone,
    bf16 autocast, channels_last, AdamW, as `cxr classify` trains it."""
    import torch
    import torch.nn.functional as F
    from torchvision import models as tvm

    from cxr.classifier import create_backbone

    torch.manual_seed(0)
    if impl.startswith("torchvision"):
        model, ch = tvm.get_model(backbone, num_classes=2), 3
    else:
        model, ch = create_backbone(backbone, 2, pretrained="none", in_chans=1), 1
    amp = impl != "torchvision"
    fmt = torch.channels_last if amp else torch.contiguous_format
    model = model.to(device, memory_format=fmt).train()
    if compiled:
        model.compile()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    bs, s = sizes.clf_batch, sizes.clf_size
    x = torch.randn(bs, ch, s, s, device=device).to(memory_format=fmt)
    y = torch.randint(0, 2, (bs,), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    rate, n = timed_steps(step, device, sizes)
    return rate * bs, {"steps": n, "batch": bs}


# -------------------------------------------------------------------------------- FID
def fid_time(sizes: Sizes, device: Any) -> tuple[float, dict[str, Any]]:
    """Seconds for torchmetrics FID on N real + N fake images (features + distance)."""
    import torch
    from torch import nn
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchvision.models import inception_v3

    class Pool3(nn.Module):
        num_features = 2048

        def __init__(self) -> None:
            super().__init__()
            self.net = inception_v3(weights=None, aux_logits=False, init_weights=False)
            self.net.fc = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    class Tiny(nn.Module):
        num_features = 8

        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), nn.AdaptiveAvgPool2d(1),
                                     nn.Flatten())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    features = Pool3() if sizes.fid_features == "inception" else Tiny()
    fid = FrechetInceptionDistance(feature=features.eval()).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    start = time.perf_counter()
    for real in (True, False):
        left = sizes.fid_images
        while left > 0:
            b = min(sizes.fid_batch, left)
            with torch.inference_mode():
                fid.update(torch.rand(b, 3, 299, 299, device=device, generator=gen), real=real)
            left -= b
    value = float(fid.compute())
    _sync(device)
    seconds = time.perf_counter() - start
    note = ("random-weight InceptionV3 (timing only)" if sizes.fid_features == "inception"
            else "tiny stand-in features")
    return seconds, {"images_per_set": sizes.fid_images, "fid": value, "note": note}


# --------------------------------------------------------------------------- Grad-CAM
def gradcam(sizes: Sizes, device: Any, engine: str) -> tuple[float, dict[str, Any]]:
    """Grad-CAM maps/s (ResNet50): cxr's batched engine (``fast``) or pytorch-grad-cam."""
    import torch

    from cxr.classifier import create_backbone
    from cxr.explain import explain_batch

    torch.manual_seed(0)
    model = create_backbone(sizes.cam_backbone, 2, pretrained="none", in_chans=1)
    model = model.to(device).eval()
    s, bs = sizes.clf_size, sizes.cam_batch
    images = torch.rand(sizes.cam_images, 1, s, s, device=device) * 2 - 1
    target = torch.randint(0, 2, (sizes.cam_images,), device=device)
    explain_batch(model, images[:bs], target[:bs], method="gradcam", engine=engine)
    _sync(device)
    start = time.perf_counter()
    for i in range(0, len(images), bs):
        explain_batch(model, images[i:i + bs], target[i:i + bs], method="gradcam", engine=engine)
    _sync(device)
    return len(images) / (time.perf_counter() - start), {"images": len(images)}


# ------------------------------------------------------------------------------ plan
def plan(suite: Suite) -> None:
    """Every measurement with its budget (seconds, on an H100-class GPU), eager first."""
    sz, dev = suite.sizes, suite.device
    for label, prec, cl in sz.gan_variants:
        name = f"{sz.gan_size} px batch {sz.gan_batch}, {label}"
        suite.run("CycleGAN training", name, "cxr", "it/s", 25,
                  lambda p=prec, c=cl: gan_cxr(sz, dev, p, c, False))
        suite.run("CycleGAN training", name, "reference", "it/s", 20,
                  lambda p=prec, c=cl: gan_reference(sz, dev, p, c, False))
    suite.run("synthesis", f"{sz.gan_size} px batch {sz.synth_batch}", "cxr", "images/s", 10,
              lambda: synthesis(sz, dev))
    for bb in sz.backbones:
        name = f"{bb} {sz.clf_size} px batch {sz.clf_batch}"
        suite.run("classifier training", name, "torchvision", "images/s", 20,
                  lambda b=bb: classifier(sz, dev, b, "torchvision", False))
        suite.run("classifier training", name, "cxr", "images/s", 20,
                  lambda b=bb: classifier(sz, dev, b, "cxr", False))
    suite.run("FID", f"{sz.fid_images} vs {sz.fid_images} images", "torchmetrics", "s", 60,
              lambda: fid_time(sz, dev))
    for engine, impl in (("fast", "cxr"), ("library", "pytorch-grad-cam")):
        suite.run("Grad-CAM", f"{sz.cam_backbone} {sz.clf_size} px batch {sz.cam_batch}", impl,
                  "maps/s", 15, lambda e=engine: gradcam(sz, dev, e))
    if suite.tiny:  # compiling on a CPU needs a C++ toolchain and minutes; not in the tiny run
        return
    name = f"{sz.gan_size} px batch {sz.gan_batch}, bf16 channels_last compiled"
    suite.run("CycleGAN training", name, "cxr", "it/s", 90,
              lambda: gan_cxr(sz, dev, "bf16-mixed", True, True))
    suite.run("CycleGAN training", name, "reference", "it/s", 80,
              lambda: gan_reference(sz, dev, "bf16-mixed", True, True))
    for bb in sz.backbones:
        name = f"{bb} {sz.clf_size} px batch {sz.clf_batch}"
        suite.run("classifier training", name, "torchvision-amp", "images/s", 20,
                  lambda b=bb: classifier(sz, dev, b, "torchvision-amp", False))
        suite.run("classifier training", f"{name}, compiled", "cxr", "images/s", 70,
                  lambda b=bb: classifier(sz, dev, b, "cxr", True))


# ---------------------------------------------------------------------------- output
def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def markdown(results: list[Result], header: dict[str, Any]) -> str:
    lines = [
        f"Device: {header['device']}; date {header['date']}; commit {header['commit']}; "
        f"torch {header['torch']}; total {header['wall_s']:.0f} s of {header['total_s']:.0f} s"
        f"{' (tiny mode)' if header['tiny'] else ''}.",
        "",
        "| measurement | setting | implementation | value | peak GPU MiB | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        value = f"{r.value:,.2f} {r.unit}" if r.value is not None else r.status
        peak = f"{r.peak_mib:,.0f}" if r.peak_mib is not None else "n/a"
        note = r.note or str(r.extra.get("note", ""))
        lines.append(f"| {r.group} | {r.name} | {r.impl} | {value} | {peak} | {note} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-gpu"),
                    help="folder for gpu_suite.json and gpu_suite.md")
    ap.add_argument("--tiny", action="store_true",
                    help="tiny sizes, 1 step each, on the CPU when there is no GPU (seconds)")
    ap.add_argument("--total", type=float, default=480.0,
                    help="seconds for the whole run, start-up included")
    args = ap.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("gpu_suite: no GPU on this machine, nothing measured. On a machine with one "
              f"GPU run:\n    {DEVICE_COMMAND}\n(or --tiny to check the suite on this CPU).")
        return 0
    device = torch.device("cuda" if cuda else "cpu")
    sizes = TINY if args.tiny else Sizes()
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = torch.cuda.get_device_name(device) if cuda else (
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)")
    print(f"gpu_suite on {name}: {'tiny mode' if args.tiny else 'full sizes'}, "
          f"total {args.total:.0f} s ({process_age():.0f} s used by start-up)", flush=True)
    suite = Suite(args.total, device, sizes, args.tiny)
    plan(suite)
    header = {
        "device": name, "date": datetime.date.today().isoformat(), "commit": _git_commit(),
        "torch": torch.__version__, "tiny": args.tiny, "total_s": args.total,
        "wall_s": process_age(), "load": Path("/proc/loadavg").read_text().split()[:3]
        if Path("/proc/loadavg").exists() else None,
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else
                                                        sys.argv[1:])]),
    }
    from cxr.runtime.files import atomic_write_text

    args.out.mkdir(parents=True, exist_ok=True)
    payload = {**header, "results": [r.__dict__ for r in suite.results]}
    atomic_write_text(args.out / "gpu_suite.json", json.dumps(payload, indent=2) + "\n")
    table = markdown(suite.results, header)
    atomic_write_text(args.out / "gpu_suite.md", table)
    print(table)
    print(f"wrote {args.out / 'gpu_suite.json'} and {args.out / 'gpu_suite.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
