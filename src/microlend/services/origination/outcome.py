"""How the parts of a decision combine into one outcome and an application status.

Three parts vote: the rule set (approve/review/step_up/reject), the data sources (review
when a provider timed out or failed, never an approval on missing data) and the credit
policy (approve/review/reject/awaiting_guarantor). The most severe wins, reject >
step_up > review > approve; a policy waiting on a guarantor counts as an approval that
is not final yet.
"""

from __future__ import annotations

from microlend.rules.engine import most_severe

#: Application statuses; the first four are open, the last two final.
OPEN_STATUSES = ("received", "review", "step_up", "awaiting_guarantor")
FINAL_STATUSES = ("approved", "rejected")

_STATUS_OF = {"approve": "approved", "reject": "rejected", "review": "review", "step_up": "step_up"}


def policy_vote(policy_action: str | None) -> str:
    """The policy's action in the rules' vocabulary (awaiting a guarantor is an approval pending)."""
    if policy_action in (None, "review"):
        return "review"
    if policy_action == "awaiting_guarantor":
        return "approve"
    return policy_action


def combine(*, rules: str, sources: str, policy_action: str | None) -> str:
    """The decision's outcome: approve | review | step_up | reject."""
    return most_severe((rules, sources, policy_vote(policy_action)))


def status_for(outcome: str, policy_action: str | None) -> str:
    """The application status an outcome leads to."""
    if outcome == "approve" and policy_action == "awaiting_guarantor":
        return "awaiting_guarantor"
    return _STATUS_OF[outcome]
