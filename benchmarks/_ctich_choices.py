"""What ``benchmarks/ctich.py`` chooses on the inner validation fold(s), and per-patient Dice:
the mask rule (a probability threshold, or one sharpened by the CT's density) and the
combinations of the networks' slice scores (logistic, or equal weights). Pure array functions."""

from __future__ import annotations

import numpy as np

from skhe.metrics import dice_coefficient, per_slice_dice

#: Mask thresholds tried on the inner validation fold.
MASK_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
#: Density refinements tried there too: (HU from which a pixel can be blood, core probability,
#: probability the outline may grow over), see skhe.preprocessing.refine_hematoma_mask.
MASK_REFINEMENTS = tuple(
    (hu, core, grow) for hu in (40.0, 50.0) for core in (0.1, 0.3, 0.5) for grow in (0.02, 0.1)
)


def per_patient_dice(true: np.ndarray, pred: np.ndarray, patients: np.ndarray) -> np.ndarray:
    """3-D Dice per patient, for patients with any true hemorrhage."""
    out = []
    for p in np.unique(patients):
        sel = patients == p
        if true[sel].any():
            out.append(dice_coefficient(true[sel], pred[sel]))
    return np.array(out)


def dice_figures(true: np.ndarray, pred: np.ndarray, patients: np.ndarray) -> dict:
    """Dice per hemorrhage slice (mean), pooled over those slices, and per patient (mean)."""
    has = true.reshape(len(true), -1).any(1)
    return {
        "dice_per_slice": float(per_slice_dice(true, pred).mean()),
        "dice_pooled": dice_coefficient(true[has], pred[has]),
        "dice_per_patient": float(per_patient_dice(true, pred, patients).mean()),
    }


def fit_combination(features, labels, groups):
    """Logistic regression on the slice features, and its patient-grouped CV AUC."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0))
    k = min(5, len(np.unique(groups)))
    if k < 3:  # too few validation patients (the smoke run): slices in stratified folds
        from sklearn.model_selection import StratifiedKFold

        groups, cv = None, StratifiedKFold(min(3, int(np.bincount(labels).min())))
    else:
        cv = GroupKFold(k)
    oof = cross_val_predict(model, features, labels, groups=groups, cv=cv, method="predict_proba")[
        :, 1
    ]
    return model.fit(features, labels), float(roc_auc_score(labels, oof))


def equal_weight_combination(features):
    """The features standardized (mean and SD of these slices) and summed, each with weight 1:
    a combination fixed in advance, as a StandardScaler + LogisticRegression whose coefficients
    are all 1 and intercept 0 (so it is stored and applied like a fitted one). No label is
    read."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = np.asarray(features, dtype=float)
    model = make_pipeline(StandardScaler().fit(features), LogisticRegression())
    head = model[-1]
    head.classes_ = np.array([0, 1])
    head.coef_ = np.ones((1, features.shape[1]))
    head.intercept_ = np.zeros(1)
    head.n_features_in_ = features.shape[1]
    return model


def mask_rules(thresholds=None, refinements=None) -> list[tuple]:
    """The mask rules offered to validation: each probability threshold, then each density
    refinement (default: :data:`MASK_THRESHOLDS`, :data:`MASK_REFINEMENTS`)."""
    thresholds = MASK_THRESHOLDS if thresholds is None else thresholds
    refinements = MASK_REFINEMENTS if refinements is None else refinements
    rules = [("threshold", t) for t in thresholds]
    return rules + [("refined", hu, core, grow) for hu, core, grow in refinements]


#: What a mask rule is chosen by on the validation slices: "slice", the mean Dice per
#: hemorrhage slice (blind to pixels marked on slices without hemorrhage); "slice_patient", the
#: mean of that and the mean 3-D Dice per patient with hemorrhage (which counts them).
MASK_CRITERIA = ("slice", "slice_patient")


def choose_mask(images, proba, masks, patients, thresholds=None, refinements=None, largest=False):
    """The mask rule with the best mean Dice per hemorrhage slice on these (validation) slices:
    a probability threshold, or a threshold sharpened by the CT's density
    (:func:`skhe.preprocessing.refine_hematoma_mask`); with ``largest``, each of those also
    followed by :func:`skhe.preprocessing.largest_region` (``("largest", *rule)``). Returns
    (rule, {rule: Dice per slice}, {criterion: the rule it chooses, for :data:`MASK_CRITERIA`,
    ``"per_patient"``: {rule: mean 3-D Dice per patient of ``patients``} and, with
    ``largest``, ``"without_largest"``: {criterion: the rule it chooses among the others}})."""
    base = mask_rules(thresholds, refinements)
    rules = base + [("largest", *r) for r in base] if largest else base
    measured = {}

    def measure(rule, pred):
        measured[rule] = (
            float(per_slice_dice(masks, pred).mean()),
            float(per_patient_dice(masks, pred, patients).mean()),
        )

    for rule in base:  # each base rule's masks once; its largest region derived from them
        pred = apply_mask_rule(rule, images, proba)
        measure(rule, pred)
        if largest:
            from skhe.preprocessing import largest_region

            measure(("largest", *rule), largest_region(pred, proba).astype(np.uint8))
    scores = {r: measured[r][0] for r in rules}
    by_patient = {r: measured[r][1] for r in rules}

    def pick(among):
        both = {r: (scores[r] + by_patient[r]) / 2 for r in among}
        return {"slice": max(among, key=scores.get), "slice_patient": max(both, key=both.get)}

    chosen = pick(rules)
    if largest:
        chosen["without_largest"] = pick(base)
    return chosen["slice"], scores, {**chosen, "per_patient": by_patient}


def apply_mask_rule(rule: tuple, images, proba) -> np.ndarray:
    """Binary masks (uint8) of a rule from :func:`choose_mask`."""
    if rule[0] == "largest":
        from skhe.preprocessing import largest_region

        return largest_region(apply_mask_rule(rule[1:], images, proba), proba).astype(np.uint8)
    if rule[0] == "threshold":
        return (proba >= rule[1]).astype(np.uint8)
    from skhe.preprocessing import refine_hematoma_mask

    _, hu, core, grow = rule
    out = np.zeros(proba.shape, np.uint8)
    for i in range(0, len(proba), 64):  # bounded memory (float copies of 512 px slices)
        sl = slice(i, i + 64)
        out[sl] = refine_hematoma_mask(
            images[sl], proba[sl], proba[sl] >= core, hu_threshold=hu, grow_prob=grow
        )
    return out


def mask_rule_threshold(rule: tuple) -> float:
    """The probability threshold of a rule from :func:`choose_mask` (a refinement's core)."""
    base = rule[1:] if rule[0] == "largest" else rule
    return float(base[1] if base[0] == "threshold" else base[2])


def describe_mask_rule(rule) -> str:
    """A rule from :func:`choose_mask` in words."""
    if rule[0] == "largest":
        return describe_mask_rule(rule[1:]) + "; each slice's most probable connected region"
    if rule[0] == "refined":
        return (
            f"probability >= {rule[2]} sharpened by density: >= {rule[1]:g} HU where the "
            f"probability is >= {rule[3]}, connected to it"
        )
    return f"mask threshold {rule[1]}"
