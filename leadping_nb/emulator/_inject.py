"""Fault injection: carry out the faults of :mod:`._faults` on requests and answers.

:class:`FaultInjector` draws a request's transient faults (refusing it with an injected
429 or 5xx, or dropping it), stretches or cuts its answer (slow, truncated), and answers
the pager's questions about structural paging faults. Every injected fault is counted by
kind in the emulator's counters (``fault_429``, ``fault_5xx``, ``slow``, ``truncate``,
``expired_token``, ``empty_page``, ``duplicate_boundary``, ``repeat_token``; drops are
counted by the facade).
"""

from __future__ import annotations

from collections import Counter

from leadping_nb._http.wire import WireResponse

from ._engine import peek_token
from ._faults import FaultConfig, FaultDecision, FaultState
from ._problems import ERR, ProblemError, rate_limited

__all__ = ["FaultInjector"]


class FaultInjector:
    """The faults of one emulator (``config=None``: none), under the emulator's lock.

    Examples
    --------
    >>> from collections import Counter
    >>> counts: Counter[str] = Counter()
    >>> inject = FaultInjector(FaultConfig(rate_5xx=1.0), counts)
    >>> try:
    ...     inject.draw(None, b"{}")
    ... except ProblemError as exc:
    ...     print(exc.status in FaultConfig().codes_5xx)
    True
    >>> counts["fault_5xx"]
    1
    """

    def __init__(self, config: FaultConfig | None, counts: Counter[str]) -> None:
        self._state = FaultState(config) if config is not None else None
        self._counts = counts

    # ---------------------------------------------------------------- transient

    def draw(self, fault_lead: str | None, body: bytes) -> FaultDecision | None:
        """The transient faults of a request about ``fault_lead`` (``None``: not
        lead-specific), or ``None`` when none may hit it. An injected 429 or 5xx is raised
        as :class:`ProblemError`; a drop is ``decision.drop`` for the caller to answer."""
        fs = self._state
        if fs is None or not fs.config.any_transient or not fs.applies_to(fault_lead):
            return None
        d = fs.draw(peek_token(body) is not None)
        if d.status == 429:
            self._counts["fault_429"] += 1
            raise rate_limited(
                "The API rate limit for this account has been exceeded.", d.retry_after or 0
            )
        if d.status is not None:
            self._counts["fault_5xx"] += 1
            raise ProblemError(
                d.status,
                "An injected server error (emulator fault); retry the same request.",
                type_=ERR + "server-error",
            )
        if not d.drop and d.slow:
            self._counts["slow"] += 1
        return d

    def finish(self, resp: WireResponse, decision: FaultDecision | None) -> WireResponse:
        """The answer with the request's slow and truncate faults applied."""
        if decision is None:
            return resp
        if decision.slow:
            resp = WireResponse(
                resp.status, resp.headers, resp.body, resp.delay + decision.slow, resp.fault
            )
        if decision.truncate_at is not None and resp.status == 200:
            self._counts["truncate"] += 1
            cut = max(1, int(len(resp.body) * decision.truncate_at))
            resp = WireResponse(resp.status, resp.headers, resp.body[:cut], resp.delay)
        return resp

    def expires_token(self, decision: FaultDecision | None) -> bool:
        """Whether the request's (valid) continuation token is to be refused as expired."""
        if decision is not None and decision.expire_token:
            self._counts["expired_token"] += 1
            return True
        return False

    # ---------------------------------------------------------------- structural

    def paging_faults(self, fault_lead: str | None) -> bool:
        """Whether structural paging faults may hit a query about ``fault_lead``."""
        fs = self._state
        return fs is not None and fs.applies_to(fault_lead)

    def empty_page(self, lead_key: str, fingerprint: str, position: int) -> bool:
        """Whether the page at ``position`` is served empty, with a token that leads on."""
        if self._hit("empty_page", lead_key, fingerprint, position):
            self._counts["empty_page"] += 1
            return True
        return False

    def duplicate_boundary(self, lead_key: str, fingerprint: str, position: int) -> bool:
        """Whether the page at ``position`` repeats the previous page's last item first."""
        if self._hit("duplicate_boundary", lead_key, fingerprint, position):
            self._counts["duplicate_boundary"] += 1
            return True
        return False

    def repeat_token(self, token: str, lead_key: str, fingerprint: str, position: int) -> bool:
        """Whether the page answers with the very ``token`` it was asked with (once per
        token)."""
        fs = self._state
        if fs is None or token in fs.repeated_tokens:
            return False
        if fs.structural("repeat_token", lead_key, fingerprint, position):
            self._counts["repeat_token"] += 1
            fs.repeated_tokens.add(token)
            return True
        return False

    def _hit(self, kind: str, lead_key: str, fingerprint: str, position: int) -> bool:
        fs = self._state
        return fs is not None and fs.structural(kind, lead_key, fingerprint, position)
