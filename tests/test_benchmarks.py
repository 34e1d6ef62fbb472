"""The benchmark scripts run end to end (tiny settings; real data skipped when absent)."""

import json
import subprocess
import sys
from pathlib import Path

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
