"""Tests for microlend.security.masking (display masks, text and log redaction)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microlend.lending.identity import PROVINCES, id_check_character, luhn_check_digit
from microlend.security.masking import (
    RedactingFilter,
    install_log_redaction,
    mask_bank_card,
    mask_id_number,
    mask_name,
    mask_phone,
    redact_text,
)

phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
cards = st.from_regex(r"[0-9]{15,18}", fullmatch=True).map(lambda p: p + luhn_check_digit(p))


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(sorted(PROVINCES)))
    region = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    birth = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
    sequence = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    body = province + region + birth.strftime("%Y%m%d") + sequence
    return body + id_check_character(body)


# --- Masks ------------------------------------------------------------------


def test_mask_examples() -> None:
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_bank_card("6222021234567890123") == "622202*********0123"
    assert mask_bank_card("4111111111111111") == "411111******1111"


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("张三丰", "张*丰"), ("买买提·艾力", "买****力"), ("欧阳娜娜", "欧**娜"),
     ("John Smith", "J********h"), ("张", "*"), ("", "")],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_short_values_are_masked_entirely() -> None:
    assert mask_phone("1234") == "****"
    assert mask_bank_card("1234567890") == "**********"
    assert mask_id_number("") == ""


@given(id_numbers())
def test_id_mask_shape(number: str) -> None:
    masked = mask_id_number(number)
    assert len(masked) == len(number)
    assert masked[:3] == number[:3] and masked[-4:] == number[-4:]
    assert masked[3:-4] == "*" * 11


@given(phones)
def test_phone_mask_shape(phone: str) -> None:
    masked = mask_phone(phone)
    assert len(masked) == 11
    assert masked[:3] == phone[:3] and masked[-4:] == phone[-4:]
    assert masked[3:-4] == "****"


@given(cards)
def test_card_mask_shape(card: str) -> None:
    masked = mask_bank_card(card)
    assert len(masked) == len(card)
    assert masked[:6] == card[:6] and masked[-4:] == card[-4:]
    assert set(masked[6:-4]) == {"*"}


@given(st.text(min_size=3, max_size=30))
def test_name_mask_shape(name: str) -> None:
    masked = mask_name(name)
    assert len(masked) == len(name)
    assert masked[0] == name[0] and masked[-1] == name[-1]
    assert set(masked[1:-1]) == {"*"}


# --- redact_text ------------------------------------------------------------


def test_redact_text_examples() -> None:
    text = (
        "applicant 11010519491231002x phone 13812345678 card 6222021234567890128 "
        "amount 10000.00 at 2024-01-15T13:45:12Z"
    )
    assert redact_text(text) == (
        "applicant 110***********002x phone 138****5678 card 622202*********0128 "
        "amount 10000.00 at 2024-01-15T13:45:12Z"
    )


def test_redact_grouped_and_prefixed_forms() -> None:
    assert redact_text("tel +86 138-1234-5678.") == "tel +86 138-****-5678."
    assert redact_text("tel 138 1234 5678") == "tel 138 **** 5678"
    assert redact_text("tel +8613812345678") == "tel +86138****5678"
    assert redact_text("tel 008613812345678") == "tel 0086138****5678"
    assert redact_text("card 4111 1111 1111 1111") == "card 4111 11** **** 1111"
    assert redact_text("card 4111-1111-1111-1111") == "card 4111-11**-****-1111"


def test_redact_eighteen_digit_runs() -> None:
    # An ID with a typo is still masked as an ID.
    assert redact_text("id=110105194912310021") == "id=110***********0021"
    # Luhn-valid and not a valid ID: masked as a card.
    assert redact_text("card=622202123456789012") == "card=622202********9012"


@pytest.mark.parametrize(
    "text",
    ["amount 10000.00", "ts=1700000000123", "2024-01-15 13:45:12.123456", "order 12345678901",
     "n=913812345678", "bad card 4111111111111112", "4111 1111 1111 1112", "20240115134512",
     "total 1,234,567,890.12"],
)
def test_redact_leaves_ordinary_numbers(text: str) -> None:
    assert redact_text(text) == text


def test_redact_uses_digit_boundaries() -> None:
    assert redact_text("a13812345678b") == "a138****5678b"
    assert redact_text("113812345678") == "113812345678"  # 12 digits: not a phone


@given(id_numbers(), phones, cards)
def test_redact_hides_embedded_identifiers(number: str, phone: str, card: str) -> None:
    text = f"user {number} phone:{phone}, card={card}; done"
    redacted = redact_text(text)
    assert len(redacted) == len(text)
    assert number not in redacted and number[3:-4] not in redacted
    assert phone not in redacted and card not in redacted
    assert mask_id_number(number) in redacted
    assert mask_phone(phone) in redacted
    # An 18-digit card whose last digit also happens to be a valid ID check
    # character is masked as an ID: hidden either way.
    assert mask_bank_card(card) in redacted or (len(card) == 18 and mask_id_number(card) in redacted)


@given(
    st.lists(st.integers(min_value=0, max_value=9_999_999_999), max_size=8),
    st.sampled_from([".", ":", "/", ",", "=", "T", " CNY "]),
)
def test_redact_leaves_short_numbers_alone(numbers: list[int], separator: str) -> None:
    text = separator.join(str(n) for n in numbers)
    assert redact_text(text) == text


@given(st.text())
def test_redact_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once


# --- Logging ----------------------------------------------------------------


@pytest.fixture
def isolated_logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("microlend.tests.masking")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream
    logger.handlers = []
    logger.filters = []
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    before = {id(h): list(h.filters) for h in root.handlers}
    root_filters = list(root.filters)
    yield
    for handler in root.handlers:
        handler.filters = before.get(id(handler), [])
    root.filters = root_filters


def test_filter_redacts_args_and_message(isolated_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = isolated_logger
    logger.addFilter(RedactingFilter())
    logger.info("applicant %s phone %s", "11010519491231002X", "13812345678")
    logger.info("card 4111111111111111 paid 10000.00")
    assert stream.getvalue().splitlines() == [
        "applicant 110***********002X phone 138****5678",
        "card 411111******1111 paid 10000.00",
    ]


def test_filter_record_details() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "phone %s %d%%", ("13812345678", 5), None)
    assert RedactingFilter().filter(record) is True
    assert record.msg == "phone 138****5678 5%"
    assert record.args == ()
    assert record.getMessage() == "phone 138****5678 5%"


def test_filter_survives_bad_format_string() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "n=%d", ("13812345678",), None)
    assert RedactingFilter().filter(record) is True
    assert "13812345678" not in record.getMessage()
    assert "138****5678" in record.getMessage()


def test_filter_redacts_tracebacks(isolated_logger: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = isolated_logger
    logger.addFilter(RedactingFilter())
    try:
        raise ValueError("bad id 11010519491231002X")
    except ValueError:
        logger.exception("lookup failed for %s", "13812345678")
    output = stream.getvalue()
    assert "ValueError: bad id 110***********002X" in output
    assert "11010519491231002X" not in output and "13812345678" not in output


def test_install_is_idempotent_and_covers_child_loggers(restore_root: None) -> None:
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    try:
        install_log_redaction()
        install_log_redaction()
        for target in [root, *root.handlers]:
            assert sum(isinstance(f, RedactingFilter) for f in target.filters) == 1
        logging.getLogger("microlend.tests.child").warning("card %s", "4111111111111111")
        assert stream.getvalue() == "card 411111******1111\n"
    finally:
        root.removeHandler(handler)


def test_install_on_given_logger(
    isolated_logger: tuple[logging.Logger, io.StringIO], restore_root: None
) -> None:
    logger, stream = isolated_logger
    install_log_redaction(logger)
    install_log_redaction(logger)
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    logger.warning("phone %s", "13812345678")
    assert stream.getvalue() == "phone 138****5678\n"


def test_the_filter_keeps_masked_arguments_for_formatters_that_read_them():
    """uvicorn's access formatter unpacks record.args; the filter masks them in place instead of
    collapsing them into the message (which made every access line a logging error)."""
    import logging

    from microlend.security.masking import RedactingFilter

    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/v1/customers?phone=13812345678", "1.1", 200), None)
    assert RedactingFilter().filter(record)
    client, method, path, version, status = record.args
    assert status == 200 and method == "GET" and "13812345678" not in path
    assert "13812345678" not in record.getMessage()
    numeric = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "phone %d", (13812345678,), None)
    assert RedactingFilter().filter(numeric)
    assert numeric.args == () and "13812345678" not in numeric.getMessage()
