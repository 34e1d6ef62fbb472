"""An on-disk, memory-mapped cache of preprocessed (windowed, resized) slices.

A cohort's slices are preprocessed once and written as ``.npy`` files that are read lazily, one
slice per read (``SliceCache.slice``; whole patients through memory maps), so a cohort of the
paper's size (24,238 slices of 512 x 512: 6 GB as uint8) trains without holding it in RAM
(``benchmarks/memory.py``). Entries are keyed on the input files' content (SHA-256) and on the
preprocessing parameters: a changed file or setting gives a new entry. File names are content
hashes, never patient identifiers.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from skhe.io import CTVolume, read_ct, read_mask
from skhe.preprocessing._hashing import content_hash, stat_signature
from skhe.preprocessing._patients import has_mask, preprocess_patient

CACHE_FORMAT = 1
_DTYPES = {"uint8": np.uint8, "float16": np.float16}


@dataclass
class CacheEntry:
    """Index record of one patient in the cache."""

    key: str
    n_slices: int
    spacing: tuple[float, float, float]
    has_mask: bool
    stat: str
    mask_stat: str


def _atomic_save(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npy")
    os.close(fd)
    try:
        np.save(tmp, array)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class SliceCache:
    """Preprocessed slices of a cohort on disk, read lazily.

    Parameters
    ----------
    root : path
        Cache folder (created). Each parameter set lives in its own subfolder.
    size : int, default=512
        Slices are resized to ``size`` x ``size``.
    window : (low, high), default=(0, 100)
        HU window mapped to [0, 1].
    dtype : {"uint8", "float16"}, default="uint8"
        Storage type; uint8 keeps 256 grey levels over the window (0.4 HU per level for 0-100).

    Examples
    --------
    >>> cache = SliceCache("cache", size=128)                           # doctest: +SKIP
    >>> cache.add("P001", "scans/P001", mask="masks/P001.nii.gz")     # doctest: +SKIP
    >>> cache.images("P001").shape                                    # doctest: +SKIP
    (32, 128, 128)
    """

    def __init__(self, root, *, size: int = 512, window=(0.0, 100.0), dtype: str = "uint8"):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}; got {dtype!r}.")
        self.root = Path(root)
        self.size = int(size)
        self.window = (float(window[0]), float(window[1]))
        self.dtype = dtype
        params = json.dumps(
            {"format": CACHE_FORMAT, "size": self.size, "window": self.window, "dtype": dtype},
            sort_keys=True,
        )
        self.params_key = hashlib.sha256(params.encode()).hexdigest()[:16]
        self.dir = self.root / f"slices-{self.params_key}"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "params.json").write_text(params)
        self._index: dict[str, CacheEntry] = self._load_index()
        # (data offset, shape, dtype) of each .npy read slice by slice; keyed on the
        # content-hash file name, so an entry never goes stale
        self._layout: dict[str, tuple[int, tuple, np.dtype]] = {}

    # ------------------------------------------------------------------ index
    def _load_index(self) -> dict[str, CacheEntry]:
        path = self.dir / "index.json"
        if not path.exists():
            return {}
        raw = json.loads(path.read_text())
        return {pid: CacheEntry(**{**e, "spacing": tuple(e["spacing"])}) for pid, e in raw.items()}

    def _save_index(self) -> None:
        data = json.dumps({pid: asdict(e) for pid, e in self._index.items()}, indent=1)
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".json.tmp")
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
        os.replace(tmp, self.dir / "index.json")

    @property
    def patients(self) -> list[str]:
        """Patients in the cache, in insertion order."""
        return list(self._index)

    def entry(self, patient: str) -> CacheEntry:
        """Index record of a patient."""
        try:
            return self._index[str(patient)]
        except KeyError:
            raise KeyError(f"patient {patient!r} is not in the slice cache") from None

    def __len__(self) -> int:
        return sum(e.n_slices for e in self._index.values())

    # ------------------------------------------------------------------ writing
    def _is_current(self, patient: str, ct, mask) -> bool:
        e = self._index.get(patient)
        if e is None or not (self.dir / f"{e.key}.img.npy").exists():
            return False
        if isinstance(ct, (CTVolume, np.ndarray)) or isinstance(mask, np.ndarray):
            return e.key == self._key(ct, mask)
        if e.stat == stat_signature(ct) and e.mask_stat == stat_signature(mask):
            return True
        key = self._key(ct, mask)  # stat changed: compare contents before rebuilding
        if key == e.key:
            e.stat, e.mask_stat = stat_signature(ct), stat_signature(mask)
            self._save_index()
            return True
        return False

    def _key(self, ct, mask) -> str:
        return hashlib.sha256(
            f"{content_hash(ct)}|{content_hash(mask)}|{self.params_key}".encode()
        ).hexdigest()[:40]

    def add(self, patient: str, ct, mask=None, *, volume: CTVolume | None = None) -> CacheEntry:
        """Preprocess one patient's CT (and mask) into the cache, unless already current.

        Parameters
        ----------
        patient : str
            Key of the patient (the manifest's pseudonymous ``patient_id``).
        ct : path or CTVolume
        mask : path, ndarray or None
        volume : CTVolume, default=None
            Already-read volume for ``ct`` (avoids reading it twice).

        Returns
        -------
        CacheEntry
        """
        patient = str(patient)
        if self._is_current(patient, ct, mask):
            return self._index[patient]
        vol = volume if volume is not None else read_ct(ct)
        m = read_mask(mask, like=vol) if mask is not None else None
        ps = preprocess_patient(vol, m, image_size=self.size, hu_window=self.window)
        img = ps.images
        if self.dtype == "uint8":
            stored = np.rint(img * 255.0).astype(np.uint8)
        else:
            stored = img.astype(np.float16)
        key = self._key(ct, mask)
        _atomic_save(self.dir / f"{key}.img.npy", stored)
        if ps.masks is not None:
            _atomic_save(self.dir / f"{key}.mask.npy", ps.masks)
        entry = CacheEntry(
            key=key,
            n_slices=int(stored.shape[0]),
            spacing=ps.spacing,
            has_mask=ps.masks is not None,
            stat=stat_signature(ct),
            mask_stat=stat_signature(mask),
        )
        old = self._index.get(patient)
        self._index[patient] = entry
        self._save_index()
        if old is not None and old.key != key:
            for suffix in (".img.npy", ".mask.npy"):
                (self.dir / f"{old.key}{suffix}").unlink(missing_ok=True)
        return entry

    def build(self, cohort, *, ct_column="ct", mask_column="mask", progress: bool = True):
        """Add every patient of a cohort table (``patient_id``, ``ct``, optional ``mask``).

        Returns
        -------
        self
        """
        # a DataFrame or any sequence of dicts
        rows = cohort.to_dict("records") if hasattr(cohort, "to_dict") else list(cohort)
        for row in tqdm(
            rows, desc="caching slices", disable=None if progress else True, unit="patient"
        ):
            mask = row.get(mask_column)
            self.add(row["patient_id"], row[ct_column], mask if has_mask(mask) else None)
        return self

    # ------------------------------------------------------------------ reading
    def _path(self, patient: str, kind: str) -> Path | None:
        e = self.entry(patient)
        if kind == "mask" and not e.has_mask:
            return None
        return self.dir / f"{e.key}.{kind}.npy"

    def _load(self, patient: str, kind: str):
        path = self._path(patient, kind)
        return None if path is None else np.load(path, mmap_mode="r")

    def _read_slice(self, patient: str, kind: str, k: int) -> np.ndarray | None:
        """Slice ``k`` read with one ``pread``: no memory map stays open, so a process that
        visits every slice of a large cohort keeps a small resident set (pages of a kept map
        would count towards it)."""
        path = self._path(patient, kind)
        if path is None:
            return None
        layout = self._layout.get(path.name)
        if layout is None:
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(fh)
                if fortran:  # never written so by this cache
                    raise ValueError(f"{path}: Fortran-ordered array in the slice cache.")
                layout = (fh.tell(), tuple(shape), dtype)
            self._layout[path.name] = layout
        offset, shape, dtype = layout
        if not 0 <= k < shape[0]:
            raise IndexError(f"slice {k} out of range for a patient with {shape[0]} slices.")
        size = int(np.prod(shape[1:])) * dtype.itemsize
        fd = os.open(path, os.O_RDONLY)
        try:
            buf = os.pread(fd, size, offset + k * size)
        finally:
            os.close(fd)
        return np.frombuffer(buf, dtype=dtype).reshape(shape[1:])

    def images(self, patient: str) -> np.ndarray:
        """Memory-mapped stored slices (n, size, size) of a patient (uint8 or float16)."""
        return self._load(str(patient), "img")

    def masks(self, patient: str) -> np.ndarray | None:
        """Memory-mapped masks (n, size, size) uint8, or None when the patient has none."""
        return self._load(str(patient), "mask")

    def slice(self, patient: str, k: int) -> np.ndarray:
        """One slice as float32 in [0, 1]."""
        img = self._read_slice(str(patient), "img", int(k))
        if self.dtype == "uint8":
            return img.astype(np.float32) / 255.0
        return img.astype(np.float32)

    def mask_slice(self, patient: str, k: int) -> np.ndarray | None:
        """One mask slice (uint8), or None when the patient has no mask."""
        return self._read_slice(str(patient), "mask", int(k))

    def slice_labels(self, patient: str) -> np.ndarray:
        """Per-slice hematoma presence from the mask (int 0/1)."""
        m = self.masks(patient)
        if m is None:
            raise ValueError(f"patient {patient!r} has no mask in the cache; slice labels unknown.")
        return (np.asarray(m).reshape(m.shape[0], -1).max(axis=1) > 0).astype(int)
