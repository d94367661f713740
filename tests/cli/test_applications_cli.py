"""``microlend applications`` and ``microlend policy``: apply from a JSON file, read decisions, change the
policy; bad input exits 2 with the error code and nothing is stored."""

from __future__ import annotations

import json
import random
from datetime import date

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from microlend.cli.applications import applications_app, policy_app
from microlend.config import get_settings
from microlend.simulation.demo_model import install_demo_scorecard
from microlend.simulation.people import make_person
from microlend.store.origination_tables import applications, policy_versions

runner = CliRunner()
TODAY = date(2026, 3, 10)


@pytest.fixture
def cli(platform, db_url, monkeypatch):
    monkeypatch.setenv("MICROLEND_DATABASE_URL", db_url)
    monkeypatch.setenv("MICROLEND_ENV", "test")
    get_settings.cache_clear()
    install_demo_scorecard(platform)
    yield lambda app, *args: runner.invoke(app, list(args))
    get_settings.cache_clear()


def application(n: int = 1, **changes) -> dict:
    person = make_person(random.Random(n), on=TODAY)
    body = {"name": person.name, "id_number": person.id_number, "phone": person.phone,
            "bank_card": person.bank_card, "device_id": f"cli-device-{n}", "ip": "36.110.4.7",
            "declared_income": "15000.00", "industry": "retail", "region": person.id_number[:2],
            "consent": {"given": True, "text_version": "v1"}}
    body.update(changes)
    return body


def write(tmp_path, body: dict, name: str = "app.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return str(path)


def count(platform) -> int:
    with platform.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(applications)).scalar_one()


def test_apply_decides_and_show_returns_the_record(cli, platform, tmp_path):
    result = cli(applications_app, "apply", write(tmp_path, application()), "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.output)
    assert view["status"] in ("approved", "rejected", "review", "step_up", "awaiting_guarantor")
    assert view["decision_record"]["versions"]["model"]["name"] == "demo-scorecard"
    shown = cli(applications_app, "show", str(view["id"]))
    assert shown.exit_code == 0 and json.loads(shown.output)["decision_record_id"] == view["decision_record_id"]
    listed = cli(applications_app, "list")
    assert listed.exit_code == 0 and view["status"] in listed.output


def test_apply_with_the_same_key_decides_once(cli, platform, tmp_path):
    path = write(tmp_path, application(2))
    first = cli(applications_app, "apply", path, "--idempotency-key", "k-1", "--json")
    again = cli(applications_app, "apply", path, "--idempotency-key", "k-1", "--json")
    assert first.exit_code == again.exit_code == 0
    assert json.loads(first.output)["id"] == json.loads(again.output)["id"] and count(platform) == 1


@pytest.mark.parametrize("change, code", [
    ({"consent": {"given": False, "text_version": "v1"}}, "consent_required"),
    ({"id_number": "110101199001011234"}, "invalid_id_checksum"),
    ({"region": "99"}, "invalid_region"),
    ({"ip": "not-an-ip"}, "invalid_ip"),
    ({"declared_income": "abc"}, "invalid_amount"),
])
def test_bad_application_exits_2_and_stores_nothing(cli, platform, tmp_path, change, code):
    result = cli(applications_app, "apply", write(tmp_path, application(3, **change)))
    assert result.exit_code == 2 and code in result.output, result.output
    assert count(platform) == 0


def test_missing_field_and_missing_file(cli, tmp_path):
    body = application(4)
    del body["device_id"]
    result = cli(applications_app, "apply", write(tmp_path, body))
    assert result.exit_code == 2 and "missing_field (device_id)" in result.output
    result = cli(applications_app, "apply", str(tmp_path / "nope.json"))
    assert result.exit_code == 2 and "file_not_found" in result.output


def test_policy_show_load_and_downturn(cli, platform, tmp_path):
    shown = cli(policy_app, "show")
    assert shown.exit_code == 0
    document = json.loads(shown.output)["document"]
    assert document["downturn"]["on"] is False
    on = cli(policy_app, "downturn", "on", "--note", "drill")
    assert on.exit_code == 0, on.output
    assert json.loads(cli(policy_app, "show").output)["document"]["downturn"]["on"] is True
    again = cli(policy_app, "downturn", "on")
    assert again.exit_code == 2 and "downturn_unchanged" in again.output
    document["version"] = 7
    document["bands"]["A"]["income_multiple"] = "4.0"
    loaded = cli(policy_app, "load", write(tmp_path, document, "policy.json"))
    assert loaded.exit_code == 0, loaded.output
    with platform.engine.connect() as conn:
        active = conn.execute(select(policy_versions.c.version).where(policy_versions.c.active.is_(True))).scalar()
    assert active == 7


def test_policy_load_refuses_a_bad_document_with_its_path(cli, tmp_path):
    bad = {"name": "p", "version": 1, "bands": {"A": {"action": "lend"}}, "unverified_income_factor": "0.7",
           "debt_burden": {"max_ratio": "0.5", "capacity_months": "12"}}
    result = cli(policy_app, "load", write(tmp_path, bad, "bad.json"))
    assert result.exit_code == 2 and "invalid_policy" in result.output and "bands.A" in result.output
    assert cli(policy_app, "downturn", "sideways").exit_code == 2
