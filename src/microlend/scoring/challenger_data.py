"""What the challenger estimator accepts, checked the way scikit-learn checks its own estimators.

``X`` is a DataFrame (numbers, booleans, text, pandas categoricals, gaps as NaN/None) or anything array-like;
it becomes a DataFrame whose columns are read by position. A column is numeric when its dtype is a number or
boolean, or when it holds Python objects that all convert to numbers; text, categoricals and object columns
with words are categorical. Dates are refused (derive a number such as an age in days first).
The target must have exactly two classes; which is "bad" comes from ``target["bad"]`` or, failing that,
is the second class in sorted order (scikit-learn's positive class, 1 for a 0/1 target).
"""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import validate_data

from microlend.scoring.challenger_model import ChallengerInputError


def input_frame(estimator, X, *, reset: bool) -> pd.DataFrame:
    """``X`` as a DataFrame (columns by position); sets (``reset``) or checks ``n_features_in_`` and
    ``feature_names_in_`` exactly as ``validate_data`` does."""
    if sparse.issparse(X):
        raise TypeError("Sparse data was passed, but dense data is required: the challenger does not take sparse "
                        "input (use X.toarray()).")
    if isinstance(X, pd.DataFrame):
        frame = X
    else:
        array = np.asarray(X, dtype=object) if isinstance(X, (list, tuple)) else np.asarray(X)
        if array.dtype.kind == "c":
            raise ChallengerInputError("Complex data not supported", code="invalid_input", field="X")
        if array.ndim != 2:
            raise ChallengerInputError(
                f"Expected 2D array, got {array.ndim}D array instead. Reshape your data either using "
                "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) if it contains "
                "a single sample.", code="invalid_input", field="X")
        frame = pd.DataFrame(array)
    validate_data(estimator, X if isinstance(X, pd.DataFrame) else array, reset=reset, skip_check_array=True)
    if frame.shape[1] == 0:
        raise ChallengerInputError(f"Found array with 0 feature(s) (shape={frame.shape}) while a minimum of 1 is "
                                   "required.", code="invalid_input", field="X")
    if frame.shape[0] == 0:
        raise ChallengerInputError(f"Found array with 0 sample(s) (shape={frame.shape}) while a minimum of 1 is "
                                   "required.", code="invalid_input", field="X")
    return frame


def columns_of(frame: pd.DataFrame) -> list[pd.Series]:
    return [frame.iloc[:, j] for j in range(frame.shape[1])]


def feature_kind(name: str, column: pd.Series) -> str:
    """``numeric`` or ``categorical``; refuses dates and complex numbers."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) or isinstance(dtype, pd.StringDtype):
        return "categorical"
    if dtype.kind in "mM" or isinstance(dtype, pd.PeriodDtype):
        raise ChallengerInputError(f"column {name!r} holds dates or durations; give the challenger a number "
                                   "(e.g. days since) instead", code="unsupported_feature_type", field=name)
    if dtype.kind == "c":
        raise ChallengerInputError("Complex data not supported", code="unsupported_feature_type", field=name)
    if dtype.kind in "fiub":
        return "numeric"
    values = column[column.notna()].to_numpy(dtype=object)
    if len(values) == 0 or all(isinstance(v, str) for v in values):
        return "categorical"
    try:
        # TypeError (a dict, a list ...) propagates: such a column is neither numbers nor categories
        np.asarray(values, dtype=np.float64)
    except ValueError:
        return "categorical"
    return "numeric"


def learned_categories(column: pd.Series) -> list[str]:
    """The categories seen in development, as text, sorted."""
    values = column.cat.categories[np.unique(column.cat.codes[column.cat.codes >= 0])] \
        if isinstance(column.dtype, pd.CategoricalDtype) else pd.unique(column[column.notna()].to_numpy(dtype=object))
    return sorted({str(v) for v in values})


def plain(value):
    """A numpy scalar as the Python value JSON understands."""
    return value.item() if isinstance(value, np.generic) else value


def binary_target(y, n_rows: int, target: dict | None):
    """``(classes, bad_index, y_bad)``: sorted classes, the position of the bad class, y as 0/1 (1 = bad)."""
    if y is None:
        raise ChallengerInputError("Challenger requires y to be passed, but the target y is None",
                                   code="missing_target", field="y")
    values = np.asarray(y.to_numpy() if isinstance(y, (pd.Series, pd.DataFrame)) else y)
    if values.ndim == 2 and values.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of y "
                      "to (n_samples, ), for example using ravel().", DataConversionWarning, stacklevel=3)
        values = values.ravel()
    if values.ndim != 1:
        raise ChallengerInputError(f"y should be a 1d array, got an array of shape {values.shape} instead.",
                                   code="invalid_target", field="y")
    if values.shape[0] != n_rows:
        raise ChallengerInputError(f"Found input variables with inconsistent numbers of samples: [{n_rows}, "
                                   f"{values.shape[0]}]", code="length_mismatch", field="y")
    try:
        if (values.dtype.kind == "f" and not np.isfinite(values).all()) or \
                (values.dtype == object and pd.isna(values).any()):
            raise ValueError("Input y contains NaN or infinity: every row needs its outcome.")
        kind = type_of_target(values, input_name="y", raise_unknown=True)
    except ValueError as exc:
        raise ChallengerInputError(str(exc), code="invalid_target", field="y") from None
    if kind not in ("binary", "multiclass"):
        raise ChallengerInputError(f"Unknown label type: {kind}. The challenger needs a binary target (good/bad).",
                                   code="invalid_target", field="y")
    classes = np.unique(values)
    if len(classes) < 2:
        raise ChallengerInputError(f"The target has one class only ({plain(classes[0])!r}); a credit model needs "
                                   "both good and bad rows.", code="one_class_target", field="y")
    if len(classes) > 2:
        raise ChallengerInputError(f"Only binary classification is supported. The type of the target is {kind} "
                                   f"({len(classes)} classes).", code="multiclass_target", field="y")
    bad_index = 1
    if target is not None and "bad" in target:
        matches = [i for i, c in enumerate(classes) if c == target["bad"] or str(c) == str(target["bad"])]
        if not matches:
            raise ChallengerInputError(f"the bad value {target['bad']!r} is not one of the target's classes "
                                       f"{[plain(c) for c in classes]}", code="invalid_target", field="target")
        bad_index = matches[0]
    return classes, bad_index, (values == classes[bad_index]).astype(np.int8)


def fingerprint(frame: pd.DataFrame, names: list[str], y_bad: np.ndarray) -> str:
    """``sha256:<hex>`` of the column names, the values (pandas' stable row hashes) and the 0/1 target."""
    digest = hashlib.sha256(json.dumps(names).encode())
    named = frame.set_axis(names, axis=1)
    digest.update(pd.util.hash_pandas_object(named, index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(y_bad, dtype=np.int8).tobytes())
    return "sha256:" + digest.hexdigest()
