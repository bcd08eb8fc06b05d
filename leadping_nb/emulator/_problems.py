"""The emulator's answers as wire values: JSON bodies and RFC 9457 problem details.

A check anywhere in request handling raises :class:`ProblemError`; the facade
(:meth:`Emulator.handle`) turns it into a ``problem+json`` answer with
:func:`problem_response`. Nothing here knows routes, data or faults.
"""

from __future__ import annotations

import json
from typing import Any

from leadping_nb._http.wire import WireRequest, WireResponse

__all__ = [
    "ERR",
    "JSON_TYPE",
    "ProblemError",
    "json_response",
    "problem_response",
    "rate_limited",
    "token_problem",
    "validation_problem",
]

#: Prefix of every problem ``type``.
ERR = "https://leadping.ai/docs/errors/"
#: Content types of a JSON answer and of a problem answer.
JSON_TYPE = "application/json; charset=utf-8"
PROBLEM_TYPE = "application/problem+json; charset=utf-8"
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    429: "Too many requests.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class ProblemError(Exception):
    """A refused request: the status, detail and extras of its problem answer."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        type_: str,
        errors: dict[str, list[str]] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type_ = type_
        self.errors = errors
        self.headers = headers
        self.title = title


def validation_problem(errors: dict[str, list[str]]) -> ProblemError:
    """A 400 naming the invalid request fields (``errors`` keyed by field)."""
    return ProblemError(
        400,
        "One or more request fields are invalid.",
        type_=ERR + "validation",
        title="Request validation failed",
        errors=errors,
    )


def rate_limited(detail: str, wait: int) -> ProblemError:
    """A 429 asking the client to wait ``wait`` seconds (``Retry-After``)."""
    return ProblemError(
        429, detail, type_=ERR + "rate-limited", headers=(("retry-after", str(wait)),)
    )


def token_problem(reason: str, message: str) -> ProblemError:
    """A 400 about the continuation token (``reason`` ``"expired"`` or any other)."""
    kind = "continuation-token-expired" if reason == "expired" else "continuation-token"
    return ProblemError(
        400,
        message,
        type_=ERR + kind,
        title="Continuation token expired" if reason == "expired" else "Invalid continuation token",
        errors={"continuationToken": [message]},
    )


def json_response(status: int, obj: Any, delay: float) -> WireResponse:
    """``obj`` as a compact JSON answer."""
    return WireResponse(
        status=status,
        headers=(("content-type", JSON_TYPE),),
        body=json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(),
        delay=delay,
    )


def problem_response(
    request: WireRequest, p: ProblemError, trace_id: str, delay: float
) -> WireResponse:
    """The ``problem+json`` answer of a refused request."""
    body: dict[str, Any] = {
        "type": p.type_,
        "title": p.title or _TITLES.get(p.status, "Error"),
        "status": p.status,
        "detail": p.detail,
        "instance": request.path,
    }
    if p.errors is not None:
        body["errors"] = p.errors
    body["traceId"] = trace_id
    return WireResponse(
        status=p.status,
        headers=(("content-type", PROBLEM_TYPE), *p.headers),
        body=json.dumps(body, ensure_ascii=False).encode(),
        delay=delay,
    )
