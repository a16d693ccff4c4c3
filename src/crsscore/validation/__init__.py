"""crsscore.validation.

The package itself holds only :func:`prestart_workers` (and its wait), kept here so that a
command can start the local workers of a coming bootstrap before it imports anything heavy.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

__all__ = ["prestart_workers", "stop_prestarted_workers", "wait_for_workers"]

_STARTED: list[threading.Thread] = []
_STOPPED: list[bool] = []


def prestart_workers(n_jobs: int, modules: Sequence[str]) -> None:
    """Start the local joblib workers of a coming bootstrap now, in a background thread, each
    importing ``modules`` (what its first chunk would import).

    A worker process needs a couple of seconds to import the pipeline before its first
    resample; started here, that overlaps the caller's own work (loading, Table 1, the
    reported fit) instead of following it.  Nothing computed depends on it: the bootstrap
    uses the same reusable joblib workers either way and waits for this start first
    (:func:`wait_for_workers`).  A no-op for ``n_jobs`` 1 (no workers) or after a first call.
    """
    if n_jobs in (0, 1) or _STARTED:
        return
    names = tuple(modules)

    def start() -> None:
        try:
            from joblib import Parallel, delayed, effective_n_jobs

            if _STOPPED:  # the command failed while joblib was being imported
                return
            workers = int(effective_n_jobs(n_jobs))
            Parallel(n_jobs=n_jobs)(delayed(_import_modules)(names) for _ in range(workers))
        except Exception:  # pragma: no cover - the bootstrap starts its workers itself
            pass

    thread = threading.Thread(target=start, name="crsscore-prestart-workers", daemon=True)
    thread.start()
    _STARTED.append(thread)


def wait_for_workers() -> None:
    """Wait until a :func:`prestart_workers` start has finished (at once when none was made)."""
    for thread in _STARTED:
        thread.join()


def stop_prestarted_workers() -> None:
    """Stop the workers :func:`prestart_workers` started, without waiting for their imports:
    for a command that fails before its bootstrap, whose exit would otherwise wait for them."""
    if not _STARTED:
        return
    _STOPPED.append(True)
    try:
        from joblib.externals.loky import reusable_executor

        executor = reusable_executor._executor
        if executor is not None:
            executor.shutdown(wait=False, kill_workers=True)
    except Exception:  # pragma: no cover - nothing to stop
        pass


def _import_modules(names: tuple[str, ...]) -> int:
    """Run in a worker: import ``names``."""
    import importlib

    for name in names:
        importlib.import_module(name)
    return len(names)
