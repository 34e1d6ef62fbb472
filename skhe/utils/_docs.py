"""Links from scikit-learn's HTML diagram of an estimator to skhe's API reference."""

from __future__ import annotations

import itertools
import os
from pathlib import Path


def docs_base_url() -> str:
    """Where the API reference is: ``$SKHE_DOCS_URL``, else the local ``make docs`` build of
    this source tree (a ``file://`` URL), else "" (no link rather than a guessed address)."""
    url = os.environ.get("SKHE_DOCS_URL", "").strip()
    if url:
        return url.rstrip("/")
    built = Path(__file__).resolve().parents[2] / "build" / "docs"
    return built.as_uri() if (built / "index.html").is_file() else ""


class DocLinkMixin:
    """Makes the "?" of an estimator's HTML diagram open its page of skhe's API reference."""

    _doc_link_module = "skhe"

    @property
    def _doc_link_template(self) -> str:
        base = docs_base_url()
        return f"{base}/{{page}}.html#{{anchor}}" if base else ""

    def _doc_link_url_param_generator(self) -> dict:
        parts = type(self).__module__.split(".")
        module = ".".join(itertools.takewhile(lambda p: not p.startswith("_"), parts))
        page = module.split(".", 1)[1] if "." in module else "index"
        return {"page": page, "anchor": f"{module}.{type(self).__name__}"}
