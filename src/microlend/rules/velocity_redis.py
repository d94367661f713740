"""Velocity windows kept in Redis (when the platform is configured with one).

Why this shape: one sorted set per (kind, key kind, key value), scored by the event
time in integer microseconds (exact, so window edges match the database to the
microsecond). Each member carries the event's ref, amount (as a string: sums stay exact
Decimals) and all its keys, so ``distinct``/``sum``/``max`` read one range and ``count``
is a ZCOUNT. Recording is one atomic server-side script (one round trip): it sets the
ref marker with NX (a ref already seen is ignored, whole event, as in the other stores),
then adds the member to each set, trims what no 7-day window can reach and refreshes
the expiry. Results equal :class:`~microlend.rules.velocity_db.DatabaseVelocityStore`
(tested) provided time moves forward: a set is trimmed of entries older than 8 days
(the 7-day window and a day's margin) relative to each event written to it, so a window
ending more than a day before the newest event written may miss old entries.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from microlend.money import FEN
from microlend.rules.velocity import MAX_WINDOW, VelocityEvent, check_aggregate
from microlend.rules.velocity_db import check_event, check_window

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
#: Entries are trimmed when older than the longest window plus this margin, measured from
#: the event being written, so a window ending up to a day before the newest event is exact.
TRIM_MARGIN = timedelta(days=1)

# KEYS[1]: the ref marker; KEYS[2..]: the sorted sets.
# ARGV: has_ref ("1"/"0"), marker/set TTL in ms ("0": none), score, member, trim cutoff (inclusive).
_RECORD = """
local ttl = tonumber(ARGV[2])
if ARGV[1] == '1' then
  local fresh
  if ttl > 0 then
    fresh = redis.call('SET', KEYS[1], '1', 'NX', 'PX', ttl)
  else
    fresh = redis.call('SET', KEYS[1], '1', 'NX')
  end
  if not fresh then return 0 end
end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[3], ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[5])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
"""


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _MICROSECOND


class RedisVelocityStore:
    """A :class:`~microlend.rules.velocity.VelocityStore` over redis-py (``redis.Redis``).

    ``prefix`` namespaces every key (``{prefix}:{kind}:{key kind}:{value}`` and
    ``{prefix}:ref:{kind}:{ref}``). ``ttl`` (wall-clock; ``None`` for none) expires sets
    and ref markers left idle; it must exceed the 7-day window (and should exceed the 8-day trim horizon).
    """

    def __init__(self, client, *, prefix: str = "microlend:velocity", ttl: timedelta | None = timedelta(days=9)):
        if ttl is not None and ttl <= MAX_WINDOW:
            raise ValueError("the Redis velocity TTL must be longer than the longest window (7 days)")
        self._client = client
        self._prefix = prefix
        self._ttl_ms = 0 if ttl is None else int(ttl / timedelta(milliseconds=1))
        self._script = client.register_script(_RECORD)

    def _set_key(self, kind: str, key_kind: str, value: str) -> str:
        return f"{self._prefix}:{kind}:{key_kind}:{value}"

    def record(self, event: VelocityEvent) -> None:
        """Store ``event`` once per (kind, ref): a ref already stored is ignored (first write wins)."""
        check_event(event)
        keys = {kind: value for kind, value in event.keys.items() if value}
        if not keys:
            return
        amount = None if event.amount is None else format(Decimal(event.amount).quantize(FEN), "f")
        # The nonce keeps ref-less events distinct members; a ref makes the member deterministic.
        nonce = "" if event.ref else uuid.uuid4().hex
        member = json.dumps([nonce, event.ref, amount, keys], separators=(",", ":"), sort_keys=True)
        score = _micros(event.at)
        cutoff = score - (MAX_WINDOW + TRIM_MARGIN) // _MICROSECOND
        marker = f"{self._prefix}:ref:{event.kind}:{event.ref}"
        set_keys = [self._set_key(event.kind, kind, value) for kind, value in keys.items()]
        self._script(keys=[marker, *set_keys],
                     args=["1" if event.ref else "0", self._ttl_ms, score, member, cutoff])

    def aggregate(self, *, function: str, kind: str, by: str, value: str, within: timedelta, now: datetime,
                  field: str | None = None, include: str | None = None) -> int | Decimal:
        """``function`` over events of ``kind`` whose ``by`` key is ``value`` and ``now - within < at <= now``."""
        check_aggregate(function, kind, by, field)
        check_window(within, now)
        key = self._set_key(kind, by, value)
        end = _micros(now)
        start = f"({end - within // _MICROSECOND}"  # exclusive: an event exactly `within` old is out
        if function == "count":
            return int(self._client.zcount(key, start, end))
        members = [json.loads(m) for m in self._client.zrangebyscore(key, start, end)]
        if function == "distinct":
            seen = {v for _, _, _, keys in members if (v := keys.get(field))}
            return len(seen | {include}) if include else len(seen)
        amounts = [Decimal(a) for _, _, a, _ in members if a is not None]
        if function == "sum":
            return sum(amounts, Decimal(0)).quantize(FEN)
        return max(amounts, default=Decimal(0)).quantize(FEN)
