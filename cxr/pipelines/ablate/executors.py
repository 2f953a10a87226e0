"""Where sweep cells run: in this process, or as Ray tasks on a local or remote cluster.

No home-made scheduler: the local executor is a plain loop, and the Ray executor
hands every cell to Ray as a task (Moritz et al., "Ray: A Distributed Framework
for Emerging AI Applications", OSDI 2018) and lets Ray place it by its resource
request (CPUs, GPUs per cell). Multi-GPU data parallelism *within* a cell is
Lightning's job (``--devices N --strategy ddp``), not the executor's.

Both executors yield :class:`Event` objects as things happen, so the sweep can
keep a live view and write results after every finished cell. The function a
cell runs must catch its own errors (see :func:`cxr.pipelines.ablate.run_ablate.execute_cell`);
an exception that still escapes (a crashed Ray worker, say) is yielded as the
event's ``error`` so the sweep records it and goes on. SIGTERM/SIGINT stop the loop
between cells (:func:`cxr.runtime.runguard.safe_point`; the Ray executor wakes from its
wait every second to look): the Ray executor cancels the tasks still queued or running
(``force=True`` ends their worker processes) so no cell outlives the sweep.

Ray gives each task ``cpus_per_cell`` threads (it sets ``OMP_NUM_THREADS``), while the
local executor lets PyTorch use every core; float summation order follows the thread
count, so the two agree exactly only at equal thread counts (measured: a tiny real
sweep gave identical results.csv for Ray and ``OMP_NUM_THREADS=1`` local runs, and
AUROCs differing in the second decimal against a 2-thread local run).

With a remote cluster (``--ray-address``) the sweep directory must be on a file
system every node sees: cells write their run directories there themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cxr.runtime.errors import ConfigError
from cxr.runtime.runguard import safe_point

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Event:
    """``kind`` is ``start`` (submitted/started) or ``end`` (finished: ``result`` or ``error``)."""

    kind: str
    index: int
    result: Any = None
    error: BaseException | None = None


class Executor(Protocol):
    name: str

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Event]: ...


class LocalExecutor:
    """Cells one after another in this process (the default; what tests and laptops use)."""

    name = "local"

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Event]:
        for i, item in enumerate(items):
            safe_point()  # SIGTERM/SIGINT: no new cell starts
            yield Event("start", i)
            try:
                result = fn(item)
            except Exception as exc:  # KeyboardInterrupt/SystemExit propagate and stop the sweep
                yield Event("end", i, error=exc)
            else:
                yield Event("end", i, result=result)


def _apply(fn: Callable[[Any], Any], item: Any) -> Any:
    """The Ray task body: ``fn`` may be any picklable callable (e.g. a ``functools.partial``)."""
    return fn(item)


class RayExecutor:
    """Each cell is one Ray task; Ray queues them by their resource request.

    Connects to ``address`` (a running cluster, e.g. ``ray://head:10001`` or
    ``auto``) or starts a local instance; an already initialised Ray (as in
    tests) is reused untouched.
    """

    name = "ray"

    def __init__(
        self,
        address: str = "",
        *,
        cpus_per_cell: float = 1.0,
        gpus_per_cell: float = 0.0,
        num_cpus: int | None = None,
    ) -> None:
        self.address = address
        self.cpus_per_cell = cpus_per_cell
        self.gpus_per_cell = gpus_per_cell
        self.num_cpus = num_cpus

    def _init(self) -> Any:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "--executor ray needs Ray: pip install 'ray[default]>=2.9' (or the 'ray' extra)"
            ) from None
        if not ray.is_initialized():
            if self.address:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=True)
            else:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=True)
        return ray

    def run(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Event]:
        ray = self._init()
        remote = ray.remote(_apply).options(
            num_cpus=self.cpus_per_cell, num_gpus=self.gpus_per_cell, max_retries=0
        )
        fn_ref = ray.put(fn)  # shipped once, not once per cell
        pending: dict[Any, int] = {}
        for i, item in enumerate(items):
            pending[remote.remote(fn_ref, item)] = i
            yield Event("start", i)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                safe_point()  # woken at least every second: a stop cancels what is left
                if not ready:
                    continue
                ref = ready[0]
                i = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # RayTaskError, WorkerCrashedError, ...
                    yield Event("end", i, error=exc)
                else:
                    yield Event("end", i, result=result)
        finally:
            for ref in pending:  # interrupted: do not leave queued cells running
                ray.cancel(ref, force=True)


def make_executor(
    name: str,
    *,
    ray_address: str = "",
    cpus_per_cell: float = 1.0,
    gpus_per_cell: float = 0.0,
) -> Executor:
    """Build an executor by name (``local`` or ``ray``)."""
    if name == "local":
        if ray_address:
            raise ConfigError("--ray-address needs --executor ray")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(ray_address, cpus_per_cell=cpus_per_cell, gpus_per_cell=gpus_per_cell)
    raise ConfigError(f"unknown executor {name!r} (valid: {', '.join(EXECUTORS)})")
