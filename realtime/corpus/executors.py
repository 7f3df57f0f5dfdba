"""Where a corpus run's tasks execute: Ray actors, or local processes when Ray is absent.

Both executors keep one :class:`~realtime.corpus.work.RecordingWorker` per worker, built once,
so each worker loads the ONNX graphs and the face detector once for the whole corpus:

- :class:`RayExecutor`: one Ray actor per worker. Without an address it starts an embedded
  local Ray instance (``num_cpus`` = workers, no dashboard, bound to 127.0.0.1); with one it
  joins that cluster (``ray.init(address=...)``), whose nodes must see the recordings and have
  this package importable (see ``docs/corpus.md``).
- :class:`ProcessExecutor`: a ``concurrent.futures.ProcessPoolExecutor`` (spawned processes,
  one worker each), same tasks, same results.

The driver submits up to :attr:`capacity` tasks at a time and collects them with
:meth:`wait`; a worker that dies turns its task into an error result and is replaced.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

from realtime.corpus.work import RecordingWorker, Task, TaskResult, WorkerConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
_QUIET_ENV = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray binds to 127.0.0.1 only


def ray_available() -> bool:
    """Whether ``import ray`` would succeed (without importing it)."""
    return importlib.util.find_spec("ray") is not None


def _died(task: Task, exc: BaseException) -> TaskResult:
    return TaskResult(name=task.name, part=task.part, start=task.start,
                      error=f"worker failed: {type(exc).__name__}: {exc}")


# ----------------------------------------------------------------------------- Ray

class _RayWorker:
    """The actor: a RecordingWorker plus a progress counter readable while a task runs."""

    def __init__(self, config: WorkerConfig) -> None:
        for key, value in _QUIET_ENV.items():
            os.environ.setdefault(key, value)
        self.worker = RecordingWorker(config)

    def run(self, task: Task) -> TaskResult:
        return self.worker.run(task)

    def frames_done(self) -> int:
        return self.worker.frames_done

    def where(self) -> str:
        return self.worker.name


class RayExecutor:
    """Tasks on Ray actors (embedded local instance, or the cluster at ``address``)."""

    kind = "ray"

    def __init__(self, config: WorkerConfig, workers: int, address: str | None = None) -> None:
        if address is None:
            os.environ.setdefault(LOCAL_ONLY_ENV, "0")  # read when ray is first imported
        import ray

        self._ray = ray
        self._own = False
        if not ray.is_initialized():
            env = {"env_vars": {**_QUIET_ENV, "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)}}
            if address is None:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                         configure_logging=False, runtime_env=env)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False,
                         runtime_env=env)
            self._own = True
        self.address = address or "embedded"
        self._config = config
        self._actor_cls = ray.remote(num_cpus=1, max_concurrency=2)(_RayWorker)
        self._idle = [self._actor_cls.remote(config) for _ in range(workers)]
        self._actors = list(self._idle)
        self._running: dict[Any, tuple[Task, Any]] = {}  # object ref -> (task, actor)
        self._counted: dict[Any, int] = {}

    @property
    def capacity(self) -> int:
        return len(self._actors)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def submit(self, task: Task) -> None:
        actor = self._idle.pop()
        self._running[actor.run.remote(task)] = (task, actor)

    def wait(self, timeout_s: float) -> list[tuple[Task, TaskResult]]:
        """Finished tasks (possibly none within ``timeout_s``)."""
        if not self._running:
            return []
        ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=timeout_s)
        out = []
        for ref in ready:
            task, actor = self._running.pop(ref)
            try:
                out.append((task, self._ray.get(ref)))
                self._idle.append(actor)
            except self._ray.exceptions.RayError as exc:
                out.append((task, _died(task, exc)))
                self._replace(actor)
        return out

    def frames_done(self) -> int:
        """Frames processed by all workers so far (the frame progress bar)."""
        refs = {a: a.frames_done.remote() for a in self._actors}
        for actor, ref in refs.items():
            try:
                self._counted[actor] = int(self._ray.get(ref, timeout=2.0))
            except Exception:  # a busy or dead actor keeps its last count
                pass
        return sum(self._counted.values())

    def _replace(self, actor: Any) -> None:
        self._actors.remove(actor)
        self._counted.pop(actor, None)
        fresh = self._actor_cls.remote(self._config)
        self._actors.append(fresh)
        self._idle.append(fresh)

    def close(self) -> None:
        for actor in self._actors:
            try:
                self._ray.kill(actor)
            except Exception:
                pass
        self._actors, self._idle, self._running = [], [], {}
        if self._own:
            self._ray.shutdown()


# ----------------------------------------------------------------------------- processes

_WORKER: RecordingWorker | None = None
_COUNTER: Any = None


def _init_process(config: WorkerConfig, counter: Any) -> None:
    global _WORKER, _COUNTER
    for key, value in _QUIET_ENV.items():
        os.environ.setdefault(key, value)
    _WORKER, _COUNTER = RecordingWorker(config), counter


def _count(frames: int) -> None:
    with _COUNTER.get_lock():
        _COUNTER.value += frames


def _run_in_process(task: Task) -> TaskResult:
    assert _WORKER is not None, "worker process not initialised"
    return _WORKER.run(task, on_progress=_count)


class ProcessExecutor:
    """Tasks on local processes (the fallback where Ray is absent)."""

    kind = "processes"

    def __init__(self, config: WorkerConfig, workers: int) -> None:
        self.address = "local processes"
        self._config = config
        self._workers = workers
        self._ctx = mp.get_context("spawn")
        self._counter = self._ctx.Value("q", 0)
        self._pool = self._new_pool()
        self._running: dict[cf.Future[TaskResult], Task] = {}

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=self._workers, mp_context=self._ctx,
                                      initializer=_init_process,
                                      initargs=(self._config, self._counter))

    @property
    def capacity(self) -> int:
        return self._workers

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def submit(self, task: Task) -> None:
        self._running[self._pool.submit(_run_in_process, task)] = task

    def wait(self, timeout_s: float) -> list[tuple[Task, TaskResult]]:
        if not self._running:
            return []
        done, _ = cf.wait(list(self._running), timeout=timeout_s,
                          return_when=cf.FIRST_COMPLETED)
        out = []
        broken = False
        for fut in done:
            task = self._running.pop(fut)
            try:
                out.append((task, fut.result()))
            except Exception as exc:  # a dead process breaks the pool: report, start afresh
                out.append((task, _died(task, exc)))
                broken = broken or isinstance(exc, cf.process.BrokenProcessPool)
        if broken:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return out

    def frames_done(self) -> int:
        return int(self._counter.value)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._running = {}


def make_executor(config: WorkerConfig, workers: int, *, backend: str = "auto",
                  address: str | None = None) -> RayExecutor | ProcessExecutor:
    """``backend``: "ray", "processes", or "auto" (Ray when importable, else processes)."""
    if backend not in ("auto", "ray", "processes"):
        raise ValueError(f"backend must be auto, ray or processes, got {backend!r}")
    if address is not None and backend == "processes":
        raise ValueError("--ray-address needs the Ray backend, not processes")
    use_ray = backend == "ray" or (backend == "auto" and ray_available())
    if use_ray:
        if not ray_available():
            raise ValueError("the Ray backend needs ray (pip install ray); "
                             "--backend processes runs without it")
        return RayExecutor(config, workers, address)
    if address is not None:
        raise ValueError("--ray-address needs ray installed (pip install ray)")
    return ProcessExecutor(config, workers)
