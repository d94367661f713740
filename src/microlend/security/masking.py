"""Masking of personal data for display and for logs.

Masks keep just enough (prefix and suffix) for a person to recognise their own
ID, phone or card, and keep the length so layouts do not shift. ``redact_text``
and the logging filter stop raw identifiers from reaching log files, which are
copied far more widely than the database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from microlend.lending.identity import id_check_character, luhn_valid

__all__ = [
    "RedactingFilter",
    "install_log_redaction",
    "mask_bank_card",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "redact_text",
]


def _mask(value: str, head: int, tail: int) -> str:
    """Keep ``head`` and ``tail`` characters; too short a value is masked entirely."""
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail:]


def mask_id_number(value: str) -> str:
    """``11010519491231002X`` -> ``110***********002X`` (region prefix and last 4)."""
    return _mask(value, 3, 4)


def mask_phone(value: str) -> str:
    """``13812345678`` -> ``138****5678`` (the usual mainland display form)."""
    return _mask(value, 3, 4)


def mask_bank_card(value: str) -> str:
    """Keep the 6-digit BIN (names the bank) and the last 4 (names the card)."""
    return _mask(value, 6, 4)


def mask_name(value: str) -> str:
    """``张三`` -> ``张*``, ``张三丰`` -> ``张*丰``, ``John Smith`` -> ``J********h``."""
    if len(value) <= 1:
        return "*" * len(value)
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


# Candidates, tried in this order at each position; all bounded by non-digits.
# Grouped forms ("138 1234 5678", "4111-1111-1111-1111") come first so that
# the plain digit run alternative does not split them.
_CANDIDATE_RE = re.compile(
    r"(?<![0-9])(?:"
    r"(?P<phone>1[3-9][0-9][ \-][0-9]{4}[ \-][0-9]{4})"
    r"|(?P<card>[0-9]{4}(?:[ \-][0-9]{4}){3}(?:[ \-][0-9]{1,3})?)"
    r"|(?P<id>[0-9]{17}[Xx])"
    r"|(?P<run>[0-9]{11,19})"
    r")(?![0-9])"
)
_MOBILE_RE = re.compile(r"1[3-9][0-9]{9}")


def _mask_keeping_separators(text: str, masker: Callable[[str], str]) -> str:
    """Apply a digit mask to ``text`` while leaving its spaces/hyphens in place."""
    digits = "".join(char for char in text if char.isdigit())
    masked = iter(masker(digits))
    return "".join(next(masked) if char.isdigit() else char for char in text)


def _redact_run(run: str) -> str:
    """Mask a bare run of 11-19 digits if it looks like a phone, ID or card."""
    if _MOBILE_RE.fullmatch(run):
        return mask_phone(run)
    # "86"/"0086" + mobile: mask the mobile, keep the country code.
    for prefix in ("86", "0086"):
        if run.startswith(prefix) and _MOBILE_RE.fullmatch(run[len(prefix):]):
            return prefix + mask_phone(run[len(prefix):])
    if len(run) == 18:
        # Prefer the card mask only when it is clearly a card and not an ID.
        if luhn_valid(run) and id_check_character(run[:17]) != run[17]:
            return mask_bank_card(run)
        # Any other 18-digit run may be an ID with a typo: mask it anyway.
        return mask_id_number(run)
    if 16 <= len(run) <= 19 and luhn_valid(run):
        return mask_bank_card(run)
    return run


def _replace(match: re.Match[str]) -> str:
    text = match.group(0)
    if match.group("phone"):
        return _mask_keeping_separators(text, mask_phone)
    if match.group("card"):
        digits = "".join(char for char in text if char.isdigit())
        return _mask_keeping_separators(text, mask_bank_card) if luhn_valid(digits) else text
    if match.group("id"):
        return mask_id_number(text)
    return _redact_run(text)


def redact_text(text: str) -> str:
    """Replace ID numbers, mobile numbers and card numbers in free text by their masks.

    Only digit runs of identifier length are touched, so amounts such as
    ``10000.00``, dates and timestamps pass through unchanged.
    """
    return _CANDIDATE_RE.sub(_replace, text)


class RedactingFilter(logging.Filter):
    """Rewrite each record with identifiers masked; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(record.msg, str) and isinstance(args, tuple) and all(
                isinstance(a, str) or redact_text(str(a)) == str(a) for a in args):
            # uvicorn's access formatter unpacks (client, method, path, version, status) from the arguments:
            # mask them in place (collapsing them into the message made every access line a logging error).
            record.msg = redact_text(record.msg)
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in args)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a bad format string must not break the caller
                message = f"{record.msg} args={record.args!r}"
            record.msg = redact_text(message)
            record.args = ()
        # Formatters reuse exc_text when set, so the traceback text is masked too.
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def _add_once(target: logging.Filterer, log_filter: RedactingFilter) -> None:
    if not any(isinstance(existing, RedactingFilter) for existing in target.filters):
        target.addFilter(log_filter)


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach a ``RedactingFilter`` to the root handlers and to ``logger`` (default root).

    Handler filters also see records propagated from child loggers, which
    logger filters do not. Safe to call repeatedly: nothing is added twice.
    Handlers added later are not covered; call again after configuring logging.
    """
    root = logging.getLogger()
    target = logger or root
    log_filter = RedactingFilter()
    for handler in root.handlers:
        _add_once(handler, log_filter)
    for handler in target.handlers:
        _add_once(handler, log_filter)
    _add_once(target, log_filter)
