"""Reading CT volumes, masks, windowed images and cohort manifests.

Only non-identifying metadata are ever read into skhe objects: PatientName, PatientID, birth date,
accession number and institution are never logged, returned or written.
"""

from skhe.io._dicom import DicomReadError, list_series, read_dicom_multiframe, read_dicom_series
from skhe.io._manifest import ManifestError, load_manifest, path_given
from skhe.io._read import (
    read_ct,
    read_mask,
    read_nifti,
    read_numpy,
    read_png_stack,
    read_windowed_slices,
)
from skhe.io._volume import SAFE_METADATA, CTVolume, ct_affine
from skhe.io._write import write_dicom_series, write_nifti

__all__ = [
    "SAFE_METADATA",
    "CTVolume",
    "DicomReadError",
    "ManifestError",
    "ct_affine",
    "list_series",
    "load_manifest",
    "path_given",
    "read_ct",
    "read_dicom_multiframe",
    "read_dicom_series",
    "read_mask",
    "read_nifti",
    "read_numpy",
    "read_png_stack",
    "read_windowed_slices",
    "write_dicom_series",
    "write_nifti",
]
