"""Configurable, reproducible faults.

Two families:

* **transient** faults, drawn per request from a ``random.Random(seed)`` in request order
  (429 bursts, 5xx, slow answers, dropped connections, truncated bodies, expired tokens).
  None of them changes any state a later request depends on: retrying the same request
  (same token) returns the right page.
* **structural** paging faults, decided by a hash of ``(seed, kind, lead, query,
  position)`` so a retry of the same page gets the same decision: a duplicate item across
  a page boundary (a true duplicate: same id, same content), a page that returns the very
  token it was called with (once per token), and an empty page whose token leads on
  correctly (once per position).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["FAULT_KINDS", "FaultConfig", "FaultDecision", "FaultState"]

#: Names under which faults are counted in ``Emulator.fault_counts``.
FAULT_KINDS = (
    "fault_429",
    "fault_5xx",
    "slow",
    "drop",
    "truncate",
    "expired_token",
    "duplicate_boundary",
    "repeat_token",
    "empty_page",
)

_SHORT_NAMES = {
    "429": "rate_429",
    "5xx": "rate_5xx",
    "slow": "rate_slow",
    "drop": "rate_drop",
    "truncate": "rate_truncate",
    "expired": "rate_expired_token",
    "dup": "duplicate_boundary",
    "repeat": "repeat_token",
    "empty": "empty_page_with_token",
    "seed": "seed",
    "burst": "burst",
    "retry_after": "retry_after",
    "slow_seconds": "slow_seconds",
}


@dataclass(frozen=True)
class FaultConfig:
    """Which faults the emulator injects, and how often.

    Rates are probabilities in ``[0, 1]``. Transient rates apply per request; structural
    rates per page position of a paged query.

    Parameters
    ----------
    seed
        Seed of every fault decision: the same seed and the same requests give the same
        faults.
    rate_429
        Probability that a request starts a 429 burst.
    retry_after
        ``Retry-After`` seconds sent with fault 429s (an integer on the wire).
    burst
        Length of a 429 burst: the triggering request and the next ``burst - 1`` requests
        are answered 429.
    rate_5xx
        Probability of a 5xx answer (code drawn from ``codes_5xx``).
    codes_5xx
        The 5xx status codes to draw from.
    rate_slow
        Probability of a slow answer (``slow_seconds`` added to the response delay).
    slow_seconds
        Extra delay of a slow answer.
    rate_drop
        Probability that the connection is dropped without an answer.
    rate_truncate
        Probability that a 200 body is cut short (status 200, invalid JSON).
    rate_expired_token
        Probability that a request carrying a continuation token is answered 400
        "continuation token expired" (the client must restart the chain).
    duplicate_boundary
        Probability that page N+1 starts with a repeat of page N's last item.
    repeat_token
        Probability that a page returns the token it was called with (once per token).
    empty_page_with_token
        Probability that a page comes back empty with a token that leads on correctly.
    only_leads
        Restrict all faults to these lead ids (``None``: every request may fault).

    Examples
    --------
    >>> FaultConfig.parse("429=0.05,5xx=0.02,dup=0.1,seed=7").rate_5xx
    0.02
    """

    seed: int = 0
    rate_429: float = 0.0
    retry_after: int = 1
    burst: int = 1
    rate_5xx: float = 0.0
    codes_5xx: tuple[int, ...] = (500, 502, 503, 504)
    rate_slow: float = 0.0
    slow_seconds: float = 2.0
    rate_drop: float = 0.0
    rate_truncate: float = 0.0
    rate_expired_token: float = 0.0
    duplicate_boundary: float = 0.0
    repeat_token: float = 0.0
    empty_page_with_token: float = 0.0
    only_leads: frozenset[str] | None = field(default=None)

    def __post_init__(self) -> None:
        for f in fields(self):
            if (f.name.startswith("rate_") or f.name in _STRUCTURAL) and not (
                0.0 <= float(getattr(self, f.name)) <= 1.0
            ):
                raise ValueError(f"{f.name} must be a probability in [0, 1]")
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        if self.retry_after < 0:
            raise ValueError("retry_after must be >= 0")
        if self.only_leads is not None and not isinstance(self.only_leads, frozenset):
            object.__setattr__(self, "only_leads", frozenset(self.only_leads))

    @property
    def any_transient(self) -> bool:
        """Whether any per-request fault can happen."""
        return any(
            (
                self.rate_429,
                self.rate_5xx,
                self.rate_slow,
                self.rate_drop,
                self.rate_truncate,
                self.rate_expired_token,
            )
        )

    @classmethod
    def parse(cls, text: str) -> FaultConfig:
        """Parse the CLI form ``"429=0.05,5xx=0.02,drop=0.01,slow=0.01,truncate=0.01,
        dup=0.1,repeat=0.05,empty=0.1,expired=0.01"`` (plus ``seed=``, ``burst=``,
        ``retry_after=``, ``slow_seconds=``; long field names work too).

        Examples
        --------
        >>> FaultConfig.parse("429=0.1,burst=3").burst
        3
        """
        kwargs: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault spec {part!r} is not NAME=VALUE")
            key = key.strip()
            name = _SHORT_NAMES.get(key, key)
            if name not in names or name in ("only_leads", "codes_5xx"):
                raise ValueError(
                    f"unknown fault {key!r}; use one of {', '.join(sorted(_SHORT_NAMES))}"
                )
            if name in ("seed", "burst", "retry_after"):
                kwargs[name] = int(value)
            else:
                kwargs[name] = float(value)
        return cls(**kwargs)


_STRUCTURAL = ("duplicate_boundary", "repeat_token", "empty_page_with_token")


@dataclass
class FaultDecision:
    """The transient faults drawn for one request."""

    status: int | None = None  # 429 or 5xx
    retry_after: int | None = None
    drop: bool = False
    slow: float = 0.0
    truncate_at: float | None = None  # fraction of the body kept
    expire_token: bool = False


class FaultState:
    """Mutable fault state of one emulator (guarded by the emulator's lock)."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(f"faults:{config.seed}")
        self._burst_left = 0
        self.repeated_tokens: set[str] = set()

    def applies_to(self, lead: str | None) -> bool:
        """Whether faults may hit a request about ``lead`` (``None``: not lead-specific)."""
        only = self.config.only_leads
        return only is None or (lead is not None and lead in only)

    def draw(self, has_token: bool) -> FaultDecision:
        """Draw the transient faults of the next request (always six draws: reproducible)."""
        c = self.config
        u = [self._rng.random() for _ in range(6)]
        frac = self._rng.random()
        code = c.codes_5xx[int(self._rng.random() * len(c.codes_5xx))]
        d = FaultDecision()
        if self._burst_left > 0:
            self._burst_left -= 1
            d.status, d.retry_after = 429, c.retry_after
            return d
        if u[0] < c.rate_429:
            self._burst_left = c.burst - 1
            d.status, d.retry_after = 429, c.retry_after
            return d
        if u[1] < c.rate_5xx:
            d.status = code
            return d
        if u[2] < c.rate_drop:
            d.drop = True
            return d
        if has_token and u[3] < c.rate_expired_token:
            d.expire_token = True
            return d
        if u[4] < c.rate_slow:
            d.slow = c.slow_seconds
        if u[5] < c.rate_truncate:
            d.truncate_at = 0.1 + 0.8 * frac
        return d

    def structural(self, kind: str, lead: str, fingerprint: str, position: int) -> bool:
        """Deterministic decision of a structural fault at one page position."""
        c = self.config
        rate = {
            "duplicate_boundary": c.duplicate_boundary,
            "repeat_token": c.repeat_token,
            "empty_page": c.empty_page_with_token,
        }[kind]
        if rate <= 0.0:
            return False
        h = hashlib.blake2b(
            f"{c.seed}:{kind}:{lead}:{fingerprint}:{position}".encode(), digest_size=8
        ).digest()
        return int.from_bytes(h, "big") / 2**64 < rate
