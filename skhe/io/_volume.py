"""The CTVolume container: HU voxels, geometry and non-identifying metadata only."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The only DICOM attributes a CTVolume keeps. Identifying attributes (PatientName, PatientID,
#: PatientBirthDate, AccessionNumber, InstitutionName, ...) are never read into it.
SAFE_METADATA = (
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "KVP",
    "SliceThickness",
    "ConvolutionKernel",
)


@dataclass
class CTVolume:
    """A CT volume in Hounsfield units.

    Attributes
    ----------
    hu : ndarray of int16, shape (slices, rows, cols)
        Slices ordered along the slice normal (inferior to superior for axial head CT).
    spacing : tuple of float
        Voxel spacing (z, y, x) in mm; z is the median distance between slice positions.
    origin : ndarray of shape (3,)
        Patient position of the first voxel of the first slice (mm).
    direction : ndarray of shape (3, 3)
        Rows: the row direction, the column direction and the slice normal (unit vectors).
    positions : ndarray of shape (slices,)
        Slice positions along the normal (mm).
    metadata : dict
        Only :data:`SAFE_METADATA` fields, plus ``"source_format"``.
    warnings : list of str
        Problems found while reading (uneven spacing, gaps, skipped localizers, ...).
    """

    hu: np.ndarray
    spacing: tuple[float, float, float]
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    positions: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.hu = np.asarray(self.hu)
        if self.hu.ndim != 3:
            raise ValueError(f"CTVolume.hu must be 3-D (slices, rows, cols); got {self.hu.shape}.")
        self.spacing = tuple(float(s) for s in self.spacing)
        if len(self.spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in self.spacing):
            raise ValueError(
                f"spacing must be three positive numbers (z, y, x); got {self.spacing}."
            )
        if self.positions is None:
            self.positions = np.arange(self.hu.shape[0]) * self.spacing[0]
        bad = [k for k in self.metadata if k not in (*SAFE_METADATA, "source_format")]
        if bad:
            raise ValueError(f"CTVolume.metadata may only hold non-identifying fields; got {bad}.")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(slices, rows, cols)."""
        return tuple(self.hu.shape)

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in mL."""
        return float(np.prod(self.spacing)) / 1000.0

    def __repr__(self) -> str:
        return (
            f"CTVolume(shape={self.shape}, spacing={tuple(round(s, 3) for s in self.spacing)}, "
            f"HU range=[{int(self.hu.min())}, {int(self.hu.max())}])"
        )


#: LPS (DICOM patient coordinates) to RAS (NIfTI's).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def grid_affine(spacing, origin, direction) -> np.ndarray:
    """4x4 affine from voxel index (x=col, y=row, z=slice) to the coordinates of ``origin``.

    Parameters
    ----------
    spacing : (z, y, x) in mm
    origin : (3,) position of voxel (0, 0, 0)
    direction : (3, 3) rows: the unit vectors of the column, row and slice index axes
    """
    sp = np.asarray(spacing, float)[::-1]
    aff = np.eye(4)
    aff[:3, :3] = np.asarray(direction, float).T * sp
    aff[:3, 3] = np.asarray(origin, float)
    return aff


def ct_affine(vol: CTVolume) -> np.ndarray | None:
    """The CT's NIfTI-style affine (voxel (x, y, z) index -> RAS mm), or None without geometry.

    DICOM volumes keep LPS patient coordinates (converted here, as dcm2niix does), NIfTI volumes
    RAS; NumPy and PNG input carry no patient geometry (None).
    """
    fmt = str(vol.metadata.get("source_format", ""))
    if fmt.startswith("dicom"):
        return LPS_TO_RAS @ grid_affine(vol.spacing, vol.origin, vol.direction)
    if fmt == "nifti":
        return grid_affine(vol.spacing, vol.origin, vol.direction)
    return None
