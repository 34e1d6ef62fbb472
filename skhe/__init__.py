"""skhe: scikit-learn-compatible prediction of hematoma expansion (HE).

skhe predicts hematoma expansion in spontaneous intracerebral hemorrhage from non-contrast head CT
and clinical variables. The map (``docs/design.md`` has the step-by-step data flow):

- :mod:`skhe.io` -- CT (DICOM, NIfTI, NumPy), masks and manifests; no identifiers read.
- :mod:`skhe.preprocessing` -- windowing, resizing, one patient's network input, slice caches,
  augmentation, torch datasets.
- :mod:`skhe.nn` -- plain torch networks and losses.
- :mod:`skhe.neural` -- the deep estimators (SliceClassifier, HematomaSegmenter,
  MultiTaskHEModel), NDLScorer and the nDL formula.
- :mod:`skhe.clinical` -- GCS grouping, the HE rule, volume formulas, clinical preprocessing.
- :mod:`skhe.linear_model` -- ForwardSelectingLogisticRegression and its Logit fitting.
- :mod:`skhe.pipelines` -- Image-, Clinical- and Integrated-to-HE.
- :mod:`skhe.model_selection` -- holdout and cross-validated evaluation.
- :mod:`skhe.metrics` -- the paper's statistics and sklearn scorers.
- :mod:`skhe.report` -- the HTML report, tables and figures.
- :mod:`skhe.explain` -- Grad-CAM.
- :mod:`skhe.persistence` -- safe model files (JSON + safetensors).
- :mod:`skhe.datasets` -- synthetic cohorts and loaders for shared real data.
- :mod:`skhe.presets` -- network configurations (paper, cpu, tiny).
- :mod:`skhe.exceptions` -- skhe's warnings and errors.
- :mod:`skhe.cli` -- the ``skhe`` command.
"""

from skhe._version import __version__

__all__ = ["__version__"]
