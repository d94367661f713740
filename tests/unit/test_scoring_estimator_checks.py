"""scikit-learn's own estimator checks on the scorecard and the WoE transformer."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from microlend.scoring import Scorecard, WoETransformer

# Weight of evidence is defined for a binary target only. scikit-learn's transformer checks fit with
# three or four classes (there is no "binary only" tag for transformers), so those checks cannot pass;
# the scorecard, a classifier tagged binary-only, is checked with two classes and passes them all.
_MULTICLASS = "fits with a multi-class target; WoE needs a binary one"
WOE_MULTICLASS_CHECKS = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_dtype_object", "check_f_contiguous_array_estimator",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1feature",
    "check_dict_unchanged", "check_fit2d_predict1d",
]


def _expected_failures(estimator) -> dict[str, str]:
    if isinstance(estimator, WoETransformer):
        return dict.fromkeys(WOE_MULTICLASS_CHECKS, _MULTICLASS)
    return {}


@parametrize_with_checks([Scorecard(), WoETransformer()], expected_failed_checks=_expected_failures)
def test_scikit_learn_conventions(estimator, check):
    check(estimator)
