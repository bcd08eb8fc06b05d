"""A tiny scriptable fake of the events endpoint for client tests (sans-IO, like the emulator).

Pages are fixed per lead; tokens are "p2", "p3", ...; ``script`` lets a test inject an answer
for the n-th request (a status, a header, a delay, a drop, a truncated body).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from leadping_nb._http.wire import WireRequest, WireResponse

KEY = "sk_test_fake_0000"


def item(lead: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{lead}-ev{n:04d}",
        "leadId": lead,
        "eventType": "Sms",
        "direction": "Outbound",
        "billableAmount": 0.0079,
        "retryCount": 0,
        "createdAt": f"2024-05-01T00:{n // 60 % 60:02d}:{n % 60:02d}.123Z",
        **extra,
    }


def make_pages(lead: str, sizes: list[int]) -> list[list[dict[str, Any]]]:
    out, n = [], 0
    for size in sizes:
        out.append([item(lead, n + i) for i in range(size)])
        n += size
    return out


@dataclass
class FakeApi:
    pages: dict[str, list[list[dict[str, Any]]]]
    script: dict[int, Callable[[WireRequest], WireResponse | None]] = field(default_factory=dict)
    per_lead_script: dict[str, Callable[[WireRequest, int], WireResponse | None]] = field(
        default_factory=dict
    )
    token_override: dict[tuple[str, int], str | None] = field(default_factory=dict)
    delay: float = 0.0
    requests: list[WireRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.requests if r.body]

    def handle(self, request: WireRequest) -> WireResponse:
        with self._lock:
            self.requests.append(request)
            n = len(self.requests)
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _problem(401, "Unauthorized", headers=(("WWW-Authenticate", "Bearer"),))
        hook = self.script.get(n)
        if hook is not None:
            answer = hook(request)
            if answer is not None:
                return answer
        lead = request.path.rsplit("/", 1)[-1]
        if lead in self.per_lead_script:
            answer = self.per_lead_script[lead](request, n)
            if answer is not None:
                return answer
        if lead not in self.pages:
            return _problem(404, "Not Found", detail=f"lead {lead} not found")
        body = json.loads(request.body)
        token = body.get("continuationToken")
        index = 0 if token is None else int(token[1:]) - 1
        pages = self.pages[lead]
        items = pages[index] if index < len(pages) else []
        nxt: str | None = f"p{index + 2}" if index + 1 < len(pages) else None
        if (lead, index + 1) in self.token_override:
            nxt = self.token_override[(lead, index + 1)]
        payload = {
            "items": items,
            "pageSize": body.get("pageSize", 100),
            "totalCount": sum(len(p) for p in pages) if body.get("includeCount") else None,
            "continuationToken": nxt,
        }
        return WireResponse(
            200, (("content-type", "application/json"),), json.dumps(payload).encode(), self.delay
        )


def _problem(
    status: int, title: str, *, detail: str | None = None, headers: tuple[tuple[str, str], ...] = ()
) -> WireResponse:
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "traceId": "t-1",
    }
    return WireResponse(
        status, (("content-type", "application/problem+json"), *headers), json.dumps(body).encode()
    )


def status(code: int, *, retry_after: str | None = None) -> Callable[[WireRequest], WireResponse]:
    headers = (("Retry-After", retry_after),) if retry_after is not None else ()
    return lambda _r: _problem(code, f"status {code}", headers=headers)


def drop(_r: WireRequest) -> WireResponse:
    return WireResponse(200, fault="drop")


def slow(seconds: float) -> Callable[[WireRequest], WireResponse | None]:
    return lambda _r: WireResponse(200, (), b"{}", delay=seconds)


def truncated(_r: WireRequest) -> WireResponse:
    return WireResponse(
        200, (("content-type", "application/json"),), b'{"items": [{"id": "x", "lea'
    )
