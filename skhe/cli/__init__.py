"""The ``skhe`` command line: ``skhe demo | fit | predict | evaluate | cv``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys

from skhe.cli._commands import run_cv, run_demo, run_evaluate, run_fit, run_predict
from skhe.cli._runtime import KINDS, CommandError, device_arg, folds_arg

__all__ = ["build_parser", "main"]


def _common(p: argparse.ArgumentParser, *, preset: bool = True, overwrite: bool = True) -> None:
    if preset:
        p.add_argument(
            "--preset",
            default="cpu",
            choices=["cpu", "paper", "tiny"],
            help="network configuration of the image models (default cpu; paper needs a GPU)",
        )
        p.add_argument(
            "--device",
            default="auto",
            type=device_arg,
            help="auto (GPU when available), cpu, cuda or cuda:N",
        )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if preset:
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            dest="overrides",
            help="override a model parameter, repeatable: an NDLScorer parameter "
            "(classifier__max_epochs=8, segmenter__lr=0.001, cv=2) or a pipeline parameter "
            "(logistic__p_enter=0.1); values are Python literals",
        )
    if overwrite:
        p.add_argument("--overwrite", action="store_true", help="replace existing output")
    p.add_argument("--quiet", action="store_true", help="no console output (the log file stays)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skhe`` command."""
    from skhe import __version__

    parser = argparse.ArgumentParser(
        prog="skhe",
        description="Hematoma expansion prediction from non-contrast CT and clinical variables.",
    )
    parser.add_argument("--version", action="version", version=f"skhe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="the three HE models on a built-in synthetic cohort, with the report",
        description="Generate a synthetic cohort, fit Image-, Clinical- and Integrated-to-HE on "
        "a stratified training split, evaluate them on the held-out split and write the report.",
    )
    demo.add_argument("--out", default="skhe-demo", help="report folder (default skhe-demo)")
    demo.add_argument(
        "--n-patients", type=int, default=None, help="cohort size (default: the preset's)"
    )
    demo.add_argument(
        "--test-size",
        type=float,
        default=None,
        help="held-out fraction (default: the preset's; cpu 0.3, i.e. 120 of 400 patients, "
        "about the paper's 107 test patients; paper and tiny 107/572 as the paper)",
    )
    _common(demo)
    demo.set_defaults(func=run_demo)

    fit = sub.add_parser("fit", help="fit one model on a manifest and save it")
    fit.add_argument("--manifest", required=True, help="cohort manifest (CSV) with 'he' labels")
    fit.add_argument("--model", required=True, choices=KINDS, help="which HE model")
    fit.add_argument("--out", required=True, help="model folder to create")
    _common(fit)
    fit.set_defaults(func=run_fit)

    pred = sub.add_parser("predict", help="HE probabilities of new patients from a saved model")
    pred.add_argument("--model", required=True, help="model folder written by 'skhe fit'")
    pred.add_argument("--manifest", required=True, help="cohort manifest (CSV)")
    pred.add_argument("--out", required=True, help="predictions CSV to write")
    _common(pred, preset=False)
    pred.set_defaults(func=run_predict)

    ev = sub.add_parser("evaluate", help="fit and evaluate the models; write the report")
    ev.add_argument("--manifest", required=True, help="cohort manifest (CSV) with 'he' labels")
    ev.add_argument("--out", required=True, help="report folder to create")
    ev.add_argument("--test-manifest", default=None, help="separate test cohort")
    ev.add_argument(
        "--cv",
        type=folds_arg,
        default=None,
        help="k-fold cross-validation (default 5 without a test)",
    )
    ev.add_argument(
        "--models", default="image,clinical,integrated", help="comma-separated subset to fit"
    )
    _common(ev)
    ev.set_defaults(func=run_evaluate)

    cv = sub.add_parser("cv", help="cross_validate the models: mean and SD of each metric")
    cv.add_argument("--manifest", required=True, help="cohort manifest (CSV) with 'he' labels")
    cv.add_argument("--cv", type=folds_arg, default=5, help="folds (default 5)")
    cv.add_argument("--models", default="image,clinical,integrated", help="comma-separated subset")
    cv.add_argument("--out", default=None, help="CSV of the table (optional)")
    _common(cv)
    cv.set_defaults(func=run_cv)
    return parser


def _one_line(exc: BaseException) -> str:
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    text = text if len(text) <= 600 else text[:597] + "..."
    log = getattr(exc, "skhe_log", None)
    return f"{text} (log: {log})" if log else text


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that every cleanup runs as on Ctrl-C."""

    def __str__(self) -> str:
        return "terminated"


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_cleans_up():
    """SIGTERM unwinds like SIGINT: temporary folders and partial outputs are removed."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skhe`` command; returns the exit code.

    0 on success; 2 with a one-line reason on bad input (bad manifest, missing files, unknown
    model, an output that is an input or not skhe's, unwritable or full output location); 1 on an
    unexpected failure; 130 on Ctrl-C and 143 on SIGTERM, after removing temporary and partial
    output.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with _sigterm_cleans_up():
            return int(args.func(args) or 0)
    # bad input, refused outputs, and OSErrors (read-only file system, disk full, permissions;
    # FileNotFoundError and FileExistsError among them): one line, exit code 2
    except (CommandError, ValueError, OSError) as exc:
        print(f"skhe {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except Terminated as exc:
        print(
            f"skhe {args.command}: {_one_line(exc)} (SIGTERM); partial output removed",
            file=sys.stderr,
        )
        return 143
    except KeyboardInterrupt:
        print(f"skhe {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an unforeseen failure: one line here, traceback in the log
        print(
            f"skhe {args.command}: unexpected {type(exc).__name__}: {_one_line(exc)} "
            "(traceback in the run's log)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
