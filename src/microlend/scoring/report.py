"""HTML reports a risk officer reads: model evaluation (with the scorecard itself) and drift.

One self-contained page each: no scripts, no external assets, plots drawn as inline SVG (``svg``),
so the file can be mailed, archived with the model and opened offline years later. Every piece
of text from data (feature names, bin labels, notes) is escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any, Iterable, Sequence

from microlend.scoring import svg

#: Usual reading of a Gini coefficient in retail credit scoring.
GINI_STRONG = 0.60
GINI_ACCEPTABLE = 0.40
#: Usual reading of a feature's information value (Siddiqi).
IV_READING = ((0.02, "not predictive"), (0.10, "weak"), (0.30, "medium"), (math.inf, "strong"))

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1120px;color:#222;
padding:0 1em;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.sub{color:#666}.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:8em}
.card .v{font-size:1.5em;font-weight:bold}.card .k{color:#666;font-size:.85em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f4f5f7}
td.l,th.l{text-align:left}.plots{display:flex;flex-wrap:wrap;gap:1em}
.sev2{color:#b03020;font-weight:bold}.sev1{color:#a86a00;font-weight:bold}.sev0{color:#2b7a3b}
.muted{color:#888}
"""


# --------------------------------------------------------------------------- formatting


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _pct(v: Any, digits: int = 1) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v * 100:.{digits}f}%"


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return f"{v:.{digits}f}"


def _g(v: Any) -> str:
    """A number without trailing zeros (unescaped: the table escapes)."""
    return f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else ("" if v is None else str(v))


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], left: int = 1, cls: str = "") -> str:
    """A table; the first ``left`` columns are left-aligned text. Cells are escaped here."""
    head = "".join(f'<th class="l">{_e(h)}</th>' if i < left else f"<th>{_e(h)}</th>" for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f'<td class="l">{_e(c)}</td>' if i < left else f"<td>{_e(c)}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    klass = f' class="{_e(cls)}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _card(key: str, value: str, note: str = "") -> str:
    extra = f'<div class="k">{_e(note)}</div>' if note else ""
    return f'<div class="card"><div class="k">{_e(key)}</div><div class="v">{_e(value)}</div>{extra}</div>'


def _page(title: str, subtitle: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"
            f'<p class="sub">{_e(subtitle)}</p>{body}</body></html>\n')


def gini_reading(g: float) -> str:
    if g >= GINI_STRONG:
        return "strong separation"
    if g >= GINI_ACCEPTABLE:
        return "acceptable separation"
    return "weak separation"


def iv_reading(iv: float | None) -> str:
    if iv is None:
        return "–"
    return next(word for limit, word in IV_READING if iv < limit)


# --------------------------------------------------------------------------- evaluation


def _plots(ev: dict[str, Any]) -> str:
    charts = []
    hist = ev.get("score_histogram") or {}
    if hist.get("edges"):
        series = []
        for name, key, color in (("goods", "goods", svg.GOOD), ("bads", "bads", svg.BAD)):
            total = sum(hist[key]) or 1
            xs, ys = svg.step_points(hist["edges"], [c / total for c in hist[key]])
            series.append(svg.Series(name, xs, ys, color=color, fill=True))
        charts.append(svg.line_chart(series, title="Score distribution: goods vs bads", x_label="score",
                                     y_label="share of class"))
    roc = ev.get("roc") or {}
    if roc.get("fpr"):
        charts.append(svg.line_chart(
            [svg.Series(f"model (AUC {ev['auc']:.3f})", roc["fpr"], roc["tpr"], color=svg.BAD)],
            title="ROC curve", x_label="share of goods declined (false positive rate)",
            y_label="share of bads declined", x_range=(0.0, 1.0), y_range=(0.0, 1.0), diagonal=True))
    curve = ev.get("ks_curve") or {}
    if curve.get("score"):
        scores, bads, goods = curve["score"], curve["bads"], curve["goods"]
        ks_score = ev.get("ks_score")
        at = min(range(len(scores)), key=lambda i: abs(scores[i] - ks_score)) if ks_score is not None else None
        markers, segments = [], []
        if at is not None:
            segments.append(svg.Segment(scores[at], goods[at], scores[at], bads[at]))
            markers.append(svg.Marker(scores[at], bads[at], f"KS {ev['ks']:.3f} at {ks_score:g}"))
        charts.append(svg.line_chart(
            [svg.Series("bads at or below score", scores, bads, color=svg.BAD),
             svg.Series("goods at or below score", scores, goods, color=svg.GOOD)],
            title="KS: cumulative distributions", x_label="score", y_label="cumulative share",
            y_range=(0.0, 1.0), markers=markers, segments=segments))
    bands = ev.get("band_table")
    if bands:
        charts.append(svg.bar_chart([r["band"] for r in bands], [r["bad_rate"] for r in bands],
                                    title="Bad rate by band", x_label="band", y_label="bad rate",
                                    reference=ev.get("bad_rate"),
                                    reference_label=f"overall {_pct(ev.get('bad_rate'))}"))
    return f'<div class="plots">{"".join(charts)}</div>' if charts else ""


def _band_section(ev: dict[str, Any], summary: dict[str, Any] | None) -> str:
    rows = ev.get("band_table")
    if not rows:
        return ""
    mins = {b["band"]: b.get("min_score") for b in (summary or {}).get("bands") or []}
    headers = ["Band"] + (["Min score"] if mins else []) + [
        "Rows", "Share", "Bads", "Bad rate", "Lift", "Rows in band or worse", "Bads in band or worse"]
    body = []
    for r in rows:
        body.append([r["band"]] + ([mins.get(r["band"], "") if mins.get(r["band"]) is not None else "(rest)"]
                                   if mins else []) + [
            _num(r["count"]), _pct(r["share"]), _num(r["bads"]), _pct(r["bad_rate"], 2), _num(r["lift"], 2),
            _pct(r["cum_share"]), _pct(r["cum_bad_capture"])])
    return ("<h2>Bands</h2><p>Bands run from best (first) to worst. Lift is the band's bad rate over the "
            "overall bad rate; the last two columns show what a cut-off just above the band would decline.</p>"
            + _table(headers, body))


def _calibration_section(ev: dict[str, Any]) -> str:
    cal = ev.get("calibration")
    if not cal:
        return ""
    rows = [[r["bin"], f"{_pct(r['pd_min'], 2)} – {_pct(r['pd_max'], 2)}", _num(r["count"]), _pct(r["mean_pd"], 2),
             _pct(r["observed_bad_rate"], 2), _num(r["expected_bads"], 1), _num(r["bads"])] for r in cal["rows"]]
    hl = cal.get("hosmer_lemeshow") or {}
    return ("<h2>Calibration</h2><p>Rows grouped by deciles of the predicted probability of default (PD): "
            "the predicted and observed bad rates should agree.</p>"
            + _table(["Group", "PD range", "Rows", "Mean PD", "Observed bad rate", "Expected bads", "Bads"],
                     rows, left=2)
            + f"<p>Mean PD {_pct(cal.get('mean_pd'), 2)} against an observed bad rate of "
              f"{_pct(cal.get('observed_bad_rate'), 2)}. Brier score {_num(cal.get('brier'), 4)}. "
              f"Hosmer-Lemeshow chi-square {_num(hl.get('chi2'), 2)} on {_e(hl.get('df'))} degrees of freedom "
              f"(p = {_num(hl.get('p_value'), 3)}).</p>")


def _model_section(summary: dict[str, Any]) -> str:
    parts = ["<h2>Scorecard</h2>"]
    scaling = summary.get("scaling") or {}
    training = summary.get("training") or {}
    target = summary.get("target") or {}
    outcome = f"{target.get('column') or 'outcome'} = {target.get('bad')} is bad" if target else None
    facts = [("Created", summary.get("created_at")), ("Target", outcome),
             ("Training rows", _num(training.get("rows")) if training.get("rows") is not None else None),
             ("Training bads", _num(training.get("bads")) if training.get("bads") is not None else None),
             ("Data fingerprint", training.get("fingerprint")),
             ("Scaling", f"{_g(scaling.get('base_score'))} points at odds {_g(scaling.get('base_odds'))}:1 "
                         f"(good:bad), {_g(scaling.get('pdo'))} points to double the odds" if scaling else None),
             ("Base points", summary.get("base_points")), ("Intercept", summary.get("intercept"))]
    parts.append(_table(["Fact", "Value"], [(k, v) for k, v in facts if v is not None], left=2))
    features = summary.get("features") or []
    if features:
        parts.append("<h3>Features</h3>")
        parts.append(_table(
            ["Feature", "Type", "Trend", "IV", "Reading", "Coefficient", "Bins", "Points range"],
            [[f["name"], f.get("type", ""), f.get("trend") or "", _num(f.get("iv")), iv_reading(f.get("iv")),
              _num(f.get("coefficient")), len(f.get("bins", [])), _points_range(f.get("bins", []))]
             for f in sorted(features, key=lambda f: -(f.get("iv") or 0.0))], left=5))
        parts.append("<h3>Points table</h3>")
        for f in features:
            parts.append(f"<h4>{_e(f['name'])}</h4>")
            rows = []
            for b in f.get("bins", []):
                count, events = b.get("count"), b.get("events")
                rate = events / count if count and events is not None else None
                rows.append([b.get("label", ""), _num(count), _pct(rate, 1), _num(b.get("woe")), b.get("points", "")])
            parts.append(_table(["Bin", "Rows", "Bad rate", "WoE", "Points"], rows))
    selection = summary.get("selection") or []
    if selection:
        parts.append("<h3>Variable selection</h3>")
        parts.append(_table(["Variable", "IV", "Selected", "Reason"],
                            [[s.get("name"), _num(s.get("iv")), "yes" if s.get("selected") else "no",
                              (s.get("reason") or "").replace("_", " ")] for s in selection], left=1))
    notes = summary.get("notes") or []
    if notes:
        parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return "".join(parts)


def _points_range(bins: Sequence[dict[str, Any]]) -> str:
    pts = [b["points"] for b in bins if b.get("points") is not None]
    return f"{min(pts)} to {max(pts)}" if pts else "–"


def render_evaluation_html(evaluation: Any, *, title: str, model_summary: dict[str, Any] | None = None) -> str:
    """The evaluation page: headline metrics, plots, band and calibration tables, and (given the model
    artifact as ``model_summary``) the features, points table, selection and notes."""
    ev = evaluation.to_dict() if hasattr(evaluation, "to_dict") else dict(evaluation)
    cards = "".join([
        _card("AUC", _num(ev["auc"])),
        _card("Gini", _num(ev["gini"]), gini_reading(ev["gini"])),
        _card("KS", _num(ev["ks"]), f"at score {ev['ks_score']:g}" if ev.get("ks_score") is not None else ""),
        _card("Rows", _num(ev["n"])),
        _card("Bads", _num(ev["bads"])),
        _card("Bad rate", _pct(ev["bad_rate"], 2)),
    ])
    subtitle = f"{ev['n']:,} rows, {ev['bads']:,} bads"
    if model_summary and model_summary.get("created_at"):
        subtitle += f"; model created {model_summary['created_at']}"
    body = (f'<div class="cards">{cards}</div>' + _plots(ev) + _band_section(ev, model_summary)
            + _calibration_section(ev) + (_model_section(model_summary) if model_summary else ""))
    return _page(title, subtitle, body)


# --------------------------------------------------------------------------- drift


def render_drift_html(drift_report: Any, *, title: str = "Model drift report") -> str:
    """The monitoring page: the findings worst first, the score's PSI by bin, each feature's CSI,
    performance beside development, and the bins of every drifted feature."""
    rep = drift_report.to_dict() if hasattr(drift_report, "to_dict") else dict(drift_report)
    findings = rep.get("findings") or []
    sev = {"stable": 0, "minor": 1, "major": 2}
    items = "".join(f'<li class="sev{sev.get(f["severity"], 0)}">{_e(f["message"])}</li>' for f in findings
                    if not (f["subject"].startswith("feature:") and f["severity"] == "stable"))
    stable = sum(1 for f in findings if f["subject"].startswith("feature:") and f["severity"] == "stable")
    if stable:
        items += f'<li class="sev0">{stable} other feature{"s" if stable != 1 else ""} stable</li>'
    items += "".join(f'<li class="muted">{_e(n)}</li>' for n in rep.get("notes") or [])
    th = rep.get("thresholds") or {"minor": 0.10, "major": 0.25}
    cards = _card("Status", rep.get("status", "")) + _card("Rows", _num(rep.get("rows"))) + _card(
        "Score PSI", _num(rep["score"]["value"]), rep["score"]["band"])
    body = [f'<div class="cards">{cards}</div><h2>What moved</h2><ul>{items}</ul>',
            f'<p class="muted">PSI/CSI below {th["minor"]:.2f} is stable, {th["minor"]:.2f} to {th["major"]:.2f} a '
            f"minor shift, {th['major']:.2f} or more a major shift.</p>"]
    body.append("<h2>Score stability</h2>" + _stability_block(rep["score"], "score range"))
    perf = rep.get("performance")
    if perf:
        body.append("<h2>Performance on the new batch</h2>" + _table(
            ["Metric", "Development", "New batch", "Change", "Reading"],
            [_performance_row(m) for m in perf]))
    features = rep.get("features") or {}
    if features:
        body.append("<h2>Feature stability (CSI)</h2>" + _table(
            ["Feature", "CSI", "Reading"], [[name, _num(s["value"]), s["band"]] for name, s in features.items()]))
        for name, s in features.items():
            if s["band"] != "stable":
                body.append(f"<h3>{_e(name)}</h3>" + _stability_block(s, "bin"))
    subtitle = f"{rep.get('rows', 0):,} new rows"
    model = rep.get("model") or {}
    if model.get("created_at"):
        subtitle += f" against the development sample of the model created {model['created_at']}"
    return _page(title, subtitle, "".join(body))


def _stability_block(stab: dict[str, Any], what: str) -> str:
    bins = stab["bins"]
    chart = svg.grouped_bar_chart(
        [b["label"] for b in bins],
        [("development", [b["expected_share"] for b in bins], svg.GREY),
         ("new batch", [b["actual_share"] for b in bins], svg.GOOD)],
        title=f"Share by {what} (index {stab['value']:.3f}, {stab['band']})", x_label=what, y_label="share")
    table = _table([what.capitalize(), "Development rows", "Development share", "New rows", "New share",
                    "Contribution"],
                   [[b["label"], _num(b["expected"]), _pct(b["expected_share"]), _num(b["actual"]),
                     _pct(b["actual_share"]), _num(b["contribution"], 4)] for b in bins])
    return f'<div class="plots">{chart}</div>{table}'


def _performance_row(m: dict[str, Any]) -> list[str]:
    if m["name"] == "bad_rate":
        change = "–" if m["change"] is None else f"{m['change'] * 100:+.2f} pp"
        return ["Bad rate", _pct(m["development"], 2), _pct(m["current"], 2), change, ""]
    change = "–" if m["change"] is None else f"{m['change']:+.3f}"
    name = {"auc": "AUC", "gini": "Gini", "ks": "KS"}.get(m["name"], m["name"])
    return [name, _num(m["development"]), _num(m["current"]), change, m["severity"]]
