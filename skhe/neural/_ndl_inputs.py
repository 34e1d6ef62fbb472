"""NDLScorer's input side: the patient table, the slice cache, and reading patients in chunks."""

from __future__ import annotations

import pandas as pd
from tqdm.auto import tqdm

from skhe.preprocessing import PatientSliceCache, has_mask
from skhe.preprocessing._patients import DEFAULT_CACHE_BYTES


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
        """Yield ``(position, name, slices)`` for each patient of ``X``, read in order."""
        names = self._names(X)
        rows = list(X.itertuples(index=False))
        for i, (name, row) in enumerate(
            tqdm(
                list(zip(names, rows, strict=True)),
                desc="reading CT",
                disable=None if self.verbose and len(rows) >= 20 else True,
                unit="patient",
            )
        ):
            mask = getattr(row, "mask", None)
            mask = mask if has_mask(mask) else None
            if need_masks and mask is None:
                raise ValueError(
                    f"patient {name}: no hematoma mask; fitting NDLScorer's sub-estimators needs "
                    "a 'mask' for every training patient (or pass them fitted in FrozenEstimator)."
                )
            try:
                ps = self._slices().get(
                    row.ct, mask, image_size=self.image_size, hu_window=self.hu_window
                )
            except (ValueError, FileNotFoundError) as exc:
                raise type(exc)(f"patient {name}: {exc}") from exc
            yield i, name, ps

    def _patient_chunks(self, X: pd.DataFrame, need_masks: bool, chunked: bool = True):
        """Yield ``(positions, names, slices)`` for consecutive groups of patients of ``X``.

        A group closes once it holds ``chunk_pixels`` slice pixels (``chunked=False``: one
        group of all), so scoring holds a bounded number of slices in memory and the networks
        still see full batches across patients. With ``read_ahead`` (and ``chunked``) a
        background thread reads the next patients while the current group is scored, and a
        group is whatever has been read when the networks are free (at least one patient, at
        most ``chunk_pixels``): groups stay small while reading is the slower step, so it
        overlaps the scoring, and grow to full batches when the networks are.
        """
        stream = self._patient_stream(X, need_masks)
        if chunked and getattr(self, "read_ahead", False):
            yield from _read_ahead_groups(stream, int(self.chunk_pixels))
            return
        max_pixels = int(self.chunk_pixels) if chunked else None
        pos, chunk_names, chunk, pixels = [], [], [], 0
        for i, name, ps in stream:
            pos.append(i)
            chunk_names.append(name)
            chunk.append(ps)
            pixels += ps.images.size
            if max_pixels is not None and pixels >= max_pixels:
                yield pos, chunk_names, chunk
                pos, chunk_names, chunk, pixels = [], [], [], 0
        if chunk:
            yield pos, chunk_names, chunk


def _read_ahead_groups(stream, max_pixels: int):
    """Groups ``(positions, names, slices)`` from ``stream``, which a background thread reads
    ahead by up to ``max_pixels`` slice pixels; each group is all that is ready (at least one
    patient, at most ``max_pixels`` pixels). An error while reading is raised here. While the
    reader is busy, the caller's work on a group runs with one torch thread fewer (measured on
    2 cores: reading and scoring then overlap, 1.3x faster than reading, then scoring)."""
    import threading
    from collections import deque

    import torch

    from skhe.neural._torch_runtime import torch_threads

    ready: deque = deque()
    state = {"pixels": 0, "done": False, "error": None, "stop": False}
    cond = threading.Condition()

    def produce():
        try:
            for item in stream:
                with cond:
                    while state["pixels"] >= max_pixels and not state["stop"]:
                        cond.wait()
                    if state["stop"]:
                        return
                    ready.append(item)
                    state["pixels"] += item[2].images.size
                    cond.notify_all()
        except BaseException as exc:  # handed to the consumer
            with cond:
                state["error"] = exc
        finally:
            with cond:
                state["done"] = True
                cond.notify_all()

    reader = threading.Thread(target=produce, name="skhe-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            with cond:
                while not ready and not state["done"]:
                    cond.wait()
                if state["error"] is not None and not ready:
                    raise state["error"]
                if not ready:
                    return
                group, pixels = [], 0
                while ready and (not group or pixels + ready[0][2].images.size <= max_pixels):
                    item = ready.popleft()
                    group.append(item)
                    pixels += item[2].images.size
                state["pixels"] -= pixels
                cond.notify_all()
            # while the reader still works, the networks leave it a core: torch's thread count
            # is set around the yield, i.e. for the caller's scoring of this group
            with torch_threads(max(1, torch.get_num_threads() - 1) if not state["done"] else None):
                yield [g[0] for g in group], [g[1] for g in group], [g[2] for g in group]
    finally:
        with cond:
            state["stop"] = True
            cond.notify_all()
        reader.join()
