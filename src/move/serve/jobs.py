"""A bounded worker pool whose jobs each own a folder under one server temp dir.

Every request that computes gets a :class:`Job`: a unique id, its own folder (so two
requests never write to the same file), a state the page can poll (queued, running,
done, error) with the elapsed seconds. At most ``workers`` jobs run at once and at most
``max_pending`` wait; the folders of finished jobs are removed once they are older than
``ttl_s`` seconds or more than ``keep`` newer jobs have finished, and all of them when
the store is closed.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from move.errors import MoveError

#: Job ids: 16 hex digits (64 random bits).
ID_LENGTH = 16


class BusyError(MoveError):
    """Too many jobs are waiting: the request is refused (HTTP 503), try again later."""


@dataclass
class Job:
    """One request's work: its id, folder, state and result.

    Attributes
    ----------
    id : str
        Unique, :data:`ID_LENGTH` hex digits.
    folder : Path
        The job's own folder (results; uploads in ``folder / "in"``, removed after the work).
    state : str
        ``"queued"``, ``"running"``, ``"done"`` or ``"error"``.
    created, started, finished : float
        ``time.monotonic()`` seconds (0 until it happens).
    result : dict or None
        What the work returned (``"done"``).
    error : BaseException or None
        What it raised (``"error"``).
    """

    id: str
    folder: Path
    state: str = "queued"
    created: float = field(default_factory=time.monotonic)
    started: float = 0.0
    finished: float = 0.0
    result: dict[str, Any] | None = None
    error: BaseException | None = None
    future: Future | None = field(default=None, repr=False)

    def elapsed(self) -> float:
        """Seconds since the job was submitted (until it finished)."""
        end = self.finished or time.monotonic()
        return max(0.0, end - self.created)


class JobStore:
    """Runs jobs on ``workers`` threads, each in its own folder under a fresh temp dir.

    Parameters
    ----------
    workers : int
        Jobs computed at once (threads).
    keep : int
        Finished jobs whose folders are kept (the newest ones).
    ttl_s : float
        Seconds a finished job's folder is kept at most.
    max_pending : int
        Jobs allowed to wait for a worker; more are refused with :class:`BusyError`.
    root : path-like, optional
        Parent of the temp dir (default: the system's temp dir).
    """

    def __init__(self, workers: int = 2, *, keep: int = 64, ttl_s: float = 1800.0, max_pending: int = 32,
                 root: str | Path | None = None) -> None:
        if workers < 1:
            raise MoveError(f"--workers {workers}: need at least 1")
        self.root = Path(tempfile.mkdtemp(prefix="move-serve-", dir=root))
        self.keep, self.ttl_s, self.max_pending = int(keep), float(ttl_s), int(max_pending)
        self.workers = int(workers)
        self._pool = ThreadPoolExecutor(max_workers=int(workers), thread_name_prefix="move-serve")
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._closed = False

    # ----------------------------------------------------------------- jobs
    def new_job(self) -> Job:
        """A job with a unique id and an empty folder (``folder / "in"`` for uploads)."""
        self.expire()
        with self._lock:
            if self._closed:
                raise MoveError("the server is shutting down")
            pending = sum(j.state in ("queued", "running") for j in self._jobs.values())
            if pending >= self.max_pending + self.workers:
                raise BusyError(f"busy: {pending} jobs waiting or running; try again shortly")
            job_id = secrets.token_hex(ID_LENGTH // 2)
            while job_id in self._jobs:  # pragma: no cover (64 random bits)
                job_id = secrets.token_hex(ID_LENGTH // 2)
            job = Job(job_id, self.root / job_id)
            (job.folder / "in").mkdir(parents=True)
            self._jobs[job_id] = job
        return job

    def submit(self, job: Job, work: Callable[[Job], dict[str, Any]]) -> Future:
        """Run ``work(job)`` on the pool; its uploads folder is removed when it ends."""

        def run() -> dict[str, Any]:
            job.state, job.started = "running", time.monotonic()
            try:
                job.result = work(job)
                job.state = "done"
                return job.result
            except BaseException as exc:
                job.error, job.state = exc, "error"
                raise
            finally:
                job.finished = time.monotonic()
                shutil.rmtree(job.folder / "in", ignore_errors=True)

        job.future = self._pool.submit(run)
        return job.future

    def discard(self, job: Job) -> None:
        """Forget a job that was refused before it ran, and remove its folder."""
        with self._lock:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)

    def get(self, job_id: str) -> Job | None:
        """The job with this id (``None``: unknown or expired)."""
        with self._lock:
            return self._jobs.get(job_id)

    def file(self, job_id: str, name: str) -> Path | None:
        """A result file of a job (``None`` unless it exists directly in the job's folder)."""
        job = self.get(job_id)
        if job is None or not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        path = job.folder / name
        return path if path.is_file() else None

    # ----------------------------------------------------------------- cleanup
    def expire(self, now: float | None = None) -> list[str]:
        """Remove finished jobs older than ``ttl_s`` or beyond the newest ``keep``; returns their ids."""
        now = time.monotonic() if now is None else now
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.state in ("done", "error")),
                              key=lambda j: j.finished, reverse=True)
            gone = [j for i, j in enumerate(finished) if i >= self.keep or now - j.finished > self.ttl_s]
            for j in gone:
                del self._jobs[j.id]
        for j in gone:
            shutil.rmtree(j.folder, ignore_errors=True)
        return [j.id for j in gone]

    def close(self) -> None:
        """Stop the pool (waiting jobs are cancelled, running ones finish) and remove every folder."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._jobs.clear()
        shutil.rmtree(self.root, ignore_errors=True)
