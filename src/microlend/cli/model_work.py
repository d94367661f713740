"""``microlend model train | report | monitor | score``: the data work of the scoring models.

Training reads a lender's CSV or Parquet file, holds out a stratified share for validation (30 % by
default), fits the scorecard (and, with ``--challenger``, the LightGBM challenger), writes the artifact
and an evaluation report, and registers the models as challengers (``--promote`` makes the scorecard
champion). Reports and monitoring take the target column and bad value from the model's artifact.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from microlend.cli.common import console, err_console, platform, print_json
from microlend.errors import ValidationError

DataArg = Annotated[Path, typer.Argument(metavar="DATA", help="CSV (.csv, .csv.gz, .tsv) or Parquet file")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="VERSION, NAME:VERSION or NAME (default: champion)")]
NameOpt = Annotated[str, typer.Option("--name", help="The model's name")]


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                    console=err_console, transient=True)


def _writable(path: Path | None, field: str) -> None:
    """Refuse an output path that cannot be written, before any long work."""
    if path is None:
        return
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir() or path.is_dir():
        raise ValidationError(f"cannot write {path}: no such folder, or it is a folder", code="file_not_writable",
                              field=field)


def _write(path: Path, text: str, field: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValidationError(f"cannot write {path}: {exc.strerror or exc}", code="file_not_writable",
                              field=field) from None


def _names(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _special_codes(items: list[str] | None) -> dict[str, list[float]]:
    codes = {}
    for item in items or []:
        column, sep, values = item.partition("=")
        try:
            if not sep or not column:
                raise ValueError
            codes[column.strip()] = [float(v) for v in values.split(",") if v.strip()]
            if not all(math.isfinite(v) for v in codes[column.strip()]):
                raise ValueError
        except ValueError:
            raise ValidationError(f"--special takes COLUMN=V1,V2 with numbers, not {item!r}",
                                  code="invalid_special_codes", field="special") from None
    return codes


def _band_cutoffs(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise ValidationError("--bands takes whole scores, best band first (e.g. 650,620,590,560)",
                              code="invalid_bands", field="bands") from None


def _target_of(frame, artifact: dict, target: str | None, bad: str | None) -> np.ndarray | None:
    """y (1 = bad) from the data's target column, when it has one; None for an unlabelled batch."""
    column = target or (artifact.get("target") or {}).get("column")
    bad_value = bad if bad is not None else (artifact.get("target") or {}).get("bad")
    if not column or column not in frame.columns:
        if target:
            raise ValidationError(f"the data has no column {target!r}", code="target_missing", field="target")
        return None
    from microlend.scoring.dataset import bad_flags

    labels = frame[column]
    if labels.isna().any():
        raise ValidationError(f"{int(labels.isna().sum())} rows have no {column!r} value; remove them or leave the "
                              "column out", code="target_incomplete", field="target")
    return bad_flags(labels, bad_value)


def _evaluate(model, frame, y):
    from microlend.scoring.metrics import evaluate

    scored = model.score_frame(frame)
    return evaluate(y, scored.score, scored.pd, scored.band, model.bands)


def train(
    data: DataArg,
    target: Annotated[str, typer.Option(help="The column saying good or bad")],
    bad: Annotated[str, typer.Option(help="The target's value that means bad (compared as text)")],
    name: Annotated[str, typer.Option("--name", help="Register under this model name")] = "default",
    challenger: Annotated[bool, typer.Option("--challenger", help="Also fit the LightGBM challenger")] = False,
    holdout: Annotated[float, typer.Option(help="Share held out (stratified) to validate; 0 fits on all rows")] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the hold-out split")] = 42,
    features: Annotated[Optional[str], typer.Option(help="Only these columns (comma-separated)")] = None,
    exclude: Annotated[Optional[str], typer.Option(help="Leave these columns out (comma-separated)")] = None,
    special: Annotated[Optional[list[str]], typer.Option(help="Special values with their own bin: COL=V1,V2")]
    = None,
    base_score: Annotated[float, typer.Option(help="Score at the base odds")] = 600,
    base_odds: Annotated[float, typer.Option(help="Good:bad odds at the base score")] = 50,
    pdo: Annotated[float, typer.Option(help="Points to double the odds")] = 20,
    bands: Annotated[Optional[str], typer.Option(help="Band cut-offs, best first (default: quintiles)")] = None,
    min_iv: Annotated[float, typer.Option(help="Least information value a variable needs")] = 0.02,
    max_corr: Annotated[float, typer.Option(help="Greatest correlation between two chosen variables")] = 0.7,
    stepwise: Annotated[bool, typer.Option("--stepwise", help="Choose variables stepwise by AIC")] = False,
    out: Annotated[Optional[Path], typer.Option(help="Write the scorecard artifact (JSON) here")] = None,
    report: Annotated[Optional[Path], typer.Option(help="Write the evaluation report (HTML) here")] = None,
    register: Annotated[bool, typer.Option(help="Register the models in the database")] = True,
    promote: Annotated[bool, typer.Option("--promote", help="Make the new scorecard the champion")] = False,
    actor: Annotated[str, typer.Option(help="Who trains (kept in the audit trail)")] = "cli",
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary")] = False,
) -> None:
    """Fit a scorecard (and optionally the challenger) on a lender's data."""
    from sklearn.model_selection import train_test_split

    from microlend.scoring import Scorecard
    from microlend.scoring.artifact import write_artifact
    from microlend.scoring.dataset import prepare_training, read_table
    from microlend.scoring.report import render_evaluation_html

    if not 0 <= holdout < 0.9:
        raise ValidationError("--holdout is a share from 0 to 0.9", code="invalid_holdout", field="holdout")
    for value, field in ((min_iv, "min_iv"), (max_corr, "max_corr"), (base_score, "base_score"),
                         (base_odds, "base_odds"), (pdo, "pdo")):
        if not math.isfinite(value):
            raise ValidationError(f"--{field.replace('_', '-')} must be a finite number", code="invalid_parameter",
                                  field=field)
    _writable(out, "out")
    _writable(report, "report")
    params = dict(min_iv=min_iv, max_corr=max_corr, use_stepwise=stepwise, base_score=base_score,
                  base_odds=base_odds, pdo=pdo, bands=_band_cutoffs(bands), special_codes=_special_codes(special))
    artifacts, summary = {}, {}
    with _progress() as progress:
        step = progress.add_task("reading the data", total=5 + challenger)
        frame = read_table(data)
        progress.update(step, advance=1, description=f"checking {len(frame):,} rows")
        prepared = prepare_training(frame, target=target, bad=bad, features=_names(features),
                                    exclude=_names(exclude))
        X, y, notes = prepared.X, prepared.y, list(prepared.notes)
        unknown = [c for c in params["special_codes"] if c not in X.columns]
        if unknown:
            raise ValidationError(f"--special names no usable column: {', '.join(unknown)}", code="unknown_column",
                                  field="special")
        X_fit, X_val, y_fit, y_val = X, None, y, None
        if holdout > 0:
            X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=holdout, stratify=y, random_state=seed)
            notes.append(f"fitted on {len(y_fit):,} rows; {len(y_val):,} held out (stratified, seed {seed}) "
                         "for validation")
        progress.update(step, advance=1, description=f"fitting the scorecard on {len(y_fit):,} rows")
        try:
            scorecard = Scorecard(**params).fit(X_fit, y_fit)
        except ValueError as exc:
            raise ValidationError(str(exc), code="invalid_parameter", field="parameters") from None
        models = {"scorecard": scorecard}
        if challenger:
            from microlend.scoring.challenger import Challenger

            progress.update(step, advance=1, description=f"fitting the challenger on {len(y_fit):,} rows")
            models["challenger"] = Challenger(base_score=base_score, base_odds=base_odds, pdo=pdo,
                                              bands=params["bands"]).fit(X_fit, y_fit)
            models["challenger"].target_ = prepared.target  # y is already 0/1 here; name the real target
        progress.update(step, advance=1, description="evaluating")
        evaluations = {}
        for kind, estimator in models.items():
            if kind == "scorecard":
                artifact = estimator.to_artifact(target=prepared.target, notes=notes)
            else:
                artifact = estimator.to_artifact()
                artifact["notes"] = notes + list(artifact.get("notes", []))
            if X_val is not None:
                evaluation = evaluations[kind] = _evaluate(estimator.model_, X_val, y_val)
                artifact["validation"] = {"rows": int(len(y_val)), "auc": evaluation.auc, "gini": evaluation.gini,
                                          "ks": evaluation.ks}
                artifact["development"]["metrics"].update(
                    {f"holdout_{k}": v for k, v in artifact["validation"].items()})
                summary[kind] = artifact["validation"]
            else:
                summary[kind] = artifact["development"]["metrics"]
            artifacts[kind] = artifact
        if report is not None:
            evaluation = evaluations.get("scorecard") or _evaluate(scorecard.model_, X_fit, y_fit)
            what = "hold-out" if X_val is not None else "development"
            _write(report, render_evaluation_html(evaluation, title=f"Scorecard evaluation ({what} sample)",
                                                  model_summary=artifacts["scorecard"]), "report")
        if out is not None:
            try:
                write_artifact(artifacts["scorecard"], out)
            except OSError as exc:
                raise ValidationError(f"cannot write {out}: {exc.strerror or exc}", code="file_not_writable",
                                      field="out") from None
        progress.update(step, advance=1, description="registering")
        registered = {}
        if register:
            from microlend.services import models as registry

            p = platform()
            for kind, artifact in artifacts.items():
                record = registry.register(uow=p.uow(), artifact=artifact, name=name, actor=actor, clock=p.clock)
                registered[kind] = record
            if promote:
                record = registered["scorecard"]
                registered["scorecard"] = registry.promote(uow=p.uow(), name=record.name, version=record.version,
                                                           actor=actor, clock=p.clock, note="promoted on training")
        progress.update(step, advance=1)

    result = {kind: {"metrics": summary[kind], "registered": registered[kind].label if kind in registered else None,
                     "role": registered[kind].role if kind in registered else None} for kind in artifacts}
    result["scorecard"]["features"] = [f["name"] for f in artifacts["scorecard"]["features"]]
    result["notes"] = notes
    if as_json:
        print_json(result)
        return
    table = Table("Feature", "IV", "Trend", "Bins", "Points", title="Scorecard")
    for f in artifacts["scorecard"]["features"]:
        points = [b["points"] for b in f["bins"]]
        table.add_row(f["name"], f"{f['iv']:.3f}", f["trend"] or "", str(len(f["bins"])),
                      f"{min(points)} .. {max(points)}")
    console.print(table)
    for kind, item in result.items():
        if kind in ("notes",):
            continue
        metrics = item["metrics"]
        what = "hold-out" if X_val is not None else "development"
        console.print(f"{kind}: {what} AUC {metrics['auc']:.4f}, Gini {metrics['gini']:.4f}, KS {metrics['ks']:.4f}"
                      + (f"; registered as {item['registered']} ({item['role']})" if item["registered"] else ""))
    for note in notes:
        console.print(f"note: {note}")


def _model(ref: str | None, name: str):
    from microlend.cli.model import resolve
    from microlend.services import models as registry

    record = resolve(ref, name)
    return record, registry.load(record)


def report(
    data: DataArg,
    ref: ModelOpt = None,
    name: NameOpt = "default",
    out: Annotated[Path, typer.Option(help="Write the HTML report here")] = Path("model-report.html"),
    target: Annotated[Optional[str], typer.Option(help="Target column (default: the model's)")] = None,
    bad: Annotated[Optional[str], typer.Option(help="Bad value (default: the model's)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON too")] = False,
) -> None:
    """Evaluate a model on labelled data: AUC, Gini, KS, bands, calibration; an HTML report."""
    from microlend.scoring.dataset import read_table
    from microlend.scoring.report import render_evaluation_html

    _writable(out, "out")
    record, model = _model(ref, name)
    with _progress() as progress:
        progress.add_task(f"scoring {data.name} with {record.label}", total=None)
        frame = read_table(data)
        y = _target_of(frame, record.artifact, target, bad)
        if y is None:
            raise ValidationError("the data has no target column; a report needs outcomes (use `model monitor` "
                                  "for unlabelled batches)", code="target_missing", field="target")
        evaluation = _evaluate(model, frame, y)
        summary = record.artifact if record.artifact.get("format") == "microlend.scorecard" else None
        _write(out, render_evaluation_html(evaluation, title=f"Evaluation of {record.label} on {data.name}",
                                           model_summary=summary), "out")
    if as_json:
        print_json(evaluation.to_dict())
    console.print(f"{record.label} on {len(y):,} rows: AUC {evaluation.auc:.4f}, Gini {evaluation.gini:.4f}, "
                  f"KS {evaluation.ks:.4f}; report written to {out}")


def monitor(
    data: DataArg,
    ref: ModelOpt = None,
    name: NameOpt = "default",
    out: Annotated[Optional[Path], typer.Option(help="Write the HTML drift report here")] = None,
    target: Annotated[Optional[str], typer.Option(help="Target column, when the batch has outcomes")] = None,
    bad: Annotated[Optional[str], typer.Option(help="Bad value (default: the model's)")] = None,
    fail_on: Annotated[Optional[str], typer.Option(help="Exit 1 on 'minor' or 'major' drift (for schedulers)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Compare a new batch with the development sample: PSI of the score, CSI per variable, AUC/KS."""
    from microlend.scoring.dataset import read_table
    from microlend.scoring.monitoring import monitor as drift
    from microlend.scoring.report import render_drift_html

    if fail_on not in (None, "minor", "major"):
        raise ValidationError("--fail-on is minor or major", code="invalid_option", field="fail_on")
    _writable(out, "out")
    record, model = _model(ref, name)
    with _progress() as progress:
        progress.add_task(f"comparing {data.name} with the development sample of {record.label}", total=None)
        frame = read_table(data)
        y = _target_of(frame, record.artifact, target, bad)
        result = drift(model, frame, y)
        if out is not None:
            _write(out, render_drift_html(result, title=f"Drift of {record.label}: {data.name}"), "out")
    if as_json:
        print_json(result.to_dict())
    else:
        console.print(f"{record.label} on {len(frame):,} rows of {data.name}:")
        for line in result.summary_lines():
            console.print(f"  {line}")
    worst = max((finding.severity for finding in result.findings()), default=0)  # 0 stable, 1 minor, 2 major
    if (fail_on == "major" and worst >= 2) or (fail_on == "minor" and worst >= 1):
        raise typer.Exit(1)


def score(
    data: DataArg,
    ref: ModelOpt = None,
    name: NameOpt = "default",
    out: Annotated[Path, typer.Option(help="Write scores here (CSV)")] = Path("scores.csv"),
    keep: Annotated[Optional[str], typer.Option(help="Columns to copy beside the scores (comma-separated)")] = None,
) -> None:
    """Score a file of applicants in one batch: score, PD and band per row."""
    import pandas as pd

    from microlend.scoring.dataset import read_table

    _writable(out, "out")
    record, model = _model(ref, name)
    frame = read_table(data)
    kept = _names(keep) or []
    missing = [c for c in kept if c not in frame.columns]
    if missing:
        raise ValidationError(f"no such column: {', '.join(missing)}", code="unknown_column", field="keep")
    scored = model.score_frame(frame)
    result = pd.DataFrame({**{c: frame[c] for c in kept}, "score": scored.score, "pd": np.round(scored.pd, 6),
                           "band": scored.band})
    try:
        result.to_csv(out, index=False)
    except OSError as exc:
        raise ValidationError(f"cannot write {out}: {exc.strerror or exc}", code="file_not_writable",
                              field="out") from None
    console.print(f"{len(result):,} rows scored with {record.label}; written to {out}")
