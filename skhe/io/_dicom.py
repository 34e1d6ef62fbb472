"""DICOM series and multi-frame readers (pydicom), with every failure naming the file."""

from __future__ import annotations

import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from skhe.io._dicom_elements import (
    DicomReadError,
    _direction,
    _header,
    _is_localizer,
    _orientation,
    _pixel_spacing,
    _pixels,
    _rescale_params,
    _safe_metadata,
    _series_to_hu,
    _to_hu,
    _warn,
)
from skhe.io._volume import CTVolume

_SKIP_NAMES = {"DICOMDIR"}
#: Largest gantry tilt (degrees) read as an untilted series; positions within it are rounding.
MAX_TILT_DEGREES = 0.5


def _check_tilt(folder: Path, pos3: np.ndarray, z: np.ndarray, direction: np.ndarray) -> None:
    """Refuse a gantry-tilted series: slice positions that move within the slice plane."""
    if len(z) < 2:
        return
    i, j = int(np.argmin(z)), int(np.argmax(z))
    step = pos3[j] - pos3[i]
    along = float(step @ direction[2])
    across = float(np.linalg.norm(step - along * direction[2]))
    angle = float(np.degrees(np.arctan2(across, abs(along))))
    if angle > MAX_TILT_DEGREES:
        raise DicomReadError(
            f"{folder}: gantry-tilted series: slice positions are sheared {angle:.1f} degrees "
            "against the slice normal, so voxels are not where a regular grid puts them. Correct "
            "the tilt by resampling, e.g. convert the series with dcm2niix (which corrects "
            "gantry tilt) and give the NIfTI file it writes as the ct path."
        )


def list_series(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """Group the DICOM files of a folder by SeriesInstanceUID.

    Non-DICOM files raise :class:`DicomReadError` naming them; hidden files and ``DICOMDIR`` are
    ignored.
    """
    files = _folder_files(Path(folder))
    return {uid: [p for p, _ in items] for uid, items in _group_by_series(files).items()}


def _folder_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such DICOM folder.")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name not in _SKIP_NAMES
    )
    if not files:
        subs = sorted(
            p.name
            for p in folder.iterdir()
            if p.is_dir() and not p.name.startswith(".") and any(p.iterdir())
        )
        if subs:
            raise DicomReadError(
                f"{folder}: holds no files, only subfolder(s) {subs[:5]}; point the manifest's "
                "ct path at the folder that holds the series' DICOM files (folders are not "
                "searched recursively)."
            )
        raise DicomReadError(f"{folder}: the folder holds no files (empty DICOM series).")
    return files


def _group_by_series(files: list[Path], pixels: bool = False, n_threads: int = 1) -> dict:
    """SeriesInstanceUID -> [(path, dataset)] in file-name order."""
    if n_threads > 1 and len(files) > 1:
        with ThreadPoolExecutor(max_workers=min(n_threads, len(files))) as pool:
            datasets = list(pool.map(lambda f: _header(f, pixels), files))
    else:
        datasets = [_header(f, pixels) for f in files]
    series: dict[str, list] = defaultdict(list)
    for path, ds in zip(files, datasets, strict=True):
        series[str(ds.SeriesInstanceUID)].append((path, ds))
    return dict(series)


def read_dicom_series(
    folder: str | os.PathLike,
    *,
    series_uid: str | None = None,
    n_threads: int = 1,
    pixel_spacing=None,
) -> CTVolume:
    """Read one CT series from a folder of single-frame DICOM files.

    Slices are ordered by ImagePositionPatient projected on the slice normal (InstanceNumber only
    when positions are missing, with a warning); RescaleSlope/RescaleIntercept are applied; signed
    and unsigned storage are handled by pydicom. Localizer/scout images are skipped.

    Parameters
    ----------
    folder : path
        Folder of DICOM files (not searched recursively).
    series_uid : str, default=None
        Which series to read when the folder holds several; otherwise several series raise an
        error listing them.
    n_threads : int, default=1
        Threads reading the files (each file is read once, header and pixel data together);
        see ``benchmarks/io_dicom.py`` for 1 against 4 threads.
    pixel_spacing : (row_mm, col_mm), default=None
        Use this in-plane spacing instead of the files' PixelSpacing (needed when the files
        have none).

    Returns
    -------
    CTVolume

    Raises
    ------
    DicomReadError
        (a ValueError) naming the file: non-DICOM, corrupt or truncated files, several series,
        non-CT modality, duplicate slice positions, mismatched slice sizes, undecodable
        compression, missing or invalid PixelSpacing, a RescaleSlope of 0, a gantry-tilted
        series.

    Warns
    -----
    skhe.exceptions.DataWarning
        Naming the folder or file: gaps and uneven spacing, no Modality tag, slices without
        ImagePositionPatient (ordered by InstanceNumber).
    """
    folder = Path(folder)
    series = _group_by_series(_folder_files(folder), pixels=True, n_threads=n_threads)
    no_pixels = [p for items in series.values() for p, ds in items if "PixelData" not in ds]
    if no_pixels:
        raise DicomReadError(
            f"{no_pixels[0]}: no pixel data (truncated or damaged file?)"
            + (f"; {len(no_pixels) - 1} more such file(s)" if len(no_pixels) > 1 else "")
            + ". Remove or replace it."
        )
    if series_uid is None:
        if len(series) > 1:
            listing = "; ".join(
                f"{uid} ({len(fs)} file(s), e.g. {fs[0][0].name})" for uid, fs in series.items()
            )
            raise DicomReadError(
                f"{folder}: holds {len(series)} series; pick one with series_uid=..., or move "
                f"the other files out (a lone file with another UID may be damaged): {listing}"
            )
        series_uid = next(iter(series))
    elif series_uid not in series:
        raise DicomReadError(
            f"{folder}: series {series_uid} not found; available: {sorted(series)}"
        )
    notes: list[str] = []
    keep = []
    no_modality = []
    for path, ds in series[series_uid]:
        modality = str(ds.get("Modality", "") or "")
        if not modality:
            no_modality.append(path)
        elif modality != "CT":
            raise DicomReadError(f"{path}: modality is {modality!r}, not CT.")
        if _is_localizer(ds):
            notes.append(f"skipped localizer/scout image {path.name}")
            continue
        arr, _ = _pixels(path, ds)
        if arr.ndim != 2:
            raise DicomReadError(
                f"{path}: expected a single-frame slice, got pixel array of shape {arr.shape}; "
                "read multi-frame files with read_ct(file)."
            )
        keep.append((path, arr, ds))
    if not keep:
        raise DicomReadError(f"{folder}: no CT slices left after skipping localizers.")
    shapes = {arr.shape for _, arr, _ in keep}
    if len(shapes) > 1:
        by_shape = {s: next(p.name for p, a, _ in keep if a.shape == s) for s in shapes}
        raise DicomReadError(f"{folder}: slices differ in size: {by_shape}.")
    if no_modality:
        notes.append(f"no Modality tag in {len(no_modality)} file(s) (e.g. {no_modality[0].name})")
        _warn(
            f"{folder}: {len(no_modality)} file(s) without a Modality tag (e.g. "
            f"{no_modality[0].name}); read as CT. Check that this is a CT series.",
            folder,
        )
    ref = keep[0][2]
    row_mm, col_mm = _pixel_spacing(ref, keep[0][0], pixel_spacing)
    direction = _orientation(ref, keep[0][0])
    ipps = [ds.get("ImagePositionPatient") for _, _, ds in keep]
    if direction is not None and all(p is not None and len(p) == 3 for p in ipps):
        pos3 = np.array([[float(v) for v in p] for p in ipps])
        for path, _, ds in keep:
            d = _orientation(ds, path)
            if d is not None and not np.allclose(d, direction, atol=1e-3):
                raise DicomReadError(
                    f"{path}: ImageOrientationPatient differs from the rest of the series "
                    "(mixed or tilted acquisitions)."
                )
        z = pos3 @ direction[2]
        _check_tilt(folder, pos3, z, direction)
    else:
        inst = [ds.get("InstanceNumber") for _, _, ds in keep]
        if any(i is None for i in inst):
            bad = next(p for (p, _, _), i in zip(keep, inst, strict=True) if i is None)
            raise DicomReadError(
                f"{bad}: neither ImagePositionPatient nor InstanceNumber; slice order unknown."
            )
        missing = [p.name for (p, _, _), q in zip(keep, ipps, strict=True) if q is None]
        which = (
            f"{len(missing)} file(s) without ImagePositionPatient ({', '.join(missing[:5])}"
            f"{', ...' if len(missing) > 5 else ''})"
            if missing
            else "no ImageOrientationPatient"
        )
        notes.append(f"{which}: slices ordered by InstanceNumber")
        _warn(
            f"{folder}: {which}; slices ordered by InstanceNumber and spaced by SliceThickness.",
            folder,
        )
        z = np.array([float(i) for i in inst]) * float(ref.get("SliceThickness", 1.0) or 1.0)
        direction = direction if direction is not None else np.eye(3)
        pos3 = np.outer(z, direction[2])
    order = np.argsort(z, kind="stable")
    z = z[order]
    keep = [keep[i] for i in order]
    dup = np.flatnonzero(np.diff(z) < 1e-3)
    if dup.size:
        a, b = keep[dup[0]][0].name, keep[dup[0] + 1][0].name
        raise DicomReadError(
            f"{folder}: duplicate slice position {z[dup[0]]:.2f} mm in {a} and {b} "
            f"({dup.size} duplicate(s)); remove duplicates or split the series."
        )
    if len(z) > 1:
        diffs = np.diff(z)
        dz = float(np.median(diffs))
        if diffs.max() > 1.5 * dz:
            k = int(np.argmax(diffs))
            notes.append(
                f"gap of {diffs[k]:.2f} mm between slices {k} and {k + 1} (median {dz:.2f} mm)"
            )
        elif diffs.max() - diffs.min() > 0.05 * dz:
            notes.append(
                f"uneven slice spacing: {diffs.min():.2f}-{diffs.max():.2f} mm (median {dz:.2f})"
            )
    else:
        dz = float(ref.get("SliceThickness", 1.0) or 1.0)
    for note in notes:
        if note.startswith(("gap of", "uneven slice")):
            _warn(f"{folder}: {note}.", folder)
    params = [_rescale_params(ds, path) for path, _, ds in keep]
    if len(set(params)) == 1:  # one slope/intercept for the series: convert in one pass
        hu = _series_to_hu([arr for _, arr, _ in keep], *params[0])
    else:
        hu = np.stack([_to_hu(arr, *p) for (_, arr, _), p in zip(keep, params, strict=True)])
    meta = _safe_metadata(ref)
    meta["source_format"] = "dicom-series"
    return CTVolume(
        hu=hu,
        spacing=(dz, row_mm, col_mm),
        origin=pos3[order[0]],
        direction=direction,
        positions=z,
        metadata=meta,
        warnings=notes,
    )


def read_dicom_multiframe(path: str | os.PathLike, *, pixel_spacing=None) -> CTVolume:
    """Read a multi-frame (enhanced) CT DICOM file.

    Geometry comes from the per-frame and shared functional groups (PlanePositionSequence,
    PlaneOrientationSequence, PixelMeasuresSequence, PixelValueTransformationSequence), falling back
    to the top-level attributes.
    """
    path = Path(path)
    arr, ds = _pixels(path)
    modality = str(ds.get("Modality", "") or "")
    if modality and modality != "CT":
        raise DicomReadError(f"{path}: modality is {modality!r}, not CT.")
    if not modality:
        _warn(f"{path}: no Modality tag; read as CT. Check that this is a CT file.", path)
    if arr.ndim == 2:
        arr = arr[None]
    n = arr.shape[0]
    shared = ds.get("SharedFunctionalGroupsSequence", [None])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", None)

    def group(frame, name):
        for src in (frame, shared):
            if src is not None and name in src:
                return src[name].value[0]
        return None

    frames = list(per_frame) if per_frame is not None else [None] * n
    if len(frames) != n:
        raise DicomReadError(f"{path}: {len(frames)} per-frame groups for {n} frames.")
    orient = group(frames[0], "PlaneOrientationSequence")
    iop = (
        orient.ImageOrientationPatient if orient is not None else ds.get("ImageOrientationPatient")
    )
    direction = np.eye(3) if iop is None else _direction(iop, path)
    pos = []
    slopes, intercepts = [], []
    for i, fr in enumerate(frames):
        pp = group(fr, "PlanePositionSequence")
        ipp = pp.ImagePositionPatient if pp is not None else None
        pos.append([float(v) for v in ipp] if ipp is not None else [0.0, 0.0, float(i)])
        tr = group(fr, "PixelValueTransformationSequence")
        slope, intercept = _rescale_params(
            tr if tr is not None and "RescaleSlope" in tr else ds, path
        )
        slopes.append(slope)
        intercepts.append(intercept)
    pos = np.array(pos)
    z = pos @ direction[2]
    order = np.argsort(z, kind="stable")
    z = z[order]
    if np.any(np.diff(z) < 1e-3):
        raise DicomReadError(f"{path}: duplicate frame positions.")
    hu = np.stack([_to_hu(arr[i], slopes[i], intercepts[i]) for i in order])
    meas = group(frames[0], "PixelMeasuresSequence")
    src = meas if meas is not None and "PixelSpacing" in meas else ds
    ps = _pixel_spacing(src, path, pixel_spacing)
    dz = (
        float(np.median(np.diff(z)))
        if n > 1
        else float(getattr(meas, "SliceThickness", None) or ds.get("SliceThickness", 1.0) or 1.0)
    )
    meta = _safe_metadata(ds)
    meta["source_format"] = "dicom-multiframe"
    return CTVolume(hu, (dz, ps[0], ps[1]), pos[order[0]], direction, z, meta)
