"""Writers for DICOM series and NIfTI masks (used by the synthetic cohort and the tests)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def write_dicom_series(
    hu: np.ndarray,
    out_dir: str | os.PathLike,
    *,
    spacing=(5.0, 0.5, 0.5),
    origin=(0.0, 0.0, 0.0),
    unsigned: bool = True,
    slope: float = 1.0,
    intercept: float = -1024.0,
    series_uid: str | None = None,
    study_uid: str | None = None,
    patient_name: str = "Synthetic^Patient",
    patient_id: str = "SYNTHETIC",
    institution: str | None = None,
    file_order=None,
    uid_entropy=None,
) -> list[Path]:
    """Write an axial CT volume as single-frame DICOM files (CT Image Storage, explicit VR LE).

    Parameters
    ----------
    hu : ndarray of shape (slices, rows, cols)
        Hounsfield units.
    out_dir : path
        Created if needed.
    spacing : (z, y, x) in mm
    origin : patient position of the first voxel (mm)
    unsigned : bool, default=True
        Store as uint16 (PixelRepresentation 0) with ``intercept``; else int16.
    slope, intercept : float
        RescaleSlope / RescaleIntercept; stored value = (HU - intercept) / slope.
    series_uid, study_uid : str, default=None
        Generated (deterministically from ``uid_entropy`` when given).
    patient_name, patient_id, institution : str
        Identifying attributes, written only so tests can check skhe never reads them back.
    file_order : sequence of int, default=None
        Permutation of slice indices used to name files (``IM0000.dcm``...), to test ordering.
    uid_entropy : list of str, default=None
        Makes the generated UIDs deterministic.

    Returns
    -------
    list of Path
        The files written, in slice order.
    """
    hu = np.asarray(hu)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ent = list(uid_entropy) if uid_entropy is not None else None
    series_uid = series_uid or generate_uid(entropy_srcs=[*ent, "series"] if ent else None)
    study_uid = study_uid or generate_uid(entropy_srcs=[*ent, "study"] if ent else None)
    stored = (hu.astype(np.float64) - intercept) / slope
    stored = np.rint(stored)
    if unsigned:
        if stored.min() < 0 or stored.max() > 65535:
            raise ValueError("HU range does not fit uint16 storage with this slope/intercept.")
        stored = stored.astype(np.uint16)
    else:
        stored = np.clip(stored, -32768, 32767).astype(np.int16)
    n = hu.shape[0]
    order = list(range(n)) if file_order is None else list(file_order)
    paths = [None] * n
    for file_idx, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        sop_uid = generate_uid(entropy_srcs=[*ent, f"sop{k}"] if ent else None)
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.Modality = "CT"
        ds.Manufacturer = "skhe-synthetic"
        ds.KVP = 120
        ds.SliceThickness = float(spacing[0])
        ds.ConvolutionKernel = "H30s"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19000101"
        ds.AccessionNumber = "ACC-SYNTHETIC"
        if institution:
            ds.InstitutionName = institution
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [
            float(origin[0]),
            float(origin[1]),
            float(origin[2]) + k * float(spacing[0]),
        ]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [float(spacing[1]), float(spacing[2])]
        ds.Rows, ds.Columns = int(hu.shape[1]), int(hu.shape[2])
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0 if unsigned else 1
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        path = out / f"IM{file_idx:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths[k] = path
    return paths


def write_nifti(
    array: np.ndarray,
    path: str | os.PathLike,
    *,
    spacing=(5.0, 0.5, 0.5),
    dtype=np.uint8,
    like=None,
) -> Path:
    """Write a (slices, rows, cols) array as NIfTI (stored as (x, y, z)).

    Parameters
    ----------
    array : ndarray of shape (slices, rows, cols)
    path : path
    spacing : (z, y, x) in mm, default=(5.0, 0.5, 0.5)
        Used for a diagonal affine when ``like`` is not given.
    dtype : numpy dtype, default=uint8
    like : CTVolume, default=None
        Write the array on this CT's grid: the affine is the CT's
        (:func:`~skhe.io.ct_affine`), as a mask drawn on that CT needs.
    """
    import nibabel as nib

    from skhe.io._volume import ct_affine

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = ct_affine(like) if like is not None else None
    if affine is None:
        sp = like.spacing if like is not None else spacing
        affine = np.diag([float(sp[2]), float(sp[1]), float(sp[0]), 1.0])
    data = np.transpose(np.asarray(array).astype(dtype), (2, 1, 0))
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path
