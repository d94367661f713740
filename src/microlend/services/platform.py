"""The wiring of one running platform: settings, database, clock, keys, adapters.

Entry points (API, CLI, tests) build one ``Platform`` and hand its parts to
the services; nothing else reaches for globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from microlend.adapters.applicant_profile import ApplicantProfiles
from microlend.adapters.bank_statements import SimulatedStatements, StatementsProvider
from microlend.adapters.bureau import CreditBureau, SimulatedBureau
from microlend.adapters.geo import GeoLocator, SimulatedGeo
from microlend.adapters.kyc import KycProvider, SimulatedKyc
from microlend.adapters.payment_rail import PaymentRail, SimulatedRail
from microlend.adapters.sms import SimulatedSmsGateway, SmsGateway
from microlend.clock import BookClock, Clock, SystemClock
from microlend.config import Settings, get_settings
from microlend.rules.velocity import VelocityStore
from microlend.security.fields import FieldCipher
from microlend.store.database import READ_ONLY, make_engine, make_session_factory
from microlend.store.uow import UnitOfWork


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    clock: Clock
    cipher: FieldCipher
    rail: PaymentRail
    sms: SmsGateway = field(default_factory=SimulatedSmsGateway)
    #: Origination's outside sources (simulated unless a deployment wires real providers).
    kyc: KycProvider = field(default_factory=SimulatedKyc)
    bureau: CreditBureau | None = None
    statements: StatementsProvider | None = None
    geo: GeoLocator = field(default_factory=SimulatedGeo)
    #: Velocity windows: the database by default, Redis when ``MICROLEND_REDIS_URL`` is set.
    velocity: VelocityStore | None = None
    session_factory: object = field(init=False)
    read_session_factory: object = field(init=False)
    #: Rule sets, policy, products and champion read by decisions (``services.config_cache``).
    config_cache: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.session_factory = make_session_factory(self.engine)
        self.read_session_factory = make_session_factory(self.engine.execution_options(**READ_ONLY))
        if self.bureau is None or self.statements is None:
            profiles = ApplicantProfiles()  # one shared set, so the bureau and statements describe the same person
            self.bureau = self.bureau or SimulatedBureau(profiles, clock=self.clock)
            self.statements = self.statements or SimulatedStatements(profiles, clock=self.clock)
        if self.velocity is None:
            self.velocity = velocity_store(self.settings, self.engine)

    @classmethod
    def build(cls, settings: Settings | None = None, *, clock: Clock | None = None,
              rail: PaymentRail | None = None, engine: Engine | None = None,
              sms: SmsGateway | None = None) -> "Platform":
        """Wire a platform; without a clock, the business date is the book's (the last close of business)."""
        settings = settings or get_settings()
        engine = engine or make_engine(settings.database_url)
        return cls(
            settings=settings,
            engine=engine,
            clock=clock or BookClock(engine, SystemClock()),
            cipher=FieldCipher.from_settings(settings),
            rail=rail or simulated_rail(settings),
            sms=sms or SimulatedSmsGateway(),
        )

    def uow(self) -> UnitOfWork:
        """A unit of work for changes (on SQLite it takes the write lock when it begins)."""
        return UnitOfWork(self.session_factory)  # type: ignore[arg-type]

    def reader(self) -> UnitOfWork:
        """A unit of work that only reads: on SQLite it never waits for, or blocks, a writer."""
        return UnitOfWork(self.read_session_factory)  # type: ignore[arg-type]


def velocity_store(settings: Settings, engine: Engine) -> VelocityStore:
    """Redis when configured (shared counters, no database writes), else the database."""
    if settings.redis_url:
        import redis

        from microlend.rules.velocity_redis import RedisVelocityStore

        return RedisVelocityStore(redis.Redis.from_url(settings.redis_url), prefix=settings.redis_prefix)
    from microlend.rules.velocity_db import DatabaseVelocityStore

    return DatabaseVelocityStore(engine)


def simulated_rail(settings: Settings) -> PaymentRail:
    """The simulated rail: scripted by tests, or following each card holder's behaviour (simulated books)."""
    if settings.simulated_rail == "behavioural":
        from microlend.simulation.behaviour import BehaviouralRail

        return BehaviouralRail()
    return SimulatedRail()
