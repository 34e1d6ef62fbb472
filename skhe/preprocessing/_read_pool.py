"""Reading and preprocessing patients in worker processes, in order, warnings passed on.

Decoding DICOM is Python work that holds the interpreter lock, so threads cannot read patients
in parallel; processes can. The workers are loky processes (joblib's, safe with threads in the
parent, unlike a fork) owned by this module: they start once (about 2 s on a small CPU, torch
imported) and serve later calls; a worker idle for :data:`IDLE_SECONDS` exits and is started
again when needed. Each runs one torch thread, so the workers together use the cores they
were given without oversubscribing them.
"""

from __future__ import annotations

import atexit
import threading
import warnings
from collections import deque
from collections.abc import Iterable, Iterator

from skhe.preprocessing._patients import PatientSlices, read_patient
from skhe.utils import user_stacklevel

#: Seconds an idle reader process waits for more work before it exits.
IDLE_SECONDS = 300


def effective_read_jobs(read_jobs: int | None) -> int:
    """Worker processes for ``read_jobs`` (None or 1: read in this process; -1: every core;
    -k: every core but k - 1, as sklearn's ``n_jobs``)."""
    import os

    if read_jobs is None:
        return 1
    n = int(read_jobs)
    if n == 0:
        raise ValueError("read_jobs must be None, a positive int, or a negative int; got 0.")
    cores = os.cpu_count() or 1
    return max(1, n if n > 0 else cores + 1 + n)


def _read_in_worker(ct, mask, image_size: int, hu_window, native: bool):
    """One patient read in a worker: its slices and the warnings reading it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = read_patient(ct, mask, image_size=image_size, hu_window=hu_window, native=native)
    return out, [w.message for w in caught]


_POOL: dict = {}  # n_jobs -> the executor (skhe's own: joblib's reusable one is left alone)
_POOL_LOCK = threading.Lock()


def _executor(n_jobs: int):
    """The reader processes for ``n_jobs``: started on first use, reused afterwards (a pool
    of another size is shut down first)."""
    from joblib.externals.loky import ProcessPoolExecutor

    with _POOL_LOCK:
        pool = _POOL.get(n_jobs)
        flags = getattr(pool, "_flags", None)  # loky's state: a crashed worker breaks the pool
        if pool is not None and (flags is None or (flags.broken is None and not flags.shutdown)):
            return pool
        for other in _POOL.values():
            other.shutdown(wait=False)
        _POOL.clear()
        pool = _POOL[n_jobs] = ProcessPoolExecutor(
            max_workers=n_jobs,
            timeout=IDLE_SECONDS,
            env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        )
        return pool


def shutdown_readers() -> None:
    """Stop the reader processes now (they also stop when idle for :data:`IDLE_SECONDS`)."""
    with _POOL_LOCK:
        for pool in _POOL.values():
            pool.shutdown(wait=True)
        _POOL.clear()


atexit.register(shutdown_readers)


def read_patients(
    items: Iterable[tuple],
    *,
    image_size: int,
    hu_window=(0.0, 100.0),
    native: bool = False,
    n_jobs: int = 2,
) -> Iterator[PatientSlices]:
    """Yield :func:`read_patient` of each ``(ct, mask)`` of ``items``, in order, read by
    ``n_jobs`` worker processes.

    At most ``2 * n_jobs`` patients are read ahead of the one being yielded, so memory stays
    bounded. Warnings raised while reading a patient (gaps in a series, a missing Modality
    tag, ...) are raised again here, when that patient is yielded; so is an error, after the
    patients before it. Closing the generator cancels the reads not yet started.

    Parameters
    ----------
    items : iterable of (ct, mask)
        As :func:`read_patient` takes them (paths or in-memory volumes; mask may be None).
    image_size, hu_window, native
        See :func:`preprocess_patient`.
    n_jobs : int, default=2
        Worker processes.

    Yields
    ------
    PatientSlices
    """
    pool = _executor(int(n_jobs))
    todo = iter(items)
    pending: deque = deque()

    def submit() -> bool:
        item = next(todo, None)
        if item is None:
            return False
        ct, mask = item
        pending.append(
            pool.submit(_read_in_worker, ct, mask, int(image_size), tuple(hu_window), native)
        )
        return True

    try:
        for _ in range(2 * int(n_jobs)):
            if not submit():
                break
        while pending:
            out, caught = pending.popleft().result()
            submit()
            for message in caught:
                warnings.warn(message, stacklevel=user_stacklevel())
            yield out
    finally:
        for future in pending:
            future.cancel()
