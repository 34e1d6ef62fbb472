"""The throughput paths: reading ahead while scoring, fp32 score heads under bf16 autocast,
loader workers, and the benchmarks' agreement checks (CPU; the GPU figures are measured by
benchmarks/inference.py and benchmarks/training.py)."""

import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from skhe.neural import HematomaSegmenter, SliceClassifier
from skhe.neural._ndl_inputs import _groups, _read_ahead_groups
from skhe.nn import MultiTaskHENet, SliceClassifierNet, build_unet, unet_logits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


class _Slices:
    def __init__(self, n):
        self.images = np.zeros((n, 4, 4), np.float16)


def test_read_ahead_groups_are_the_plain_groups():
    items = [(i, f"p{i}", _Slices(3 + i % 3)) for i in range(20)]
    ahead = list(_read_ahead_groups(iter(items), max_pixels=5 * 16))
    plain = list(_groups(iter(items), 5 * 16))
    assert [(g[0], g[1]) for g in ahead] == [(g[0], g[1]) for g in plain]
    assert [p for g in ahead for p in g[0]] == list(range(20))  # every patient once, in order
    assert len(ahead) > 5  # several groups: something to read ahead


def test_read_ahead_raises_the_readers_error_after_the_groups_before_it():
    def stream():
        yield 0, "a", _Slices(4)
        yield 1, "b", _Slices(4)
        raise ValueError("patient c: truncated DICOM file")

    seen = []
    with pytest.raises(ValueError, match="patient c"):
        for pos, _, _ in _read_ahead_groups(stream(), max_pixels=64):
            seen += pos
    assert seen == [0, 1]


def test_read_ahead_stops_its_reader_when_the_caller_stops():
    reads = []

    def stream():
        for i in range(1000):
            reads.append(i)
            yield i, str(i), _Slices(4)

    before = threading.active_count()
    gen = _read_ahead_groups(stream(), max_pixels=64)
    next(gen)
    gen.close()  # e.g. an error while scoring the first group
    assert threading.active_count() == before
    assert len(reads) < 1000  # the reader was bounded by the pixel budget and stopped


# ------------------------------------------------------------------------ fp32 score heads
def test_score_heads_are_the_plain_forward_in_fp32():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 32, 32)
    clf = SliceClassifierNet("test_resnet").eval()
    with torch.no_grad():
        np.testing.assert_allclose(clf(x), clf.backbone(x).reshape(-1), rtol=1e-6, atol=1e-6)
    unet = build_unet("tu-test_resnet", 1, decoder_channels=(16, 8, 8, 8, 4)).eval()
    with torch.no_grad():
        np.testing.assert_allclose(unet_logits(unet, x), unet(x), rtol=1e-6, atol=1e-6)


def test_score_heads_stay_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 32, 32)
    clf = SliceClassifierNet("test_resnet").eval()
    unet = build_unet("tu-test_resnet", 1, decoder_channels=(16, 8, 8, 8, 4)).eval()
    he = MultiTaskHENet("tu-test_resnet", decoder_channels=(16, 8, 8, 8, 4)).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert clf(x).dtype == torch.float32
        assert unet_logits(unet, x).dtype == torch.float32
        assert unet(x).dtype == torch.bfloat16  # the plain forward would round the logits
        assert he(x)["he"].dtype == torch.float32


def _blobs(n, size=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 0.35, (n, size, size)).astype(np.float32)
    m = np.zeros((n, size, size), np.uint8)
    yy, xx = np.ogrid[:size, :size]
    for i in range(1, n, 2):
        cy, cx = rng.integers(8, size - 8, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= rng.integers(3, 6) ** 2
        x[i][disc] = 0.8
        m[i] = disc
    return x, m


def test_bf16_named_on_a_cpu_agrees_with_fp32():
    """``mixed_precision="bf16"`` runs bf16 autocast even on a CPU (to check bf16 scores):
    probabilities within 0.01 of fp32 with the score heads in fp32."""
    x, m = _blobs(48)
    y = m.reshape(48, -1).max(1)
    kw = dict(image_size=32, max_epochs=3, augment=False, random_state=0, lr=3e-3)
    clf = SliceClassifier("test_resnet", **kw).fit(x[:32], y[:32])
    seg = HematomaSegmenter("tu-test_resnet", decoder_channels=(16, 8, 8, 8, 4), **kw)
    seg.fit(x[:32], m[:32])
    p32 = clf.predict_proba(x[32:])[:, 1]
    a32 = seg.slice_score(x[32:])
    assert clf._amp_dtype("cpu") is None  # "auto": fp32 on a CPU
    clf.set_params(mixed_precision="bf16")
    seg.set_params(mixed_precision="bf16")
    assert clf._amp_dtype("cpu") == torch.bfloat16
    p16 = clf.predict_proba(x[32:])[:, 1]
    a16 = seg.slice_score(x[32:])
    assert not np.array_equal(p16, p32)  # bf16 really ran
    assert np.max(np.abs(p16 - p32)) < 0.01
    assert np.max(np.abs(a16 - a32) / (a32 + 1)) < 0.02


# ------------------------------------------------------------------------ loader workers
def test_loader_workers_auto():
    import os

    est = SliceClassifier()
    assert est.num_workers == "auto" and est._loader_workers("cpu") == 0
    assert est._loader_workers("cuda") == max(1, min(8, (os.cpu_count() or 2) // 2))
    assert est.set_params(num_workers=3)._loader_workers("cuda") == 3


# ------------------------------------------------------------------------ benchmark helpers
def test_gap_threshold_sits_in_the_widest_gap_near_the_quantile():
    from inference import gap_threshold

    probs = np.array([0.1, 0.2, 0.3, 0.31, 0.32, 0.6, 0.61, 0.62, 0.9, 0.95])
    t = gap_threshold(probs, 0.5, window=0.2)
    assert t == pytest.approx((0.32 + 0.6) / 2)
    assert (probs >= t).sum() == 5
    # far from every slice: no rounding of the probabilities flips a slice
    assert np.min(np.abs(probs - t)) == pytest.approx(0.14)


@pytest.mark.parametrize(
    ("shape", "size", "low", "high", "dtype"),
    [
        ((11, 64, 64), 16, 0.0, 100.0, np.int16),  # downsampling, antialiased
        ((5, 40, 56), 24, -20.0, 80.5, np.int16),  # non-square: padded first
        ((3, 20, 20), 32, 40.0, 120.0, np.float32),  # upsampling, float HU
        ((4, 32, 32), 32, 0.0, 100.0, np.int16),  # same size
    ],
)
def test_window_resize_is_resize_of_window_bit_for_bit(shape, size, low, high, dtype):
    from skhe.preprocessing import resize, window, window_resize

    rng = np.random.default_rng(0)
    hu = rng.integers(-1100, 1500, size=shape).astype(dtype)
    if dtype == np.float32:
        hu += rng.random(shape, dtype=np.float32)
    for block in (1, 3, 8):
        img, native = window_resize(hu, size, low, high, native=True, block=block)
        np.testing.assert_array_equal(img, resize(window(hu, low, high), size))
        np.testing.assert_array_equal(native, np.rint(window(hu, low, high) * 255.0))
        assert img.dtype == np.float32 and native.dtype == np.uint8
    assert window_resize(hu, size, low, high)[1] is None
    with pytest.raises(ValueError, match="NaN"):
        window_resize(np.full((2, 8, 8), np.nan, np.float32), 4)
    # the device path (on a GPU with preprocess_device): the same float32 operations in
    # torch, here on the CPU's torch device, bit for bit
    img, native = window_resize(hu, size, low, high, native=True, device="cpu")
    np.testing.assert_array_equal(img, resize(window(hu, low, high), size))
    np.testing.assert_array_equal(native, np.rint(window(hu, low, high) * 255.0))
    assert img.dtype == np.float32 and native.dtype == np.uint8
    with pytest.raises(ValueError, match="NaN"):
        window_resize(np.full((2, 8, 8), np.nan, np.float32), 4, device="cpu")
    frozen = hu.copy()
    frozen.flags.writeable = False  # e.g. a memory-mapped volume: no torch warning, same result
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = window_resize(frozen, size, low, high, device="cpu")[0]
    np.testing.assert_array_equal(got, img)


@pytest.mark.parametrize(
    ("dtype", "lo", "hi", "slope", "intercept"),
    [
        (np.uint16, 0, 4095, 1.0, -1024.0),  # the usual CT layout: the int16 fast path
        (np.int16, -2000, 3000, 1.0, -1024.0),
        (np.int16, -32000, 32000, 1.0, -1024.0),  # would leave int16: saturated as _to_hu
        (np.uint16, 0, 65535, 1.0, -32768.0),  # stored values beyond int16
        (np.int16, -1000, 3000, 1.0, -1024.5),  # a fractional intercept
        (np.uint16, 0, 4095, 0.5, -1024.0),  # a slope
        (np.uint8, 0, 255, 1.0, 0.0),
    ],
)
def test_series_to_hu_is_to_hu_of_the_stack(dtype, lo, hi, slope, intercept):
    from skhe.io._dicom_elements import _series_to_hu, _to_hu

    rng = np.random.default_rng(1)
    slices = [rng.integers(lo, hi, size=(12, 10), endpoint=True).astype(dtype) for _ in range(4)]
    slices[0][0, 0], slices[1][0, 0] = lo, hi  # the extremes are in the series
    got = _series_to_hu(slices, slope, intercept)
    np.testing.assert_array_equal(got, _to_hu(np.stack(slices), slope, intercept))
    assert got.dtype == np.int16


# ------------------------------------------------------------------------ transfers and compile
def test_batches_reach_the_device_as_float32_and_outputs_come_back():
    from skhe.neural._torch_runtime import batch_to_device, outputs_to_host, wait_for_copies

    cpu = torch.device("cpu")
    half = np.random.default_rng(0).random((3, 1, 8, 8)).astype(np.float16)
    t = batch_to_device(half, cpu, channels_last=True)
    assert t.dtype == torch.float32 and t.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_array_equal(t.numpy(), half.astype(np.float32))  # float16 -> 32: exact
    assert batch_to_device(half[:, 0], cpu, channels_last=True).ndim == 3  # no 4-D layout
    half.flags.writeable = False  # a read-only array: copied, not wrapped (no torch warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(batch_to_device(half, cpu, False).numpy(), t.numpy())
    a, b = torch.ones(2), torch.zeros(3, dtype=torch.float64)
    out = outputs_to_host((a, b), non_blocking=True)
    assert isinstance(out, tuple) and out[0] is a and out[1] is b  # already on the CPU
    assert outputs_to_host([a], non_blocking=False)[0] is a
    wait_for_copies(cpu)  # nothing to wait for on a CPU


class _CountingBackend:
    """A torch.compile backend that runs the captured graphs eagerly and counts them."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, gm, example_inputs):
        self.graphs += 1
        return gm.forward


def test_compile_runs_predictions_through_torch_compile_with_the_same_outputs():
    """``compile``: the networks' calls go through torch.compile (a counting backend shows
    which), the outputs equal eager ones, and the modules are plain again afterwards."""
    import copy
    import pickle

    from skhe.neural import MultiTaskHEModel

    x, m = _blobs(24)
    y = m.reshape(24, -1).max(1)
    kw = dict(image_size=32, max_epochs=1, augment=False, random_state=0, batch_size=8)
    unet = dict(decoder_channels=(16, 8, 8, 8, 4), **kw)
    clf = SliceClassifier("test_resnet", **kw).fit(x, y)
    seg = HematomaSegmenter("tu-test_resnet", **unet).fit(x, m)
    he = MultiTaskHEModel("tu-test_resnet", freeze_encoder=True, **unet)
    he.fit(x, np.arange(24) // 2 % 2, masks=m, unet_state=seg.module_.state_dict())
    eager = (clf.predict_proba(x), seg.predict_proba(x), he.predict_proba(x))
    joint_eager = seg.area_and_he_score(he, x)

    backend = _CountingBackend()
    for est in (clf, seg, he):
        est.set_params(compile={"backend": backend})
    compiled = (clf.predict_proba(x), seg.predict_proba(x), he.predict_proba(x))
    # one graph each: the classifier, the U-Net's encoder and decoder, the HE network
    assert backend.graphs == 4
    for e, c in zip(eager, compiled, strict=True):
        np.testing.assert_allclose(c, e, rtol=0, atol=1e-6)
    assert seg.shares_encoder_with(he)
    joint = seg.area_and_he_score(he, x)  # the shared pass: both estimators' compiled calls
    for e, c in zip(joint_eager, joint, strict=True):
        np.testing.assert_allclose(c, e, rtol=1e-6, atol=1e-6)
    assert backend.graphs == 4 + 1  # the HE network called with the encoder's features: new graph

    # compiled once, reused; the modules are plain outside predictions
    clf.predict_proba(x)
    assert backend.graphs == 5
    assert clf.module_._compiled_call_impl is None
    assert seg.module_.encoder._compiled_call_impl is None
    # compiled code is never pickled; copies and saved models predict as eager ones
    state = pickle.loads(pickle.dumps(clf))
    assert "_compiled_calls" not in state.__dict__
    np.testing.assert_array_equal(copy.deepcopy(clf).predict_proba(x), compiled[0])
    clf.set_params(compile=False)
    clf.predict_proba(x)
    assert backend.graphs == 5


def test_preprocess_device_auto_is_the_networks_device():
    from skhe.neural import NDLScorer

    scorer = NDLScorer(SliceClassifier(device="cpu"), HematomaSegmenter(device="cpu"))
    assert scorer._preprocess_device() is None  # the CPU's blocked path
    assert scorer.set_params(preprocess_device="cpu")._preprocess_device() is None
    with pytest.raises(ValueError, match="preprocess_device must be auto"):
        scorer.set_params(preprocess_device="gpu")._preprocess_device()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            scorer.set_params(preprocess_device="cuda")._preprocess_device()


def test_a_batch_the_device_has_no_memory_for_is_halved():
    """Out of memory on a batch: the batch is halved (with a PerformanceWarning) until it
    fits, and the predictions are those of the smaller batch size."""
    from skhe.exceptions import PerformanceWarning

    x, _ = _blobs(24)
    y = np.arange(24) % 2
    clf = SliceClassifier("test_resnet", image_size=32, max_epochs=1, augment=False).fit(x, y)
    expected = clf.set_params(predict_batch_size=5).predict_proba(x)
    plain = clf.module_.forward
    sizes = []

    def forward(t):
        sizes.append(len(t))
        if len(t) > 5:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return plain(t)

    clf.module_.forward = forward
    with pytest.warns(PerformanceWarning) as caught:
        got = clf.set_params(predict_batch_size=20).predict_proba(x)
    assert [str(w.message).split(";")[0].split(": cpu ")[1] for w in caught] == [
        "ran out of memory on a batch of 20 slices",
        "ran out of memory on a batch of 10 slices",
    ]
    np.testing.assert_array_equal(got, expected)
    assert sizes[:3] == [20, 10, 5] and max(sizes[3:]) == 5  # halved, then kept small
    assert sum(s for s in sizes if s <= 5) == len(x)

    def always(t):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    clf.module_.forward = always
    with pytest.warns(PerformanceWarning, match="batch of 2 slices; predicting 1"):
        with pytest.raises(torch.OutOfMemoryError):
            clf.set_params(predict_batch_size=2).predict_proba(x)


def test_gpu_batches_are_sized_by_pixels():
    est = SliceClassifier(batch_size=8)
    assert est._predict_batch("cuda", 512 * 512) == 256  # the H200's fastest (issue 17)
    assert est._predict_batch("cuda", 64 * 64) == 512  # capped
    assert est._predict_batch("cpu", 512 * 512) == 1
    assert est.set_params(predict_batch_size=7)._predict_batch("cuda", 512 * 512) == 7
