"""Turning what scikit-learn users pass (DataFrames with text and gaps, or plain arrays) into one form:
a DataFrame with named columns, checked the way scikit-learn checks its own estimators."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, validate_data


def to_frame(estimator, X, *, reset: bool) -> pd.DataFrame:
    """``X`` as a DataFrame; sets (``reset``) or checks ``n_features_in_`` and ``feature_names_in_``."""
    if isinstance(X, pd.DataFrame):
        validate_data(estimator, X, reset=reset, skip_check_array=True)
        if len(X) == 0:
            raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
        frame = X.copy(deep=False)
        frame.columns = [str(c) for c in frame.columns]
    else:
        array = validate_data(estimator, X, reset=reset, dtype=None, ensure_all_finite="allow-nan")
        if array.dtype == object:
            frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
            frame = frame.infer_objects()
        else:
            frame = pd.DataFrame(array, columns=[f"x{i}" for i in range(array.shape[1])])
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind == "f" and np.isinf(column.to_numpy()).any():
            raise ValueError(f"Input X contains infinity in column {name!r}.")
    return frame


def binary_target(y, bad_label=None) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, y01)``: the two classes and y as 0/1, 1 being the second class (the event).

    By default the classes are in sorted order, so the event is the larger label (scikit-learn's positive
    class: 1 of 0/1); ``bad_label`` names the event instead ("bad" of "bad"/"good" sorts first).
    Refuses continuous, multi-class and one-class targets."""
    if y is None:
        raise ValueError("This estimator requires y to be passed, but the target y is None.")
    y = check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=True)
    if y.ndim != 1:
        if y.ndim == 2 and y.shape[1] == 1:
            import warnings

            from sklearn.exceptions import DataConversionWarning

            warnings.warn("A column-vector y was passed when a 1d array was expected.", DataConversionWarning,
                          stacklevel=3)
            y = y.ravel()
        else:
            raise ValueError("y must be one-dimensional")
    kind = type_of_target(y, input_name="y")
    if kind not in ("binary", "multiclass"):
        raise ValueError(f"Unknown label type: {kind}. A scorecard needs a binary target (good/bad).")
    classes, y01 = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError("The target has only 1 class; a scorecard needs both goods and bads.")
    if len(classes) > 2:
        raise ValueError(f"Only binary classification is supported. The target has {len(classes)} classes; "
                         "a scorecard needs exactly 2 (good and bad).")
    if bad_label is not None and bad_label != classes[1]:
        if bad_label != classes[0]:
            raise ValueError(f"bad_label {bad_label!r} is not one of the target's classes {list(classes)}")
        classes, y01 = classes[::-1].copy(), 1 - y01
    return classes, y01.astype(np.int8)


def feature_kinds(frame: pd.DataFrame, categorical: list[str] | None = None) -> dict[str, str]:
    """``numeric`` for number and boolean columns, ``categorical`` for text, categories and the names given."""
    forced = set(categorical or [])
    kinds = {}
    for name in frame.columns:
        dtype = frame[name].dtype
        numeric = dtype.kind in "fiub" and not isinstance(dtype, pd.CategoricalDtype)
        kinds[name] = "categorical" if name in forced or not numeric else "numeric"
    return kinds


def numeric_values(column: pd.Series) -> np.ndarray:
    """float64 with NaN for missing (text that is not a number counts as missing)."""
    if column.dtype.kind in "fiub":
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
