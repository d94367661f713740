"""Reading model artifacts back: one entry point for whatever the registry or a file holds."""

from __future__ import annotations

import json
from pathlib import Path

from microlend.errors import ValidationError
from microlend.scoring.model import SCORECARD_FORMAT, ScorecardModel

CHALLENGER_FORMAT = "microlend.challenger"
KNOWN_FORMATS = (SCORECARD_FORMAT, CHALLENGER_FORMAT)


def load_model(artifact: dict):
    """A ready scorer for the artifact: ``ScorecardModel`` or the LightGBM ``ChallengerModel``."""
    if not isinstance(artifact, dict):
        raise ValidationError("a model artifact is a JSON object", code="invalid_model_artifact", field="artifact")
    kind = artifact.get("format")
    if kind == SCORECARD_FORMAT:
        try:
            return ScorecardModel(artifact)
        except (KeyError, TypeError, ValueError, StopIteration) as exc:
            raise ValidationError(f"the scorecard artifact is incomplete or malformed ({exc!r})",
                                  code="invalid_model_artifact", field="artifact") from None
    if kind == CHALLENGER_FORMAT:
        from microlend.scoring.challenger import ChallengerModel

        try:
            return ChallengerModel.from_artifact(artifact)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValidationError(f"the challenger artifact is incomplete or malformed ({exc!r})",
                                  code="invalid_model_artifact", field="artifact") from None
    raise ValidationError(f"unknown model format {kind!r} (expected one of {', '.join(KNOWN_FORMATS)})",
                          code="invalid_model_artifact", field="format")


def read_artifact(path: str | Path) -> dict:
    """An artifact from a JSON file, refused clearly when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"no such file: {path}", code="file_not_found", field="artifact") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{path} is not JSON: {exc}", code="invalid_model_artifact", field="artifact") from None
    load_model(data)  # refuse what cannot score
    return data


def write_artifact(artifact: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(artifact, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
