"""skhe's own warnings and errors, so callers (and the ``skhe`` command) filter them precisely.

Filter skhe's warnings by class, never ``UserWarning`` wholesale::

    import warnings
    from skhe.exceptions import DataWarning

    warnings.simplefilter("error", DataWarning)  # make every data problem an error

Every skhe warning is a :class:`SkheWarning` (a ``UserWarning``). Errors about bad input are
``ValueError`` subclasses whose message names the file, patient, column or row.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

__all__ = [
    "DataError",
    "DataWarning",
    "ModelVersionWarning",
    "OutputError",
    "PerformanceWarning",
    "SkheWarning",
    "small_model_warnings_ignored",
]


class SkheWarning(UserWarning):
    """Base class of every warning skhe itself emits."""


class DataWarning(SkheWarning):
    """A problem in the input data that skhe can work around but the user should see.

    Examples: a gap in a CT series, a missing Modality tag, an empty hematoma mask for a patient
    whose recorded baseline volume is not zero. The ``skhe`` command shows these on the terminal,
    writes them to the run's log and lists them, counted per patient, in the report's "Data
    warnings" section.

    Parameters
    ----------
    message : str
        What is wrong and what skhe did about it; names the file, patient or column.
    source : str, optional
        The file or folder the problem is in (used to attribute it to a patient).
    patient : str, optional
        The patient identifier from the manifest, when known.
    """

    def __init__(self, message: str, *, source: str | None = None, patient: str | None = None):
        super().__init__(message)
        self.source = None if source is None else str(source)
        self.patient = None if patient is None else str(patient)

    def __reduce__(self):  # keep source/patient across processes (joblib, Dask)
        return (_rebuild_data_warning, (str(self), self.source, self.patient))


def _rebuild_data_warning(message, source, patient):
    return DataWarning(message, source=source, patient=patient)


class ModelVersionWarning(SkheWarning):
    """A saved model was written by another skhe version."""


class PerformanceWarning(SkheWarning):
    """A configuration that will be very slow where it runs (a GPU-sized network on a CPU)."""


class DataError(ValueError):
    """Input data that skhe refuses (impossible values, inconsistent geometry, ...).

    The message names the file, patient, column or row and, where there is one, the override
    that accepts the data anyway.
    """


class OutputError(ValueError):
    """An output location that skhe refuses to write (it is an input, or not skhe's own)."""


@contextlib.contextmanager
def small_model_warnings_ignored() -> Iterator[None]:
    """Ignore the warnings tiny networks and small cohorts cause, by name, and nothing else.

    For tests, examples and quick experiments: a one-epoch slice classifier may select no
    slice of a patient (NDLScorer's :class:`DataWarning` "no hematoma slice found"); forward
    selection on a few dozen patients meets separation (scikit-learn's ``ConvergenceWarning``);
    a fold without a predicted positive has no PPV (``UndefinedMetricWarning``). Every other
    warning, data warnings included, still reaches you.
    """
    from sklearn.exceptions import ConvergenceWarning, UndefinedMetricWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "NDLScorer: patient .*no hematoma slice", DataWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        yield
