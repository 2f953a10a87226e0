"""The study's stage ledger: a stage runs again only when the hash of its config changed.

``stages.json`` records, per stage, the SHA-256 of the stage's key (its resolved settings
and the content keys of its inputs), its result and its time. It is written atomically
after a stage finishes, so a study killed at any point (SIGTERM or SIGKILL) reruns only
the stage it was in; stages that resume by themselves (the sweeps: finished cells are
kept; a GAN resumes from its epoch checkpoint) pick up inside.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from cxr.runtime.files import atomic_write_text
from cxr.runtime.fmt import fmt_duration
from cxr.runtime.runguard import safe_point

LEDGER = "stages.json"


def key_hash(key: Any) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


class StageLedger:
    """Run a stage unless ``stages.json`` holds the same key hash; remember results."""

    def __init__(self, out: Path, console: Console) -> None:
        self.path = out / LEDGER
        self.done: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.console = console
        self.rows: list[tuple[str, str, float]] = []
        self.t0 = time.perf_counter()

    def run(self, name: str, key: Any, fn: Callable[[], Any]) -> Any:
        safe_point()  # SIGTERM/SIGINT between stages: finished stages are kept in stages.json
        digest = key_hash(key)
        prev = self.done.get(name, {})
        if prev.get("key") == digest:
            self.rows.append((name, "reused (config hash unchanged)", 0.0))
            self.console.print(f"study stage {name}: reused (config hash {digest[:12]})",
                               highlight=False, emoji=False)
            return prev.get("result")
        self.console.print(f"study stage {name} ... (elapsed "
                           f"{fmt_duration(time.perf_counter() - self.t0)})",
                           highlight=False, emoji=False)
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        self.done[name] = {"key": digest, "seconds": round(seconds, 1), "result": result}
        atomic_write_text(self.path, json.dumps(self.done, indent=2, default=str) + "\n")
        self.rows.append((name, "ran", seconds))
        self.console.print(f"study stage {name}: done in {fmt_duration(seconds)}",
                           highlight=False, emoji=False)
        return result
