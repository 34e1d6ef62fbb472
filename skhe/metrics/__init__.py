"""The paper's statistics: intervals, ROC/DeLong, calibration, model comparison, decision curves.

Every function validates its inputs (binary outcome with both classes, finite scores of matching
length) and returns a frozen dataclass or a DataFrame with the documented field names.
"""

from skhe.metrics._calibration import CalibrationResult, calibration, calibration_slope
from skhe.metrics._comparison import LRTResult, likelihood_ratio_test
from skhe.metrics._decision_curve import net_benefit
from skhe.metrics._diagnostic import DiagnosticPerformance, diagnostic_performance, youden_threshold
from skhe.metrics._intervals import proportion_ci
from skhe.metrics._roc import AUCResult, DeLongTestResult, delong_test, roc_auc_ci
from skhe.metrics._scorers import SCORERS, youden_sensitivity, youden_specificity
from skhe.metrics._segmentation import dice_coefficient, per_slice_dice
from skhe.metrics._univariable import univariable_analysis

__all__ = [
    "SCORERS",
    "AUCResult",
    "CalibrationResult",
    "DeLongTestResult",
    "DiagnosticPerformance",
    "LRTResult",
    "calibration",
    "calibration_slope",
    "delong_test",
    "diagnostic_performance",
    "dice_coefficient",
    "likelihood_ratio_test",
    "net_benefit",
    "per_slice_dice",
    "proportion_ci",
    "roc_auc_ci",
    "univariable_analysis",
    "youden_sensitivity",
    "youden_specificity",
    "youden_threshold",
]
