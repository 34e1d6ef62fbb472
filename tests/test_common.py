"""scikit-learn's common estimator checks over every public estimator of skhe.

Checks an estimator cannot pass are listed in ``EXPECTED_FAILED_CHECKS`` with a one-sentence reason.
"""

import pytest
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from skhe.linear_model import ForwardSelectingLogisticRegression
from skhe.neural import HematomaSegmenter, MultiTaskHEModel, NDLScorer, SliceClassifier

_IMAGES = (
    "takes stacks of windowed CT slices shaped (n, 1, H, W) with values in [0, 1] and rejects the "
    "2-D tabular data this check feeds it with a ValueError"
)

_SPARSE = "accepts dense image arrays only; sparse matrices of tabular features are refused"

# Checks that fit or predict on random 2-D tabular data (every other check passes).
_TABULAR_CHECKS = [
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_train",
    "check_complex_data",
    "check_decision_proba_consistency",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_empty_data_messages",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_supervised_y_2d",
]
_DEEP = {name: _IMAGES for name in _TABULAR_CHECKS} | {
    "check_estimator_sparse_array": _SPARSE,
    "check_estimator_sparse_matrix": _SPARSE,
    "check_estimator_sparse_tag": _SPARSE,
}

_FRAME = (
    "takes a patient DataFrame with a 'ct' column of CT paths and rejects the 2-D numeric "
    "arrays this check feeds it with a ValueError"
)
# The transformer meets the same tabular data: the shared checks, plus its transformer checks.
_NDL_CHECKS = [
    c
    for c in _TABULAR_CHECKS
    if "classifier" not in c
    and c not in ("check_decision_proba_consistency", "check_supervised_y_2d")
] + [
    "check_complex_data",
    "check_fit2d_1sample",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
]
_MASKS = (
    "needs hematoma masks (fit(X, y, masks=...)) besides images and labels, which this check "
    "cannot provide, and takes image stacks rather than 2-D tabular data"
)

EXPECTED_FAILED_CHECKS = {
    "ForwardSelectingLogisticRegression": {},
    # y is validated before X, so a one-sample or complex input already fails on its labels
    "SliceClassifier": {
        k: v for k, v in _DEEP.items() if k not in ("check_complex_data", "check_fit2d_1sample")
    }
    # run because SliceClassifier has class_weight and fit takes sample_weight
    | {
        name: _IMAGES
        for name in (
            "check_class_weight_classifiers",
            "check_sample_weights_pandas_series",
            "check_sample_weights_not_an_array",
            "check_sample_weights_list",
            "check_all_zero_sample_weights_error",
            "check_sample_weights_shape",
            "check_sample_weights_not_overwritten",
            "check_sample_weight_equivalence_on_dense_data",
            "check_classifiers_one_label_sample_weights",
        )
    },
    "HematomaSegmenter": _DEEP,
    "MultiTaskHEModel": {name: _MASKS for name in _DEEP if name != "check_fit2d_1sample"}
    | {k: v for k, v in _DEEP.items() if "sparse" in k},
    "NDLScorer": {name: _FRAME for name in _NDL_CHECKS}
    | {k: v for k, v in _DEEP.items() if "sparse" in k},
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


TINY = dict(image_size=16, max_epochs=1, batch_size=4, augment=False, random_state=0)


ESTIMATORS = [
    ForwardSelectingLogisticRegression(),
    SliceClassifier("test_resnet", **TINY),
    HematomaSegmenter("tu-test_resnet", decoder_channels=(8, 8, 8, 8, 8), **TINY),
    MultiTaskHEModel("tu-test_resnet", decoder_channels=(8, 8, 8, 8, 8), **TINY),
    NDLScorer(image_size=16, random_state=0),
]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_parameters_are_validated_like_sklearn(estimator):
    """Every parameter has a constraint; a bad type or value fails fit with sklearn's message."""
    check_param_validation(type(estimator).__name__, estimator)


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("early_stopping", True, "patience in epochs"),
        ("mixed_precision", "fp8", "'mixed_precision' parameter"),
        ("channels_last", "yes", "'channels_last' parameter"),
        ("device", "gpu0", "cuda:N"),
    ],
)
def test_deep_parameters_fail_at_fit_on_any_device(param, value, message):
    import numpy as np

    X = np.zeros((4, 1, 16, 16), np.float32)
    with pytest.raises(ValueError, match=message):
        SliceClassifier("test_resnet", **TINY).set_params(**{param: value}).fit(X, [0, 1, 0, 1])
