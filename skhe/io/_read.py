"""``read_ct`` / ``read_mask``: one entry point for DICOM, NIfTI and NumPy volumes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from skhe.exceptions import DataError
from skhe.io._dicom import DicomReadError, read_dicom_multiframe, read_dicom_series
from skhe.io._volume import CTVolume, ct_affine

_NIFTI = (".nii", ".nii.gz")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def _nifti_array(path: Path) -> tuple[np.ndarray, np.ndarray, tuple]:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:
        raise ValueError(f"{path}: cannot be read as NIfTI ({exc}).") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D NIfTI volume, got shape {data.shape}.")
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        raise ValueError(f"{path}: contains {int((~np.isfinite(data)).sum())} NaN/inf voxels.")
    zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
    # NIfTI stores (x, y, z); skhe uses (slices, rows, cols) = (z, y, x)
    return np.transpose(data, (2, 1, 0)), img.affine, (zooms[2], zooms[1], zooms[0])


def read_nifti(path: str | os.PathLike) -> CTVolume:
    """Read a NIfTI CT volume (values taken as HU after the header's scaling)."""
    path = Path(path)
    data, affine, spacing = _nifti_array(path)
    direction = affine[:3, :3] / np.linalg.norm(affine[:3, :3], axis=0)
    hu = np.clip(np.rint(data.astype(np.float64)), -32768, 32767).astype(np.int16)
    return CTVolume(
        hu,
        spacing,
        origin=affine[:3, 3].copy(),
        direction=direction.T.copy(),
        metadata={"source_format": "nifti"},
    )


def read_numpy(path: str | os.PathLike, *, spacing=None) -> CTVolume:
    """Read ``.npy`` (with ``spacing=(z, y, x)``) or ``.npz`` (keys ``hu`` and ``spacing``)."""
    path = Path(path)
    try:
        if _suffix(path) == ".npz":
            with np.load(path) as z:
                key = "hu" if "hu" in z else ("image" if "image" in z else None)
                if key is None:
                    raise ValueError(f"{path}: .npz needs an array named 'hu'; has {list(z)}.")
                hu = z[key]
                if spacing is None and "spacing" in z:
                    spacing = tuple(z["spacing"].tolist())
        else:
            hu = np.load(path, allow_pickle=False)
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: cannot be read as a NumPy array ({exc}).") from exc
    if spacing is None:
        raise ValueError(f"{path}: no voxel spacing; pass spacing=(z, y, x) in mm.")
    if np.issubdtype(hu.dtype, np.floating) and not np.isfinite(hu).all():
        raise ValueError(f"{path}: contains NaN/inf values.")
    if hu.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D array (slices, rows, cols); got {hu.shape}.")
    hu = np.clip(np.rint(hu), -32768, 32767).astype(np.int16)
    return CTVolume(hu, spacing, metadata={"source_format": "numpy"})


def read_ct(path, *, series_uid: str | None = None, spacing=None, pixel_spacing=None) -> CTVolume:
    """Read a CT volume in Hounsfield units.

    Parameters
    ----------
    path : path or CTVolume
        A DICOM series folder, a multi-frame DICOM file, a NIfTI file (.nii/.nii.gz), or a
        ``.npy``/``.npz`` array. A CTVolume is returned unchanged.
    series_uid : str, default=None
        For a folder holding several series.
    spacing : tuple (z, y, x), default=None
        For ``.npy`` input, which carries no spacing.
    pixel_spacing : (row_mm, col_mm), default=None
        For DICOM files without PixelSpacing (an error otherwise): the in-plane spacing to use.

    Returns
    -------
    CTVolume
        Only non-identifying metadata are kept (modality, manufacturer, kVp, slice thickness,
        kernel); patient names, IDs, dates, accession numbers and institutions never are.
    """
    if isinstance(path, CTVolume):
        return path
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder.")
    if path.is_dir():
        return read_dicom_series(path, series_uid=series_uid, pixel_spacing=pixel_spacing)
    suffix = _suffix(path)
    if suffix in _NIFTI:
        return read_nifti(path)
    if suffix in (".npy", ".npz"):
        return read_numpy(path, spacing=spacing)
    try:
        return read_dicom_multiframe(path, pixel_spacing=pixel_spacing)
    except DicomReadError:
        raise
    except Exception as exc:
        raise ValueError(f"{path}: unsupported CT file ({exc}).") from exc


def _binary(mask: np.ndarray, path) -> np.ndarray:
    if np.issubdtype(mask.dtype, np.floating) and not np.isfinite(mask).all():
        raise ValueError(f"{path}: mask contains NaN/inf values.")
    values = np.unique(mask)
    if not (np.isin(values, (0, 1)).all() or np.isin(values, (0, 255)).all()):
        raise ValueError(
            f"{path}: mask is not binary; values {values[:6].tolist()} (expected 0/1 or 0/255)."
        )
    return (mask > 0).astype(np.uint8)


def read_png_stack(paths) -> np.ndarray:
    """Read 8-bit grayscale PNG slices (list of files, or a folder read in name order)."""
    from PIL import Image

    if isinstance(paths, (str, os.PathLike)) and Path(paths).is_dir():
        paths = sorted(Path(paths).glob("*.png"))
        if not paths:
            raise ValueError("no PNG files in the folder.")
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                arr = np.asarray(im.convert("L") if im.mode not in ("L", "I;16", "I") else im)
        except Exception as exc:
            raise ValueError(f"{p}: cannot be read as an image ({exc}).") from exc
        if out and arr.shape != out[0].shape:
            raise ValueError(f"{p}: size {arr.shape} differs from the first slice {out[0].shape}.")
        out.append(arr)
    return np.stack(out)


def _on_ct_grid(mask_xyz: np.ndarray, mask_affine, ct: CTVolume, where) -> np.ndarray:
    """The NIfTI mask (x, y, z order) on the CT's voxel grid, or an error naming both.

    The mask's affine and the CT's geometry (:func:`~skhe.io.ct_affine`) must place the mask's
    voxels on the CT's voxels within half a voxel. Masks stored with flipped or permuted axes
    (a converter's reorientation) are reordered losslessly; anything else is refused.
    """
    ct_aff = ct_affine(ct)
    shape_ct = np.array(ct.hu.shape[::-1])  # (x, y, z)
    t = np.linalg.inv(ct_aff) @ np.asarray(mask_affine, float)
    lin = t[:3, :3]
    perm = np.zeros((3, 3))
    for a in range(3):
        b = int(np.argmax(np.abs(lin[a])))
        perm[a, b] = np.sign(lin[a, b])
    n = np.array(mask_xyz.shape[:3])
    if (np.abs(perm).sum(axis=0) == 1).all() and np.allclose(np.abs(perm).sum(axis=1), 1):
        corners = np.array(np.meshgrid(*[[0, k - 1] for k in n], indexing="ij")).reshape(3, -1)
        mapped = lin @ corners + t[:3, 3:4]
        expected = perm @ corners
        expected = expected + np.where(perm.sum(axis=1) < 0, n @ np.abs(perm).T - 1, 0)[:, None]
        if np.abs(mapped - expected).max() < 0.5:
            out = mask_xyz
            order = [int(np.argmax(np.abs(perm[a]))) for a in range(3)]
            out = np.transpose(out, order)
            for a in range(3):
                if perm[a, order[a]] < 0:
                    out = np.flip(out, axis=a)
            if tuple(out.shape) == tuple(shape_ct):
                return np.ascontiguousarray(out)
            raise DataError(
                f"{where}: mask shape {tuple(out.shape[::-1])} does not match its CT "
                f"{tuple(ct.hu.shape)} (a slice missing from the CT series or the mask?)."
            )
    origin_in_ct = t[:3, 3]
    raise DataError(
        f"{where}: the mask's NIfTI geometry does not match its CT: the mask's first voxel lies "
        f"at CT voxel (x, y, z) = {np.round(origin_in_ct, 1).tolist()} and its axes map to "
        f"{np.round(lin, 2).tolist()} (identity expected), so the mask would not lie on the "
        "hematoma. Export the mask on the CT's grid (same series, same orientation), or pass "
        "check_geometry=False to read_mask to use its voxel order as is."
    )


def read_mask(path, *, like: CTVolume | None = None, check_geometry: bool = True) -> np.ndarray:
    """Read a binary hematoma mask and check it against its CT.

    Parameters
    ----------
    path : path or ndarray
        NIfTI, ``.npy``/``.npz`` (key ``mask``), a folder of PNG slices, or an array.
    like : CTVolume, default=None
        When given, the mask must have the CT's shape; a NIfTI mask must also lie on the CT's
        voxel grid in patient coordinates (its affine against the CT's DICOM or NIfTI geometry,
        half a voxel of tolerance). Axes stored flipped or permuted are reordered to the CT's;
        any other mismatch is a :class:`~skhe.exceptions.DataError`.
    check_geometry : bool, default=True
        False skips the NIfTI affine check and takes the mask's voxel order as the CT's.

    Returns
    -------
    ndarray of uint8, shape (slices, rows, cols), values 0/1
    """
    if isinstance(path, np.ndarray):
        mask, where = path, "mask array"
    else:
        where = Path(path)
        if not where.exists():
            raise FileNotFoundError(f"{where}: no such mask file or folder.")
        suffix = _suffix(where)
        if where.is_dir():
            mask = read_png_stack(where)
        elif suffix in _NIFTI:
            mask, affine, _ = _nifti_array(where)
            if check_geometry and like is not None and ct_affine(like) is not None:
                xyz = _on_ct_grid(np.transpose(mask, (2, 1, 0)), affine, like, where)
                mask = np.transpose(xyz, (2, 1, 0))
        elif suffix == ".npz":
            with np.load(where) as z:
                mask = z["mask"] if "mask" in z else z[next(iter(z))]
        elif suffix == ".npy":
            mask = np.load(where, allow_pickle=False)
        else:
            raise ValueError(f"{where}: unsupported mask format {suffix!r}.")
    if mask.ndim != 3:
        raise ValueError(f"{where}: mask must be 3-D (slices, rows, cols); got {mask.shape}.")
    mask = _binary(mask, where)
    if like is not None and mask.shape != like.hu.shape:
        raise ValueError(f"{where}: mask shape {mask.shape} does not match its CT {like.hu.shape}.")
    return mask


def read_windowed_slices(paths, *, level: float, width: float) -> np.ndarray:
    """Map 8-bit windowed images back to HU: ``HU = p * width / 255 + level - width / 2``.

    For data shipped already windowed (CT-ICH: brain window, level 40, width 120). Pixels at 0 and
    255 were clipped by the windowing, so HU outside the window are not recoverable.

    Returns
    -------
    ndarray of float32, shape (n, rows, cols)
    """
    if width <= 0:
        raise ValueError(f"width must be > 0; got {width}.")
    stack = read_png_stack(paths)
    if stack.dtype != np.uint8:
        raise ValueError(f"windowed slices must be 8-bit; got {stack.dtype}.")
    hu = stack.astype(np.float64) * (width / 255.0) + (level - width / 2.0)
    return hu.astype(np.float32)
