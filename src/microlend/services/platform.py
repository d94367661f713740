"""The wiring of one running platform: settings, database, clock, keys, adapters.

Entry points (API, CLI, tests) build one ``Platform`` and hand its parts to
the services; nothing else reaches for globals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from microlend.adapters.payment_rail import PaymentRail, SimulatedRail
from microlend.adapters.sms import SimulatedSmsGateway, SmsGateway
from microlend.clock import BookClock, Clock, SystemClock
from microlend.config import Settings, get_settings
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
    session_factory: object = field(init=False)
    read_session_factory: object = field(init=False)

    def __post_init__(self) -> None:
        self.session_factory = make_session_factory(self.engine)
        self.read_session_factory = make_session_factory(self.engine.execution_options(**READ_ONLY))

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


def simulated_rail(settings: Settings) -> PaymentRail:
    """The simulated rail: scripted by tests, or following each card holder's behaviour (simulated books)."""
    if settings.simulated_rail == "behavioural":
        from microlend.simulation.behaviour import BehaviouralRail

        return BehaviouralRail()
    return SimulatedRail()
