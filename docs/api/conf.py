"""Sphinx configuration of skhe's API reference (``make docs``; numpydoc docstrings)."""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from skhe import __version__

project = "skhe"
author = "skhe developers"
copyright = "skhe developers, BSD-3-Clause"
version = release = __version__

extensions = ["sphinx.ext.autodoc", "numpydoc"]
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    # scikit-learn's generated metadata-routing setters: documented by scikit-learn
    "exclude-members": ",".join(
        f"set_{m}_request"
        for m in ("fit", "score", "transform", "predict", "predict_proba", "partial_fit")
    ),
}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False  # members are documented once, by autodoc
numpydoc_class_members_toctree = False
html_theme = "alabaster"
exclude_patterns = ["_build"]
