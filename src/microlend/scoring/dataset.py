"""From a lender's file to training data: reading CSV or Parquet, the good/bad target, and the columns a
scorecard must not use. Anything refused is refused here, clearly and before any fitting, with a stable
code; anything dropped is dropped with a note that ends up in the model's artifact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from microlend.errors import ValidationError
from microlend.scoring.binning import category_text

MIN_ROWS = 100
MIN_ROWS_PER_CLASS = 10
_DATE_TEXT = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})([ T]\d{1,2}:\d{2}(:\d{2})?)?\s*$")
_ID_NAMES = re.compile(r"(^|_)(id|key|uuid|rownames|index|row|no)$", re.IGNORECASE)


@dataclass
class TrainingData:
    X: pd.DataFrame
    y: np.ndarray  # 1 = bad
    target: dict
    notes: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV (optionally gzipped) or Parquet file as a DataFrame."""
    path = Path(path)
    if not path.exists():
        raise ValidationError(f"no such file: {path}", code="file_not_found", field="data")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if suffixes.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
            return pd.read_csv(path, sep="\t" if ".tsv" in suffixes else ",", low_memory=False)
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path.name}: {exc}", code="invalid_data_file", field="data") from None
    raise ValidationError(f"{path.name}: use a .csv, .csv.gz, .tsv or .parquet file", code="unsupported_file_type",
                          field="data")


def _is_date_column(column: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return True
    if column.dtype.kind in "fiub" or isinstance(column.dtype, pd.CategoricalDtype):
        return False
    sample = column.dropna().astype(str).head(200)
    return len(sample) > 0 and sample.map(lambda v: bool(_DATE_TEXT.match(v))).mean() >= 0.9


def _looks_like_identifier(name: str, column: pd.Series) -> bool:
    values = column.dropna()
    if len(values) < 20:
        return False
    distinct = values.nunique()
    if column.dtype.kind in "iu":
        consecutive = distinct == len(values) and int(values.max()) - int(values.min()) + 1 == len(values)
        return consecutive or (bool(_ID_NAMES.search(name)) and distinct >= 0.95 * len(values))
    if column.dtype.kind == "f":
        return False  # amounts and ratios are often all distinct
    return distinct >= 0.95 * len(values)


#: A text column whose values are numbers this often (the rest being words like "N/A") is numeric.
NUMERIC_TEXT_SHARE = 0.95


def numbers_in_text(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Text columns that are numbers with a few stray words ("N/A", "-") become numeric, the words
    missing; otherwise one stray word would turn an amount into hundreds of categories."""
    notes = []
    frame = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if column.dtype.kind in "fiub" or isinstance(column.dtype, pd.CategoricalDtype) or _is_date_column(column):
            continue
        present = column.dropna()
        if present.empty:
            continue
        numbers = pd.to_numeric(present, errors="coerce")
        words = numbers.isna()
        if 0 < words.sum() and words.mean() <= 1 - NUMERIC_TEXT_SHARE:
            frame[name] = pd.to_numeric(column, errors="coerce")
            shown = ", ".join(repr(v) for v in present[words].astype(str).unique()[:3])
            notes.append(f"column {name!r} read as numbers: {int(words.sum())} values that are not ({shown}) "
                         "count as missing")
    return frame, notes


def unusable_columns(frame: pd.DataFrame) -> dict[str, str]:
    """Columns a scorecard should not use, each with the reason told to the user."""
    reasons = {}
    for name in frame.columns:
        column = frame[name]
        if column.isna().all():
            reasons[name] = "empty: every value is missing"
        elif column.nunique(dropna=True) <= 1 and not column.isna().any():
            reasons[name] = "constant: one value throughout"  # one value and gaps still tells something
        elif _is_date_column(column):
            reasons[name] = "a date: dates are not scored (derive a number, such as months on book, if it matters)"
        elif _looks_like_identifier(str(name), column):
            reasons[name] = "looks like an identifier (a distinct value per row)"
    return reasons


def prepare_training(frame: pd.DataFrame, *, target: str, bad, features: list[str] | None = None,
                     exclude: list[str] | None = None, min_rows: int = MIN_ROWS,
                     min_rows_per_class: int = MIN_ROWS_PER_CLASS) -> TrainingData:
    """Split off the target (``bad`` names the bad value, compared as text), drop unusable columns."""
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:20]))
        raise ValidationError(f"the data has no target column {target!r} (columns: {shown})",
                              code="target_missing", field="target")
    notes = []
    labels = frame[target]
    unlabelled = labels.isna()
    if unlabelled.any():
        notes.append(f"{int(unlabelled.sum())} rows without a target value left out")
        frame, labels = frame[~unlabelled], labels[~unlabelled]
    values = pd.unique(labels)
    if len(values) < 2:
        raise ValidationError(f"the target {target!r} has only one value ({values[0] if len(values) else 'none'}); "
                              "a scorecard needs both goods and bads", code="target_single_class", field="target")
    if len(values) > 2:
        shown = ", ".join(map(str, sorted(map(str, values))[:10]))
        raise ValidationError(f"the target {target!r} has {len(values)} values ({shown}); it must have exactly two",
                              code="target_not_binary", field="target")
    text, bad_text = _label_text(labels, bad)
    if bad_text not in set(text):
        raise ValidationError(f"the bad value {bad!r} does not occur in {target!r} (values: "
                              f"{', '.join(sorted(set(text)))})", code="bad_value_not_found", field="bad")
    y = (text == bad_text).to_numpy().astype(np.int8)
    good = next(t for t in set(text) if t != bad_text)
    if len(y) < min_rows:
        raise ValidationError(f"{len(y)} labelled rows; at least {min_rows} are needed", code="too_few_rows",
                              field="data")
    if min(int(y.sum()), int(len(y) - y.sum())) < min_rows_per_class:
        raise ValidationError(f"{int(y.sum())} bads and {int(len(y) - y.sum())} goods; at least "
                              f"{min_rows_per_class} of each are needed", code="too_few_rows", field="target")

    X = frame.drop(columns=[target])
    if features:
        unknown = [f for f in features if f not in X.columns]
        if unknown:
            raise ValidationError(f"no such column: {', '.join(unknown)}", code="unknown_column", field="features")
        X = X[features]
    if exclude:
        X = X.drop(columns=[c for c in exclude if c in X.columns])
    for name in X.columns:
        if X[name].dtype.kind == "f" and np.isinf(X[name].to_numpy()).any():
            raise ValidationError(f"column {name!r} holds infinite values; use an empty cell for a missing value or a "
                                  "number (with --special) for a special one", code="infinite_value", field=name)
    X, read_as_numbers = numbers_in_text(X)
    notes.extend(read_as_numbers)
    dropped = unusable_columns(X)
    for name, reason in dropped.items():
        notes.append(f"column {name!r} dropped: {reason}")
    X = X.drop(columns=list(dropped))
    if X.shape[1] == 0:
        raise ValidationError("no usable columns left to score with", code="no_usable_columns", field="data")
    X.columns = [str(c) for c in X.columns]
    return TrainingData(X=X.reset_index(drop=True), y=y, notes=notes, dropped=dropped,
                        target={"column": target, "bad": bad_text, "good": good})


def _label_text(labels: pd.Series, bad) -> tuple[pd.Series, str]:
    """Labels and the bad value as text, whole numbers without a decimal point: a 0/1 column with a gap
    reads as 0.0/1.0, and the user types 1."""
    text = labels.map(category_text)
    return text, category_text(_as_number(bad)) if labels.dtype.kind in "fiu" else str(bad)


def bad_flags(labels: pd.Series, bad) -> np.ndarray:
    """1 where the label is the bad value (compared as ``prepare_training`` compares), else 0."""
    text, bad_text = _label_text(labels, bad)
    return (text == bad_text).to_numpy().astype(np.int8)


def _as_number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
