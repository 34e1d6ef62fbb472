"""What every command shares: logging to a file, console output, errors, model construction."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from skhe.exceptions import DataWarning, SkheWarning

LOGGER = logging.getLogger("skhe")
KINDS = ("image", "clinical", "integrated")
NAMES = {"image": "Image-to-HE", "clinical": "Clinical-to-HE", "integrated": "Integrated-to-HE"}


class CommandError(Exception):
    """Bad input to a command: reported as one line, exit code 2."""


class _StrictFileHandler(logging.FileHandler):
    """A log file whose write failures (disk full, read-only) stop the run with that OSError,
    instead of logging's "--- Logging error ---" on every later message."""

    def handleError(self, record):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            raise OSError(exc.errno, f"cannot write the log {self.baseFilename}: {exc.strerror}")
        super().handleError(record)


@dataclass
class RunLog:
    """The run's log file and the data warnings seen while it ran.

    Attributes
    ----------
    path : Path
        The log file.
    data_warnings : list of dict
        One ``{"patient", "source", "message"}`` per distinct :class:`DataWarning`.
    """

    path: Path
    data_warnings: list[dict] = field(default_factory=list)
    patients_by_path: dict[str, str] = field(default_factory=dict)

    def add_patients(self, df) -> None:
        """Map the manifest's CT and mask paths to patient ids (to attribute warnings)."""
        from skhe.io import path_given

        for col in ("ct", "mask"):
            if col in df.columns:
                for pid, p in zip(df["patient_id"], df[col], strict=True):
                    if path_given(p):
                        self.patients_by_path[str(Path(p))] = str(pid)

    def patient_of(self, w: DataWarning) -> str:
        if w.patient:
            return w.patient
        if w.source:
            src = str(Path(w.source))
            if src in self.patients_by_path:
                return self.patients_by_path[src]
            for path, pid in self.patients_by_path.items():
                if src.startswith(path + os.sep) or path.startswith(src + os.sep):
                    return pid
        return ""

    def record(self, w: DataWarning) -> bool:
        """Keep ``w``; False when the same warning was seen before."""
        item = {"patient": self.patient_of(w), "source": w.source or "", "message": str(w)}
        if item in self.data_warnings:
            return False
        self.data_warnings.append(item)
        return True


@contextlib.contextmanager
def run_log(log_file: str | os.PathLike, quiet: bool) -> Iterator[RunLog]:
    """Log the ``skhe`` logger and warnings to ``log_file`` and, unless ``quiet``, stderr.

    skhe's own warnings (:class:`~skhe.exceptions.SkheWarning`) go to the terminal and the log,
    each distinct one once; data warnings are also kept for the report. Other libraries'
    warnings go to the log file only. A log that cannot be written stops the run with the
    OSError.
    """
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [_StrictFileHandler(log_file, encoding="utf-8")]
    handlers[0].setFormatter(fmt)
    if not quiet:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(message)s"))
        console.setLevel(logging.INFO)  # tracebacks (DEBUG) go to the file only
        handlers.append(console)
    for h in handlers:
        LOGGER.addHandler(h)
    LOGGER.setLevel(logging.DEBUG)
    log = RunLog(log_file)
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, SkheWarning):
            if isinstance(message, DataWarning) and not log.record(message):
                return
            if str(message) in shown:
                return
            shown.add(str(message))
            LOGGER.warning("warning: %s", message)
        else:
            LOGGER.debug("%s:%s: %s: %s", filename, lineno, category.__name__, message)

    with warnings.catch_warnings():
        warnings.simplefilter("always", SkheWarning)
        warnings.showwarning = show
        try:
            yield log
        except BaseException as exc:
            with contextlib.suppress(OSError):
                LOGGER.info("failed: %s: %s", type(exc).__name__, exc)
                LOGGER.debug("traceback", exc_info=True)
            raise
        finally:
            for h in handlers:
                LOGGER.removeHandler(h)
                with contextlib.suppress(OSError):
                    h.close()


@contextlib.contextmanager
def staging_log(out: Path, quiet: bool) -> Iterator[RunLog]:
    """A log for a run whose output folder is written atomically at the end.

    The log lives beside the folder while the run goes; the caller copies it in. On failure it
    stays as ``<out>.failed.log`` and the error message points there.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".log", dir=out.parent)
    os.close(fd)
    log = Path(name)
    try:
        with run_log(log, quiet) as run:
            yield run
    except BaseException as exc:
        failed = out.parent / f"{out.name}.failed.log"
        try:
            os.replace(log, failed)
            exc.skhe_log = failed  # the command's one error line points there
        except OSError:
            log.unlink(missing_ok=True)
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


def build_model(
    kind: str,
    *,
    preset: str,
    seed: int,
    device: str,
    memory=None,
    slice_cache=None,
    verbose=0,
    threshold="youden",
    overrides=None,
    only_known=False,
):
    """The unfitted Image-, Clinical- or Integrated-to-HE pipeline of the command line.

    ``slice_cache`` (a PatientSliceCache) lets the run's image models and their CV folds read
    each CT once; ``threshold`` is the fitted model's decision threshold (the command line's:
    Youden on the training patients); ``overrides`` are ``--set`` values (see
    :func:`apply_overrides`, which ``only_known`` is passed to).
    """
    from skhe.pipelines import make_clinical_to_he, make_image_to_he, make_integrated_to_he
    from skhe.presets import make_ndl_scorer

    if kind not in KINDS:
        raise CommandError(f"unknown model {kind!r}; choose from {', '.join(KINDS)}.")
    if kind == "clinical":
        model = make_clinical_to_he(threshold=threshold)
        apply_overrides(model, overrides or {}, only_known=only_known)
        return model
    ndl = make_ndl_scorer(
        preset,
        device=device,
        random_state=seed,
        memory=memory,
        slice_cache=slice_cache,
        verbose=verbose,
    )
    if kind == "image":
        model = make_image_to_he(ndl, threshold=threshold)
    else:
        model = make_integrated_to_he(ndl, threshold=threshold)
    apply_overrides(model, overrides or {}, only_known=only_known)
    return model


def device_arg(text: str) -> str:
    """argparse type of ``--device``: auto, cpu, cuda, cuda:N or mps."""
    from skhe.utils import check_device

    try:
        return check_device(text, f"invalid device {text!r}; --device")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def folds_arg(text: str) -> int:
    """argparse type of ``--cv``: an integer >= 2."""
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--cv takes a number of folds; got {text!r}") from None
    if k < 2:
        raise argparse.ArgumentTypeError(f"--cv needs at least 2 folds; got {k}")
    return k


def parse_overrides(items) -> dict:
    """``["classifier__max_epochs=8", "logistic__p_enter=0.1"]`` -> a dict of Python values."""
    import ast

    out = {}
    for item in items or ():
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CommandError(
                f"--set takes NAME=VALUE (e.g. classifier__max_epochs=8); got {item!r}."
            )
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()  # a plain string such as a backbone name
        out[name] = value
    return out


def _resolve_overrides(model, overrides: dict) -> tuple[dict, list[str]]:
    """The overrides under ``model``'s full parameter names, and the names it does not have."""
    from skhe.pipelines import FEATURES, IMAGE

    params = model.get_params(deep=True)
    prefix = f"{FEATURES}__{IMAGE}__"
    resolved, unknown = {}, []
    for name, value in overrides.items():
        if name in params:
            resolved[name] = value
        elif prefix + name in params:
            resolved[prefix + name] = value
        else:
            unknown.append(name)
    return resolved, unknown


def apply_overrides(model, overrides: dict, *, only_known: bool = False) -> None:
    """Set each override on the pipeline (``logistic__p_enter``) or, for the image models, on
    its NDLScorer (``classifier__max_epochs``, ``cv``). An unknown name is a CommandError, unless
    ``only_known`` (a run of several models: an image parameter skips the clinical model)."""
    from skhe.pipelines import FEATURES, IMAGE

    if not overrides:
        return
    resolved, unknown = _resolve_overrides(model, overrides)
    if unknown and not only_known:
        params = model.get_params(deep=True)
        prefix = f"{FEATURES}__{IMAGE}__"
        short = (k[len(prefix) :] for k in params if k.startswith(prefix))
        ndl = sorted(k for k in short if "__" not in k)
        logistic = sorted(k for k in params if k.startswith("logistic__"))
        raise CommandError(
            f"--set {unknown[0]}: no such parameter of this model. Image-model parameters: "
            f"{ndl or 'none (clinical model)'}, with sub-estimator parameters as "
            f"classifier__lr, segmenter__max_epochs, ...; pipeline parameters: "
            f"{logistic[:8]} ..."
        )
    try:
        model.set_params(**resolved)
    except ValueError as exc:
        raise CommandError(f"--set: {exc}") from exc


def build_models(args, kinds: list[str], *, memory=None, verbose: int = 0) -> dict:
    """A run's unfitted models by display name, sharing one PatientSliceCache (every model and
    fold reads each CT once) and the command's preset, seed, device and ``--set`` overrides."""
    from skhe.preprocessing import PatientSliceCache

    slices = PatientSliceCache()
    overrides = parse_overrides(getattr(args, "overrides", []))
    models = {
        NAMES[k]: build_model(
            k,
            preset=args.preset,
            seed=args.seed,
            device=args.device,
            memory=memory,
            slice_cache=slices,
            overrides=overrides,
            only_known=len(kinds) > 1,
            verbose=verbose,
        )
        for k in kinds
    }

    # with several models each takes the overrides it has; a name none has is still an error
    def known_to_none(name: str) -> bool:
        return all(_resolve_overrides(m, {name: None})[1] for m in models.values())

    unused = [n for n in overrides if known_to_none(n)]
    if unused:  # the error names the parameters of an image model when there is one
        image = [m for k, m in zip(kinds, models.values(), strict=True) if k != "clinical"]
        apply_overrides((image or list(models.values()))[0], {unused[0]: overrides[unused[0]]})
    return models
