import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from skhe.io import read_ct, write_dicom_series, write_nifti
from skhe.preprocessing import (
    PatientBagDataset,
    SliceAugmenter,
    SliceCache,
    SliceDataset,
    resize,
    rewindow,
    window,
)


def test_window_maps_hu_to_unit_interval():
    out = window(np.array([-1000, 0, 50, 100, 2000]))
    np.testing.assert_allclose(out, [0, 0, 0.5, 1, 1])
    assert out.dtype == np.float32
    np.testing.assert_allclose(window(np.array([40.0]), -20, 100), [0.5])
    with pytest.raises(ValueError, match="high > low"):
        window(np.zeros(3), 100, 0)
    with pytest.raises(ValueError, match="NaN"):
        window(np.array([np.nan]))


def test_rewindow_equals_windowing_the_hu():
    hu = np.random.default_rng(0).uniform(-200, 300, (4, 16, 16))
    wins = [(0, 100), (40, 90), (10, 50)]
    out = rewindow(window(hu, 0, 100), wins)
    assert out.shape == (4, 3, 16, 16) and out.dtype == np.float32
    for c, (lo, hi) in enumerate(wins):
        np.testing.assert_allclose(out[:, c], window(hu, lo, hi), atol=1e-6)
    # from another base window too (CT-ICH's export: -20 to 100 HU)
    np.testing.assert_allclose(
        rewindow(window(hu, -20, 100), [(40, 90)], base=(-20, 100))[:, 0],
        window(hu, 40, 90),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match=r"\(40, 120\) HU is not inside"):
        rewindow(window(hu, 0, 100), [(40, 120)])
    with pytest.raises(ValueError, match="shaped"):
        rewindow(np.zeros((2, 1, 8, 8)), [(0, 100)])


def test_resize_images_and_binary_masks():
    img = np.zeros((2, 64, 64), np.float32)
    img[:, 16:48, 16:48] = 1.0
    out = resize(img, 32)
    assert out.shape == (2, 32, 32) and out.dtype == np.float32
    assert out.mean() == pytest.approx(img.mean(), abs=0.02)  # area preserved
    m = resize(img.astype(np.uint8), 128, mask=True)
    assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 1}
    assert m.sum() / m[0].size / 2 == pytest.approx(0.25, abs=0.01)
    rect = np.ones((1, 40, 80), np.float32)
    rect[0, 20, 0] = 0.0  # the stack minimum is the padding value
    rect = resize(rect, 32)  # padded to a square first: top and bottom rows are padding
    assert rect.shape == (1, 32, 32) and rect[0, 0].max() < 0.1
    assert rect[0, 16, 5:].min() > 0.99
    with pytest.raises(ValueError, match=r"\(n, H, W\)"):
        resize(np.zeros((4, 4)), 2)


def test_augmentation_moves_image_and_mask_together_and_is_seeded():
    img = np.zeros((64, 64), np.float32)
    img[20:30, 10:25] = 0.8
    mask = (img > 0).astype(np.uint8)
    a1 = SliceAugmenter(p=1.0, random_state=3)
    a2 = SliceAugmenter(p=1.0, random_state=3)
    outs1 = [a1(img, mask) for _ in range(5)]
    outs2 = [a2(img, mask) for _ in range(5)]
    for (i1, m1), (i2, m2) in zip(outs1, outs2, strict=True):
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_array_equal(m1, m2)
        assert set(np.unique(m1)) <= {0, 1}
        # the lesion pixels and the mask stay aligned
        assert (i1[m1 == 1] > 0.4).mean() > 0.9
        assert 0 <= i1.min() and i1.max() <= 1
    assert not np.array_equal(outs1[0][0], img)
    clone = pickle.loads(pickle.dumps(a1))
    assert clone(img, mask)[0].shape == (64, 64)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        a1(img * 100)


def test_augmentation_noise_and_blur_change_the_image_not_the_mask():
    img = np.full((64, 64), 0.4, np.float32)
    img[20:30, 10:25] = 0.8
    mask = (img > 0.5).astype(np.uint8)
    still = dict(shift=0.0, scale=0.0, rotate=0.0, p=1.0)
    stds = []
    for seed in range(20):
        out, m = SliceAugmenter(**still, noise=0.03, random_state=seed)(img, mask)
        np.testing.assert_array_equal(m, mask)
        stds.append((out - img).std())
    # a standard deviation drawn up to 0.03 of the window: none above it, not all near zero
    assert max(stds) <= 0.031 and np.mean(stds) == pytest.approx(0.015, abs=0.006)
    two, _ = SliceAugmenter(**still, noise=0.03, random_state=0)(np.stack([img, img]), mask)
    np.testing.assert_array_equal(two[0], two[1])  # one draw of noise for all windows of a slice
    out, m = SliceAugmenter(**still, blur=1.0, random_state=0)(img, mask)
    np.testing.assert_array_equal(m, mask)
    # the 0.4 -> 0.8 edge is spread over more than one pixel; the mean level is kept
    assert np.abs(np.diff(out, axis=1)).max() < 0.3
    assert out.mean() == pytest.approx(img.mean(), abs=0.01)
    for bad in ({"noise": -0.1}, {"noise": 1.5}, {"blur": "x"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SliceAugmenter(**bad)(img, mask)


@pytest.fixture
def small_cohort(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i, n in enumerate((6, 8)):
        hu = rng.integers(-100, 150, size=(n, 48, 48)).astype(np.int16)
        mask = np.zeros((n, 48, 48), np.uint8)
        mask[2:4, 10:20, 10:20] = 1
        write_dicom_series(hu, tmp_path / f"p{i}" / "ct", spacing=(5, 0.9, 0.9))
        ct_grid = read_ct(tmp_path / f"p{i}" / "ct")
        write_nifti(mask, tmp_path / f"p{i}" / "mask.nii.gz", like=ct_grid)
        rows.append(
            {
                "patient_id": f"p{i}",
                "ct": str(tmp_path / f"p{i}" / "ct"),
                "mask": str(tmp_path / f"p{i}" / "mask.nii.gz"),
                "hu": hu,
                "m": mask,
            }
        )
    return rows


def test_slice_cache_builds_reads_lazily_and_invalidates(tmp_path, small_cohort):
    import pandas as pd

    table = pd.DataFrame(small_cohort)[["patient_id", "ct", "mask"]]
    cache = SliceCache(tmp_path / "cache", size=32).build(table, progress=False)
    assert cache.patients == ["p0", "p1"] and len(cache) == 14
    imgs = cache.images("p0")
    assert isinstance(imgs, np.memmap) and imgs.shape == (6, 32, 32) and imgs.dtype == np.uint8
    expected = resize(window(small_cohort[0]["hu"]), 32)
    np.testing.assert_allclose(cache.slice("p0", 1), expected[1], atol=1 / 255 + 1e-6)
    np.testing.assert_array_equal(cache.slice_labels("p1"), [0, 0, 1, 1, 0, 0, 0, 0])
    assert cache.entry("p0").spacing == pytest.approx((5, 0.9 * 48 / 32, 0.9 * 48 / 32))
    # file names are content hashes, never patient ids
    assert not any("p0" in f or "p1" in f for f in os.listdir(cache.dir))
    key_before = cache.entry("p0").key
    # reopening reuses the entries
    again = SliceCache(tmp_path / "cache", size=32)
    assert again.entry("p0").key == key_before
    # touching a file without changing it keeps the entry; changing content rebuilds it
    f = sorted((tmp_path / "p0" / "ct").iterdir())[0]
    os.utime(f, None)
    assert again.add("p0", small_cohort[0]["ct"], small_cohort[0]["mask"]).key == key_before
    hu2 = small_cohort[0]["hu"].copy()
    hu2[0] += 50
    write_dicom_series(hu2, tmp_path / "p0" / "ct", spacing=(5, 0.9, 0.9))
    new = again.add("p0", small_cohort[0]["ct"], small_cohort[0]["mask"])
    assert new.key != key_before
    assert not (again.dir / f"{key_before}.img.npy").exists()
    # a different setting is a different cache
    assert SliceCache(tmp_path / "cache", size=16).dir != cache.dir
    f16 = SliceCache(tmp_path / "cache", size=32, dtype="float16").build(table, progress=False)
    np.testing.assert_allclose(f16.slice("p0", 1), expected[1], atol=1e-3)


def test_torch_datasets(tmp_path, small_cohort):
    import pandas as pd

    table = pd.DataFrame(small_cohort)[["patient_id", "ct", "mask"]]
    cache = SliceCache(tmp_path / "cache", size=32).build(table, progress=False)
    ds = SliceDataset(cache)
    assert len(ds) == 14 and ds.labels.sum() == 4
    x, y = ds[2]
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32 and y.item() == 1.0
    _, m = SliceDataset(cache, target="mask")[2]
    assert m.shape == (1, 32, 32) and m.sum() > 0
    batch = next(iter(DataLoader(ds, batch_size=5, num_workers=1)))
    assert batch[0].shape == (5, 1, 32, 32)
    aug = SliceDataset(cache, ["p1"], target="both", augment=SliceAugmenter(random_state=0))
    xa, t = aug[3]
    assert set(t) == {"label", "mask"} and xa.shape == (1, 32, 32)
    bags = PatientBagDataset(cache)
    imgs, masks, pid = bags[1]
    assert pid == "p1" and imgs.shape == (8, 1, 32, 32) and masks.shape == (8, 1, 32, 32)
    with pytest.raises(KeyError, match="zz"):
        PatientBagDataset(cache, ["zz"])


def test_reading_every_slice_keeps_no_memory_map_open(tmp_path, small_cohort):
    import gc

    import pandas as pd

    table = pd.DataFrame(small_cohort)[["patient_id", "ct", "mask"]]
    cache = SliceCache(tmp_path / "cache", size=32).build(table, progress=False)
    ds = SliceDataset(cache, target="both")
    items = [ds[i] for i in range(len(ds))]
    gc.collect()
    # a kept map of each patient's file would add every page read to the resident set
    assert str(cache.dir) not in Path("/proc/self/maps").read_text()
    # the slice-by-slice reads equal the whole-patient memory maps
    for p in cache.patients:
        imgs, masks = np.asarray(cache.images(p)), np.asarray(cache.masks(p))
        for k in range(len(imgs)):
            np.testing.assert_array_equal(cache.slice(p, k), imgs[k] / np.float32(255))
            np.testing.assert_array_equal(cache.mask_slice(p, k), masks[k])
    _, t = items[2]
    np.testing.assert_array_equal(t["mask"][0].numpy(), cache.masks("p0")[2])
    with pytest.raises(IndexError, match="slice 6 out of range"):
        cache.slice("p0", 6)
