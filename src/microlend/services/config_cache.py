"""A short-lived cache of the configuration every decision reads, kept per platform.

The active rule sets, the active policy, the products and the champion change a few times a
day; a decision reads them all. Each entry lives ``ttl`` seconds (``MICROLEND_CONFIG_CACHE_SECONDS``,
1 by default) in the platform's own cache (so two platforms on two databases never share one).
Every change made through the services bumps a process-wide generation, which makes every
entry stale at once: in one process a change applies to the next decision; another process
picks it up within ``ttl``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable
from typing import Any

_generations = itertools.count(1)
_generation = next(_generations)


def cached(store: dict, key: Hashable, ttl: float, load: Callable[[], Any]) -> Any:
    """The value for ``key`` in ``store``, loaded with ``load()`` when missing, older than ``ttl`` seconds
    or from before the last change (``ttl`` 0: no cache)."""
    if ttl <= 0:
        return load()
    now = time.monotonic()
    entry = store.get(key)
    if entry is not None and entry[0] == _generation and now - entry[1] < ttl:
        return entry[2]
    generation = _generation
    value = load()
    store[key] = (generation, now, value)
    return value


def invalidate() -> None:
    """Make every cached entry stale (called by every service that changes rule sets, policies or models)."""
    global _generation
    _generation = next(_generations)
