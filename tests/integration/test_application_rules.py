"""Every built-in application rule firing and not firing through ``submit``, on hand-built histories
(velocity events recorded at chosen instants, window edges to the microsecond: an event exactly
``within`` old is out), on real earlier applications, on the block list and on the bureau report; and
the same histories giving the same decisions on the database velocity store and on Redis."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal

import pytest
from origination_helpers import application, application_row, good_person, hits, keys_of, record_of, submit
from sqlalchemy import select
from test_velocity_stores import _redis_store

from microlend.rules.velocity import VelocityEvent
from microlend.services.origination import block_list, pauses
from microlend.simulation.demo_model import install_demo_scorecard
from microlend.store.tables import credit_lines, customers

REDIS_URL = os.environ.get("MICROLEND_TEST_REDIS_URL")
US = timedelta(microseconds=1)
H, D = timedelta(hours=1), timedelta(days=1)


@pytest.fixture(autouse=True)
def champion(platform):
    install_demo_scorecard(platform)


redis_store = _redis_store  # the velocity-store tests' fixture helper: a fresh prefix, flushed after


_refs = iter(range(10**9))


def earlier(platform, keys: dict[str, str], *ages: timedelta) -> None:
    """Hand-built earlier applications carrying ``keys``, ``age`` before now each."""
    now = platform.clock.now()
    for age in ages:
        platform.velocity.record(VelocityEvent(kind="application", at=now - age, keys=keys,
                                               ref=f"history:{next(_refs)}"))


def only(keys: dict[str, str], *kinds: str) -> dict[str, str]:
    return {k: v for k, v in keys.items() if k in kinds}


def applicant_keys(platform, who) -> dict[str, str]:
    data = application(who)
    return keys_of(platform, who, device=data.device_id, ip=data.ip)


def decide(platform, who, **overrides) -> tuple[str, set[str], dict]:
    view = submit(platform, who, **overrides)
    record = record_of(platform, view["id"])
    return view["status"], hits(record), view


# --- many applications from one identifier ------------------------------------------------------------

# (rule, key kind, count that fires, its window, outcome -> status)
VELOCITY = [
    ("many_apps_same_id_1h", "id_number", 3, H, "rejected"),
    ("many_apps_same_id_7d", "id_number", 6, 7 * D, "review"),
    ("many_apps_same_phone_24h", "phone", 4, D, "step_up"),
    ("many_apps_same_device_1h", "device", 3, H, "rejected"),
    ("many_apps_same_ip_1h", "ip", 10, H, "review"),
]


def _spread(n: int, within: timedelta, oldest: timedelta) -> list[timedelta]:
    """``n`` ages within the window, the oldest one ``oldest``."""
    step = within / (n + 1)
    return [oldest] + [step * (i + 1) for i in range(n - 1)]


@pytest.mark.parametrize(("rule", "kind", "threshold", "within", "status"), VELOCITY,
                         ids=[v[0] for v in VELOCITY])
@pytest.mark.parametrize("case", ["at_threshold", "one_short", "oldest_exactly_within", "oldest_just_inside"])
def test_application_velocity(platform, rule, kind, threshold, within, status, case):
    who = good_person(platform, 1)
    keys = only(applicant_keys(platform, who), kind)
    if case == "at_threshold":
        ages, fires = _spread(threshold, within, within / 2), True
    elif case == "one_short":
        ages, fires = _spread(threshold - 1, within, within - US), False
    elif case == "oldest_exactly_within":
        ages, fires = _spread(threshold, within, within), False
    else:
        ages, fires = _spread(threshold, within, within - US), True
    earlier(platform, keys, *ages)
    got, hit, view = decide(platform, who)
    if fires:
        assert rule in hit and got == status, (hit, view["reasons"])
        assert rule in [r["code"] for r in view["reasons"]]
    else:
        assert rule not in hit and got == "approved", (hit, view["reasons"])


def test_a_phone_step_up_pauses_the_new_customer(platform):
    who = good_person(platform, 2)
    earlier(platform, only(applicant_keys(platform, who), "phone"), *[H] * 4)
    status, hit, view = decide(platform, who)
    assert status == "step_up" and hit == {"many_apps_same_phone_24h"}
    assert view["customer_id"] is not None and view["credit_line_id"] is None
    with platform.reader() as reader:
        assert pauses.is_paused(reader.session, view["customer_id"])
    record = record_of(platform, view["id"])
    assert record["decision"]["after_step_up"] == "approve"
    passed = pauses.verify_customer(platform=platform, customer_id=view["customer_id"], actor="test",
                                    name=who.name, id_number=who.id_number, phone=who.phone, bank_card=who.bank_card)
    assert passed.passed and not passed.paused and passed.resumed == [view["id"]]
    with platform.reader() as reader:
        (line,) = reader.lines.list_for_customer(view["customer_id"])
    assert line.limit == Decimal(view["offered_limit"])
    assert application_row(platform, view["id"]).status == "approved"


def test_a_step_up_whose_decision_was_a_rejection_stays_rejected_after_verifying(platform):
    who = good_person(platform, 3)
    platform.bureau.profiles.steer(who.id_number, overdue_now=True)
    earlier(platform, only(applicant_keys(platform, who), "phone"), *[H] * 4)
    status, hit, view = decide(platform, who)
    assert status == "rejected" and {"many_apps_same_phone_24h", "bureau_overdue_now"} <= hit
    assert view["customer_id"] is None  # the most severe outcome wins: no step-up, no customer


def test_the_fourth_application_from_one_device_within_an_hour(platform):
    """Real applications from four identities on one device, ten minutes apart."""
    seen = []
    for i in range(4):
        status, hit, _ = decide(platform, good_person(platform, 10 + i), device_id="one-device-0001")
        seen.append((status, hit))
        platform.clock.current_time += timedelta(minutes=10)
    assert seen == [
        ("approved", set()),
        ("review", {"device_shared_by_two_identities"}),
        ("rejected", {"device_shared_by_identities"}),
        ("rejected", {"device_shared_by_identities", "many_apps_same_device_1h"}),
    ]


def test_a_rejected_applicant_retrying_within_the_hour(platform):
    """The same person applying again and again, fifteen minutes apart (each rejected: the identity does
    not verify): the fourth within the hour is caught by the ID and device windows too."""
    who = good_person(platform, 14)
    platform.kyc.steer(who.id_number, "mismatch:phone")
    for _ in range(3):
        status, hit, _ = decide(platform, who, device_id="retry-device-01")
        assert status == "rejected" and "many_apps_same_id_1h" not in hit
        platform.clock.current_time += timedelta(minutes=15)
    status, hit, _ = decide(platform, who, device_id="retry-device-01")
    assert "many_apps_same_id_1h" in hit and "many_apps_same_device_1h" in hit
    assert hit <= {"many_apps_same_id_1h", "many_apps_same_device_1h"}


# --- shared devices and phones ---------------------------------------------------------------------------

@pytest.mark.parametrize(("others", "age", "status", "expected"), [
    (0, H, "approved", set()),
    (1, H, "review", {"device_shared_by_two_identities"}),
    (2, H, "rejected", {"device_shared_by_identities"}),
    (2, 7 * D - US, "rejected", {"device_shared_by_identities"}),
    (2, 7 * D, "approved", set()),
])
def test_a_device_shared_by_identities(platform, others, age, status, expected):
    who = good_person(platform, 20)
    device = only(applicant_keys(platform, who), "device")
    for i in range(others):
        other = keys_of(platform, good_person(platform, 21 + i))
        earlier(platform, {**device, "id_number": other["id_number"]}, age)
    got, hit, _ = decide(platform, who)
    assert (got, hit) == (status, expected)


def test_the_same_identity_twice_on_a_device_is_not_shared(platform):
    who = good_person(platform, 23)
    earlier(platform, only(applicant_keys(platform, who), "device", "id_number"), H * 2, D)
    assert decide(platform, who)[:2] == ("approved", set())


@pytest.mark.parametrize(("others", "age", "status", "expected"), [
    (0, H, "approved", set()),
    (1, H, "rejected", {"phone_shared_by_identities"}),
    (1, 7 * D - US, "rejected", {"phone_shared_by_identities"}),
    (1, 7 * D, "approved", set()),
])
def test_a_phone_shared_by_identities(platform, others, age, status, expected):
    who = good_person(platform, 24)
    phone = only(applicant_keys(platform, who), "phone")
    for i in range(others):
        earlier(platform, {**phone, "id_number": keys_of(platform, good_person(platform, 25 + i))["id_number"]}, age)
    assert decide(platform, who)[:2] == (status, expected)


# --- block list -----------------------------------------------------------------------------------------

def _block(platform, kind: str, value: str) -> None:
    block_list.add(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, kind=kind, value=value,
                   reason="fraud ring", actor="test")


@pytest.mark.parametrize("kind", ["id_number", "phone", "device", "card"])
def test_a_block_listed_identifier_is_rejected(platform, kind):
    who = good_person(platform, 30)
    data = application(who)
    value = {"id_number": who.id_number, "phone": who.phone, "device": data.device_id.upper(),
             "card": who.bank_card}[kind]
    _block(platform, kind, value)
    status, hit, view = decide(platform, who)
    assert (status, hit) == ("rejected", {f"blocked_{kind}"})
    assert view["customer_id"] is None and view["credit_line_id"] is None


def test_someone_elses_block_listed_identifiers_do_not_matter(platform):
    other = good_person(platform, 31)
    for kind, value in [("id_number", other.id_number), ("phone", other.phone), ("card", other.bank_card)]:
        _block(platform, kind, value)
    assert decide(platform, good_person(platform, 32))[:2] == ("approved", set())


def test_a_blocked_ip_alone_is_not_a_rule(platform):
    """The block list holds IPs (the facts show the match) but no built-in application rule reads them."""
    who = good_person(platform, 33)
    _block(platform, "ip", application(who).ip)
    status, hit, view = decide(platform, who)
    assert (status, hit) == ("approved", set())
    assert record_of(platform, view["id"])["facts"]["lists"]["blocked_ip"] == [applicant_keys(platform, who)["ip"]]


# --- the bureau -------------------------------------------------------------------------------------------

def test_an_amount_overdue_now_is_rejected(platform):
    who = good_person(platform, 40, overdue_now=True, overdue_amount=Decimal("800"))
    status, hit, view = decide(platform, who)
    assert status == "rejected" and "bureau_overdue_now" in hit
    assert record_of(platform, view["id"])["facts"]["bureau"]["overdue_now"] is True


def test_a_clean_file_is_not_overdue(platform):
    status, hit, _ = decide(platform, good_person(platform, 41))
    assert "bureau_overdue_now" not in hit and status == "approved"


def _enquiries(platform, who, n: int, *, days_ago: int = 0) -> None:
    """``n`` hard enquiries by other lenders ``days_ago`` (the simulated bureau records each query)."""
    clock = platform.clock
    clock.current_date -= timedelta(days=days_ago)
    try:
        for i in range(n):
            platform.bureau.report(reference=f"OTHER-{who.id_number}-{days_ago}-{i}", name=who.name,
                                   id_number=who.id_number, reason="loan_approval")
    finally:
        clock.current_date += timedelta(days=days_ago)


@pytest.mark.parametrize(("n", "days_ago", "expected"), [
    (4, 0, {"bureau_enquiries_1m"}),
    (3, 0, set()),
    (6, 40, {"bureau_enquiries_surge_3m"}),     # six in the last three months, none in the last month
    (5, 40, set()),
    (6, 100, set()),                            # older than three months
    (7, 0, {"bureau_enquiries_1m", "bureau_enquiries_surge_3m"}),
])
def test_credit_enquiries(platform, n, days_ago, expected):
    who = good_person(platform, 42)
    _enquiries(platform, who, n, days_ago=days_ago)
    status, hit, view = decide(platform, who)
    assert hit == expected, record_of(platform, view["id"])["facts"]["bureau"]
    assert status == ("review" if expected else "approved")


def test_a_surge_needs_most_of_the_years_enquiries(platform):
    """Six in three months but twelve in the year: not a surge (6 < 0.6 x 12)."""
    who = good_person(platform, 43, enquiries_6m=0, enquiries_12m=6, loan_enquiries_12m=6)
    _enquiries(platform, who, 6, days_ago=40)
    status, hit, view = decide(platform, who)
    bureau = record_of(platform, view["id"])["facts"]["bureau"]
    assert int(bureau["enquiries_3m"]) == 6 and int(bureau["enquiries_12m"]) >= 12
    assert "bureau_enquiries_surge_3m" not in hit


# --- the database and Redis agree -----------------------------------------------------------------------

def _history_run(platform, base: int) -> list[tuple]:
    """A mixed history on fresh people (``base`` picks them): what each application decided and every
    window aggregate its rules read (hashes left out)."""
    out = []

    def run(who, **overrides):
        status, hit, view = decide(platform, who, **overrides)
        windows = sorted((w["function"], w["by"], w["within_s"], w["result"])
                         for w in record_of(platform, view["id"])["windows"])
        out.append((status, sorted(hit), windows))

    device = f"redis-check-{base:04d}"
    for i in range(4):  # identities sharing one device, minutes apart
        run(good_person(platform, base + i), device_id=device)
        platform.clock.current_time += timedelta(minutes=5)
    who = good_person(platform, base + 10)  # a phone shared with an earlier identity, at the 7-day edge
    earlier(platform, {**only(applicant_keys(platform, who), "phone"),
                       "id_number": keys_of(platform, good_person(platform, base + 11))["id_number"]}, 7 * D)
    run(who)
    who = good_person(platform, base + 20)  # one ID retrying, the oldest attempt 1 µs inside the hour
    earlier(platform, only(applicant_keys(platform, who), "id_number"), H - US, H / 2, H / 3)
    run(who)
    platform.clock.current_time += H  # the device's first hour is over
    run(good_person(platform, base + 30), device_id=device)
    return out


def test_the_database_and_redis_decide_alike(platform, request):
    database = _history_run(platform, 100)
    store = redis_store(request)
    platform.velocity = store
    on_redis = _history_run(platform, 200)
    assert on_redis == database
    assert [(s, h) for s, h, _ in database] == [
        ("approved", []), ("review", ["device_shared_by_two_identities"]),
        ("rejected", ["device_shared_by_identities"]),
        ("rejected", ["device_shared_by_identities", "many_apps_same_device_1h"]),
        ("approved", []), ("rejected", ["many_apps_same_id_1h"]),
        ("rejected", ["device_shared_by_identities"]),
    ]


def test_redis_records_each_application_once(platform, request):
    platform.velocity = redis_store(request)
    who = good_person(platform, 300)
    first = submit(platform, who, key="redis-once", fingerprint="f")
    submit(platform, who, key="redis-once", fingerprint="f")
    window = platform.velocity.aggregate(function="count", kind="application", by="id_number",
                                         value=keys_of(platform, who)["id_number"], within=H,
                                         now=platform.clock.now())
    assert window == 1 and first["status"] == "approved"
    with platform.reader() as reader:
        assert reader.session.execute(select(customers.c.id)).all() != []
        assert len(reader.session.execute(select(credit_lines.c.id)).all()) == 1
