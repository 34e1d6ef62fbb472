"""Inference speed: DICOM series to an nDL score per patient, optimized path against a naive loop.

Usage::

    python benchmarks/inference.py                        # cpu and paper presets (~10 min on 2 cores)
    python benchmarks/inference.py --preset cpu           # one preset
    python benchmarks/inference.py --device cuda          # on a GPU (paper preset: more patients)
    python benchmarks/inference.py --smoke                # seconds: checks the script end to end

For each preset, the three networks (slice classifier, segmenter, multi-task HE model) are
trained for one epoch on a few synthetic slices: their speed does not depend on their weights.
Test patients are synthetic 512x512 DICOM series (24-40 slices). Two paths run in the same
process on the same patients, each starting from the DICOM files:

- **naive**: read the series, window, resize, then every slice alone through each of the three
  networks in fp32 (``torch.no_grad``, contiguous memory layout), as a first implementation would;
- **optimized**: ``NDLScorer.transform`` (the library's path): batched ``inference_mode`` with
  channels_last over groups of patients, the segmenter and HE model run only on the slices the
  classifier selects and share one encoder pass (the HE model's encoder is the segmenter's,
  frozen, as NDLScorer trains it), and on a GPU bf16 autocast.

Each path runs ``--repeats`` times (default 2) and its best time counts. Both give the same nDL
score within a tolerance (1e-3 in fp32, 0.01 when the optimized path runs in bf16: the script
fails beyond it). The slice threshold is set so that the classifier selects about as many slices
as the masks say carry hematoma (an untrained classifier would select an arbitrary number), in
the widest gap between the slices' probabilities there (``gap_threshold``): a threshold on a
slice's own probability would flip that slice at the slightest rounding difference.
``NDLScorer.transform`` reads the next patients in a background thread while the networks score
(``--no-read-ahead`` turns it off). Each network's FLOPs per slice come from ``torch.utils.flop_counter``; the machine's peak
is the best of a few large fp32 matrix multiplications; the FLOP bound of a path is
``peak / FLOPs per slice``. Results: ``docs/benchmarks/inference.{md,json}``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results
from sklearn.frozen import FrozenEstimator

from skhe.datasets import make_synthetic_cohort
from skhe.exceptions import small_model_warnings_ignored
from skhe.io import read_ct, read_mask
from skhe.neural import HematomaSegmenter, MultiTaskHEModel, NDLScorer, SliceClassifier
from skhe.preprocessing import read_patient, resize, window
from skhe.preprocessing._read_pool import effective_read_jobs, read_patients
from skhe.presets import get_preset


def peak_gflops(device: str, n: int = 2048, repeats: int = 5, dtype=torch.float32) -> float:
    """Best matmul throughput in ``dtype`` (fp32 by default), GFLOP/s: the practical peak."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = np.inf
    for _ in range(repeats + 1):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def flops_per_slice(module: torch.nn.Module, size: int, device: str) -> float:
    """FLOPs (2 x multiply-adds) of one forward pass on one slice."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, 1, size, size, device=device)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        module(x)
    return float(counter.get_total_flops())


def train_briefly(preset, train_slices, train_masks, he_labels, device: str):
    """The preset's three networks after one epoch on a few slices (speed needs no accuracy)."""
    size = preset.image_size
    common = dict(image_size=size, random_state=0, device=device, max_epochs=1, augment=False)
    labels = (train_masks.reshape(len(train_masks), -1).max(axis=1) > 0).astype(int)
    clf = SliceClassifier(**{**preset.classifier, **common}).fit(train_slices, labels)
    seg = HematomaSegmenter(**{**preset.segmenter, **common}).fit(train_slices, train_masks)
    # as NDLScorer does: the HE model starts from the segmenter's U-Net, encoder frozen
    he = MultiTaskHEModel(**{**preset.he_model, **common}).fit(
        train_slices, he_labels, masks=train_masks, unet_state=seg.module_.state_dict()
    )
    return clf, seg, he


def naive_scores(patients, clf, seg, he, size: int, hu_window=(0.0, 100.0)):
    """Per patient, per slice: (classifier prob, area mm^2, DL score); one slice at a time, fp32.

    The loop runs copies of the networks in the default memory format: converting the fitted
    modules themselves would leave the optimized path with contiguous weights and channels_last
    inputs (about 40% slower on the cpu preset's networks).
    """
    out = []
    mods = [
        copy.deepcopy(m.module_).to(memory_format=torch.contiguous_format).eval()
        for m in (clf, seg, he)
    ]
    dev = next(mods[0].parameters()).device
    with torch.no_grad():
        for ct in patients:
            vol = read_ct(ct)
            img = resize(window(vol.hu, *hu_window), size).astype(np.float16)
            scale = max(vol.hu.shape[1:]) / size
            px = vol.spacing[1] * scale * vol.spacing[2] * scale
            rows = []
            for s in img:
                x = torch.from_numpy(s.astype(np.float32))[None, None].to(dev)
                p = torch.sigmoid(mods[0](x)).item()
                a = torch.sigmoid(mods[1](x)).sum().item() * px
                d = torch.sigmoid(mods[2](x)["he"]).item()
                rows.append((p, a, d))
            out.append(np.array(rows))
    return out


def pooled(details: np.ndarray, threshold: float) -> float:
    """The nDL raw score (area-weighted mean DL score over selected slices) from per-slice rows."""
    p, a, d = details.T
    w = np.where(p >= threshold, a, 0.0)
    return float(np.sum(w * d) / w.sum()) if w.sum() > 0 else float(d.mean())


def gap_threshold(probs: np.ndarray, quantile: float, window: float = 0.05) -> float:
    """A threshold near ``quantile`` of ``probs``, in the middle of the widest gap between
    neighbouring probabilities within +-``window`` of that quantile.

    A threshold placed *at* a quantile sits on a slice's own probability, so any rounding
    difference (bf16 against fp32) flips that slice in or out of the selection; a threshold in
    a gap is as far from every slice as the data allow, as a Youden threshold fitted on other
    patients usually is.
    """
    p = np.sort(np.asarray(probs, dtype=float))
    lo = max(0, int(np.floor((quantile - window) * len(p))))
    hi = min(len(p) - 1, int(np.ceil((quantile + window) * len(p))))
    if hi <= lo:
        return float(np.quantile(p, quantile))
    gaps = np.diff(p[lo : hi + 1])
    k = lo + int(np.argmax(gaps))
    return float((p[k] + p[k + 1]) / 2)


def _cohort_part(job: tuple) -> pd.DataFrame:
    out, n, seed, size = job
    return make_synthetic_cohort(n, out, image_size=size, random_state=seed, progress=False)


def synthetic_patients(n: int, out: Path, size: int, jobs: int = 1) -> pd.DataFrame:
    """``n`` synthetic test patients (DICOM series), made by ``jobs`` processes in parallel
    (each part a cohort of its own seed; the manifest's paths are absolute)."""
    if jobs <= 1 or n < 2:
        return make_synthetic_cohort(n, out, image_size=size, random_state=1, progress=False)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    k = min(jobs, n // 2)  # a cohort has at least 2 patients
    sizes = [n // k + (i < n % k) for i in range(k)]
    parts = [(out / f"part{i}", m, 1 + i, size) for i, m in enumerate(sizes)]
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch threads
    with ProcessPoolExecutor(k, mp_context=ctx) as pool:
        frames = list(pool.map(_cohort_part, parts))
    return pd.concat(frames, ignore_index=True)


def _compile_option(mode: str):
    """The estimators' ``compile`` parameter for ``--compile``."""
    return {"none": False, "default": True}.get(mode, {"mode": mode})


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_preset(name: str, args, work: Path, device: str) -> dict:
    preset = get_preset(name)
    n_test = args.patients or (2 if name == "paper" and device == "cpu" else 8)
    if args.smoke:
        n_test = 2
    print(f"[{name}] cohort: {n_test} test patients at {args.size}x{args.size}", flush=True)
    test = synthetic_patients(n_test, work / f"{name}-test", args.size, args.jobs)
    train = make_synthetic_cohort(
        4,
        work / f"{name}-train",
        image_size=args.size,
        n_slices=(6, 6),
        random_state=2,
        progress=False,
    )
    # a few training slices at the network's size, half with hematoma
    slices, masks, he = [], [], []
    for row in train.itertuples():
        vol = read_ct(work / f"{name}-train" / row.ct)
        m = read_mask(work / f"{name}-train" / row.mask, like=vol)
        slices.append(resize(window(vol.hu, 0, 100), preset.image_size))
        masks.append(resize(m, preset.image_size, mask=True))
        he.append(np.full(len(m), row.he))
    slices, masks, he = np.concatenate(slices), np.concatenate(masks), np.concatenate(he)
    if len(np.unique(he[masks.reshape(len(masks), -1).max(axis=1) > 0])) < 2:
        he[: len(he) // 2] = 1 - he[: len(he) // 2]  # the HE head needs both labels
    print(f"[{name}] training each network for 1 epoch on {len(slices)} slices", flush=True)
    clf, seg, hem = train_briefly(preset, slices.astype(np.float32), masks, he, device)

    flops = {
        "classifier": flops_per_slice(clf.module_, preset.image_size, device),
        "segmenter": flops_per_slice(seg.module_, preset.image_size, device),
        "he_model": flops_per_slice(hem.module_, preset.image_size, device),
        "encoder": flops_per_slice(seg.module_.encoder, preset.image_size, device),
    }
    shared = seg.shares_encoder_with(hem) and seg.image_size == preset.image_size
    cts = [str(work / f"{name}-test" / c) for c in test.ct]
    n_slices = int(sum(read_ct(c).hu.shape[0] for c in cts))
    hem_frac = float(
        np.mean(
            np.concatenate(
                [
                    read_mask(work / f"{name}-test" / m).reshape(-1, args.size * args.size).max(1)
                    > 0
                    for m in test["mask"]
                ]
            )
        )
    )

    with torch.no_grad():  # warm both paths' first-call costs (allocator, oneDNN primitives)
        x = torch.zeros(1, 1, preset.image_size, preset.image_size, device=device)
        for est in (clf, seg, hem):
            est.module_(x)
    print(f"[{name}] naive loop over {n_slices} slices", flush=True)
    naive_runs = []  # repeated as the optimized path; the best of each is compared
    for _ in range(args.repeats):
        _sync(device)
        t0 = time.perf_counter()
        naive = naive_scores(cts, clf, seg, hem, preset.image_size)
        _sync(device)
        naive_runs.append(time.perf_counter() - t0)
    t_naive = min(naive_runs)
    probs = np.concatenate([d[:, 0] for d in naive])
    threshold = gap_threshold(probs, 1 - hem_frac)

    if args.mixed_precision != "auto":  # the optimized path's precision (naive: always fp32)
        for est in (clf, seg, hem):
            est.set_params(mixed_precision={"bf16": "bf16", "fp32": False}[args.mixed_precision])
    precision = clf._amp_dtype(device)
    scorer = NDLScorer(
        FrozenEstimator(clf),
        FrozenEstimator(seg),
        FrozenEstimator(hem),
        image_size=preset.image_size,
        slice_threshold=threshold,
        cv=None,
        normalize=False,
        read_ahead=not args.no_read_ahead,
        read_jobs=args.read_jobs,
        preprocess_device=args.preprocess_device,
    )
    compile_opts = _compile_option(args.compile)
    for est in (clf, seg, hem):
        est.set_params(compile=compile_opts)
    pool_start = None
    n_jobs = effective_read_jobs(args.read_jobs)
    if n_jobs > 1:  # start the workers (once per process)
        t0 = time.perf_counter()
        items = [(str(work / f"{name}-train" / c), None) for c in train.ct]
        for _ in read_patients(items, image_size=preset.image_size, n_jobs=n_jobs):
            pass
        pool_start = time.perf_counter() - t0
    X = test[["ct"]].assign(ct=cts)
    with small_model_warnings_ignored():
        # frozen nets: fit only sets the normalization (on the small training patients)
        X_train = pd.DataFrame({"ct": [str(work / f"{name}-train" / c) for c in train.ct]})
        scorer.fit(X_train, np.arange(len(X_train)) % 2)
        scorer._slices().clear()  # the optimized path reads the DICOM files too
        warmup = None
        if compile_opts:  # the compilations (one per network and batch shape), timed apart
            _sync(device)
            t0 = time.perf_counter()
            scorer.transform(X)
            _sync(device)
            warmup = time.perf_counter() - t0
            scorer._slices().clear()
            print(f"[{name}] first transform, compiling: {warmup:.1f} s", flush=True)
        print(f"[{name}] optimized path (NDLScorer.transform)", flush=True)
        runs = {}  # predict batch -> the repeats' seconds
        for batch in args.predict_batches or [None]:  # None: the library's default
            for est in (clf, seg, hem):
                est.set_params(predict_batch_size=batch)
            timings = []
            for _ in range(args.repeats):
                scorer._slices().clear()
                _sync(device)
                t0 = time.perf_counter()
                fast = scorer.transform(X)[:, 0]
                _sync(device)
                timings.append(time.perf_counter() - t0)
            runs[str(batch or "default")] = timings
            print(
                f"[{name}]   predict batch {batch or 'default'}: {min(timings):.2f} s", flush=True
            )
        t_fast = min(min(t) for t in runs.values())
        # the networks alone: the same transform with every patient's slices already in memory
        # (the in-process volume cache is warm after the last run)
        cached = []
        for _ in range(args.repeats):
            _sync(device)
            t0 = time.perf_counter()
            scorer.transform(X)
            _sync(device)
            cached.append(time.perf_counter() - t0)
        scorer._slices().clear()
        t0 = time.perf_counter()
        for c in cts:  # as the optimized path reads a patient
            read_patient(c, image_size=preset.image_size)
        t_read = time.perf_counter() - t0
        table = scorer.slice_table(X)  # every slice, as the optimized path computes it
    ref = np.array([pooled(d, threshold) for d in naive])
    fast_raw = 1 / (1 + np.exp(-fast))  # normalize=False gives logit(raw)
    max_diff = float(np.max(np.abs(fast_raw - ref)))
    nd = np.concatenate(naive)
    flips = int(
        np.sum((table["classifier_prob"].to_numpy() >= threshold) != (nd[:, 0] >= threshold))
    )
    agreement = {
        "precision": "fp32" if precision is None else str(precision).replace("torch.", ""),
        "tolerance": 1e-3 if precision is None else 1e-2,
        "selection_flips": flips,
        "max_abs_classifier_prob_difference": float(
            np.max(np.abs(table["classifier_prob"].to_numpy() - nd[:, 0]))
        ),
        "max_abs_dl_score_difference": float(
            np.max(np.abs(table["dl_score"].to_numpy() - nd[:, 2]))
        ),
        "max_rel_area_difference": float(
            np.max(np.abs(table["area_mm2"].to_numpy() - nd[:, 1]) / (nd[:, 1] + 1.0))
        ),
        "threshold_gap": float(np.min(np.abs(nd[:, 0] - threshold))),
    }
    selected = float(np.mean(probs >= threshold))
    total_flops_naive = flops["classifier"] + flops["segmenter"] + flops["he_model"]
    per_selected = flops["segmenter"] + flops["he_model"] - (flops["encoder"] if shared else 0)
    total_flops_opt = flops["classifier"] + selected * per_selected
    return {
        "preset": name,
        "image_size": preset.image_size,
        "networks": {
            "classifier": preset.classifier.get("backbone"),
            "segmenter": preset.segmenter.get("encoder"),
            "he_model": preset.he_model.get("encoder"),
        },
        "test_patients": n_test,
        "test_slices": n_slices,
        "hematoma_slice_fraction": hem_frac,
        "selected_slice_fraction": selected,
        "shared_encoder": shared,
        "gflops_per_slice": {k: v / 1e9 for k, v in flops.items()},
        "naive_s": t_naive,
        "naive_runs_s": naive_runs,
        "optimized_s": t_fast,
        "optimized_runs_s": runs,
        "optimized_s_by_predict_batch": {k: min(t) for k, t in runs.items()},
        "read_preprocess_s": t_read,
        "naive_slices_per_s": n_slices / t_naive,
        "optimized_slices_per_s": n_slices / t_fast,
        "naive_s_per_patient": t_naive / n_test,
        "optimized_s_per_patient": t_fast / n_test,
        "speedup": t_naive / t_fast,
        # the networks alone: transform with the slices already read and preprocessed
        "optimized_cached_runs_s": cached,
        "optimized_network_slices_per_s": n_slices / min(cached),
        "max_abs_score_difference": max_diff,
        "agreement": agreement,
        "read_ahead": not args.no_read_ahead,
        "read_jobs": n_jobs,
        "read_pool_start_s": pool_start,
        "preprocess_device": scorer._preprocess_device() or "cpu",
        "compile": args.compile,
        # the first transform with compile on (compiling included), against the best later one
        "compile_first_transform_s": warmup,
        "gflop_per_slice_naive": total_flops_naive / 1e9,
        "gflop_per_slice_optimized": total_flops_opt / 1e9,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=["cpu", "paper", "both"], default="both")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--patients", type=int, default=None, help="test patients per preset")
    ap.add_argument("--size", type=int, default=512, help="CT matrix size")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=1, help="processes making the test patients")
    ap.add_argument(
        "--predict-batches",
        type=int,
        nargs="*",
        default=None,
        help="inference batch sizes to try (batch tuning, e.g. on a GPU: 16 64 256)",
    )
    ap.add_argument(
        "--mixed-precision",
        choices=["auto", "bf16", "fp32"],
        default="auto",
        help="the optimized path's precision (auto: bf16 on a GPU, fp32 on a CPU; bf16 on a CPU "
        "checks bf16 scores against the fp32 naive loop, slowly)",
    )
    ap.add_argument(
        "--no-read-ahead", action="store_true", help="read, then score (no decode/compute overlap)"
    )
    ap.add_argument(
        "--read-jobs",
        type=int,
        default=None,
        help="NDLScorer(read_jobs=...): worker processes reading the patients (default: read in "
        "this process); their start-up is timed separately, not in the rates",
    )
    ap.add_argument(
        "--compile",
        choices=["none", "default", "reduce-overhead", "max-autotune"],
        default="none",
        help="the networks' compile parameter on the optimized path (torch.compile mode; "
        "reduce-overhead: CUDA graphs on a GPU); the first, compiling transform is timed apart",
    )
    ap.add_argument(
        "--preprocess-device",
        default="auto",
        help="NDLScorer(preprocess_device=...): where patients read in the scoring process are "
        "windowed and resized (auto: the networks' device)",
    )
    ap.add_argument("--smoke", action="store_true", help="tiny preset, 64x64 CT, 2 patients")
    ap.add_argument("--out-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    presets = ["cpu", "paper"] if args.preset == "both" else [args.preset]
    if args.smoke:
        presets, args.size, args.repeats = ["tiny"], 64, 1
    device = args.device
    peak = peak_gflops(device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in presets:
            r = run_preset(name, args, Path(tmp), device)
            bound = peak / r["gflop_per_slice_optimized"]
            r["flop_bound_slices_per_s"] = bound
            r["fraction_of_flop_bound"] = r["optimized_slices_per_s"] / bound
            r["network_fraction_of_flop_bound"] = r["optimized_network_slices_per_s"] / bound
            rows.append(r)
            print({k: r[k] for k in ("preset", "speedup", "optimized_slices_per_s")}, flush=True)
    info = machine_info()
    results = {"machine": info, "device": device, "peak_gflops": peak, "presets": rows}
    lines = [
        "# Inference: DICOM series to nDL score",
        "",
        f"`python benchmarks/inference.py` · {info['date']} · {info['cpu']}, {info['cores']} cores"
        f" · device {device}{' (' + info['gpu'] + ')' if info['gpu'] and device != 'cpu' else ''}"
        f" · torch {info['versions']['torch']}",
        "",
        f"Machine peak (best fp32 2048x2048 matmul): **{peak:.0f} GFLOP/s**.",
        "",
        "| preset | nets (size) | GFLOP/slice cls / seg / HE | patients (slices) | naive slices/s"
        " | optimized slices/s | s/patient naive / optimized | speedup | FLOP bound slices/s"
        " | of bound (networks alone) | max score diff |",
        "| --- | --- | --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        g = r["gflops_per_slice"]
        nets = r["networks"]
        lines.append(
            f"| {r['preset']} | {nets['classifier']} / U-Net {nets['segmenter']} ({r['image_size']})"
            f" | {g['classifier']:.2f} / {g['segmenter']:.2f} / {g['he_model']:.2f}"
            f" | {r['test_patients']} ({r['test_slices']})"
            f" | {r['naive_slices_per_s']:.2f} | {r['optimized_slices_per_s']:.2f}"
            f" | {r['naive_s_per_patient']:.1f} / {r['optimized_s_per_patient']:.1f}"
            f" | {r['speedup']:.2f}x | {r['flop_bound_slices_per_s']:.2f}"
            f" | {100 * r['fraction_of_flop_bound']:.0f}%"
            f" ({100 * r['network_fraction_of_flop_bound']:.0f}%)"
            f" | {r['max_abs_score_difference']:.1e} |"
        )
    lines += [
        "",
        "- Both paths start from the DICOM files; reading and preprocessing alone took "
        + ", ".join(f"{r['read_preprocess_s']:.2f} s ({r['preset']})" for r in rows)
        + ".",
        "- Selected slices (classifier above threshold, set to the hematoma fraction of the masks): "
        + ", ".join(f"{100 * r['selected_slice_fraction']:.0f}% ({r['preset']})" for r in rows)
        + "; the optimized path runs the segmenter and the HE model on those only, with one "
        "encoder pass for both where the HE model's encoder is the segmenter's ("
        + ", ".join(
            f"{'shared' if r['shared_encoder'] else 'not shared'} ({r['preset']})" for r in rows
        )
        + "), so its FLOPs per slice are classifier + fraction x (segmenter + HE model - shared "
        "encoder): "
        + ", ".join(
            f"{r['gflops_per_slice']['encoder']:.2f} GFLOP encoder ({r['preset']})" for r in rows
        )
        + ".",
        "- Networks alone (in parentheses): the same `transform` again with every patient's "
        "slices already read and preprocessed (the in-process volume cache): "
        + ", ".join(f"{min(r['optimized_cached_runs_s']):.2f} s ({r['preset']})" for r in rows)
        + ".",
        "- Agreement with the fp32 naive loop (the check fails beyond its tolerance: 1e-3 in fp32,"
        " 0.01 in bf16): "
        + "; ".join(
            f"{r['preset']}: {r['agreement']['precision']}, max nDL (pooled probability) "
            f"difference {r['max_abs_score_difference']:.1e}, {r['agreement']['selection_flips']}"
            f" selection flips, classifier probability {r['agreement']['max_abs_classifier_prob_difference']:.1e}"
            f", DL score {r['agreement']['max_abs_dl_score_difference']:.1e}, area (relative)"
            f" {r['agreement']['max_rel_area_difference']:.1e}; nearest slice to the threshold"
            f" {r['agreement']['threshold_gap']:.1e}"
            for r in rows
        )
        + ".",
        "- Reading runs ahead in a background thread while the networks score ("
        + ", ".join(f"{'on' if r['read_ahead'] else 'off'} ({r['preset']})" for r in rows)
        + ").",
        "- Reader processes (`read_jobs`): "
        + ", ".join(
            (
                f"{r['read_jobs']}, "
                + (
                    f"started once in {r['read_pool_start_s']:.1f} s"
                    if r["read_pool_start_s"] >= 0.5
                    else "already running"
                )
                + f", not in the rates ({r['preset']})"
                if r["read_pool_start_s"] is not None
                else f"none, read in the scoring process ({r['preset']})"
            )
            for r in rows
        )
        + ".",
        "- Windowing and resizing of the patients read in the scoring process: "
        + ", ".join(f"{r['preprocess_device']} ({r['preset']})" for r in rows)
        + "; `torch.compile` on the optimized path: "
        + ", ".join(
            f"{r['compile']} ({r['preset']})"
            + (
                f", first transform {r['compile_first_transform_s']:.1f} s while compiling, "
                f"best later {r['optimized_s']:.2f} s"
                if r["compile_first_transform_s"] is not None
                else ""
            )
            for r in rows
        )
        + ".",
        "- Targets on the 2-core CPU: at least 3x the naive loop, and at least 50% of the FLOP "
        "bound.",
    ]
    md = "\n".join(lines) + "\n"
    print(md)
    name = (
        "inference_smoke" if args.smoke else ("inference" if device == "cpu" else "inference_gpu")
    )
    print("written:", write_results(name, results, md, args.out_dir))
    bad = [
        r["preset"]
        for r in rows
        if not r["max_abs_score_difference"] <= r["agreement"]["tolerance"]
    ]
    if bad:
        print(
            f"FAILED: optimized and naive nDL scores disagree beyond the tolerance ({bad}).",
            file=sys.stderr,
        )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
