"""The block list: identifiers normalised and kept as keyed hashes, shown masked, and read by the rules
as ``lists.blocked_<kind>`` facts with one query per decision; a removal is soft (kept as history)."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError

from microlend.errors import ConflictError, NotFoundError, ValidationError
from microlend.rules.builtin import builtin_rule_set
from microlend.rules.engine import evaluate
from microlend.rules.velocity import InMemoryVelocityStore
from microlend.services.origination import block_list
from microlend.services.origination.keys import KEY_KINDS, key_hash
from microlend.store.origination_tables import block_list as block_list_table

ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"
CARD = "6222021234567890128"  # Luhn-valid
DEVICE = "Device-ABCDEF-0001"
IP = "203.0.113.57"


def add(platform, kind: str, value: str, reason: str = "fraud ring", actor: str = "admin:k1"):
    return block_list.add(uow=platform.uow(), cipher=platform.cipher, clock=platform.clock, kind=kind, value=value,
                          reason=reason, actor=actor)


def remove(platform, entry_id: int, actor: str = "admin:k2"):
    return block_list.remove(uow=platform.uow(), clock=platform.clock, entry_id=entry_id, actor=actor)


def hashed(platform, kind: str, normalized: str) -> str:
    return key_hash(platform.cipher, kind, normalized)


def test_entries_are_normalised_hashed_and_masked(platform):
    entries = {kind: add(platform, kind, value) for kind, value in [
        ("phone", "+86 138-1234-5678"), ("id_number", ID_NUMBER.lower()), ("card", "6222 0212 3456 7890 128"),
        ("device", DEVICE), ("ip", IP)]}
    assert {k: e.value_masked for k, e in entries.items()} == {
        "phone": "138****5678", "id_number": "110***********002X", "card": "622202*********0128",
        "device": "devi***", "ip": "203.0.113.*"}
    assert entries["phone"].added_by == "admin:k1" and entries["phone"].added_at == platform.clock.now()
    with platform.reader() as uow:
        stored = {r.kind: r.value_hash for r in uow.session.execute(select(block_list_table))}
    assert stored == {"phone": hashed(platform, "phone", PHONE), "id_number": hashed(platform, "id_number", ID_NUMBER),
                      "card": hashed(platform, "card", CARD), "device": hashed(platform, "device", DEVICE.lower()),
                      "ip": hashed(platform, "ip", IP)}
    assert PHONE not in str(stored)


def test_refusals(platform):
    add(platform, "phone", PHONE)
    with pytest.raises(ConflictError) as caught:
        add(platform, "phone", "+8613812345678")  # the same phone written another way
    assert (caught.value.code, caught.value.field) == ("already_blocked", "value")
    for kind, value, code, field in [("phone", "12345", "invalid_phone", "value"),
                                     ("card", "6222021234567890129", "invalid_bank_card_checksum", "value"),
                                     ("ip", "300.1.1.1", "invalid_ip", "value"),
                                     ("email", "a@b.c", "invalid_key_kind", "kind")]:
        with pytest.raises(ValidationError) as caught:
            add(platform, kind, value)
        assert (caught.value.code, caught.value.field) == (code, field)
    with pytest.raises(ValidationError) as caught:
        add(platform, "device", DEVICE, reason=" ")
    assert (caught.value.code, caught.value.field) == ("missing_field", "reason")


def test_list_is_masked_newest_first_and_remove_takes_an_entry_off(platform):
    phone = add(platform, "phone", PHONE)
    device = add(platform, "device", DEVICE, reason="emulator farm")
    listed = block_list.list_entries(platform.reader())
    assert [e.id for e in listed] == [device.id, phone.id]
    assert listed[1].to_dict() == {"id": phone.id, "kind": "phone", "value_masked": "138****5678",
                                   "reason": "fraud ring", "added_by": "admin:k1",
                                   "added_at": platform.clock.now().isoformat(), "removed_at": None,
                                   "removed_by": None}
    assert [e.kind for e in block_list.list_entries(platform.reader(), kind="device")] == ["device"]
    assert [e.id for e in block_list.list_entries(platform.reader(), limit=1, offset=1)] == [phone.id]
    with pytest.raises(ValidationError):
        block_list.list_entries(platform.reader(), kind="email")

    platform.clock.current_time += timedelta(hours=1)
    removed = remove(platform, phone.id)
    assert removed.value_masked == "138****5678" and not removed.active
    assert (removed.removed_at, removed.removed_by) == (platform.clock.now(), "admin:k2")
    assert (removed.added_by, removed.reason) == ("admin:k1", "fraud ring")
    assert [e.id for e in block_list.list_entries(platform.reader())] == [device.id]
    with pytest.raises(NotFoundError) as caught:
        remove(platform, phone.id)  # off the list already
    assert (caught.value.code, caught.value.field) == ("block_list_entry_not_found", "id")
    with pytest.raises(NotFoundError):
        remove(platform, 999999)
    again = add(platform, "phone", PHONE, reason="back again")  # blocked again after removal
    assert again.id != phone.id
    assert [e.id for e in block_list.list_entries(platform.reader())] == [again.id, device.id]


def test_a_removal_is_kept_as_history(platform):
    phone = add(platform, "phone", PHONE)
    platform.clock.current_time += timedelta(minutes=5)
    remove(platform, phone.id, actor="admin:k9")
    again = add(platform, "phone", PHONE, reason="seen again")
    history = block_list.list_entries(platform.reader(), include_removed=True)
    assert [(e.id, e.reason, e.removed_by) for e in history] == [(again.id, "seen again", None),
                                                                 (phone.id, "fraud ring", "admin:k9")]
    assert history[1].removed_at == platform.clock.now() and history[1].added_at < history[1].removed_at
    assert [e.id for e in block_list.list_entries(platform.reader(), kind="phone", include_removed=True)] == [
        again.id, phone.id]
    with platform.reader() as uow:  # the row is still there: nothing was deleted
        rows = uow.session.execute(select(block_list_table.c.id, block_list_table.c.removed_by)
                                   .order_by(block_list_table.c.id)).all()
    assert [tuple(r) for r in rows] == [(phone.id, "admin:k9"), (again.id, None)]


def test_the_database_allows_one_entry_on_the_list_per_identifier(platform):
    phone = add(platform, "phone", PHONE)
    row = dict(kind="phone", value_hash=hashed(platform, "phone", PHONE), value_masked="138****5678", reason="x",
               added_by="hand", added_at=platform.clock.now())
    with pytest.raises(IntegrityError):
        with platform.uow() as uow:
            uow.session.execute(insert(block_list_table).values(**row))
            uow.commit()
    with platform.uow() as uow:  # a removed entry may share the identifier with one on the list
        uow.session.execute(insert(block_list_table).values(**row, removed_at=platform.clock.now(),
                                                            removed_by="hand"))
        uow.commit()
    assert [e.id for e in block_list.list_entries(platform.reader())] == [phone.id]


def test_a_removed_entry_blocks_nothing(platform):
    phone = add(platform, "phone", PHONE)
    keys = {"phone": hashed(platform, "phone", PHONE)}
    with platform.reader() as uow:
        assert block_list.blocked_sets(uow.session, keys)["blocked_phone"] == frozenset(keys.values())
    remove(platform, phone.id)
    with platform.reader() as uow:
        assert block_list.blocked_sets(uow.session, keys)["blocked_phone"] == frozenset()
    add(platform, "phone", PHONE)
    with platform.reader() as uow:
        assert block_list.blocked_sets(uow.session, keys)["blocked_phone"] == frozenset(keys.values())


def test_blocked_sets_answers_every_kind_with_one_query(platform):
    add(platform, "phone", PHONE)
    add(platform, "card", CARD)
    add(platform, "device", "other-device-9")
    keys = {"id_number": hashed(platform, "id_number", ID_NUMBER), "phone": hashed(platform, "phone", PHONE),
            "device": hashed(platform, "device", DEVICE.lower()), "ip": hashed(platform, "ip", IP),
            "card": hashed(platform, "card", CARD)}
    statements: list[str] = []
    listener = lambda conn, cursor, statement, *args: statements.append(statement)  # noqa: E731
    event.listen(platform.engine, "before_cursor_execute", listener)
    try:
        with platform.reader() as uow:
            lists = block_list.blocked_sets(uow.session, keys)
            nothing = block_list.blocked_sets(uow.session, {})
            # a phone hash is not a card hash: the kind must match too
            crossed = block_list.blocked_sets(uow.session, {"card": keys["phone"]})
    finally:
        event.remove(platform.engine, "before_cursor_execute", listener)
    assert lists == {"blocked_id_number": frozenset(), "blocked_phone": frozenset({keys["phone"]}),
                     "blocked_device": frozenset(), "blocked_ip": frozenset(),
                     "blocked_card": frozenset({keys["card"]})}
    assert nothing == {f"blocked_{kind}": frozenset() for kind in KEY_KINDS}
    assert crossed["blocked_card"] == frozenset()
    assert len([s for s in statements if "block_list" in s]) == 2  # none for the empty keys

    facts = {"keys": keys, "lists": lists, "application": {}, "bureau": None, "statements": None,
             "findings": frozenset(), "line": None}
    evaluation = evaluate(builtin_rule_set("application"), facts, InMemoryVelocityStore(),
                          platform.clock.now().astimezone(timezone.utc))
    assert evaluation.decision == "reject"
    assert [r.id for r in evaluation.hits] == ["blocked_phone", "blocked_card"]
