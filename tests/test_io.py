import shutil
import warnings

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000Lossless

from skhe.io import (
    DicomReadError,
    ManifestError,
    load_manifest,
    read_ct,
    read_mask,
    read_numpy,
    read_windowed_slices,
    write_dicom_series,
    write_nifti,
)


@pytest.fixture
def hu():
    rng = np.random.default_rng(0)
    return rng.integers(-1024, 2500, size=(12, 32, 40)).astype(np.int16)


@pytest.mark.parametrize(
    "unsigned, slope, intercept", [(True, 1.0, -1024.0), (False, 1.0, 0.0), (True, 2.0, -2048.0)]
)
def test_dicom_round_trip_shuffled_files(tmp_path, hu, unsigned, slope, intercept):
    rng = np.random.default_rng(1)
    data = hu if slope == 1 else (hu // 2) * 2  # representable with slope 2
    write_dicom_series(
        data,
        tmp_path,
        spacing=(2.5, 0.43, 0.47),
        unsigned=unsigned,
        slope=slope,
        intercept=intercept,
        file_order=rng.permutation(12),
    )
    vol = read_ct(tmp_path)
    np.testing.assert_array_equal(vol.hu, data)
    assert vol.hu.dtype == np.int16
    assert vol.spacing == pytest.approx((2.5, 0.43, 0.47))
    np.testing.assert_allclose(np.diff(vol.positions), 2.5)
    assert vol.warnings == []


def test_slices_ordered_by_position_not_instance_number(tmp_path, hu):
    paths = write_dicom_series(hu, tmp_path, spacing=(5, 1, 1))
    # scramble InstanceNumber: order must still follow ImagePositionPatient
    for p, inst in zip(paths, np.random.default_rng(2).permutation(12), strict=True):
        ds = pydicom.dcmread(p)
        ds.InstanceNumber = int(inst) + 1
        ds.save_as(p)
    np.testing.assert_array_equal(read_ct(tmp_path).hu, hu)


def test_instance_number_fallback_warns(tmp_path, hu):
    paths = write_dicom_series(hu, tmp_path, spacing=(5, 1, 1), file_order=list(range(11, -1, -1)))
    for p in paths:
        ds = pydicom.dcmread(p)
        del ds.ImagePositionPatient
        ds.save_as(p)
    with pytest.warns(UserWarning, match="InstanceNumber"):
        vol = read_ct(tmp_path)
    np.testing.assert_array_equal(vol.hu, hu)


def test_identifiers_are_never_read(tmp_path, hu):
    write_dicom_series(
        hu,
        tmp_path,
        patient_name="Doe^Jane",
        patient_id="MRN123456",
        institution="St Elsewhere Hospital",
    )
    vol = read_ct(tmp_path)
    text = repr(vol) + repr(vol.metadata) + repr(vol.warnings)
    for secret in ("Doe", "Jane", "MRN123456", "Elsewhere", "19000101", "ACC-SYNTHETIC"):
        assert secret not in text
    assert set(vol.metadata) <= {
        "Modality",
        "Manufacturer",
        "ManufacturerModelName",
        "KVP",
        "SliceThickness",
        "ConvolutionKernel",
        "source_format",
    }
    assert vol.metadata["Modality"] == "CT" and vol.metadata["KVP"] == 120


def test_localizer_skipped_and_gap_reported(tmp_path, hu):
    paths = write_dicom_series(hu, tmp_path, spacing=(5, 1, 1))
    ds = pydicom.dcmread(paths[0])
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.ImagePositionPatient = [0, 0, -100]
    ds.save_as(tmp_path / "scout.dcm")
    paths[5].unlink()
    with pytest.warns(UserWarning, match="gap"):
        vol = read_ct(tmp_path)
    assert vol.shape == (11, 32, 40)
    assert any("localizer" in w for w in vol.warnings)
    assert vol.spacing[0] == 5


def test_multiframe_dicom(tmp_path, hu):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns, ds.NumberOfFrames = 32, 40, 12
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit, ds.PixelRepresentation = 15, 1
    shared = Dataset()
    meas = Dataset()
    meas.PixelSpacing, meas.SliceThickness = [0.5, 0.6], 3.0
    orient = Dataset()
    orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    trans = Dataset()
    trans.RescaleSlope, trans.RescaleIntercept = 1, -1000
    shared.PixelMeasuresSequence = Sequence([meas])
    shared.PlaneOrientationSequence = Sequence([orient])
    shared.PixelValueTransformationSequence = Sequence([trans])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    order = np.random.default_rng(3).permutation(12)
    frames = []
    for k in order:
        fr, pp = Dataset(), Dataset()
        pp.ImagePositionPatient = [0, 0, 3.0 * k]
        fr.PlanePositionSequence = Sequence([pp])
        frames.append(fr)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = np.ascontiguousarray((hu[order] + 1000).astype(np.int16)).tobytes()
    path = tmp_path / "enhanced.dcm"
    ds.save_as(path, enforce_file_format=True)
    vol = read_ct(path)
    np.testing.assert_array_equal(vol.hu, hu)
    assert vol.spacing == pytest.approx((3.0, 0.5, 0.6))


def test_nifti_and_numpy_round_trip(tmp_path, hu):
    write_nifti(hu, tmp_path / "ct.nii.gz", spacing=(5, 0.5, 0.45), dtype=np.int16)
    vol = read_ct(tmp_path / "ct.nii.gz")
    np.testing.assert_array_equal(vol.hu, hu)
    assert vol.spacing == pytest.approx((5, 0.5, 0.45))
    np.savez(tmp_path / "ct.npz", hu=hu, spacing=np.array([5, 0.5, 0.45]))
    np.testing.assert_array_equal(read_ct(tmp_path / "ct.npz").hu, hu)
    np.save(tmp_path / "ct.npy", hu)
    with pytest.raises(ValueError, match="spacing"):
        read_ct(tmp_path / "ct.npy")
    assert read_numpy(tmp_path / "ct.npy", spacing=(1, 1, 1)).shape == hu.shape


def test_masks(tmp_path, hu):
    mask = np.zeros(hu.shape, np.uint8)
    mask[3:6, 10:20, 5:15] = 1
    write_nifti(mask, tmp_path / "m.nii.gz")
    vol = read_ct(np.zeros(1) if False else _vol(hu))
    np.testing.assert_array_equal(read_mask(tmp_path / "m.nii.gz", like=vol), mask)
    with pytest.raises(ValueError, match=r"m2.nii.gz: mask shape \(12, 32, 39\) does not match"):
        write_nifti(mask[:, :, :39], tmp_path / "m2.nii.gz")
        read_mask(tmp_path / "m2.nii.gz", like=vol)
    with pytest.raises(ValueError, match="not binary"):
        read_mask(mask * 3 + (mask == 0) * 1)
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    from PIL import Image

    for k in range(hu.shape[0]):
        Image.fromarray(mask[k] * 255).save(pngs / f"{k:03d}.png")
    np.testing.assert_array_equal(read_mask(pngs, like=vol), mask)


def _vol(hu):
    from skhe.io import CTVolume

    return CTVolume(hu, (5, 1, 1))


def test_windowed_slices_map_back_to_hu(tmp_path):
    from PIL import Image

    hu = np.array([[-20.0, 40.0, 100.0, 10.0]])
    pix = np.rint((hu + 20) * 255 / 120).astype(np.uint8)
    Image.fromarray(pix).save(tmp_path / "s.png")
    back = read_windowed_slices([tmp_path / "s.png"], level=40, width=120)
    np.testing.assert_allclose(back[0], hu, atol=120 / 255 / 2 + 1e-4)
    assert back[0, 0, 0] == -20 and back[0, 0, 2] == pytest.approx(100)


# ---------------------------------------------------------------- bad input
def test_empty_folder(tmp_path):
    with pytest.raises(DicomReadError, match="no files"):
        read_ct(tmp_path)


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        read_ct(tmp_path / "nope")


def test_non_dicom_file_among_dicoms_is_named(tmp_path, hu):
    write_dicom_series(hu, tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".DS_Store").write_bytes(b"\0\1")  # hidden files are ignored
    with pytest.raises(DicomReadError, match="notes.txt: not a DICOM file"):
        read_ct(tmp_path)


def test_truncated_dicom_is_named(tmp_path, hu):
    paths = write_dicom_series(hu, tmp_path)
    data = paths[4].read_bytes()
    paths[4].write_bytes(data[: len(data) - 500])
    with pytest.raises(DicomReadError, match=paths[4].name):
        read_ct(tmp_path)


def test_corrupt_header_is_named(tmp_path, hu):
    paths = write_dicom_series(hu, tmp_path)
    paths[2].write_bytes(paths[2].read_bytes()[:200])
    with pytest.raises(DicomReadError, match=paths[2].name):
        read_ct(tmp_path)


def test_several_series_listed_and_selectable(tmp_path, hu):
    write_dicom_series(hu, tmp_path / "a", series_uid="1.2.3.1")
    write_dicom_series(hu[:5] + 1, tmp_path / "b", series_uid="1.2.3.2", spacing=(5, 1, 1))
    mixed = tmp_path / "mixed"
    shutil.copytree(tmp_path / "a", mixed)
    for p in (tmp_path / "b").iterdir():
        shutil.copy(p, mixed / f"b_{p.name}")
    with pytest.raises(
        DicomReadError, match=r"2 series.*1\.2\.3\.1 \(12 file\(s\), e.g. IM0000.dcm\).*1\.2\.3\.2"
    ):
        read_ct(mixed)
    np.testing.assert_array_equal(read_ct(mixed, series_uid="1.2.3.2").hu, hu[:5] + 1)


def test_non_ct_modality(tmp_path, hu):
    paths = write_dicom_series(hu, tmp_path)
    ds = pydicom.dcmread(paths[0])
    ds.Modality = "MR"
    ds.save_as(paths[0])
    with pytest.raises(DicomReadError, match="modality is 'MR'"):
        read_ct(tmp_path)


def test_duplicate_positions(tmp_path, hu):
    paths = write_dicom_series(hu, tmp_path)
    ds = pydicom.dcmread(paths[3])
    ds.ImagePositionPatient = pydicom.dcmread(paths[4]).ImagePositionPatient
    ds.save_as(paths[3])
    with pytest.raises(DicomReadError, match="duplicate slice position"):
        read_ct(tmp_path)


def test_compressed_without_decoder_names_transfer_syntax(tmp_path, hu):
    paths = write_dicom_series(hu[:2], tmp_path)
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.file_meta.TransferSyntaxUID = JPEG2000Lossless
        ds.PixelData = encapsulate([b"\xff\x4f\xff\x51garbage"])
        ds["PixelData"].VR = "OB"
        ds.save_as(p, enforce_file_format=True)
    with pytest.raises(DicomReadError, match="JPEG 2000"):
        read_ct(tmp_path)


def test_nifti_with_nan_is_named(tmp_path):
    arr = np.zeros((4, 8, 8), np.float32)
    arr[1, 2, 3] = np.nan
    write_nifti(arr, tmp_path / "bad.nii.gz", dtype=np.float32)
    with pytest.raises(ValueError, match="bad.nii.gz: contains 1 NaN/inf"):
        read_ct(tmp_path / "bad.nii.gz")


def test_manifest_paths_and_every_bad_row(tmp_path, hu):
    write_dicom_series(hu, tmp_path / "p1")
    pd.DataFrame(
        {
            "patient_id": ["p1", "p2", "p1", ""],
            "ct": ["p1", "missing_dir", "p1", "p1"],
            "mask": [None, None, "nomask.nii.gz", None],
            "he": [0, 2, 1, 1],
        }
    ).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(ManifestError) as err:
        load_manifest(tmp_path / "m.csv")
    msg = str(err.value)
    for expected in (
        "line 3: ct path 'missing_dir' does not exist",
        "line 3: he must be 0 or 1",
        "line 4: mask path 'nomask.nii.gz'",
        "line 2: duplicate patient_id",
        "line 5: empty patient_id",
    ):
        assert expected in msg
    pd.DataFrame({"patient_id": ["p1"], "ct": ["p1"], "he": [1], "age": [70]}).to_csv(
        tmp_path / "ok.csv", index=False
    )
    df = load_manifest(tmp_path / "ok.csv", require_label=True)
    assert df.loc[0, "ct"] == str((tmp_path / "p1").resolve()) and df.loc[0, "he"] == 1
    pd.DataFrame({"patient_id": ["p1"], "mask": ["x"]}).to_csv(tmp_path / "nocol.csv", index=False)
    with pytest.raises(ManifestError, match=r"missing required column\(s\) \['ct'\]"):
        load_manifest(tmp_path / "nocol.csv")


def test_no_warnings_on_clean_series(tmp_path, hu):
    write_dicom_series(hu, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_ct(tmp_path)


def test_uneven_spacing_is_reported(tmp_path, hu):
    paths = write_dicom_series(hu, tmp_path, spacing=(5, 1, 1))
    for k, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        ds.ImagePositionPatient = [0, 0, 5.0 * k + (0.6 if k % 2 else 0.0)]
        ds.save_as(p)
    with pytest.warns(UserWarning, match="uneven slice spacing"):
        vol = read_ct(tmp_path)
    assert any("uneven" in w for w in vol.warnings)
    np.testing.assert_array_equal(vol.hu, hu)


@pytest.mark.parametrize("unsigned", [True, False])
def test_native_pixel_fast_path_equals_pydicom(tmp_path, hu, unsigned):
    from skhe.io._dicom_elements import _native_pixels

    write_dicom_series(hu, tmp_path, unsigned=unsigned, intercept=-1024.0 if unsigned else 0.0)
    for f in sorted(tmp_path.iterdir()):
        ds = pydicom.dcmread(f)
        fast = _native_pixels(ds)
        assert fast is not None and fast.dtype == ds.pixel_array.dtype
        np.testing.assert_array_equal(fast, ds.pixel_array)


def test_twelve_bit_storage_goes_to_pydicom(tmp_path):
    from skhe.io._dicom_elements import _native_pixels

    data = np.random.default_rng(2).integers(-1024, 2000, size=(4, 16, 16)).astype(np.int16)
    write_dicom_series(data, tmp_path, unsigned=False, intercept=0.0)  # stored = HU, 12-bit range
    for f in tmp_path.iterdir():
        ds = pydicom.dcmread(f)
        ds.BitsStored, ds.HighBit = 12, 11
        ds.save_as(f)
        assert _native_pixels(pydicom.dcmread(f)) is None
    np.testing.assert_array_equal(read_ct(tmp_path).hu, data)
