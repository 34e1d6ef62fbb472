"""Read a 40-slice 512x512 DICOM series into HU: ``skhe.io.read_ct`` against SimpleITK.

Usage::

    python benchmarks/io_dicom.py              # 40 slices, 15 repeats each, page cache warm
    python benchmarks/io_dicom.py --smoke      # seconds: checks the script end to end

Both readers get the same series (written once by ``skhe.io.write_dicom_series``, uncompressed
int16 with a rescale intercept of -1024), read it whole, sort it along the slice normal and
return Hounsfield units; the two volumes are checked to be equal before anything is timed.
Each reader runs ``--repeats`` times alternately and the median is reported (the files are in
the page cache after the first read, so this measures decoding and assembly, not the disk).
Results go to ``docs/benchmarks/io_dicom.{md,json}``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_results

from skhe.io import read_ct, write_dicom_series
from skhe.io._dicom import read_dicom_series


def _sitk_read(folder: Path) -> np.ndarray:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayFromImage(reader.Execute())  # (slices, rows, cols), HU


def _time(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=40)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--smoke", action="store_true", help="8 slices of 64x64, 2 repeats")
    ap.add_argument("--out-dir", type=Path, default=None, help="default: docs/benchmarks")
    args = ap.parse_args(argv)
    if args.smoke:
        args.slices, args.size, args.repeats = 8, 64, 2
    import SimpleITK as sitk

    rng = np.random.default_rng(0)
    hu = rng.normal(35, 20, size=(args.slices, args.size, args.size)).round().astype(np.int16)
    hu[:, :4] = -1000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "series"
        write_dicom_series(hu, folder, spacing=(5.0, 0.45, 0.45))
        # same voxels from both readers (SimpleITK sorts along the normal too)
        ours = read_ct(folder).hu
        theirs = _sitk_read(folder)
        if not np.array_equal(ours.astype(np.int32), theirs.astype(np.int32)):
            raise SystemExit("the two readers disagree; nothing timed")
        t_skhe, t_sitk, t_thr = [], [], []
        for _ in range(args.repeats):  # alternate, so all see the same machine state
            t_skhe += _time(lambda: read_ct(folder), 1)
            t_sitk += _time(lambda: _sitk_read(folder), 1)
            t_thr += _time(lambda: read_dicom_series(folder, n_threads=4), 1)
    med_skhe, med_sitk = statistics.median(t_skhe), statistics.median(t_sitk)
    med_thr = statistics.median(t_thr)
    results = {
        "machine": machine_info(),
        "series": {"slices": args.slices, "rows": args.size, "cols": args.size, "dtype": "int16"},
        "repeats": args.repeats,
        "simpleitk": sitk.Version_VersionString(),
        "skhe_read_ct_s": {"median": med_skhe, "min": min(t_skhe), "max": max(t_skhe)},
        "simpleitk_s": {"median": med_sitk, "min": min(t_sitk), "max": max(t_sitk)},
        "skhe_4_threads_s": {"median": med_thr, "min": min(t_thr), "max": max(t_thr)},
        "speed_ratio_sitk_over_skhe": med_sitk / med_skhe,
        "target_met": med_skhe <= med_sitk,
    }
    mi = results["machine"]
    md = f"""# I/O: a DICOM series into Hounsfield units

`python benchmarks/io_dicom.py` · {mi["date"]} · {mi["cpu"]}, {mi["cores"]} cores ·
SimpleITK {results["simpleitk"]}, skhe {mi["versions"]["skhe"]}

A {args.slices}-slice {args.size}x{args.size} int16 series (uncompressed, rescale intercept -1024),
read whole into HU and sorted along the slice normal; both readers return identical voxels
(checked). Median of {args.repeats} alternating reads with the files in the page cache.

| reader | median (s) | min (s) | max (s) | slices/s |
| --- | ---: | ---: | ---: | ---: |
| `skhe.io.read_ct` | {med_skhe:.3f} | {min(t_skhe):.3f} | {max(t_skhe):.3f} | {args.slices / med_skhe:.0f} |
| SimpleITK `ImageSeriesReader` | {med_sitk:.3f} | {min(t_sitk):.3f} | {max(t_sitk):.3f} | {args.slices / med_sitk:.0f} |
| `read_dicom_series(n_threads=4)` | {med_thr:.3f} | {min(t_thr):.3f} | {max(t_thr):.3f} | {args.slices / med_thr:.0f} |

Target (no slower than SimpleITK): **{"met" if results["target_met"] else "NOT met"}**
(SimpleITK / skhe = {results["speed_ratio_sitk_over_skhe"]:.2f}).
"""
    name = "io_dicom_smoke" if args.smoke else "io_dicom"
    print(md)
    print("written:", write_results(name, results, md, args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
