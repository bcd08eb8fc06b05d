"""Opaque, signed, expiring continuation tokens.

A token is ``base64url(json_payload + hmac_sha256(payload)[:16])``. The payload names the
route and lead it belongs to, a fingerprint of the query (filters, order, search), the
keyset position (the id of the last item served, ``None`` before the first item), the
time it was issued (on the emulator's clock) and a flag used by the
"empty page with a token" fault. Clients must treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["TokenError", "TokenPayload", "TokenSigner"]

_SIG_BYTES = 16


class TokenError(Exception):
    """A continuation token that cannot be honoured.

    Attributes
    ----------
    reason
        ``"invalid"`` (malformed or tampered), ``"expired"`` (older than the TTL) or
        ``"mismatch"`` (issued for another lead, route or query).
    """

    def __init__(self, reason: Literal["invalid", "expired", "mismatch"], message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class TokenPayload:
    """What a continuation token carries."""

    route: str
    lead: str
    fingerprint: str
    after: str | None
    issued: float
    empty_served: bool = False

    def to_json(self) -> bytes:
        d: dict[str, Any] = {
            "r": self.route,
            "l": self.lead,
            "q": self.fingerprint,
            "a": self.after,
            "t": round(self.issued, 6),
        }
        if self.empty_served:
            d["e"] = 1
        return json.dumps(d, separators=(",", ":"), sort_keys=True).encode()


class TokenSigner:
    """Issues and verifies tokens with a key derived from the emulator's seed.

    Examples
    --------
    >>> signer = TokenSigner(seed=1)
    >>> token = signer.encode(TokenPayload("events", "lead_0001", "ab12", "evt-9", 5.0))
    >>> signer.decode(token).after
    'evt-9'
    >>> TokenSigner(seed=2).decode(token)
    Traceback (most recent call last):
    ...
    leadping_nb.emulator._tokens.TokenError: The continuation token is invalid or was modified.
    """

    def __init__(self, seed: int) -> None:
        self._key = hashlib.sha256(f"leadping-emulator-token:{seed}".encode()).digest()

    def _sign(self, raw: bytes) -> bytes:
        return hmac.new(self._key, raw, hashlib.sha256).digest()[:_SIG_BYTES]

    def encode(self, payload: TokenPayload) -> str:
        """The opaque token text of a payload."""
        raw = payload.to_json()
        return base64.urlsafe_b64encode(raw + self._sign(raw)).decode().rstrip("=")

    def decode(self, token: str) -> TokenPayload:
        """Verify a token's signature and structure (not its expiry nor its query).

        Raises
        ------
        TokenError
            ``reason="invalid"`` when the token is malformed or its signature is wrong.
        """
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError) as exc:
            raise TokenError("invalid", "The continuation token is malformed.") from exc
        if len(blob) <= _SIG_BYTES:
            raise TokenError("invalid", "The continuation token is malformed.")
        raw, sig = blob[:-_SIG_BYTES], blob[-_SIG_BYTES:]
        if not hmac.compare_digest(sig, self._sign(raw)):
            raise TokenError("invalid", "The continuation token is invalid or was modified.")
        try:
            d = json.loads(raw)
            payload = TokenPayload(
                route=str(d["r"]),
                lead=str(d["l"]),
                fingerprint=str(d["q"]),
                after=None if d["a"] is None else str(d["a"]),
                issued=float(d["t"]),
                empty_served=bool(d.get("e", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:  # pragma: no cover - signed by us
            raise TokenError("invalid", "The continuation token is malformed.") from exc
        return payload
