"""The paging loop of the package and its one token-expiry restart (no client state).

:func:`_paginate` follows one continuation-token chain: it echoes each token unchanged,
stops on a null or empty one and refuses a token it has seen (:class:`PaginationError`),
yielding each answer as a :class:`ChainPage`. A lead's event search
(:mod:`leadping_nb._client.search`), the lead list (:meth:`AsyncClient.leads`) and the
account stream's windows (:mod:`leadping_nb._client.account`) all page through it.
:func:`_restart_once` runs a chain again from its first page, once, when its token expires.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from leadping_nb._core.errors import ApiError, PaginationError
from leadping_nb._frame.decode import MalformedPageError
from leadping_nb._http.transport import HttpSession

__all__ = ["ChainPage"]

T = TypeVar("T")


class _HasToken(Protocol):
    @property
    def token(self) -> str | None: ...


P = TypeVar("P", bound=_HasToken)


class _HasItems(_HasToken, Protocol):
    @property
    def n_items(self) -> int: ...


C = TypeVar("C", bound=_HasItems)


@dataclass(frozen=True)
class ChainPage(Generic[P]):
    """One answer of the paging loop (:func:`_paginate`): a page as decoded, and how it came.

    Attributes
    ----------
    number
        1-based page number in the token chain.
    decoded
        The page as the chain's ``decode`` made it (typed, parsed, or a lead list page).
    raw
        The response body bytes.
    request_token
        The continuation token it was requested with (``None`` for the first page).
    attempts
        HTTP attempts it took (1 = no retry).
    elapsed
        Seconds from the first attempt to the answer.
    """

    number: int
    decoded: P
    raw: bytes = field(repr=False)
    request_token: str | None
    attempts: int
    elapsed: float


def _bind_page(decode: Callable[[bytes, int], P], number: int) -> Callable[[bytes], P]:
    return lambda raw: decode(raw, number)


async def _paginate(
    session: HttpSession,
    path: str,
    body_for: Callable[[str | None], Mapping[str, Any]],
    decode: Callable[[bytes, int], P],
    *,
    lead_id: str | None,
    slots: asyncio.Semaphore | None = None,
) -> AsyncGenerator[ChainPage[P], None]:
    """The paging loop: echo the token unchanged, stop on a null/empty one, refuse repeats."""
    token: str | None = None
    seen: set[str] = set()
    number = 0
    while True:
        number += 1
        n = number
        result, decoded = await session.request(
            "POST",
            path,
            json_body=body_for(token),
            lead_id=lead_id,
            page=n,
            decode=_bind_page(decode, n),
            retryable_decode_errors=(MalformedPageError,),
            slots=slots,
        )
        assert decoded is not None
        yield ChainPage(n, decoded, result.content, token, result.attempts, result.elapsed)
        nxt = decoded.token
        if not nxt:
            return
        if nxt in seen or nxt == token:
            raise PaginationError(
                f"the server returned a continuation token it had already returned "
                f"(page {n}); stopping to avoid a loop or duplicated events",
                lead_id=lead_id,
                page=n,
            )
        seen.add(nxt)
        token = nxt


def _token_expired(exc: ApiError) -> bool:
    """A 400 about the continuation token that says it expired: restart from page 1."""
    return (
        exc.status == 400
        and isinstance(exc.errors, dict)
        and "continuationToken" in exc.errors
        and "expired" in f"{exc.title} {exc.detail}".lower()
    )


async def _restart_once(
    chain: Callable[[], AsyncGenerator[T, None]], reset: Callable[[], None]
) -> AsyncGenerator[T, None]:
    """Yield what ``chain()`` yields; when its continuation token expires mid-way
    (:func:`_token_expired`), call ``reset()`` (forget what was yielded) and yield a fresh
    ``chain()`` from its first page, once. A second expiry is raised."""
    for restarted in (False, True):
        agen = chain()
        try:
            async for value in agen:
                yield value
            return
        except ApiError as exc:
            if restarted or not _token_expired(exc):
                raise
            reset()
        finally:
            await agen.aclose()
