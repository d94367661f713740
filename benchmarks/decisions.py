"""Full application decisions: latency through the services, throughput over HTTP, the rule engine alone.

Issue 5 targets, each printed beside its measurement in the same run:

1. one decision (consent and application stored, KYC / bureau / statements / geo asked, the
   built-in rules with their velocity windows in the database, the score, the credit policy,
   the decision record, status and velocity event stored) through
   ``services.origination.applications.submit`` on PostgreSQL: p99 <= 20 ms;
2. ``POST /v1/applications`` over HTTP with 50 concurrent clients against the real server
   (uvicorn in a subprocess): at least 200 decisions a second with p99 < 100 ms;
3. the rule engine alone on the built-in application set (``benchmarks/rules.py``, pinned to one
   core): at least 20,000 evaluations a second.

A throwaway PostgreSQL database (``microlend_bench_decisions``) is created, migrated, given the
reference product, the demo scorecard as champion and a week of velocity history, and dropped at
the end. Every applicant is a distinct person (``simulation.people``); devices and IPs follow a
realistic spread: most applicants bring their own device and sit behind a carrier NAT address a
few others share, a few use shared or fraud-ring devices, some come through busy office gateways,
1 % reuse a phone someone else applied with, so the windows have real history to count.

    .venv/bin/python benchmarks/decisions.py
    .venv/bin/python benchmarks/decisions.py --decisions 2000 --http-requests 3000 --clients 50 --sqlite
    .venv/bin/python benchmarks/decisions.py --skip-http --profile
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import cProfile
import io
import json
import math
import os
import pstats
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import event, insert, text
from sqlalchemy.engine import make_url

from microlend.config import Settings
from microlend.security.api_keys import Role
from microlend.services.keys import create_key
from microlend.services.origination.applications import ApplicationInput, submit
from microlend.services.origination.keys import key_hash
from microlend.services.platform import Platform
from microlend.services.products import ensure_reference_product
from microlend.simulation.demo_model import install_demo_scorecard
from microlend.simulation.people import make_person
from microlend.store.database import make_engine
from microlend.store.migrate import upgrade
from microlend.store.tables import velocity_events

HERE = Path(__file__).resolve().parent
PG_ADMIN = os.environ.get("MICROLEND_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = "microlend_bench_decisions"
TARGET_P99_MS = 20.0
TARGET_HTTP_RATE = 200.0
TARGET_HTTP_P99_MS = 100.0
TARGET_RULES = 20_000
INDUSTRIES = ("retail", "catering", "logistics", "manufacturing", "construction", "education", "it", "healthcare",
              "agriculture", "services")
#: First octets of Chinese carrier address blocks (the IPs are made up inside them).
_OCTETS = (36, 39, 42, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122,
           123, 124, 125, 171, 175, 180, 182, 183, 202, 211, 218, 219, 220, 221, 222, 223)
console = Console(width=130)


def create_bench_app():
    """The uvicorn factory: the app as ``microlend serve`` builds it, settings from ``MICROLEND_*``."""
    from microlend.api.app import create_app

    return create_app(Platform.build(Settings()))


# --- the applicants ----------------------------------------------------------------------------------------

class Crowd:
    """Distinct applicants with realistic sharing of devices, IPs and (rarely) phones."""

    def __init__(self, total: int, *, seed: int, on):
        self.rng = random.Random(seed)
        self.on = on
        rng = self.rng
        self.nat_ips = [self._ip() for _ in range(max(total // 3, 20))]  # carrier NAT: a few applicants each
        self.gateway_ips = [self._ip() for _ in range(5)]  # busy office / campus gateways
        self.shared_devices = [f"shared-{rng.getrandbits(64):016x}" for _ in range(40)]  # family phones, shop tablets
        self.ring_devices = [f"ring-{rng.getrandbits(64):016x}" for _ in range(6)]  # fraud rings
        self.phones: list[str] = []

    def _ip(self) -> str:
        rng = self.rng
        return f"{rng.choice(_OCTETS)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def next(self) -> dict[str, Any]:
        """One application body as the API takes it (money as a string)."""
        rng = self.rng
        person = make_person(rng, on=self.on, min_age=20, max_age=54)
        r = rng.random()
        device = (f"android-{rng.getrandbits(64):016x}" if r < 0.93 else
                  rng.choice(self.shared_devices) if r < 0.97 else rng.choice(self.ring_devices))
        ip = rng.choice(self.gateway_ips) if rng.random() < 0.04 else rng.choice(self.nat_ips)
        phone = rng.choice(self.phones) if self.phones and rng.random() < 0.01 else person.phone
        self.phones.append(person.phone)
        income = min(max(int(rng.lognormvariate(9.0, 0.55)), 1500), 200_000)  # median about 8,100 CNY a month
        region = person.id_number[:2] if rng.random() < 0.85 else rng.choice(("11", "31", "44", "33", "32", "51"))
        return {"name": person.name, "id_number": person.id_number, "phone": phone, "bank_card": person.bank_card,
                "device_id": device, "ip": ip, "declared_income": str(income), "industry": rng.choice(INDUSTRIES),
                "region": region, "channel": rng.choice(("app", "app", "app", "h5", "partner")),
                "consent": {"given": True, "text_version": "2025-01"}}


def as_input(body: dict[str, Any]) -> ApplicationInput:
    return ApplicationInput(
        name=body["name"], id_number=body["id_number"], phone=body["phone"], bank_card=body["bank_card"],
        device_id=body["device_id"], ip=body["ip"], declared_income=Decimal(body["declared_income"]),
        industry=body["industry"], region=body["region"], channel=body["channel"],
        consent_given=body["consent"]["given"], consent_text_version=body["consent"]["text_version"])


# --- databases ---------------------------------------------------------------------------------------------

def pg_url(admin: str, name: str) -> str:
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


def recreate_postgres(admin: str, name: str) -> str:
    engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return pg_url(admin, name)


def drop_postgres(admin: str, name: str) -> None:
    engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def prepare(url: str) -> Platform:
    """Migrate, store the reference product, make the demo scorecard the champion."""
    platform = Platform.build(Settings(database_url=url, env="test"))
    upgrade(platform.engine)
    ensure_reference_product(uow=platform.uow(), clock=platform.clock)
    install_demo_scorecard(platform)
    return platform


def fill_history(platform: Platform, crowd: Crowd, events: int, seed: int) -> None:
    """A week of earlier applications (other people) on the crowd's NAT, gateway and shared devices; then
    ANALYZE on PostgreSQL, as autovacuum would have done on a live database."""
    if events > 0:
        _insert_history(platform, crowd, events, seed)
    if platform.engine.dialect.name == "postgresql":
        with platform.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def _insert_history(platform: Platform, crowd: Crowd, events: int, seed: int) -> None:
    rng, cipher, now = random.Random(seed), platform.cipher, platform.clock.now()
    h = lambda kind, value: key_hash(cipher, kind, value)  # noqa: E731
    rows: list[dict] = []
    with platform.engine.begin() as conn:
        for n in range(events):
            at = now - timedelta(seconds=rng.uniform(60, 7 * 86400 - 60))
            r = rng.random()
            device = (crowd.shared_devices[rng.randrange(len(crowd.shared_devices))] if r < 0.01 else
                      crowd.ring_devices[rng.randrange(len(crowd.ring_devices))] if r < 0.012 else f"hist-{n:x}")
            ip = crowd.gateway_ips[rng.randrange(5)] if rng.random() < 0.04 else \
                crowd.nat_ips[rng.randrange(len(crowd.nat_ips))]
            keys = {"id_number": h("id_number", f"H{n:017d}"), "phone": h("phone", f"1{n:010d}"),
                    "device": h("device", device), "ip": h("ip", ip), "card": h("card", f"6{n:018d}")}
            eid = uuid.uuid4().hex
            rows.extend({"event_id": eid, "kind": "application", "key_kind": kind, "key_value": value,
                         "amount": None, "ref": f"history:{seed}:{n}", "at": at} for kind, value in keys.items())
            if len(rows) >= 10_000:
                conn.execute(insert(velocity_events), rows)
                rows.clear()
        if rows:
            conn.execute(insert(velocity_events), rows)


def cpu_seconds(*, group: int | None = None, database: str | None = None) -> float:
    """CPU seconds (user + system) used so far by the processes of a process group, or by the PostgreSQL
    backends connected to ``database`` (Linux /proc; 0 elsewhere)."""
    tick, total = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100, 0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if group is not None and int(fields[2]) != group:
                continue
            if database is not None and f" {database} " not in (entry / "cmdline").read_bytes().replace(b"\0", b" ") \
                    .decode(errors="replace"):
                continue
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            continue
    return total / tick


# --- part 1: through the services --------------------------------------------------------------------------

class StatementCounter:
    """SQL statements and pool check-outs on an engine (and the engines derived from it)."""

    def __init__(self, engine):
        self.statements = self.checkouts = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine.pool, "checkout", self._checkout)

    def _statement(self, *_):
        self.statements += 1

    def _checkout(self, *_):
        self.checkouts += 1


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def run_services(label: str, url: str, args, seed: int) -> dict[str, Any]:
    console.print(f"{label}: preparing (migrate, product, demo scorecard, {args.history:,} events of "
                  "velocity history)", style="dim")
    platform = prepare(url)
    crowd = Crowd(args.warmup + args.decisions + args.profile_decisions, seed=seed,
                  on=platform.clock.business_date())
    fill_history(platform, crowd, args.history, seed)
    console.print(f"{label}: {args.warmup:,} decisions to warm up, then {args.decisions:,} timed", style="dim")
    for _ in range(args.warmup):
        submit(platform=platform, data=as_input(crowd.next()), actor="bench:warmup")
    bodies = [as_input(crowd.next()) for _ in range(args.decisions)]
    counter = StatementCounter(platform.engine)
    latencies, mix, errors = [], Counter(), Counter()
    load_before = os.getloadavg()[0]
    database = make_url(url).database if url.startswith("postgresql") else None
    db_cpu0 = cpu_seconds(database=database) if database else 0.0
    cpu0, start = time.process_time(), time.perf_counter()
    for data in bodies:
        t0 = time.perf_counter()
        try:
            result = submit(platform=platform, data=data, actor="bench")
            mix[result["status"]] += 1
        except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
            errors[type(exc).__name__ + ": " + str(exc)[:80]] += 1
        latencies.append((time.perf_counter() - t0) * 1000)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    db_cpu = cpu_seconds(database=database) - db_cpu0 if database else None
    out = {"db_cpu": db_cpu, "label": label, "latencies": latencies, "mix": mix, "errors": errors, "wall": wall, "cpu": cpu,
           "statements": counter.statements / len(bodies), "checkouts": counter.checkouts / len(bodies),
           "load": (load_before, os.getloadavg()[0])}
    out["profile"] = profile(platform, crowd, args.profile_decisions) if args.profile_decisions else None
    platform.engine.dispose()
    return out


def profile(platform: Platform, crowd: Crowd, n: int) -> tuple[pstats.Stats, int]:
    bodies = [as_input(crowd.next()) for _ in range(n)]
    profiler = cProfile.Profile()
    profiler.enable()
    for data in bodies:
        submit(platform=platform, data=data, actor="bench:profile")
    profiler.disable()
    return pstats.Stats(profiler, stream=io.StringIO()), n


#: (file ending, function) -> what it is, for the "where a decision's time goes" table.
STEPS = [
    ("origination/applications.py", "submit", "submit (whole decision)"),
    ("origination/applications.py", "_receive", "1 validate + store application and consent (commit)"),
    ("origination/applications.py", "_clean", "   validation and normalisation"),
    ("origination/applications.py", "_applicant", "re-read, decrypt identity, hash keys"),
    ("origination/guarantors.py", "standing", "guarantor standing"),
    ("origination/decide.py", "decide_application", "2 decide (sources, rules, score, policy, record)"),
    ("origination/sources.py", "gather", "   KYC, bureau, statements, geo (simulated)"),
    ("origination/rule_sets.py", "active_rule_set", "   active rule set"),
    ("origination/rule_sets.py", "shadow_rule_set", "   shadow rule set"),
    ("origination/block_list.py", "blocked_sets", "   block lists"),
    ("origination/policies.py", "active_policy", "   active policy"),
    ("rules/engine.py", "evaluate", "   rule engine (incl. windows)"),
    ("rules/velocity_db.py", "aggregate", "      velocity window queries"),
    ("origination/decide.py", "_score", "   score (champion)"),
    ("rules/policy.py", "decide", "   credit policy"),
    ("origination/replay.py", "jsonable", "   decision record to JSON types"),
    ("origination/applications.py", "_store", "3 store decision, status, velocity event (commit) + re-read"),
    ("origination/settle.py", "settle", "   settle (customer, line)"),
    ("origination/reviews.py", "open_case", "   open review case"),
    ("rules/velocity_db.py", "record", "   velocity event insert"),
    ("origination/views.py", "application_view", "   application view"),
    ("sqlalchemy/engine/base.py", "_execute_context", "all SQL executions (SQLAlchemy + driver)"),
    ("sqlalchemy/sql/compiler.py", "__init__", "SQL compilation (cache misses)"),
    ("psycopg/cursor.py", "execute", "psycopg execute (incl. server round trip)"),
    ("sqlalchemy/pool/base.py", "_checkout", "pool check-out"),
    ("json/__init__.py", "dumps", "json.dumps"),
]


def print_profile(stats: pstats.Stats, n: int, label: str) -> None:
    raw = stats.stats  # type: ignore[attr-defined]
    table = Table(title=f"{label}: where a decision's time goes (cProfile over {n:,} decisions; "
                        "profiling roughly doubles the times, compare the shares)")
    for col in ("step", "function", "calls/decision", "ms/decision (cumulative)", "share"):
        table.add_column(col, justify="left" if col in ("step", "function") else "right")
    total = None
    for suffix, name, what in STEPS:
        hits = [(k, v) for k, v in raw.items() if k[0].endswith(suffix) and k[2] == name]
        if not hits:
            continue
        calls = sum(v[1] for _, v in hits)
        cumulative = max(v[3] for _, v in hits) if len(hits) == 1 else sum(v[3] for _, v in hits)
        if total is None:
            total = cumulative
        table.add_row(what, f"{suffix.rsplit('/', 1)[-1]}:{name}", f"{calls / n:.1f}",
                      f"{cumulative / n * 1000:.2f}", f"{cumulative / total:.0%}" if total else "-")
    console.print(table)
    top = Table(title=f"{label}: top functions by own time (cProfile, per decision)")
    for col in ("function", "calls/decision", "own ms/decision", "cumulative ms/decision"):
        top.add_column(col, justify="left" if col == "function" else "right")
    for (file, line, name), (_, calls, own, cumulative, _) in sorted(raw.items(), key=lambda kv: -kv[1][2])[:20]:
        short = "/".join(Path(file).parts[-2:]) if file.startswith("/") else file
        top.add_row(f"{short}:{line}({name})", f"{calls / n:.1f}", f"{own / n * 1000:.3f}",
                    f"{cumulative / n * 1000:.3f}")
    console.print(top)


# --- part 2: over HTTP -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_sessions(admin: str, database: str) -> int:
    """Sessions (connections) ever opened to ``database`` (PostgreSQL 14+; 0 when unknown)."""
    engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT sessions FROM pg_stat_database WHERE datname = :d"),
                                    {"d": database}).scalar() or 0)
    except Exception:  # noqa: BLE001 - older PostgreSQL: no count
        return 0
    finally:
        engine.dispose()


def start_server(url: str, workers: int, access_log: bool, log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "MICROLEND_DATABASE_URL": url, "MICROLEND_ENV": "test",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH", "")]))}
    command = [sys.executable, "-m", "uvicorn", "decisions:create_bench_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--log-level", "info"]
    if not access_log:
        command.append("--no-access-log")
    log = log_path.open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    import httpx2 as httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}); see {log_path}")
        try:
            if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        raise RuntimeError(f"the server did not answer within 60 s; see {log_path}")
    return process, base


def stop_server(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)  # the server's own session: uvicorn and its workers
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def drive(base: str, token: str, bodies: list[dict], clients: int) -> tuple[list[float], Counter, Counter, float]:
    import httpx2 as httpx

    latencies: list[float] = []
    codes: Counter = Counter()
    mix: Counter = Counter()
    queue = iter(bodies)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120,
                                 headers={"Authorization": f"Bearer {token}"}) as client:

        async def one_client() -> None:
            for body in queue:
                t0 = time.perf_counter()
                try:
                    response = await client.post("/v1/applications", json=body,
                                                 headers={"Idempotency-Key": uuid.uuid4().hex})
                except httpx.HTTPError as exc:
                    codes[type(exc).__name__] += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                codes[response.status_code] += 1
                if response.status_code == 201:
                    mix[response.json()["status"]] += 1

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall = time.perf_counter() - start
    return latencies, codes, mix, wall


def run_http(url: str, args, workers: int, seed: int) -> dict[str, Any]:
    platform = Platform.build(Settings(database_url=url, env="test"))
    crowd = Crowd(args.http_warmup + args.http_requests, seed=seed, on=platform.clock.business_date())
    fill_history(platform, crowd, args.history // 2, seed)
    token = create_key(uow=platform.uow(), clock=platform.clock, role=Role.OPERATOR, name="bench channel").token
    platform.engine.dispose()
    warm = [crowd.next() for _ in range(args.http_warmup)]
    bodies = [crowd.next() for _ in range(args.http_requests)]
    log_path = Path(tempfile.gettempdir()) / f"microlend-bench-decisions-server-{workers}w.log"
    process, base = start_server(url, workers, args.access_log, log_path)
    try:
        console.print(f"HTTP, {workers} worker(s): {len(warm):,} requests to warm up, then {len(bodies):,} timed",
                      style="dim")
        asyncio.run(drive(base, token, warm, args.clients))
        database = make_url(url).database
        load_before = os.getloadavg()[0]
        sessions0 = pg_sessions(args.postgres, database)
        cpu0, server0, db0 = time.process_time(), cpu_seconds(group=process.pid), cpu_seconds(database=database)
        latencies, codes, mix, wall = asyncio.run(drive(base, token, bodies, args.clients))
        client_cpu = time.process_time() - cpu0
        server_cpu, db_cpu = cpu_seconds(group=process.pid) - server0, cpu_seconds(database=database) - db0
        sessions = pg_sessions(args.postgres, database) - sessions0
    finally:
        stop_server(process)
    return {"workers": workers, "latencies": latencies, "codes": codes, "mix": mix, "wall": wall,
            "client_cpu": client_cpu, "server_cpu": server_cpu, "db_cpu": db_cpu, "sessions": sessions, "load": (load_before, os.getloadavg()[0]), "log": log_path,
            "ok": sum(n for code, n in codes.items() if code == 201)}


# --- part 3: the rule engine alone -------------------------------------------------------------------------

def _rules_child(seconds: float, events: int) -> list[tuple[str, int, float, float, int, float]]:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core, as the target says
    sys.path.insert(0, str(HERE))
    import rules as rules_bench

    from microlend.rules.builtin import builtin_rule_set

    store, people = rules_bench.history(events)
    out = []
    for stage in ("application", "drawdown"):
        rate, best, n, flagged = rules_bench.run(stage, store, people, seconds)
        rule_set = builtin_rule_set(stage)
        out.append((rule_set.label, len(rule_set.rules), rate, best, n, flagged))
    return out


def run_rules(seconds: float, events: int):
    with concurrent.futures.ProcessPoolExecutor(max_workers=1) as pool:
        return pool.submit(_rules_child, seconds, events).result()


# --- report ------------------------------------------------------------------------------------------------

def verdict(ok: bool, ratio: float) -> str:
    return ("[green]met[/]" if ok else "[red]MISSED[/]") + f" ({ratio:.2f}x)"


def print_services(result: dict[str, Any]) -> None:
    lat = result["latencies"]
    n = len(lat)
    table = Table(title=f"{result['label']}: one application decision through the services "
                        f"({n:,} distinct applicants, one process, sequential)")
    for col in ("p50 ms", "p90 ms", "p99 ms", "max ms", "mean ms", "decisions/s", "Python CPU ms/decision",
                "PostgreSQL CPU ms/decision", "SQL statements/decision", "pool check-outs/decision",
                "load 1 min (before, after)"):
        table.add_column(col, justify="right")
    db_cpu = "-" if result["db_cpu"] is None else f"{result['db_cpu'] / n * 1000:.1f}"
    table.add_row(f"{pct(lat, 50):.1f}", f"{pct(lat, 90):.1f}", f"{pct(lat, 99):.1f}", f"{max(lat):.1f}",
                  f"{statistics.fmean(lat):.1f}", f"{n / result['wall']:,.0f}", f"{result['cpu'] / n * 1000:.1f}",
                  db_cpu,
                  f"{result['statements']:.1f}", f"{result['checkouts']:.1f}",
                  "{:.2f}, {:.2f}".format(*result["load"]))
    console.print(table)
    console.print("  decisions: " + ", ".join(f"{k} {v:,} ({v / n:.1%})" for k, v in result["mix"].most_common()))
    for message, count in result["errors"].items():
        console.print(f"  [red]error[/] x{count}: {message}")


def print_http(result: dict[str, Any], clients: int) -> None:
    lat = result["latencies"]
    ok = result["ok"]
    table = Table(title=f"POST /v1/applications over HTTP: {clients} concurrent clients, uvicorn with "
                        f"{result['workers']} worker process{'es' if result['workers'] > 1 else ''}")
    for col in ("requests", "201", "decisions/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "server CPU ms/request",
                "PostgreSQL CPU ms/request (backends alive at the end)", "new PostgreSQL connections",
                "client CPU ms/request", "load 1 min (before, after)"):
        table.add_column(col, justify="right")
    per = max(len(lat), 1) / 1000
    table.add_row(f"{len(lat):,}", f"{ok:,}", f"{ok / result['wall']:,.1f}", f"{pct(lat, 50):.1f}",
                  f"{pct(lat, 90):.1f}", f"{pct(lat, 99):.1f}", f"{max(lat):.1f}", f"{result['server_cpu'] / per:.1f}",
                  f"{result['db_cpu'] / per:.1f}", f"{result['sessions']:,}", f"{result['client_cpu'] / per:.1f}",
                  "{:.2f}, {:.2f}".format(*result["load"]))
    console.print(table)
    console.print("  responses: " + ", ".join(f"{k}: {v:,}" for k, v in result["codes"].most_common()) +
                  "; decisions: " + ", ".join(f"{k} {v:,}" for k, v in result["mix"].most_common()) +
                  f"; server log {result['log']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=PG_ADMIN,
                        help="PostgreSQL URL of a database to connect to while creating the throwaway "
                             f"{DB_NAME} next to it (default %(default)s)")
    parser.add_argument("--decisions", type=int, default=2000, help="timed decisions through the services")
    parser.add_argument("--warmup", type=int, default=200, help="decisions before timing (services)")
    parser.add_argument("--history", type=int, default=50_000,
                        help="velocity events of earlier applications over the past week, stored first")
    parser.add_argument("--http-requests", type=int, default=3000, help="timed requests over HTTP")
    parser.add_argument("--http-warmup", type=int, default=300, help="requests before timing (HTTP)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="uvicorn worker processes; one HTTP run per value (default: 1, as `microlend serve`, "
                             "and 2)")
    parser.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True,
                        help="uvicorn's access log, on by default as in `microlend serve`")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-rules", action="store_true")
    parser.add_argument("--rules-seconds", type=float, default=3.0)
    parser.add_argument("--sqlite", action="store_true", help="run part 1 on a SQLite file too, for comparison")
    parser.add_argument("--profile", action="store_true",
                        help="profile part 1 even when its target is met (it is profiled when missed)")
    parser.add_argument("--profile-decisions", type=int, default=300, help="decisions run under cProfile")
    parser.add_argument("--keep-database", action="store_true", help="leave the PostgreSQL database in place")
    args = parser.parse_args()
    console.print(f"machine: {os.cpu_count()} CPUs; load average at start "
                  + ", ".join(f"{x:.2f}" for x in os.getloadavg()))

    rules = None if args.skip_rules else run_rules(args.rules_seconds, 60_000)  # before the database load
    url = recreate_postgres(args.postgres, DB_NAME)
    try:
        pg = run_services("PostgreSQL", url, args, seed=5)
        print_services(pg)
        http = [] if args.skip_http else [run_http(url, args, workers, seed=100 + workers) for workers in args.workers]
        for result in http:
            print_http(result, args.clients)
    finally:
        if not args.keep_database:
            drop_postgres(args.postgres, DB_NAME)
    lite = None
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="microlend-bench-decisions-") as folder:
            lite = run_services("SQLite", f"sqlite:///{folder}/decisions.db", args, seed=5)
        print_services(lite)

    if rules:
        table = Table(title="Rule engine alone, built-in sets, one core (benchmarks/rules.py, in-memory store, "
                            "60,000 events of history)")
        for col in ("rule set", "rules", "median evals/s", "best round", "not approved", "evals timed"):
            table.add_column(col, justify="left" if col == "rule set" else "right")
        for label, count, rate, best, n, flagged in rules:
            table.add_row(label, str(count), f"{rate:,.0f}", f"{best:,.0f}", f"{flagged:.1%}", f"{n:,}")
        console.print(table)

    summary = Table(title="Issue 5 targets (this run)")
    for col in ("what", "measured", "target", "verdict"):
        summary.add_column(col, justify="left" if col == "what" else "right")
    p99 = pct(pg["latencies"], 99)
    summary.add_row("decision through the services, PostgreSQL: p99", f"{p99:.1f} ms (p50 {pct(pg['latencies'], 50):.1f})",
                    f"<= {TARGET_P99_MS:.0f} ms", verdict(p99 <= TARGET_P99_MS, TARGET_P99_MS / p99))
    if lite:
        summary.add_row("  the same on SQLite (comparison)", f"{pct(lite['latencies'], 99):.1f} ms "
                        f"(p50 {pct(lite['latencies'], 50):.1f})", "-", "-")
    for result in http:
        rate, hp99 = result["ok"] / result["wall"], pct(result["latencies"], 99)
        what = f"HTTP, {args.clients} clients, {result['workers']} worker{'s' if result['workers'] > 1 else ''}"
        summary.add_row(f"{what}: decisions/s", f"{rate:,.1f}", f">= {TARGET_HTTP_RATE:.0f}",
                        verdict(rate >= TARGET_HTTP_RATE, rate / TARGET_HTTP_RATE))
        summary.add_row(f"{what}: p99", f"{hp99:,.1f} ms (p50 {pct(result['latencies'], 50):,.1f})",
                        f"< {TARGET_HTTP_P99_MS:.0f} ms", verdict(hp99 < TARGET_HTTP_P99_MS, TARGET_HTTP_P99_MS / hp99))
    if rules:
        label, _, rate, *_ = rules[0]
        summary.add_row(f"rule engine alone, {label}, one core", f"{rate:,.0f} evals/s", f">= {TARGET_RULES:,}",
                        verdict(rate >= TARGET_RULES, rate / TARGET_RULES))
    console.print(summary)
    console.print("load average at the end " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))

    missed = p99 > TARGET_P99_MS or any(
        r["ok"] / r["wall"] < TARGET_HTTP_RATE or pct(r["latencies"], 99) >= TARGET_HTTP_P99_MS for r in http)
    for result in (pg, lite):
        if result and result["profile"] and (missed or args.profile):
            print_profile(*result["profile"], result["label"])
    console.print(json.dumps({"services_pg": {"p50": round(pct(pg["latencies"], 50), 2), "p99": round(p99, 2),
                                              "mix": dict(pg["mix"])},
                              "http": [{"workers": r["workers"], "rate": round(r["ok"] / r["wall"], 1),
                                        "p50": round(pct(r["latencies"], 50), 1),
                                        "p99": round(pct(r["latencies"], 99), 1)} for r in http],
                              "rules": [{"set": r[0], "median": round(r[2])} for r in rules or []]}),
                  soft_wrap=True, highlight=False)


if __name__ == "__main__":
    main()
