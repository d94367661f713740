"""Is the deployed model still looking at the population it was built on? PSI, CSI and live AUC/KS.

A scorecard is only as good as the match between today's applicants and its development sample.
``monitor`` compares a new batch with the development distribution stored in the model artifact:
the score's PSI over the development score deciles, each feature's CSI over the scorecard's own
bins, and, when outcomes are known, AUC and KS beside the development figures. The result reads
as plain sentences, worst first, so whoever runs it sees at once what moved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from microlend.errors import ValidationError
from microlend.scoring import metrics
from microlend.scoring.metrics import PSI_MAJOR, PSI_MINOR, psi_contributions, stability_band

#: A fall in AUC at least this large is a "minor drop" (0.02 AUC = 0.04 Gini).
AUC_DROP_MINOR = 0.02
#: A fall in AUC at least this large is a "major drop".
AUC_DROP_MAJOR = 0.05
#: The same two thresholds for KS.
KS_DROP_MINOR = 0.03
KS_DROP_MAJOR = 0.07

_SEVERITY = {"stable": 0, "minor shift": 1, "major shift": 2}
_WORDS = {0: "stable", 1: "minor", 2: "major"}


@dataclass(frozen=True)
class Stability:
    """PSI (or CSI) of one variable: the index, its band and the bins it came from."""

    value: float
    band: str
    labels: list[str]
    expected: list[int]
    actual: list[int]
    contributions: list[float]

    @property
    def severity(self) -> int:
        return _SEVERITY[self.band]

    @property
    def expected_share(self) -> list[float]:
        total = sum(self.expected)
        return [c / total for c in self.expected] if total else [0.0] * len(self.expected)

    @property
    def actual_share(self) -> list[float]:
        total = sum(self.actual)
        return [c / total for c in self.actual] if total else [0.0] * len(self.actual)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "band": self.band, "bins": [
            {"label": lab, "expected": e, "actual": a, "expected_share": es, "actual_share": as_, "contribution": c}
            for lab, e, a, es, as_, c in zip(self.labels, self.expected, self.actual, self.expected_share,
                                             self.actual_share, self.contributions)]}


@dataclass(frozen=True)
class MetricChange:
    """A performance metric on the new labelled batch beside its development value."""

    name: str
    development: float | None
    current: float

    @property
    def change(self) -> float | None:
        return None if self.development is None else self.current - self.development

    @property
    def severity(self) -> int:
        drop = -(self.change or 0.0)
        limits = {"auc": (AUC_DROP_MINOR, AUC_DROP_MAJOR), "gini": (2 * AUC_DROP_MINOR, 2 * AUC_DROP_MAJOR),
                  "ks": (KS_DROP_MINOR, KS_DROP_MAJOR)}.get(self.name)
        if limits is None:
            return 0
        return 2 if drop >= limits[1] - 1e-12 else 1 if drop >= limits[0] - 1e-12 else 0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "development": self.development, "current": self.current,
                "change": self.change, "severity": _WORDS[self.severity]}


@dataclass(frozen=True)
class Finding:
    """One sentence of the drift summary with its severity (0 stable, 1 minor, 2 major)."""

    severity: int
    subject: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"severity": _WORDS[self.severity], "subject": self.subject, "message": self.message}


@dataclass(frozen=True)
class DriftReport:
    """Drift of one new batch against the development sample of a model."""

    rows: int
    score: Stability
    features: dict[str, Stability] = field(default_factory=dict)
    performance: list[MetricChange] | None = None
    bads: int | None = None
    model: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def severity(self) -> int:
        """The worst severity of any finding (0 stable, 1 minor, 2 major)."""
        return max((f.severity for f in self.findings()), default=0)

    @property
    def status(self) -> str:
        return {0: "stable", 1: "minor shift", 2: "major shift"}[self.severity]

    def findings(self) -> list[Finding]:
        """Every measured item as a sentence, worst first (score, then performance, then features)."""
        items: list[tuple[int, int, float, Finding]] = [
            (self.score.severity, 0, 0.0,
             Finding(self.score.severity, "score", f"score PSI {self.score.value:.3f}: {self.score.band}"))]
        for m in self.performance or []:
            if m.name not in ("auc", "ks") or m.development is None:
                continue
            label = m.name.upper()
            verb = "fell" if m.current < m.development else "rose" if m.current > m.development else "held"
            text = (f"{label} held at {m.current:.3f}" if verb == "held"
                    else f"{label} {verb} from {m.development:.3f} to {m.current:.3f}")
            if m.severity:
                text += f": {_WORDS[m.severity]} drop"
            items.append((m.severity, 1, 0.0, Finding(m.severity, m.name, text)))
        for name, s in self.features.items():
            items.append((s.severity, 2, -s.value,
                          Finding(s.severity, f"feature:{name}", f"feature {name} CSI {s.value:.3f}: {s.band}")))
        items.sort(key=lambda t: (-t[0], t[1], t[2]))
        return [f for *_, f in items]

    def summary_lines(self, all_features: bool = False) -> list[str]:
        """Plain sentences, worst first: the score, performance, every drifted feature and, unless
        ``all_features``, one line counting the stable features."""
        lines, stable = [], 0
        for f in self.findings():
            if f.subject.startswith("feature:") and f.severity == 0 and not all_features:
                stable += 1
                continue
            lines.append(f.message)
        if stable:
            noun = "feature" if stable == 1 else "features"
            lines.append(f"{stable} other {noun} stable (CSI < {PSI_MINOR:.2f})")
        if self.bads is not None and self.rows:
            lines.append(f"bad rate {self.bads / self.rows:.1%} in the new batch ({self.bads} of {self.rows})")
        return lines + list(self.notes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows, "status": self.status, "model": self.model,
            "thresholds": {"minor": PSI_MINOR, "major": PSI_MAJOR},
            "score": self.score.to_dict(),
            "features": {name: s.to_dict() for name, s in self.features.items()},
            "performance": None if self.performance is None else [m.to_dict() for m in self.performance],
            "bads": self.bads, "summary": self.summary_lines(),
            "findings": [f.to_dict() for f in self.findings()], "notes": list(self.notes),
        }


def _stability(expected: Sequence[int], actual: np.ndarray, labels: Sequence[str]) -> Stability:
    contrib = psi_contributions(expected, actual)
    value = float(contrib.sum())
    return Stability(value, stability_band(value), [str(x) for x in labels], [int(c) for c in expected],
                     [int(c) for c in actual], [float(c) for c in contrib])


def _edge_labels(edges: Sequence[float]) -> list[str]:
    def f(v: float) -> str:
        return str(int(v)) if float(v).is_integer() else f"{v:g}"

    if not edges:
        return ["all"]
    return ([f"< {f(edges[0])}"] + [f"{f(a)} to < {f(b)}" for a, b in zip(edges[:-1], edges[1:])]
            + [f">= {f(edges[-1])}"])


def score_psi(dev_edges: Sequence[float], dev_counts: Sequence[int], new_scores: Any) -> Stability:
    """PSI of new scores over the development bins: bin i holds scores with edges[i-1] <= s < edges[i]
    (the first and last bins are open), so there is one more count than edges."""
    edges = np.asarray(dev_edges, dtype=np.float64)
    counts = [int(c) for c in dev_counts]
    if edges.ndim != 1 or len(counts) != edges.shape[0] + 1:
        raise ValidationError("the development sample needs one more score count than edges",
                              code="invalid_development", field="score_counts")
    if np.any(np.diff(edges) <= 0):
        raise ValidationError("development score edges must increase", code="invalid_development",
                              field="score_edges")
    scores = np.asarray(new_scores, dtype=np.float64)
    if scores.ndim != 1 or scores.shape[0] == 0 or not np.isfinite(scores).all():
        raise ValidationError("need at least one finite new score", code="empty", field="new_scores")
    actual = np.bincount(np.searchsorted(edges, scores, side="right"), minlength=len(counts))
    return _stability(counts, actual, _edge_labels(edges.tolist()))


def feature_csi(dev_counts: Sequence[int], new_bin_index: Any, labels: Sequence[str] | None = None) -> Stability:
    """CSI of one feature: development rows per bin against the new rows' bin positions."""
    counts = [int(c) for c in dev_counts]
    idx = np.asarray(new_bin_index)
    if idx.ndim != 1 or idx.shape[0] == 0:
        raise ValidationError("need at least one new row", code="empty", field="new_bin_index")
    if idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= len(counts):
        raise ValidationError(f"bin positions must lie in 0..{len(counts) - 1}", code="invalid_bin_index",
                              field="new_bin_index")
    actual = np.bincount(idx, minlength=len(counts))
    return _stability(counts, actual, labels if labels is not None else [str(i) for i in range(len(counts))])


def _target(y: Any, frame: Any, artifact: dict[str, Any], n: int) -> np.ndarray:
    """Outcomes as 1 = bad. A column name holds the raw values, read with the model's bad value exactly
    as training read them (a model whose bad value is 0 must not see 1 as bad); an array is taken as
    flags (1 or True = bad) when it holds only 0/1, else compared with the bad value."""
    if isinstance(y, str):
        if y not in frame.columns:
            raise ValidationError(f"no column {y!r} in the batch", code="missing_target", field=y)
        bad = (artifact.get("target") or {}).get("bad")
        if bad is None:
            raise ValidationError("the model names no bad value to read the column with", code="invalid_target",
                                  field="y")
        labels = frame[y]
        if labels.isna().any():
            raise ValidationError("the target has missing values", code="invalid_target", field="y")
        from microlend.scoring.dataset import bad_flags

        return bad_flags(labels, bad)
    values = np.asarray(y)
    if values.ndim != 1 or values.shape[0] != n:
        raise ValidationError(f"the target must have one value per row ({n})", code="length_mismatch", field="y")
    if values.dtype == bool:
        return values.astype(np.int8)
    if values.dtype.kind in "iuf":
        if np.isin(values, (0, 1)).all():
            return values.astype(np.int8)
    bad = (artifact.get("target") or {}).get("bad")
    if bad is None:
        raise ValidationError("the target must be 0/1 or the model must name its bad value",
                              code="invalid_target", field="y")
    if pd.isna(values).any():
        raise ValidationError("the target has missing values", code="invalid_target", field="y")
    if values.dtype.kind in "iuf" and isinstance(bad, (int, float)) and not isinstance(bad, bool):
        return (values == bad).astype(np.int8)
    return (values.astype(str) == str(bad)).astype(np.int8)


def monitor(model: Any, frame: Any, y: Any = None) -> DriftReport:
    """Compare a new batch (a DataFrame of applicants) with the model's development sample.

    ``y`` (optional) is the outcome of each row: 0/1 (1 = bad), booleans, raw values compared with the
    artifact's ``target.bad``, or the name of a column of ``frame`` holding them."""
    artifact = model.artifact
    dev = artifact.get("development") or {}
    if "score_edges" not in dev or "score_counts" not in dev:
        raise ValidationError("the model has no development score distribution to compare with",
                              code="no_development_sample", field="development")
    n = len(frame)
    if n == 0:
        raise ValidationError("the batch has no rows", code="empty", field="frame")
    positions = model.bin_index(frame) if hasattr(model, "bin_index") else None
    # bin once: the same positions give the CSI and, for a scorecard, the score
    batch = model.score_positions(positions, n) if positions is not None and hasattr(model, "score_positions") \
        else model.score_frame(frame)
    score = np.asarray(batch.score)
    score_stab = score_psi(dev["score_edges"], dev["score_counts"], score)
    notes: list[str] = []
    features: dict[str, Stability] = {}
    if positions is not None and artifact.get("features"):
        for feat in artifact["features"]:
            bins = feat["bins"]
            features[feat["name"]] = feature_csi([b["count"] for b in bins], np.asarray(positions[feat["name"]]),
                                                 [b.get("label", str(i)) for i, b in enumerate(bins)])
        features = dict(sorted(features.items(), key=lambda kv: -kv[1].value))
    else:
        notes.append("feature CSI not measured: this model has no bins")
    performance, bads = None, None
    if y is not None:
        target = _target(y, frame, artifact, n)
        bads = int(target.sum())
        if 0 < bads < n:
            risk = -score.astype(np.float64)
            current_auc = metrics.auc(target, risk)
            current_ks = metrics.ks(target, risk).value
            dev_metrics = dev.get("metrics") or {}
            # the hold-out figures, when training kept some rows back, are the fair baseline: in-sample
            # figures flatter the model and would read as a drop on any new batch
            base = {k: dev_metrics.get(f"holdout_{k}", dev_metrics.get(k)) for k in ("auc", "gini", "ks")}
            performance = [MetricChange("auc", _opt(base["auc"]), current_auc),
                           MetricChange("gini", _opt(base["gini"]), 2 * current_auc - 1),
                           MetricChange("ks", _opt(base["ks"]), current_ks)]
            training = artifact.get("training") or {}
            dev_rate = (training["bads"] / training["rows"]) if training.get("rows") and "bads" in training else None
            performance.append(MetricChange("bad_rate", dev_rate, bads / n))
        else:
            notes.append("AUC and KS not measured: the outcomes hold only one class")
    model_info = {k: artifact.get(k) for k in ("format", "format_version", "kind", "created_at") if k in artifact}
    return DriftReport(rows=n, score=score_stab, features=features, performance=performance, bads=bads,
                       model=model_info, notes=notes)


def _opt(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if math.isfinite(v) else None
