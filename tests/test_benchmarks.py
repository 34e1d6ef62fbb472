"""The benchmark scripts run end to end (tiny settings; real data skipped when absent)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ctich_benchmark_smoke(ctich_dir, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "ctich.py"),
            "--smoke",
            "--root",
            str(ctich_dir),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads((tmp_path / "ctich-smoke.json").read_text())
    assert 0 <= r["classifier"]["auc"] <= 1
    assert r["n_test_hemorrhage_slices"] > 0
    assert "Slice classification" in (tmp_path / "ctich-smoke.md").read_text()


def _smoke(script: str, tmp_path, *extra) -> dict:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / script),
            "--smoke",
            "--out-dir",
            str(tmp_path),
            *(str(a) for a in extra),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-1500:] + out.stderr[-2500:]
    return json.loads(next(tmp_path.glob("*_smoke.json")).read_text())


def test_statistics_benchmark_smoke(tmp_path):
    r = _smoke("statistics_speed.py", tmp_path)
    # the fast DeLong equals the naive pairwise computation
    assert max(v for v in r["delong"]["abs_differences"].values() if v is not None) < 1e-9
    assert {"x00", "x01"} <= set(r["forward_selection"]["selected"])


def test_io_benchmark_smoke(tmp_path):
    pytest.importorskip("SimpleITK")
    r = _smoke("io_dicom.py", tmp_path)
    assert r["skhe_read_ct_s"]["median"] > 0 and r["simpleitk_s"]["median"] > 0


def test_inference_benchmark_smoke(tmp_path):
    r = _smoke("inference.py", tmp_path, "--predict-batches", 4, 16)
    (row,) = r["presets"]
    assert set(row["optimized_s_by_predict_batch"]) == {"4", "16"}
    # the optimized path gives the naive loop's scores
    assert row["max_abs_score_difference"] < 1e-3
    assert row["gflops_per_slice"]["classifier"] > 0 and r["peak_gflops"] > 0


def test_memory_benchmark_smoke(tmp_path):
    r = _smoke("memory.py", tmp_path)
    assert r["training"]["slices"] == 6 * 8 and r["training"]["peak_rss_bytes"] > 0


def test_variants_benchmark_smoke(tmp_path):
    r = _smoke("variants.py", tmp_path, "--part", "synthetic")
    names = [row["model"] for row in r["synthetic"]]
    assert "Clinical-to-HE" in names and any(n.startswith("Integrated") for n in names)


def test_variants_benchmark_ctich_smoke(ctich_dir, tmp_path):
    r = _smoke("variants.py", tmp_path, "--part", "ctich", "--ctich", ctich_dir)
    rows = {row["model"]: row for row in r["ctich"]}
    assert any(name.startswith("SliceClassifier") for name in rows)
    assert all(0 <= row.get("roc_auc", row.get("dice"))[0] <= 1 for row in rows.values())
