"""StopAtSafePoint: a signal that arrives inside a finaliser during a training step stops
Lightning at that batch's end, after Lightning's teardown, naming the kept checkpoint."""

from __future__ import annotations

import os
import signal
import time
import weakref
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from cxr.runtime.lightning_stop import StopAtSafePoint
from cxr.runtime.runguard import Interrupted, interrupted_message, stop_on_signals, stop_requested


class _Obj:
    pass


def _deliver() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    end = time.monotonic() + 10
    while stop_requested() is None and time.monotonic() < end:
        time.sleep(0.001)


class Tiny(L.LightningModule):
    def __init__(self, signal_at: int) -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 1)
        self.signal_at = signal_at
        self.steps_run = 0

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        if self.global_step == self.signal_at:  # the signal lands in a weakref callback
            obj = _Obj()
            weakref.finalize(obj, _deliver)
            del obj
        self.steps_run += 1
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize("signal_at", [0, 5])
def test_signal_in_a_finaliser_stops_at_that_batch_end(signal_at: int, tmp_path: Path) -> None:
    data = TensorDataset(torch.randn(16, 4), torch.randn(16, 1))
    module = Tiny(signal_at)
    ckpt = tmp_path / "last.ckpt"
    trainer = L.Trainer(max_epochs=5, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[StopAtSafePoint(ckpt)],
                        default_root_dir=tmp_path)
    if signal_at >= 4:
        ckpt.write_bytes(b"")  # stands for the epoch-end checkpoint of epoch 0
    with stop_on_signals():
        with pytest.raises(Interrupted) as info:
            trainer.fit(module, DataLoader(data, batch_size=4))  # 4 steps per epoch
        message = interrupted_message(info.value)
    assert module.steps_run == signal_at + 1  # the step in progress finished, no other began
    assert trainer.state.status == "interrupted" and trainer.should_stop
    assert info.value.exit_code == 143
    kept = (f"1 finished epoch(s) in {ckpt}" if signal_at >= 4
            else f"no finished epoch yet (nothing in {tmp_path})")
    assert message == (
        f"cxr: interrupted by SIGTERM: kept {kept}; rerun the same command to continue"
    )
