"""Shared fixtures: a migrated database per test on SQLite and, when
MICROLEND_TEST_DATABASE_URL is set, on PostgreSQL too; a hand-moved clock; a
simulated payment rail whose outcomes tests choose; API clients per role."""

from __future__ import annotations

import os
import random
import shutil
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from microlend.adapters.payment_rail import SimulatedRail
from microlend.clock import FixedClock
from microlend.config import Settings
from microlend.security.api_keys import Role
from microlend.services import credit_lines, customers, keys, products
from microlend.services.platform import Platform
from microlend.simulation.people import make_person
from microlend.store.database import make_engine
from microlend.store.migrate import upgrade
from microlend.store.tables import metadata

PG_URL = os.environ.get("MICROLEND_TEST_DATABASE_URL")
DATABASES = ["sqlite"] + (["postgresql"] if PG_URL else [])
TODAY = date(2026, 3, 10)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> str:
    """One migrated SQLite file, copied for each test (migrating each time is slower)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return str(path)


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL database for this test session, migrated once."""
    if not PG_URL:
        pytest.skip("MICROLEND_TEST_DATABASE_URL is not set")
    name = f"microlend_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(t.name for t in metadata.sorted_tables if t.name != "ledger_accounts")
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request, tmp_path, sqlite_template) -> str:
    if request.param == "sqlite":
        path = tmp_path / "microlend.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TODAY, datetime(2026, 3, 10, 2, 0, tzinfo=timezone.utc))


@pytest.fixture
def rail() -> SimulatedRail:
    return SimulatedRail()


@pytest.fixture
def platform(db_url, clock, rail):
    p = Platform.build(Settings(database_url=db_url, env="test"), clock=clock, rail=rail)
    products.ensure_reference_product(uow=p.uow(), clock=clock)
    yield p
    p.engine.dispose()


@pytest.fixture
def make_customer(platform):
    """Register a valid customer (card bound unless ``bank_card=None``)."""
    rng = random.Random(7)

    def factory(**overrides):
        person = make_person(rng, on=TODAY)
        data = {"name": person.name, "id_number": person.id_number, "phone": person.phone,
                "bank_card": person.bank_card, **overrides}
        return customers.register_customer(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, **data)

    return factory


@pytest.fixture
def make_line(platform, make_customer):
    """A customer with an active line of the reference product."""

    def factory(limit: str = "20000", daily_rate: str = "0.0005", **customer_overrides):
        customer = make_customer(**customer_overrides)
        return credit_lines.grant_line(uow=platform.uow(), clock=platform.clock, customer_id=customer.id,
                                       product_code="REVOLVE", limit=Decimal(limit),
                                       daily_rate=Decimal(daily_rate), actor="test")

    return factory


@pytest.fixture
def known_device(platform):
    """``known_device(customer_id)`` records a device as the customer's (as an approved application or
    drawdown would) and returns its id, for borrower drawdowns that must name their device."""
    from microlend.services.origination.keys import key_hash, normalize_device
    from microlend.services.origination.settle import remember_device

    def factory(customer_id: int, device_id: str = "test-phone-0001") -> str:
        with platform.uow() as uow:
            remember_device(uow, customer_id, key_hash(platform.cipher, "device", normalize_device(device_id)),
                            platform.clock.now())
            uow.commit()
        return device_id

    return factory


# --- HTTP ---------------------------------------------------------------------
@pytest.fixture
def client(platform):
    from fastapi.testclient import TestClient

    from microlend.api.app import create_app

    with TestClient(create_app(platform), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def auth(platform):
    """``auth("admin")`` / ``auth("operator")`` / ``auth("borrower", customer_id)`` -> headers."""

    def factory(role: str, customer_id: int | None = None) -> dict[str, str]:
        new = keys.create_key(uow=platform.uow(), clock=platform.clock, role=Role(role), name=f"test {role}",
                              customer_id=customer_id)
        return {"Authorization": f"Bearer {new.token}"}

    return factory
