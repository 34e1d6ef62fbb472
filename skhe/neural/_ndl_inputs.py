"""NDLScorer's input side: the patient table, the slice cache, and reading patients in chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from skhe.preprocessing import PatientSliceCache, has_mask
from skhe.preprocessing._patients import DEFAULT_CACHE_BYTES
from skhe.preprocessing._read_pool import effective_read_jobs, read_patients


class NDLInputsMixin:
    """Reads an NDLScorer's patients (``ct``/``mask`` columns) through its slice cache."""

    def _check_frame(self, X) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise ValueError(
                "NDLScorer takes a patient DataFrame with a 'ct' column (paths to DICOM folders, "
                f"NIfTI or .npz files), got {type(X).__name__}."
            )
        if "ct" not in X.columns:
            raise ValueError(f"NDLScorer: X has no 'ct' column (columns: {list(X.columns)}).")
        if len(X) == 0:
            raise ValueError("NDLScorer: X has no patients.")
        return X

    def _slices(self) -> PatientSliceCache:
        """The cache of preprocessed patients: the one given, else this scorer's own."""
        cache = self.slice_cache
        if isinstance(cache, PatientSliceCache):
            return cache
        if cache is not None and (isinstance(cache, bool) or not isinstance(cache, int)):
            raise ValueError(
                "slice_cache must be None, a number of bytes or a PatientSliceCache; got "
                f"{cache!r}."
            )
        size = DEFAULT_CACHE_BYTES if cache is None else int(cache)
        own = getattr(self, "_slice_cache", None)
        if own is None or own.max_bytes != size:
            own = self._slice_cache = PatientSliceCache(size)
        return own

    def _preprocess_device(self) -> str | None:
        """Where patients read in this process are windowed and resized (None: the CPU's
        blocked path, see ``preprocess_device``)."""
        from skhe.neural._torch_runtime import resolve_device
        from skhe.utils import check_device

        device = getattr(self, "preprocess_device", "auto")
        check_device(device, "NDLScorer's preprocess_device")
        device = self._networks_device() if device == "auto" else resolve_device(device)
        return None if device == "cpu" else device

    def _networks_device(self) -> str:
        """The device of the fitted networks, else the one the sub-estimators would use."""
        from skhe.neural._torch_runtime import resolve_device
        from skhe.utils import unwrap_frozen

        for name in ("segmenter_", "classifier_", "segmenter", "classifier"):
            est = unwrap_frozen(getattr(self, name, None))
            module = getattr(est, "module_", None)
            if module is not None:
                return str(next(module.parameters()).device)
            if est is not None and isinstance(getattr(est, "device", None), str):
                try:
                    return resolve_device(est.device)
                except ValueError:  # CUDA asked for but absent: the estimator says so itself
                    return "cpu"
        return resolve_device("auto")

    def _names(self, X: pd.DataFrame) -> list[str]:
        if self.patient_column in X.columns:
            return [str(v) for v in X[self.patient_column]]
        return [f"row {i}" for i in X.index]

    def _patients(self, X: pd.DataFrame, need_masks: bool) -> list:
        """Preprocessed slices of every patient of ``X`` (all held in memory)."""
        pats = []
        for _, _, chunk in self._patient_chunks(X, need_masks, chunked=False):
            pats += chunk
        return pats

    def _patient_stream(self, X: pd.DataFrame, need_masks: bool):
        """Yield ``(position, name, slices)`` for each patient of ``X``, read in order (by
        ``read_jobs`` worker processes when more than one; the slices are the same)."""
        names = self._names(X)
        rows = list(X.itertuples(index=False))
        settings = dict(
            image_size=self.image_size,
            hu_window=self.hu_window,
            native=self._roi() or self._descriptors(),
        )
        cache = self._slices()
        masks = [getattr(row, "mask", None) for row in rows]
        masks = [m if has_mask(m) else None for m in masks]
        keys: dict = {}  # position -> cache key (files are listed and stat'ed once)

        def key(i: int) -> tuple:
            if i not in keys:
                keys[i] = cache.key(rows[i].ct, masks[i], **settings)
            return keys[i]

        jobs = effective_read_jobs(getattr(self, "read_jobs", None))
        device = self._preprocess_device()  # for the patients read here
        # with worker processes: the patients they read (the first of each uncached CT)
        to_read, seen = [], set()
        for i in range(len(rows)) if jobs > 1 else ():
            if not (need_masks and masks[i] is None) and key(i) not in seen:
                seen.add(key(i))
                if cache.lookup(key(i)) is None:
                    to_read.append(i)
        if len(to_read) < 2:  # nothing to share out: read in this process
            to_read = []
        reader = None
        if to_read:
            reader = read_patients(
                ((rows[i].ct, masks[i]) for i in to_read), n_jobs=jobs, **settings
            )
        from_reader = set(to_read)
        bar = tqdm(
            total=len(rows),
            desc="reading CT",
            disable=None if self.verbose and len(rows) >= 20 else True,
            unit="patient",
        )
        try:
            for i, (name, row) in enumerate(zip(names, rows, strict=True)):
                if need_masks and masks[i] is None:
                    raise ValueError(
                        f"patient {name}: no hematoma mask; fitting NDLScorer's sub-estimators "
                        "needs a 'mask' for every training patient (or pass them fitted in "
                        "FrozenEstimator)."
                    )
                try:
                    if i in from_reader:
                        ps = next(reader)
                        cache.store(key(i), ps)
                    else:
                        ps = cache.get(row.ct, masks[i], key=key(i), device=device, **settings)
                except (ValueError, FileNotFoundError) as exc:
                    raise type(exc)(f"patient {name}: {exc}") from exc
                bar.update()
                yield i, name, ps
        finally:
            bar.close()
            if reader is not None:
                reader.close()  # cancels the reads not started

    def _patient_chunks(self, X: pd.DataFrame, need_masks: bool, chunked: bool = True):
        """Yield ``(positions, names, slices)`` for consecutive groups of patients of ``X``.

        A group closes once it holds ``chunk_pixels`` slice pixels (``chunked=False``: one
        group of all), so scoring holds a bounded number of slices in memory and the networks
        still see full batches across patients. With ``read_ahead`` (and ``chunked``) a
        background thread reads the next group while the current one is scored; the groups,
        and so the scores, are the same.
        """
        stream = self._patient_stream(X, need_masks)
        if chunked and getattr(self, "read_ahead", False):
            yield from _read_ahead_groups(stream, int(self.chunk_pixels))
        else:
            yield from _groups(stream, int(self.chunk_pixels) if chunked else None)


def _groups(stream, max_pixels: int | None):
    """Consecutive groups ``(positions, names, slices)`` of ``stream``'s patients, each closed
    once it holds ``max_pixels`` slice pixels (None: one group of all)."""
    pos, names, chunk, pixels = [], [], [], 0
    for i, name, ps in stream:
        pos.append(i)
        names.append(name)
        chunk.append(ps)
        pixels += ps.images.size
        if max_pixels is not None and pixels >= max_pixels:
            yield pos, names, chunk
            pos, names, chunk, pixels = [], [], [], 0
    if chunk:
        yield pos, names, chunk


def _read_ahead_groups(stream, max_pixels: int):
    """:func:`_groups` of ``stream``, the next group read by a background thread while the
    caller works on the current one. The groups are the same as without reading ahead (so are
    the batches, hence the scores, bit for bit). An error while reading is raised here, after
    the groups before it. (Giving the networks one torch thread fewer while the reader works
    would overlap the two better on a small CPU, but changes the scores at 1e-7: not done.)"""
    import queue
    import threading

    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for group in _groups(stream, max_pixels):
                while not stop.is_set():
                    try:
                        ready.put(("group", group), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(("end", done))
        except BaseException as exc:  # handed to the caller
            ready.put(("error", exc))

    reader = threading.Thread(target=produce, name="skhe-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            kind, item = ready.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # unblock a reader waiting to put
            try:
                ready.get_nowait()
            except queue.Empty:
                pass
            reader.join(timeout=0.05)


def stacked_slices(pats) -> tuple[np.ndarray, np.ndarray]:
    """The slices of ``pats`` in one float32 array, and where each patient's start (the last
    entry is the number of slices)."""
    starts = np.concatenate([[0], np.cumsum([len(p.images) for p in pats])])
    return np.concatenate([p.images for p in pats]).astype(np.float32), starts
