"""skhe: scikit-learn-compatible prediction of hematoma expansion (HE).

skhe predicts hematoma expansion in spontaneous intracerebral hemorrhage from non-contrast head CT
and clinical variables. Subpackages:

- :mod:`skhe.linear_model` -- :class:`~skhe.linear_model.ForwardSelectingLogisticRegression`.
- :mod:`skhe.clinical` -- GCS grouping, the HE labelling rule, hematoma volume formulas and the
  clinical preprocessing ColumnTransformer.
- :mod:`skhe.metrics` -- the paper's statistics (Wilson CIs, DeLong, calibration, LRT, decision
  curves) and sklearn scorers.
- :mod:`skhe.datasets` -- synthetic cohorts (clearly synthetic) and loaders for shared real data.
- :mod:`skhe.pipelines` -- Clinical-to-HE (and, later, Image- and Integrated-to-HE) pipelines.
"""

from skhe._version import __version__

__all__ = ["__version__"]
