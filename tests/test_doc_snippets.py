"""Every Python snippet in README.md and docs/*.md runs as written.

Each file's snippets run in order in one namespace (later ones use earlier ones' names), in a
temporary folder holding the files they name: ``cohort/`` (a small synthetic cohort with its
manifest) and ``patient001/`` (one of its patients: ``dicom/`` and ``mask.nii.gz``). A snippet
that needs what a test machine cannot have (a Dask or Ray cluster, several GPUs) is preceded by
``<!-- not run: <reason> -->`` in the Markdown, and the reason is required.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import pytest

from skhe.exceptions import small_model_warnings_ignored

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?P<before>(?:[^\n]*\n){0,2})```python\n(?P<code>[\s\S]*?)```")
SKIP = re.compile(r"<!-- not run: (?P<reason>.*?) -->")


def snippets(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, code, reason it is not run or None) of each ```python block."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in BLOCK.finditer(text):
        line = text[: m.start("code")].count("\n") + 1
        skip = SKIP.search(m.group("before"))
        out.append((line, m.group("code"), skip.group("reason").strip() if skip else None))
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from skhe.datasets import make_synthetic_cohort

    root = tmp_path_factory.mktemp("snippets")
    df = make_synthetic_cohort(
        60, root / "cohort", image_size=32, n_slices=(5, 6), random_state=0, progress=False
    )
    shutil.copytree(df.loc[0, "ct"], root / "patient001" / "dicom")
    shutil.copyfile(df.loc[0, "mask"], root / "patient001" / "mask.nii.gz")
    return root


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_snippets_run_as_written(path, workdir, monkeypatch):
    blocks = snippets(path)
    monkeypatch.chdir(workdir)
    namespace: dict = {"__name__": "__snippet__"}
    for line, code, reason in blocks:
        if reason is not None:
            assert len(reason) > 10, f"{path.name}:{line}: say why the snippet is not run"
            continue
        with warnings.catch_warnings(), small_model_warnings_ignored():
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)


def test_the_harness_finds_the_snippets():
    found = {p.name: len(snippets(p)) for p in DOCS}
    assert found["README.md"] == 2 and found["user-guide.md"] == 10
