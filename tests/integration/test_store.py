"""The store: migrations, exact money on SQLite, PII encrypted at rest, and the
PostgreSQL guards on the ledger (deferred balance trigger, immutable lines)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import DBAPIError

from microlend.config import Settings
from microlend.security.fields import DecryptionError, FieldCipher
from microlend.services import customers
from microlend.store import tables
from microlend.store.database import make_engine
from microlend.store.migrate import current_revision, upgrade


def test_migrations_match_the_table_definitions(platform):
    with platform.engine.connect() as conn:
        # Types are stored per dialect by our TypeDecorators; compare tables, columns, keys and indexes.
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), tables.metadata)
    assert diffs == []
    assert current_revision(platform.engine) == "0005"


def test_upgrade_downgrade_upgrade_on_a_fresh_sqlite(tmp_path):
    from alembic import command

    from microlend.store.migrate import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert current_revision(engine) is None
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_accounts")).scalar() == 12


def test_money_round_trips_exactly(platform, make_line):
    line = make_line(limit="200000")
    big = Decimal("123456789012.34")
    with platform.uow() as uow:
        uow.session.execute(update(tables.credit_lines).where(tables.credit_lines.c.id == line.id).values(used=big))
        uow.commit()
    with platform.uow() as uow:
        assert uow.lines.get(line.id).used == big
        total = uow.session.execute(select(tables.credit_lines.c.used)).scalar_one()
    assert total == big


def test_pii_is_encrypted_at_rest_and_masked(platform, make_customer):
    c = make_customer(id_number="110105199003071239", phone="13912345678", bank_card="6222020200112233446")
    with platform.engine.connect() as conn:
        row = conn.execute(select(tables.customers)).mappings().one()
    stored = " ".join(str(v) for v in row.values())
    for plain in ("110105199003071239", "13912345678", "6222020200112233446"):
        assert plain not in stored
    assert row["id_number_masked"] == "110***********1239"
    assert row["phone_masked"] == "139****5678"
    assert platform.cipher.decrypt(row["id_number_token"], field="id_number") == "110105199003071239"
    assert row["id_number_token"].split(".")[1] == platform.settings.active_field_key
    assert c.id_number_hash == platform.cipher.lookup_hash("110105199003071239", field="id_number")


def test_keys_rotate_old_tokens_still_decrypt(platform, make_customer):
    make_customer(id_number="110105199003071239")
    with platform.engine.connect() as conn:
        token = conn.execute(select(tables.customers.c.id_number_token)).scalar_one()
    settings = platform.settings
    new_key = "k2:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="
    rotated = FieldCipher.from_settings(Settings(database_url=settings.database_url, field_keys=f"{settings.field_keys},{new_key}",
                                                 active_field_key="k2", lookup_key=settings.lookup_key))
    assert rotated.decrypt(token, field="id_number") == "110105199003071239"
    fresh = rotated.rotate(token, field="id_number")
    assert fresh.split(".")[1] == "k2" and rotated.decrypt(fresh, field="id_number") == "110105199003071239"
    with pytest.raises(DecryptionError):
        platform.cipher.decrypt(token, field="phone")  # a token moved to another column does not decrypt


def test_one_id_number_is_one_customer(platform, make_customer):
    from microlend.errors import ConflictError

    make_customer(id_number="110105199003071239")
    with pytest.raises(ConflictError) as err:
        make_customer(id_number="110105199003071239", phone="13700000000")
    assert err.value.code == "customer_exists"
    with platform.uow() as uow:
        assert len(uow.customers.list(limit=10, offset=0)) == 1


def _postgres_only(platform):
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL-only guard")


def test_postgres_refuses_an_unbalanced_entry_at_commit(platform):
    _postgres_only(platform)
    with platform.engine.connect() as conn:
        entry_id = conn.execute(insert(tables.journal_entries).values(
            entry_date=date(2026, 3, 10), kind="repayment", description="bad", posted_at=datetime.now(timezone.utc),
        )).inserted_primary_key[0]
        conn.execute(insert(tables.journal_lines).values(entry_id=entry_id, account_code="1001",
                                                         debit=Decimal("10.00"), credit=Decimal("0")))
        conn.execute(insert(tables.journal_lines).values(entry_id=entry_id, account_code="4001",
                                                         debit=Decimal("0"), credit=Decimal("9.99")))
        with pytest.raises(DBAPIError, match="does not balance"):
            conn.commit()
    with platform.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM journal_lines")).scalar() == 0


def test_postgres_journal_lines_are_immutable(platform, make_line):
    _postgres_only(platform)
    from microlend.services import drawdowns

    line = make_line()
    drawdowns.request_drawdown(uow=platform.uow(), rail=platform.rail, cipher=platform.cipher, clock=platform.clock,
                               line_id=line.id, amount=Decimal("1000"), term=5)
    with platform.engine.connect() as conn:
        with pytest.raises(DBAPIError, match="immutable"):
            conn.execute(text("UPDATE journal_lines SET debit = debit + 1 WHERE debit > 0"))
        conn.rollback()
        with pytest.raises(DBAPIError, match="immutable"):
            conn.execute(text("DELETE FROM journal_lines"))


def test_customer_registration_validates_before_writing(platform):
    from microlend.errors import MicrolendError

    for bad in ({"id_number": "110105199003071238"}, {"phone": "12345"}, {"bank_card": "4111111111111112"}):
        data = {"name": "张三", "id_number": "110105199003071239", "phone": "13912345678",
                "bank_card": "4111111111111111", **bad}
        with pytest.raises(MicrolendError):
            customers.register_customer(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, **data)
    with platform.uow() as uow:
        assert uow.customers.list(limit=5, offset=0) == []


def test_rotate_customer_pii_moves_every_token_to_the_active_key(platform, make_customer):
    from microlend.services.rotation import rotate_customer_pii

    for _ in range(3):
        make_customer()
    make_customer(bank_card=None)
    s = platform.settings
    new_key = "k2:QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="
    rotated = FieldCipher.from_settings(Settings(database_url=s.database_url, field_keys=f"{s.field_keys},{new_key}",
                                                 active_field_key="k2", lookup_key=s.lookup_key))
    with platform.engine.connect() as conn:
        before = conn.execute(select(tables.customers.c.id, tables.customers.c.phone_token)).all()
    assert rotate_customer_pii(uow=platform.uow(), cipher=rotated, batch_size=2) == 4
    assert rotate_customer_pii(uow=platform.uow(), cipher=rotated, batch_size=2) == 0  # resumable, idempotent
    with platform.engine.connect() as conn:
        rows = conn.execute(select(tables.customers)).mappings().all()
    for row in rows:
        for column, field in (("id_number_token", "id_number"), ("phone_token", "phone"), ("card_token", "bank_card")):
            if row[column] is not None:
                assert rotated.key_id_of(row[column]) == "k2"
                rotated.decrypt(row[column], field=field)
    old_phone = {i: platform.cipher.decrypt(t, field="phone") for i, t in before}
    assert {r["id"]: rotated.decrypt(r["phone_token"], field="phone") for r in rows} == old_phone


def test_revoked_key_no_longer_authenticates(platform):
    from microlend.errors import AuthenticationError, NotFoundError
    from microlend.security.api_keys import Role
    from microlend.services import keys

    new = keys.create_key(uow=platform.uow(), clock=platform.clock, role=Role.OPERATOR, name="ops")
    assert keys.authenticate(uow=platform.uow(), token=new.token).role is Role.OPERATOR
    keys.revoke_key(uow=platform.uow(), clock=platform.clock, key_id=new.key_id)
    with pytest.raises(AuthenticationError):
        keys.authenticate(uow=platform.uow(), token=new.token)
    with pytest.raises(NotFoundError):
        keys.revoke_key(uow=platform.uow(), clock=platform.clock, key_id="nope")


def test_sqlite_readers_do_not_wait_for_a_writer(platform, make_line):
    """A request that only reads never queues behind a transaction holding the write lock."""
    import threading

    from microlend.services import credit_lines

    if platform.engine.dialect.name != "sqlite":
        pytest.skip("SQLite locking")
    line = make_line()
    writer = platform.uow()
    writer.__enter__()
    writer.session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is held from here
    seen: list = []
    reader = threading.Thread(target=lambda: seen.append(credit_lines.get_line(uow=platform.reader(), line_id=line.id)))
    try:
        reader.start()
        reader.join(timeout=20)  # a writer-style BEGIN would wait out the 30 s busy timeout
        assert seen and seen[0].id == line.id
    finally:
        writer.__exit__(None, None, None)
