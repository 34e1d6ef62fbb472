"""What every command shares: logging to a file, console output, errors, model construction."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

LOGGER = logging.getLogger("skhe")
KINDS = ("image", "clinical", "integrated")
NAMES = {"image": "Image-to-HE", "clinical": "Clinical-to-HE", "integrated": "Integrated-to-HE"}


class CommandError(Exception):
    """Bad input to a command: reported as one line, exit code 2."""


@contextlib.contextmanager
def run_log(log_file: str | os.PathLike, quiet: bool) -> Iterator[Path]:
    """Log the ``skhe`` logger (and warnings) to ``log_file`` and, unless ``quiet``, stderr."""
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.FileHandler(log_file, encoding="utf-8")]
    handlers[0].setFormatter(fmt)
    if not quiet:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        console.setLevel(logging.INFO)  # tracebacks (DEBUG) go to the file only
        handlers.append(console)
    warn_logger = logging.getLogger("py.warnings")
    for h in handlers:
        LOGGER.addHandler(h)
    warn_logger.addHandler(handlers[0])
    LOGGER.setLevel(logging.DEBUG)
    logging.captureWarnings(True)
    try:
        yield log_file
    except BaseException as exc:
        LOGGER.info("failed: %s: %s", type(exc).__name__, exc)
        LOGGER.debug("traceback", exc_info=True)
        raise
    finally:
        logging.captureWarnings(False)
        for h in handlers:
            LOGGER.removeHandler(h)
            h.close()
        warn_logger.removeHandler(handlers[0])


@contextlib.contextmanager
def staging_log(out: Path, quiet: bool) -> Iterator[Path]:
    """A log for a run whose output folder is written atomically at the end.

    The log lives beside the folder while the run goes; the caller copies it in. On failure it
    stays as ``<out>.failed.log`` and the error message points there.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".log", dir=out.parent)
    os.close(fd)
    log = Path(name)
    try:
        with run_log(log, quiet):
            yield log
    except BaseException:
        failed = out.parent / f"{out.name}.failed.log"
        os.replace(log, failed)
        LOGGER.info("log of the failed run: %s", failed)
        raise
    else:
        log.unlink(missing_ok=True)


def parse_models(text: str) -> list[str]:
    """``"image,clinical"`` -> ``["image", "clinical"]``; unknown names are a CommandError."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise CommandError(f"unknown model(s) {bad or text!r}; choose from {', '.join(KINDS)}.")
    return kinds


def build_model(kind: str, *, preset: str, seed: int, device: str, memory=None, verbose=0):
    """The unfitted Image-, Clinical- or Integrated-to-HE pipeline of the command line."""
    from skhe.pipelines import make_clinical_to_he, make_image_to_he, make_integrated_to_he
    from skhe.presets import make_ndl_scorer

    if kind not in KINDS:
        raise CommandError(f"unknown model {kind!r}; choose from {', '.join(KINDS)}.")
    if kind == "clinical":
        return make_clinical_to_he()
    ndl = make_ndl_scorer(preset, device=device, random_state=seed, memory=memory, verbose=verbose)
    return make_image_to_he(ndl) if kind == "image" else make_integrated_to_he(ndl)


def check_clinical_columns(df, kinds: list[str], where: str) -> None:
    """Every clinical column the clinical models need is in the manifest (else name them)."""
    from skhe.clinical import PAPER_CATEGORICAL, PAPER_NUMERIC

    if "clinical" in kinds:
        need = [*PAPER_NUMERIC, *PAPER_CATEGORICAL]
    elif "integrated" in kinds:  # leaves the baseline volume out, as the paper
        need = [c for c in [*PAPER_NUMERIC, *PAPER_CATEGORICAL] if c != "baseline_volume"]
    else:
        return
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise CommandError(
            f"{where}: missing clinical column(s) {missing} needed by the clinical models "
            "(see docs/user-guide.md, 'Manifest')."
        )


def check_masks(df, kinds: list[str], where: str) -> None:
    """Image models need a hematoma mask for every training patient."""
    if not any(k in kinds for k in ("image", "integrated")):
        return
    if "mask" not in df.columns:
        raise CommandError(
            f"{where}: no 'mask' column; training the image models needs a hematoma mask "
            "(NIfTI) for every patient."
        )
    empty = df.loc[df["mask"].isna(), "patient_id"].tolist()
    if empty:
        raise CommandError(
            f"{where}: no mask for patient(s) {empty[:10]}{' ...' if len(empty) > 10 else ''}; "
            "training the image models needs one for every patient."
        )
