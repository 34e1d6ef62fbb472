"""One self-contained HTML report (figures embedded), plus CSV tables and PNG figures."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from skhe.model_selection import Evaluation
from skhe.report import _figures, _tables
from skhe.utils import atomic_output_dir

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;color:#222;
line-height:1.4;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;margin-top:2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}
th,td{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f3f3f3}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figcaption{font-size:.85em;color:#555;max-width:520px}img{max-width:100%}
.note{background:#fff7e0;border-left:4px solid #e0a800;padding:.5em 1em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:.8em}
"""
# Counts figures the browser actually decoded (read back by the rendering test).
_SCRIPT = """
window.addEventListener('load',function(){var n=0,imgs=document.images;
for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0){n++;}}
document.body.setAttribute('data-figures-loaded',String(n));
document.body.setAttribute('data-figures-total',String(imgs.length));});
"""


def _ci(v, lo, hi, pct=False) -> str:
    if any(not np.isfinite(x) for x in (v, lo, hi)):
        return "n/a"
    if pct:
        return f"{100 * v:.1f}% ({100 * lo:.1f}-{100 * hi:.1f})"
    return f"{v:.3f} ({lo:.3f}-{hi:.3f})"


def _p(p) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _html_table(df: pd.DataFrame, index: bool = False) -> str:
    return df.to_html(index=index, escape=True, border=0, na_rep="")


def _table1_display(t1: pd.DataFrame, outcome: str, y) -> pd.DataFrame:
    """Table 1 for the page; the column heads carry each group's size (from the outcome ``y``)."""
    if t1.empty:
        return t1
    y = pd.Series(y).dropna().astype(int)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    d = t1.reset_index()
    return pd.DataFrame(
        {
            "variable": [
                f"{v} = {lv}" if lv != "" else v
                for v, lv in zip(d["variable"], d["level"], strict=True)
            ],
            f"no {outcome} (n={n_neg})": d["summary_neg"],
            f"{outcome} (n={n_pos})": d["summary_pos"],
            "missing": d["missing"],
            "OR (95% CI)": [
                _ci(o, lo, hi)
                for o, lo, hi in zip(d["odds_ratio"], d["ci_low"], d["ci_high"], strict=True)
            ],
            "p": [_p(x) for x in d["p_value"]],
        }
    )


def _table2_display(t2: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": t2["model"],
            "variable": t2["variable"],
            "OR (95% CI)": [
                _ci(o, lo, hi)
                for o, lo, hi in zip(t2["odds_ratio"], t2["ci_low"], t2["ci_high"], strict=True)
            ],
            "p": [_p(x) for x in t2["p_value"]],
        }
    )


def _rate_cell(r, name: str) -> str:
    ci = _ci(r[name], r[f"{name}_ci_low"], r[f"{name}_ci_high"], pct=True)
    return f"{ci} [{r[f'{name}_count']}]"


def _table3_display(t3: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in t3.iterrows():
        rows.append(
            {
                "model": r["model"],
                "AUC (95% CI)": _ci(r["auc"], r["auc_ci_low"], r["auc_ci_high"]),
                **{k: _rate_cell(r, k) for k in ("accuracy", "sensitivity", "specificity")},
                "threshold": f"{r['threshold']:.3f}",
            }
        )
    return pd.DataFrame(rows)


def _comparison_display(ev: Evaluation, fit: pd.DataFrame) -> str:
    parts = []
    f = fit[["model", "variables", "n_parameters", "log_likelihood", "aic"]].copy()
    f["log_likelihood"] = f["log_likelihood"].map(lambda v: f"{v:.2f}")
    f["aic"] = f["aic"].map(lambda v: f"{v:.1f}")
    parts.append("<h3>Fit on the training patients</h3>" + _html_table(f))
    if ev.ndl_lrt is not None:
        t = ev.ndl_lrt
        parts.append(
            "<h3>Likelihood-ratio test of the nDL score</h3><p>Integrated-to-HE against the same "
            f"clinical variables without the nDL score: &chi;&sup2; = {t.statistic:.2f}, "
            f"df = {t.df}, p = {_p(t.p_value)}; AIC {t.aic_full:.1f} with against "
            f"{t.aic_restricted:.1f} without.</p>"
        )
    if not ev.comparisons.empty:
        c = ev.comparisons
        d = pd.DataFrame(
            {
                "comparison": c["model_a"] + " vs " + c["model_b"],
                "AUC difference (95% CI)": [
                    _ci(v, lo, hi)
                    for v, lo, hi in zip(c["difference"], c["ci_low"], c["ci_high"], strict=True)
                ],
                "z": c["z"].map(lambda v: f"{v:.2f}"),
                "p": c["p_value"].map(_p),
            }
        )
        parts.append("<h3>Paired DeLong tests (test patients)</h3>" + _html_table(d))
    return "\n".join(parts)


def _img(png: bytes, caption: str, name: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="fig-{name}"><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{b64}"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )


def _png(fig) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _data_warnings_table(ev: Evaluation) -> pd.DataFrame:
    """One row per data warning: patient (blank when not attributable) and message."""
    rows = (ev.data_quality or {}).get("warnings", [])
    return pd.DataFrame(rows, columns=["patient", "source", "message"])


def _data_quality_display(ev: Evaluation, warnings_table: pd.DataFrame) -> str:
    parts = []
    imputed = (ev.data_quality or {}).get("imputed", {})
    if imputed:
        parts.append(
            "<p>Missing clinical values imputed from the training patients (median; most "
            "frequent level for categories): "
            + ", ".join(f"{html.escape(str(c))} {n}" for c, n in imputed.items())
            + ".</p>"
        )
    if warnings_table.empty:
        parts.append("<p>No data warnings: every input passed skhe's checks.</p>")
        return "\n".join(parts)
    who = warnings_table["patient"].replace("", "(not attributed to a patient)")
    counts = who.value_counts().rename_axis("patient").reset_index(name="warnings")
    n_patients = warnings_table.loc[warnings_table["patient"] != "", "patient"].nunique()
    parts += [
        f"<p>{len(warnings_table)} warning(s) about the input data, for {n_patients} "
        "patient(s). Check these inputs before relying on the results "
        "(tables/data_warnings.csv lists them all).</p>",
        _html_table(counts),
        _html_table(warnings_table[["patient", "message"]]),
    ]
    return "\n".join(parts)


def build_report(ev: Evaluation, *, title: str = "Hematoma expansion prediction") -> dict:
    """The report's pieces: ``html`` (str), ``tables`` (name -> DataFrame), ``figures``
    (name -> PNG bytes)."""
    tables = {
        "table1_cohort": _tables.table1(ev),
        "table2_odds_ratios": _tables.table2(ev),
        "table3_performance": _tables.table3(ev),
        "model_fit": _tables.model_fit_table(ev),
        "model_comparison_delong": ev.comparisons,
        "predictions": _tables.predictions_table(ev),
        "data_warnings": _data_warnings_table(ev),
    }
    figs = {
        "roc": (_figures.roc_figure(ev), "ROC curves of the three models on the test patients."),
        "calibration": (_figures.calibration_figure(ev), "Calibration plots."),
        "decision_curves": (_figures.decision_curve_figure(ev), "Decision curves."),
    }
    cam = _figures.gradcam_figure(ev)
    if cam is not None:
        figs["gradcam"] = (
            cam,
            "Grad-CAM of the HE head on each patient's most heavily weighted slice: true- and "
            "false-positive test patients, most confident first.",
        )
    desc = _figures.descriptor_figure(ev)
    if desc is not None:
        figs["descriptors"] = (
            desc,
            "The image score is a penalized logistic regression on hematoma descriptors measured "
            "on the segmented hematoma (left: odds ratio per SD); right: the segmentation "
            "(outlined) on the largest ROI of true- and false-positive test patients, most "
            "confident first.",
        )
    figures = {k: _png(f) for k, (f, _) in figs.items()}
    captions = {k: c for k, (_, c) in figs.items()}
    design = (
        f"held-out test split ({int((ev.patients['split'] == 'test').sum())} patients)"
        if ev.design == "holdout"
        else f"{ev.patients['split'].nunique()}-fold cross-validation (out-of-fold predictions)"
    )
    n_tr = (
        int((ev.patients["split"] == "train").sum()) if ev.design == "holdout" else len(ev.patients)
    )
    y_all = ev.patients[ev.outcome]
    synthetic = ev.methods.get("synthetic", False)
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(ev.patients)} patients, {ev.outcome.upper()} in {int(y_all.sum())} "
        f"({100 * y_all.mean():.1f}%). Evaluation: {design}; models fit on {n_tr} patients. "
        f"Thresholds: {html.escape(_tables.threshold_rule(ev))}.</p>",
    ]
    if synthetic:
        body.append(
            '<p class="note">SYNTHETIC cohort generated by skhe (no real patient): the numbers '
            "show the method working end to end, not clinical performance.</p>"
        )
    body += [
        "<h2>Table 1. Cohort characteristics and univariable analysis</h2>",
        "<p>Mean &plusmn; SD or n (%); odds ratios per unit (Wald 95% CI).</p>",
        _html_table(_table1_display(tables["table1_cohort"], ev.outcome, ev.patients[ev.outcome])),
        "<h2>Table 2. Multivariable logistic models (odds ratios, 95% CI)</h2>",
        _html_table(_table2_display(tables["table2_odds_ratios"])),
        "<h2>Table 3. Performance on the test patients</h2>",
        "<p>Accuracy, sensitivity and specificity with Wilson 95% CIs [counts]; AUC with "
        "DeLong 95% CI.</p>",
        _html_table(_table3_display(tables["table3_performance"])),
        "<h2>Model comparison</h2>",
        _comparison_display(ev, tables["model_fit"]),
        "<h2>Figures</h2>",
        *[_img(figures[k], captions[k], k) for k in ("roc", "calibration", "decision_curves")],
    ]
    for key in ("gradcam", "descriptors"):
        if key in figures:
            body += [
                "<h2>What the image model looks at</h2>",
                _img(figures[key], captions[key], key),
            ]
    body += [
        "<h2>Data warnings</h2>",
        _data_quality_display(ev, tables["data_warnings"]),
        "<h2>Methods and reproducibility</h2>",
        "<pre>" + html.escape(json.dumps(ev.methods, indent=1, default=str)) + "</pre>",
    ]
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + f"<script>{_SCRIPT}</script></body></html>\n"
    )
    return {"html": page, "tables": tables, "figures": figures}


def write_report(
    ev: Evaluation,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    title: str = "Hematoma expansion prediction",
    extra_files: dict | None = None,
    inputs=(),
) -> Path:
    """Write ``report.html``, ``tables/*.csv``, ``figures/*.png`` and ``methods.json``.

    The folder is written atomically: it appears complete or not at all, and an existing
    report is replaced only with ``overwrite``.

    Parameters
    ----------
    ev : Evaluation
    out_dir : path
    overwrite : bool, default=False
    title : str
    extra_files : dict of str -> path, optional
        Files to move into the folder (e.g. the run's log).
    inputs : sequence of paths, default=()
        The run's inputs; ``out_dir`` must not be, hold or lie in one.

    Returns
    -------
    Path
        ``out_dir/report.html``.
    """
    import shutil

    parts = build_report(ev, title=title)
    with atomic_output_dir(out_dir, overwrite=overwrite, inputs=inputs) as tmp:
        (tmp / "tables").mkdir()
        (tmp / "figures").mkdir()
        for name, df in parts["tables"].items():
            df.to_csv(tmp / "tables" / f"{name}.csv", index=name == "table1_cohort")
        for name, png in parts["figures"].items():
            (tmp / "figures" / f"{name}.png").write_bytes(png)
        (tmp / "methods.json").write_text(json.dumps(ev.methods, indent=1, default=str))
        for name, src in (extra_files or {}).items():
            if Path(src).exists():
                shutil.copyfile(src, tmp / name)
        (tmp / "report.html").write_text(parts["html"], encoding="utf-8")
    return Path(out_dir) / "report.html"
