"""Credit scoring: optimal binning, WoE scorecards with reason codes, a gradient-boosting challenger,
evaluation, monitoring and export. Estimators follow scikit-learn's conventions.

Import from here: ``Scorecard``, ``WoETransformer``, ``ScorecardModel``, ``load_model``.
"""

from microlend.scoring.artifact import load_model
from microlend.scoring.model import ScorecardModel
from microlend.scoring.scorecard import Scorecard
from microlend.scoring.woe_transformer import WoETransformer

__all__ = ["Scorecard", "ScorecardModel", "WoETransformer", "load_model"]
