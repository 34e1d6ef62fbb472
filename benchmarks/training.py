"""Training throughput of the deep estimators: slices per second against the FLOP bound.

Usage::

    python benchmarks/training.py                 # CPU: the CT-ICH cpu preset's networks
    python benchmarks/training.py --device cuda   # GPU: the paper's networks at 512 px too
    python benchmarks/training.py --smoke         # seconds: checks the script end to end

Each network is trained through its estimator's ``fit`` (the library's path: skorch loop,
augmentation in the DataLoader, ``num_workers="auto"``, bf16 autocast and channels_last on a
GPU) on synthetic slices with a bright disc as the hematoma, for ``--epochs`` epochs; the first
epoch is a warm-up (cuDNN autotuning, allocator, worker start) and is not counted. Slices per
second = slices per epoch / median epoch time of the other epochs. The FLOP bound is the
machine's peak (best large matmul: fp32 on a CPU, bf16 on a GPU) over the training FLOPs per
slice, taken as 3 x the forward FLOPs (forward + backward). Results:
``docs/benchmarks/training.{md,json}`` (CPU) or ``training_gpu.{md,json}`` (GPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results
from _ctich_presets import AUGMENT
from _ctich_presets import PRESETS as CTICH_PRESETS
from inference import flops_per_slice, peak_gflops

from skhe.exceptions import small_model_warnings_ignored
from skhe.neural import HematomaSegmenter, SliceClassifier

#: The network shapes (and batch sizes) of the CT-ICH presets, taken from benchmarks/ctich.py
#: so the two benchmarks measure the same networks.
_SHAPE = ("backbone", "encoder", "decoder_channels", "image_size", "batch_size")


def _networks(preset: str) -> list[tuple[str, dict]]:
    cfg = CTICH_PRESETS[preset]
    return [
        (k, {p: v for p, v in cfg[k].items() if p in _SHAPE}) for k in ("classifier", "segmenter")
    ]


CONFIGS = {
    "cpu": _networks("cpu"),
    "paper": _networks("paper"),
    "smoke": [
        ("classifier", dict(backbone="test_resnet", image_size=32, batch_size=16)),
        (
            "segmenter",
            dict(encoder="tu-test_resnet", decoder_channels=(16, 8, 8, 8, 4), image_size=32),
        ),
    ],
}


def discs(n: int, size: int, seed: int = 0):
    """Slices in [0, 1] with a bright disc on half of them, and the discs' masks."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.4, (n, size, size)).astype(np.float32)
    m = np.zeros((n, size, size), np.uint8)
    yy, xx = np.ogrid[:size, :size]
    for i in range(1, n, 2):
        cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= (size // 10) ** 2
        x[i][disc] = 0.75
        m[i] = disc
    return x, m


def augmentation_slices_per_s(size: int, n: int = 64) -> float:
    """Slices (image and mask) one CPU core augments per second at ``size`` px, as a
    DataLoader worker does: what each loader worker can feed the network."""
    import cv2

    from skhe.neural._datasets import _ArrayDataset
    from skhe.neural._torch_runtime import torch_threads
    from skhe.preprocessing import SliceAugmenter

    x, m = discs(n, size)
    ds = _ArrayDataset(x[:, None], m[:, None].astype(np.float32), SliceAugmenter(**AUGMENT))
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        with torch_threads(1):
            ds[0]  # warm-up
            t0 = time.perf_counter()
            for i in range(n):
                ds[i]
            return n / (time.perf_counter() - t0)
    finally:
        cv2.setNumThreads(threads)


def run(kind: str, params: dict, args) -> dict:
    n = args.slices
    x, m = discs(n, params["image_size"])
    est_cls = SliceClassifier if kind == "classifier" else HematomaSegmenter
    est = est_cls(
        **params,
        max_epochs=args.epochs,
        augment=AUGMENT,
        device=args.device,
        random_state=0,
        bn_recalibration=False,
    )
    y = m.reshape(n, -1).max(1) if kind == "classifier" else m
    t0 = time.perf_counter()
    with small_model_warnings_ignored():
        est.fit(x, y)
    total = time.perf_counter() - t0
    durs = [h["dur"] for h in est.history_]
    per_epoch = float(np.median(durs[1:])) if len(durs) > 1 else durs[0]
    fwd = flops_per_slice(est.module_, params["image_size"], str(est.device_))
    return {
        "network": kind,
        "name": params.get("backbone") or f"U-Net {params['encoder']}",
        "image_size": params["image_size"],
        "batch_size": est.batch_size,
        "slices_per_epoch": n,
        "epochs": len(durs),
        "epoch_s": durs,
        "fit_s": total,
        "slices_per_s": n / per_epoch,
        "gflop_per_slice_training": 3 * fwd / 1e9,
        "precision": "fp32" if est._amp_dtype(str(est.device_)) is None else "bf16",
        "loader_workers": est._loader_workers(str(est.device_)),
        "augmentation_slices_per_s_one_core": augmentation_slices_per_s(params["image_size"]),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--presets",
        nargs="*",
        default=None,
        help="cpu, paper (default: cpu on a CPU, both on a GPU)",
    )
    ap.add_argument("--slices", type=int, default=None, help="slices per epoch")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    gpu = args.device.startswith("cuda")
    presets = args.presets or (["cpu", "paper"] if gpu else ["cpu"])
    if args.smoke:
        presets, args.epochs = ["smoke"], 2
    args.slices = args.slices or (16 if args.smoke else (512 if gpu else 96))
    peak = peak_gflops(
        args.device, 4096 if gpu else 2048, dtype=torch.bfloat16 if gpu else torch.float32
    )
    rows = []
    for preset in presets:
        for kind, params in CONFIGS[preset]:
            r = run(kind, params, args)
            r["preset"] = preset
            r["flop_bound_slices_per_s"] = peak / r["gflop_per_slice_training"]
            r["fraction_of_flop_bound"] = r["slices_per_s"] / r["flop_bound_slices_per_s"]
            rows.append(r)
            print(
                f"{preset} {r['name']} {r['image_size']} px: {r['slices_per_s']:.1f} slices/s "
                f"({100 * r['fraction_of_flop_bound']:.1f}% of the bound)",
                flush=True,
            )
    info = machine_info()
    results = {
        "machine": info,
        "device": args.device,
        "peak_gflops": peak,
        "peak_dtype": "bf16" if gpu else "fp32",
        "rows": rows,
        # the keys: per-network slices/s
        "slices_per_s": {f"{r['preset']}/{r['network']}": r["slices_per_s"] for r in rows},
    }
    lines = [
        "# Training throughput",
        "",
        f"`python benchmarks/training.py --device {args.device}` · {info['date']} · {info['cpu']}, "
        f"{info['cores']} cores · GPU: {info['gpu'] or 'none'} · torch {info['versions']['torch']}",
        "",
        f"Peak ({'bf16' if gpu else 'fp32'} {4096 if gpu else 2048}^2 matmul): **{peak:.0f} GFLOP/s**."
        " Training FLOPs per slice = 3 x forward. Augmentation on (shift/scale/rotate, flips, "
        "intensity), batches from the estimator's DataLoader.",
        "",
        "| preset | network | size | batch | precision | loader workers | slices/s | "
        "GFLOP/slice (train) | FLOP bound slices/s | of bound | augmentation, one core |",
        "| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['preset']} | {r['name']} | {r['image_size']} | {r['batch_size']} | "
            f"{r['precision']} | {r['loader_workers']} | {r['slices_per_s']:.1f} | "
            f"{r['gflop_per_slice_training']:.2f} | {r['flop_bound_slices_per_s']:.0f} | "
            f"{100 * r['fraction_of_flop_bound']:.1f}% | "
            f"{r['augmentation_slices_per_s_one_core']:.0f} slices/s |"
        )
    lines += [
        "",
        f"{args.slices} slices per epoch, {args.epochs} epochs, the first not counted.",
        "",
        "The bound is a yardstick, not a ceiling: a network can pass 100% where the "
        "convolutions run faster than the matmul that sets the peak, or where its backward pass "
        "costs less than twice its forward (the first layer needs no input gradient).",
        "",
        "Augmentation, one core: slices (image and mask) one CPU core augments per second at "
        "that size, as each DataLoader worker does. The loader workers together feed about "
        "workers x that (with 0 workers the training process augments, one slice after "
        "another, between its steps); where that is below the network's rate, the CPU is the "
        "bottleneck and augmenting on the GPU would pay.",
    ]
    md = "\n".join(lines) + "\n"
    print(md)
    name = "training_smoke" if args.smoke else ("training_gpu" if gpu else "training")
    print("written:", write_results(name, results, md, args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
