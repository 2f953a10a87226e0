"""Progress without a terminal: plain lines with elapsed time and ETA; wide tables."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cxr.runtime.progress import (
    LOG_WIDTH,
    PlainProgress,
    epoch_progress_bar,
    make_progress,
    progress_line,
    wide_output,
)


def _log_console() -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=LOG_WIDTH), buf


def test_plain_progress_prints_one_line_per_step_for_small_totals() -> None:
    console, buf = _log_console()
    bar = make_progress(console=console)
    assert isinstance(bar, PlainProgress)
    with bar:
        task = bar.add_task("sweep cells", total=3)
        for _ in range(3):
            bar.advance(task)
    lines = buf.getvalue().splitlines()
    assert [ln.split(" ·")[0] for ln in lines] == [
        "sweep cells: 1/3 (33%)", "sweep cells: 2/3 (67%)", "sweep cells: 3/3 (100%)"]
    assert "ETA" in lines[0] and "elapsed" in lines[0] and "ETA" not in lines[-1]


def test_plain_progress_rate_limits_long_loops() -> None:
    console, buf = _log_console()
    with make_progress(console=console) as bar:
        task = bar.add_task("indexing", total=1000)
        for _ in range(1000):
            bar.advance(task)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("indexing: 1000/1000 (100%)")


def test_terminal_gets_rich_progress_and_disable_prints_nothing() -> None:
    buf = io.StringIO()
    term = Console(file=buf, force_terminal=True)
    bar = make_progress(console=term)
    assert type(bar) is Progress
    console, out = _log_console()
    with make_progress(console=console, disable=True) as off:
        off.advance(off.add_task("x", total=2))
    assert out.getvalue() == ""


def test_progress_line_format() -> None:
    assert progress_line("epochs", 1, 4, 30.0) == (
        "epochs: 1/4 (25%) · elapsed 30s · ETA 1m30s")


def test_wide_output_sets_columns_only_for_non_terminals(monkeypatch) -> None:
    env: dict[str, str] = {}
    monkeypatch.setattr("sys.stdout", io.StringIO())
    assert wide_output(env) and env["COLUMNS"] == str(LOG_WIDTH)
    env = {"COLUMNS": "100"}
    assert not wide_output(env) and env["COLUMNS"] == "100"
    # and a table then keeps long cells whole
    console = Console(file=io.StringIO(), force_terminal=False, width=LOG_WIDTH)
    table = Table("backbone", "patient")
    table.add_row("efficientnet_b0-oversample-focal", "chest_xray:IM-0001-0001-0002")
    console.print(table)
    text = console.file.getvalue()
    assert "efficientnet_b0-oversample-focal" in text and "chest_xray:IM-0001-0001-0002" in text


def test_lightning_epoch_lines(tmp_path) -> None:
    import lightning.pytorch as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

        def training_step(self, batch, _idx):
            loss = self.lin(batch[0]).pow(2).mean()
            self.log("loss", loss, prog_bar=True, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    console, buf = _log_console()
    bar = epoch_progress_bar(console)
    trainer = pl.Trainer(max_epochs=2, callbacks=[bar], logger=False, enable_checkpointing=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    data = DataLoader(TensorDataset(torch.ones(4, 2)), batch_size=2)
    trainer.fit(Tiny(), data)
    lines = buf.getvalue().splitlines()
    assert [ln.split(" ·")[0] for ln in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "ETA" in lines[0] and "loss" in lines[1]


def test_lightning_rich_bar_counts_epochs_from_one() -> None:
    bar = epoch_progress_bar(Console(file=io.StringIO(), force_terminal=True))

    class _T:
        max_epochs = 2

    bar._trainer = _T()  # the description only needs max_epochs
    assert bar._get_train_description(1).strip() == "Epoch 2/2"


def test_plain_progress_shows_the_live_views_text_columns() -> None:
    from rich.progress import BarColumn, TextColumn

    console, buf = _log_console()
    cols = (TextColumn("[bold]sweep"), BarColumn(),
            TextColumn("[green]{task.fields[done]} done[/] · {task.fields[current]}"))
    with make_progress(*cols, console=console) as bar:
        task = bar.add_task("sweep", total=2, done=0, current="")
        bar.update(task, current="resnet18-syn0.3-ce-seed0")
        bar.update(task, advance=1, done=1)
    line = buf.getvalue().splitlines()[0]
    assert line.startswith("sweep: 1/2 (50%)") and "1 done · resnet18-syn0.3-ce-seed0" in line
