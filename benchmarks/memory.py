"""Memory: peak RSS while training on a 24,000-slice cohort through the slice cache; loader speed.

Usage::

    python benchmarks/memory.py                    # 600 patients x 40 slices of 512x512 (~10 min)
    python benchmarks/memory.py --smoke            # seconds
    python benchmarks/memory.py --cache-dir D      # keep (or reuse) the 12 GB cache in D

Steps:

1. Build a ``SliceCache`` of ``--patients`` x ``--slices`` synthetic 512x512 slices with masks
   (uint8 on disk: 6 GB of images and 6 GB of masks at the default size, the paper's cohort).
2. In a fresh process (so that its peak RSS is only the training): one epoch of a
   ``SliceClassifier`` over every slice of the cache through ``SliceDataset`` (the network sees
   them at ``--train-size``, as the CPU preset does), then one epoch of a ``HematomaSegmenter``;
   peak RSS from ``getrusage``. Target: under 4 GB.
3. Loader speed: slices/s of the training ``DataLoader`` alone (reading, decoding, resizing,
   collating; 0 and 2 workers) against slices/s of a training step of the paper's SEResNeXt-50 and
   of the CPU preset's network on this machine.

Results: ``docs/benchmarks/memory.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results

GIB = 2**30


def build_cache(root: Path, n_patients: int, n_slices: int, size: int, progress=True):
    """A SliceCache of synthetic heads with a disc-shaped hematoma on a third of the slices."""
    from tqdm.auto import tqdm

    from skhe.io import CTVolume
    from skhe.preprocessing import SliceCache

    cache = SliceCache(root, size=size)
    if len(cache) >= n_patients:
        return cache
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    r2 = (yy - size / 2) ** 2 + (xx - size / 2) ** 2
    head = np.where(r2 < (0.42 * size) ** 2, 30, -1000).astype(np.int16)
    skull = (r2 >= (0.40 * size) ** 2) & (r2 < (0.42 * size) ** 2)
    head[skull] = 1200
    for i in tqdm(range(n_patients), desc="building cache", disable=not progress):
        pid = f"P{i:05d}"
        if pid in cache.patients:
            continue
        hu = np.repeat(head[None], n_slices, axis=0)
        hu = hu + rng.integers(-8, 9, size=hu.shape, dtype=np.int16)
        cy, cx = rng.uniform(0.35, 0.65, 2) * size
        rad = rng.uniform(0.04, 0.1) * size
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < rad**2
        mask = np.zeros(hu.shape, np.uint8)
        lo = rng.integers(0, n_slices - n_slices // 3)
        mask[lo : lo + n_slices // 3][:, disc] = 1
        hu[mask.astype(bool)] = 70
        vol = CTVolume(hu=hu, spacing=(5.0, 0.45, 0.45))
        cache.add(pid, vol, mask, volume=vol)
    return cache


def child(args) -> None:
    """Train one epoch of each network through the cache; print peak RSS as JSON."""
    import torch

    from skhe.neural import HematomaSegmenter, SliceClassifier
    from skhe.preprocessing import SliceCache, SliceDataset

    torch.set_num_threads(args.threads)
    cache = SliceCache(args.cache_dir, size=args.size)
    t0 = time.perf_counter()
    ds = SliceDataset(cache)
    common = dict(
        image_size=args.train_size,
        max_epochs=1,
        batch_size=32,
        augment=False,
        device="cpu",
        random_state=0,
        bn_recalibration=False,
    )
    clf = SliceClassifier("test_resnet", lr=3e-3, **common).fit(ds)
    t_clf = time.perf_counter() - t0
    rss_clf = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    seg_ds = SliceDataset(cache, target="mask")
    HematomaSegmenter("tu-test_resnet", decoder_channels=(32, 16, 8, 8, 4), lr=3e-3, **common).fit(
        seg_ds
    )
    t_seg = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "slices": len(ds),
                "classifier_epoch_s": t_clf,
                "segmenter_epoch_s": t_seg,
                "peak_rss_after_classifier_bytes": rss_clf,
                "peak_rss_bytes": rss,
                "classifier_train_loss": clf.history_[-1]["train_loss"],
            }
        )
    )


def loader_speed(cache_dir: Path, size: int, train_size: int, workers: int, n: int) -> float:
    """Slices/s of the training DataLoader alone over ``n`` shuffled slices."""
    import torch

    from skhe.neural import SliceClassifier
    from skhe.neural._datasets import dataset_input
    from skhe.preprocessing import SliceCache, SliceDataset

    ds = SliceDataset(SliceCache(cache_dir, size=size))
    adapted = dataset_input(SliceClassifier(image_size=train_size), ds, "label")
    sub = torch.utils.data.Subset(adapted, np.random.default_rng(0).permutation(len(ds))[:n])
    loader = torch.utils.data.DataLoader(sub, batch_size=32, shuffle=False, num_workers=workers)
    t0 = time.perf_counter()
    for _ in loader:
        pass
    return n / (time.perf_counter() - t0)


def model_speed(backbone: str, size: int, steps: int = 3, batch: int = 8) -> float:
    """Training slices/s of a classifier backbone (forward + backward + AdamW step)."""
    import torch

    from skhe.nn import SliceClassifierNet

    net = SliceClassifierNet(backbone, in_chans=1).train()
    opt = torch.optim.AdamW(net.parameters(), 1e-4)
    x = torch.rand(batch, 1, size, size)
    y = torch.randint(0, 2, (batch,)).float()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    best = np.inf
    for i in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss_fn(net(x).reshape(-1), y).backward()
        opt.step()
        if i:  # the first step warms up
            best = min(best, time.perf_counter() - t0)
    return batch / best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patients", type=int, default=600)
    ap.add_argument("--slices", type=int, default=40)
    ap.add_argument("--size", type=int, default=512, help="cached slice size")
    ap.add_argument("--train-size", type=int, default=64, help="network input size")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--skip-model-speed", action="store_true")
    ap.add_argument("--label", default="", help="suffix of the results name (e.g. before)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.child:
        child(args)
        return 0
    if args.smoke:
        args.patients, args.slices, args.size, args.train_size = 6, 8, 64, 32
        args.skip_model_speed = True
    tmp = None
    if args.cache_dir is None:
        tmp = tempfile.mkdtemp(prefix="skhe-memory-")
        args.cache_dir = Path(tmp)
    try:
        t0 = time.perf_counter()
        cache = build_cache(args.cache_dir, args.patients, args.slices, args.size, not args.smoke)
        t_build = time.perf_counter() - t0
        built = "reused (built by an earlier run)" if t_build < 10 else f"built in {t_build:.0f} s"
        n_slices = sum(cache.entry(p).n_slices for p in cache.patients)
        disk = sum(f.stat().st_size for f in Path(args.cache_dir).rglob("*.npy"))
        print(
            f"cache: {n_slices} slices, {disk / GIB:.1f} GiB, built in {t_build:.0f} s", flush=True
        )
        cmd = [
            sys.executable,
            __file__,
            "--child",
            "--cache-dir",
            str(args.cache_dir),
            "--size",
            str(args.size),
            "--train-size",
            str(args.train_size),
            "--threads",
            str(args.threads),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        train = json.loads(proc.stdout.strip().splitlines()[-1])
        n_load = min(n_slices, 2000)
        loaders = {
            w: loader_speed(args.cache_dir, args.size, args.train_size, w, n_load) for w in (0, 2)
        }
        models = {}
        if not args.skip_model_speed:
            models["seresnext50_32x4d @512 (paper)"] = model_speed("seresnext50_32x4d", 512)
            models[f"test_resnet @{args.train_size} (cpu preset)"] = model_speed(
                "test_resnet", args.train_size, steps=5, batch=32
            )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    peak = train["peak_rss_bytes"]
    results = {
        "machine": machine_info(),
        "cache": {
            "patients": args.patients,
            "slices": n_slices,
            "size": args.size,
            "disk_bytes": disk,
            "build_s": t_build,
        },
        "training": train,
        "target_under_4gb_met": peak < 4 * GIB,
        "loader_slices_per_s": {str(k): v for k, v in loaders.items()},
        "model_train_slices_per_s": models,
    }
    mi = results["machine"]
    lines = [
        f"# Memory: training through the slice cache{' (' + args.label + ')' if args.label else ''}",
        "",
        f"`python benchmarks/memory.py` · {mi['date']} · {mi['cpu']}, {mi['cores']} cores, "
        f"{mi['memory_gib']} GiB · torch {mi['versions']['torch']}",
        "",
        f"Cache: {args.patients} patients x {args.slices} slices = **{n_slices:,} slices** of "
        f"{args.size}x{args.size} (uint8 images and masks, {disk / GIB:.1f} GiB on disk, {built}).",
        "",
        "| training (one epoch over every slice, network input "
        f"{args.train_size}x{args.train_size}) | seconds | peak RSS |",
        "| --- | ---: | ---: |",
        f"| SliceClassifier (`SliceDataset(cache)`) | {train['classifier_epoch_s']:.0f} | "
        f"{train['peak_rss_after_classifier_bytes'] / GIB:.2f} GiB |",
        f"| then HematomaSegmenter (`SliceDataset(cache, target='mask')`) | "
        f"{train['segmenter_epoch_s']:.0f} | {peak / GIB:.2f} GiB |",
        "",
        f"Peak RSS of the training process: **{peak / GIB:.2f} GiB**; target under 4 GB: "
        f"**{'met' if results['target_under_4gb_met'] else 'NOT met'}**.",
        "",
        "| throughput | slices/s |",
        "| --- | ---: |",
    ]
    lines += [
        f"| DataLoader, {k} workers (read + decode + resize + collate) | {v:.0f} |"
        for k, v in loaders.items()
    ]
    lines += [f"| training step, {k} | {v:.1f} |" for k, v in models.items()]
    md = "\n".join(lines) + "\n"
    print(md)
    name = "memory_smoke" if args.smoke else "memory" + (f"_{args.label}" if args.label else "")
    print("written:", write_results(name, results, md, args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
