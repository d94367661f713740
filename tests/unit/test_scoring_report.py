"""The HTML reports: headline numbers, tables, well-formed inline SVG, escaping, no external assets."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from microlend.scoring import svg
from microlend.scoring.metrics import evaluate
from microlend.scoring.monitoring import DriftReport, MetricChange, feature_csi, score_psi
from microlend.scoring.report import render_drift_html, render_evaluation_html

SVG_NS = "{http://www.w3.org/2000/svg}"
VOID = {"meta", "br", "img", "input", "hr", "link", "col", "rect", "line", "circle", "polyline", "polygon"}

# The hand-worked sample of the metrics tests: AUC 11/12, KS 2/3 at score 520.
Y = [1, 1, 0, 0, 0]
SCORE = [500, 520, 520, 560, 600]
BANDS = ["C", "B", "B", "A", "A"]
ORDER = [{"band": "A", "min_score": 550}, {"band": "B", "min_score": 510}, {"band": "C", "min_score": None}]

SUMMARY = {
    "format": "microlend.scorecard", "format_version": 1, "created_at": "2026-11-27T07:00:00+00:00",
    "target": {"column": "Status", "bad": "bad"},
    "training": {"rows": 4454, "bads": 1254, "fingerprint": "sha256:abc"},
    "scaling": {"base_score": 600, "base_odds": 50, "pdo": 20, "factor": 28.85, "offset": 487.1},
    "intercept": -1.2, "base_points": 512,
    "features": [
        {"name": "<script>alert(1)</script>", "type": "numeric", "coefficient": -0.9, "iv": 0.31,
         "trend": "descending", "bins": [
             {"kind": "range", "lower": None, "upper": 80.0, "label": "< 80", "count": 900, "events": 400,
              "woe": -0.71, "points": -18},
             {"kind": "range", "lower": 80.0, "upper": None, "label": ">= 80", "count": 3000, "events": 800,
              "woe": 0.3, "points": 12},
             {"kind": "missing", "label": "Missing", "count": 0, "events": 0, "woe": -0.71, "points": -18}]},
    ],
    "bands": ORDER,
    "selection": [{"name": "Debt", "iv": 0.004, "selected": False, "reason": "iv_below_threshold"}],
    "notes": ["column 'rownames' dropped: looks like an identifier & more"],
}


class _Nesting(HTMLParser):
    """Fails on a closing tag that does not match the open one (a broken page)."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def _check_page(page: str) -> list[ET.Element]:
    assert page.startswith("<!DOCTYPE html>")
    parser = _Nesting()
    parser.feed(page)
    assert parser.stack == []
    lowered = page.lower()
    assert "<script" not in lowered and "<link" not in lowered and "src=" not in lowered
    # the only URL is the SVG namespace: nothing is fetched
    assert set(re.findall(r"https?://[^\"' ]+", page)) <= {"http://www.w3.org/2000/svg"}
    return [ET.fromstring(s) for s in re.findall(r"<svg.*?</svg>", page, re.S)]


def _row(page: str, cells: list[str]) -> bool:
    """Whether the page has a table row starting with these (escaped) cells."""
    pattern = r"<tr>" + "".join(rf"<td[^>]*>{re.escape(c)}</td>" for c in cells)
    return re.search(pattern, page) is not None


@pytest.fixture
def evaluation():
    return evaluate(Y, SCORE, pd=[0.6, 0.3, 0.3, 0.1, 0.05], band=BANDS, band_order=ORDER)


def test_evaluation_page_headline_numbers_and_tables(evaluation):
    page = render_evaluation_html(evaluation, title="Scorecard v1 & <test>", model_summary=SUMMARY)
    svgs = _check_page(page)
    assert "<title>Scorecard v1 &amp; &lt;test&gt;</title>" in page
    for text in ('<div class="k">AUC</div><div class="v">0.917</div>',
                 '<div class="k">Gini</div><div class="v">0.833</div>',
                 '<div class="k">KS</div><div class="v">0.667</div><div class="k">at score 520</div>',
                 '<div class="k">Rows</div><div class="v">5</div>',
                 '<div class="k">Bad rate</div><div class="v">40.00%</div>'):
        assert text in page
    # band table with its minimum scores: rows, share, bads, bad rate, lift, cumulative columns
    assert _row(page, ["A", "550", "2", "40.0%", "0", "0.00%", "0.00", "100.0%", "100.0%"])
    assert _row(page, ["B", "510", "2", "40.0%", "1", "50.00%", "1.25", "60.0%", "100.0%"])
    assert _row(page, ["C", "(rest)", "1", "20.0%", "1", "100.00%", "2.50", "20.0%", "50.0%"])
    assert "Hosmer-Lemeshow" in page and "Brier score" in page
    assert len(svgs) == 4
    titles = [s.find(f"{SVG_NS}title").text for s in svgs]
    assert titles == ["Score distribution: goods vs bads", "ROC curve", "KS: cumulative distributions",
                      "Bad rate by band"]


def test_evaluation_page_plots_are_drawn(evaluation):
    page = render_evaluation_html(evaluation, title="t")
    hist, roc, ks_plot, bands = _check_page(page)
    assert len(hist.findall(f"{SVG_NS}polyline")) == 2  # goods and bads
    assert len(hist.findall(f"{SVG_NS}polygon")) == 2  # shaded areas
    # ROC: the curve and a dashed diagonal from the bottom-left to the top-right corner of the plot
    diag = [ln for ln in roc.findall(f"{SVG_NS}line") if ln.get("stroke-dasharray") == "4 4"]
    assert len(diag) == 1 and float(diag[0].get("x1")) < float(diag[0].get("x2"))
    assert float(diag[0].get("y1")) > float(diag[0].get("y2"))
    points = roc.find(f"{SVG_NS}polyline").get("points").split()
    assert len(points) == len(evaluation.roc["fpr"])
    # KS: two curves, the KS point marked and labelled
    assert len(ks_plot.findall(f"{SVG_NS}polyline")) == 2
    assert ks_plot.find(f"{SVG_NS}circle") is not None
    assert any(t.text == "KS 0.667 at 520" for t in ks_plot.iter(f"{SVG_NS}text"))
    # bad rate by band: one bar per band (B and C), A's zero-height bar included, labels written
    bars = [r for r in bands.findall(f"{SVG_NS}rect") if r.find(f"{SVG_NS}title") is not None]
    assert [b.find(f"{SVG_NS}title").text for b in bars] == ["A: 0.0%", "B: 50.0%", "C: 100.0%"]
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] == 0.0 and heights[2] == pytest.approx(2 * heights[1], rel=1e-2)


def test_evaluation_page_escapes_the_model_summary(evaluation):
    page = render_evaluation_html(evaluation, title="t", model_summary=SUMMARY)
    _check_page(page)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # features table and the points table of the feature: label, rows, bad rate, WoE, points
    assert _row(page, ["&lt;script&gt;alert(1)&lt;/script&gt;", "numeric", "descending", "0.310", "strong"])
    assert _row(page, ["&lt; 80", "900", "44.4%", "-0.710", "-18"])
    assert _row(page, ["&gt;= 80", "3,000", "26.7%", "0.300", "12"])
    assert _row(page, ["Missing", "0", "–", "-0.710", "-18"])
    assert _row(page, ["Debt", "0.004", "no", "iv below threshold"])
    assert "<li>column &#x27;rownames&#x27; dropped: looks like an identifier &amp; more</li>" in page
    assert _row(page, ["Scaling", "600 points at odds 50:1 (good:bad), 20 points to double the odds"])


def test_evaluation_page_from_a_dict_is_the_same(evaluation):
    as_object = render_evaluation_html(evaluation, title="t", model_summary=SUMMARY)
    assert render_evaluation_html(evaluation.to_dict(), title="t", model_summary=SUMMARY) == as_object


def test_drift_page():
    report = DriftReport(
        rows=100, score=score_psi([500], [50, 50], [400] * 25 + [600] * 75),
        features={"<b>Income</b>": feature_csi([60, 40], np.array([0] * 40 + [1] * 60), ["< 80", ">= 80"]),
                  "Home": feature_csi([50, 50], np.array([0] * 50 + [1] * 50), ["owner", "rent"])},
        performance=[MetricChange("auc", 0.83, 0.76), MetricChange("ks", 0.5, 0.49)], bads=20,
        model={"created_at": "2026-11-27T07:00:00+00:00"})
    page = render_drift_html(report)
    svgs = _check_page(page)
    assert "<b>" not in page
    assert '<li class="sev2">score PSI 0.275: major shift</li>' in page
    assert '<li class="sev2">AUC fell from 0.830 to 0.760: major drop</li>' in page
    assert '<li class="sev1">feature &lt;b&gt;Income&lt;/b&gt; CSI 0.162: minor shift</li>' in page
    assert '<li class="sev0">1 other feature stable</li>' in page
    assert _row(page, ["AUC", "0.830", "0.760", "-0.070", "major"])
    assert _row(page, ["&lt;b&gt;Income&lt;/b&gt;", "0.162", "minor shift"])
    assert _row(page, ["&lt; 80", "60", "60.0%", "40", "40.0%"])
    # the score chart and the chart of the one drifted feature (Home is stable: no chart)
    assert len(svgs) == 2
    bars = [r for r in svgs[0].iter(f"{SVG_NS}rect") if r.find(f"{SVG_NS}title") is not None]
    assert [b.find(f"{SVG_NS}title").text for b in bars] == [
        "< 500 development: 50%", "< 500 new batch: 25%", ">= 500 development: 50%", ">= 500 new batch: 75%"]
    assert render_drift_html(report.to_dict()) == page


def test_nice_ticks():
    assert svg.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg.nice_ticks(300, 800) == [300, 400, 500, 600, 700, 800]
    assert svg.nice_ticks(0.0, 0.07) == [0.0, 0.02, 0.04, 0.06]
    assert svg.nice_ticks(5, 5) == [5]
