"""Wrong DICOM input is an error naming the file, or a DataWarning that names it."""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest

from skhe.exceptions import DataWarning
from skhe.io import DicomReadError, read_ct, write_dicom_series

SPACING = (5.0, 0.5, 0.5)


@pytest.fixture
def series(tmp_path):
    rng = np.random.default_rng(0)
    hu = rng.integers(-100, 100, size=(8, 16, 16)).astype(np.int16)
    folder = tmp_path / "ct"
    files = write_dicom_series(hu, folder, spacing=SPACING)
    return folder, files, hu


def _edit(path, fn):
    ds = pydicom.dcmread(path)
    fn(ds)
    ds.save_as(path, enforce_file_format=True)


def _no_warning(folder, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        return read_ct(folder, **kw)


def test_clean_series_reads_without_warning(series):
    folder, _, hu = series
    vol = _no_warning(folder)
    np.testing.assert_array_equal(vol.hu, hu)
    assert vol.spacing == pytest.approx(SPACING)


def test_missing_slice_warns_naming_the_folder(series):
    folder, files, _ = series
    files[4].unlink()
    with pytest.warns(DataWarning, match=r"ct: gap of 10.00 mm between slices 3 and 4") as rec:
        vol = read_ct(folder)
    assert vol.shape[0] == 7
    assert rec[0].message.source == str(folder)
    assert rec[0].filename == __file__  # the warning points at the caller, not at skhe


def test_missing_pixel_spacing_is_an_error_unless_given(series):
    folder, files, _ = series
    for f in files:
        _edit(f, lambda ds: delattr(ds, "PixelSpacing"))
    with pytest.raises(DicomReadError, match=r"IM0000.dcm: no PixelSpacing.*pixel_spacing="):
        read_ct(folder)
    vol = _no_warning(folder, pixel_spacing=(0.719, 0.719))
    assert vol.spacing == pytest.approx((5.0, 0.719, 0.719))


def test_invalid_pixel_spacing_names_the_file(series):
    folder, files, _ = series
    for f in files:
        _edit(f, lambda ds: setattr(ds, "PixelSpacing", [-0.5, 0]))
    with pytest.raises(DicomReadError, match=r"IM0000.dcm: PixelSpacing \[-0.5, 0.0\] must be"):
        read_ct(folder)


def test_rescale_slope_zero_is_an_error(series):
    folder, files, _ = series
    _edit(files[2], lambda ds: setattr(ds, "RescaleSlope", 0))
    with pytest.raises(DicomReadError, match=r"IM0002.dcm: RescaleSlope 0.0"):
        read_ct(folder)


def test_missing_modality_warns(series):
    folder, files, hu = series
    for f in files:
        _edit(f, lambda ds: delattr(ds, "Modality"))
    with pytest.warns(DataWarning, match=r"8 file\(s\) without a Modality tag"):
        vol = read_ct(folder)
    np.testing.assert_array_equal(vol.hu, hu)


def test_gantry_tilt_is_refused_with_the_fix(tmp_path):
    """A uniform 20 degree tilt: slice positions move along y as z increases."""
    hu = np.zeros((6, 16, 16), np.int16)
    folder = tmp_path / "tilted"
    files = write_dicom_series(hu, folder, spacing=SPACING)
    shift = 5.0 * np.tan(np.radians(20))
    for k, f in enumerate(files):
        _edit(f, lambda ds, k=k: setattr(ds, "ImagePositionPatient", [0.0, k * shift, k * 5.0]))
    with pytest.raises(DicomReadError, match=r"gantry-tilted series.*20.0 degrees.*dcm2niix"):
        read_ct(folder)


def test_small_position_jitter_is_not_a_tilt(series):
    folder, files, _ = series
    _edit(files[3], lambda ds: setattr(ds, "ImagePositionPatient", [0.001, 0.0, 15.0]))
    _no_warning(folder)


def test_file_cut_inside_series_uid_is_named(series):
    folder, files, _ = series
    raw = files[5].read_bytes()
    uid = pydicom.dcmread(files[5]).SeriesInstanceUID.encode()
    cut = raw.index(uid) + len(uid) // 2
    files[5].write_bytes(raw[:cut])
    with pytest.raises(DicomReadError, match=r"IM0005.dcm"):
        read_ct(folder)


def test_two_series_listing_names_files(series):
    folder, files, _ = series
    _edit(files[7], lambda ds: setattr(ds, "SeriesInstanceUID", "1.2.3.4"))
    with pytest.raises(DicomReadError, match=r"1.2.3.4 \(1 file\(s\), e.g. IM0007.dcm\)"):
        read_ct(folder)


def test_slice_without_position_warning_names_the_file(series):
    folder, files, hu = series
    _edit(files[3], lambda ds: delattr(ds, "ImagePositionPatient"))
    with pytest.warns(DataWarning, match=r"1 file\(s\) without ImagePositionPatient \(IM0003"):
        vol = read_ct(folder)
    np.testing.assert_array_equal(vol.hu, hu)


def test_series_in_a_subfolder_is_pointed_at(series, tmp_path):
    folder, _, _ = series
    outer = tmp_path / "patient"
    outer.mkdir()
    folder.rename(outer / "ct")
    with pytest.raises(DicomReadError, match=r"holds no files, only subfolder\(s\) \['ct'\]"):
        read_ct(outer)
