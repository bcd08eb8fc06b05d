"""The exception tree of leadping_nb.

Every error the toolkit raises on purpose derives from :class:`LeadpingError`::

    LeadpingError
    ├── QueryError          bad user input (query, lead id, page size, date), before any request
    ├── ApiError            the API answered with an error, or could not be reached after retries
    │   ├── AuthError       401 / 403: missing, wrong or unauthorised key
    │   └── RateLimitError  429 still returned after every retry
    ├── PaginationError     the continuation-token chain is broken (a token repeats)
    ├── SchemaError         a value in a page cannot be converted to the declared event schema
    └── FetchError          anything unexpected while fetching one lead or account window
                            (the original exception is its ``__cause__``)

No message or ``repr`` of these errors ever contains the API key: they are built from
the request's lead id, page number and the server's problem details only.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "AuthError",
    "FetchError",
    "LeadpingError",
    "PaginationError",
    "QueryError",
    "RateLimitError",
    "SchemaError",
]


#: How a notebook user gives the key (the CLI says it the shell way, ``export ...``).
KEY_HINT = "Pass api_key=... to the client or set the LEADPING_API_KEY environment variable"


#: What every public method of a closed client raises (as a :class:`LeadpingError`).
CLOSED_MESSAGE = "this client is closed; create a new one"


class LeadpingError(Exception):
    """Base class of every error raised by leadping_nb."""


class QueryError(LeadpingError, ValueError):
    """Invalid user input, detected before any request is sent.

    Parameters
    ----------
    message
        What is wrong, naming the field and the valid choices.
    field
        The offending field (API or argument name), when there is one.

    Examples
    --------
    >>> from leadping_nb import EventQuery, QueryError
    >>> try:
    ...     EventQuery(page_size=0)
    ... except QueryError as exc:
    ...     print(exc.field)
    pageSize
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ApiError(LeadpingError):
    """The API answered with an error status, or could not be reached after every retry.

    Attributes
    ----------
    status
        HTTP status code, or ``None`` when no response arrived (connection errors, timeouts).
    title, detail, trace_id, errors
        The RFC 9457 problem-details fields of the response, when present.
    lead_id
        The lead whose events were being fetched.
    page
        The 1-based page number of the failed request.
    attempts
        How many attempts were made.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        trace_id: str | None = None,
        errors: dict[str, Any] | None = None,
        lead_id: str | None = None,
        page: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.detail = detail
        self.trace_id = trace_id
        self.errors = errors
        self.lead_id = lead_id
        self.page = page
        self.attempts = attempts

    def __str__(self) -> str:
        parts = [super().__str__()]
        where = []
        if self.lead_id is not None:
            where.append(f"lead {self.lead_id!r}")
        if self.page is not None:
            where.append(f"page {self.page}")
        if where:
            parts.append(f"({', '.join(where)})")
        if self.status is not None:
            parts.append(f"[HTTP {self.status}]")
        if self.title:
            parts.append(f"{self.title}.")
        if self.detail:
            parts.append(self.detail)
        if self.errors:
            parts.append(f"errors: {self.errors}")
        if self.trace_id:
            parts.append(f"traceId={self.trace_id}")
        if self.attempts > 1:
            parts.append(f"after {self.attempts} attempts")
        return " ".join(parts)


class AuthError(ApiError):
    """401 or 403: the key is missing, wrong, or not allowed to read these events.

    The message tells the user how to provide a key: pass ``api_key=`` to the client
    or set the ``LEADPING_API_KEY`` environment variable.
    """


class RateLimitError(ApiError):
    """429 Too Many Requests was still returned after every retry.

    Attributes
    ----------
    retry_after
        The server's last ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        trace_id: str | None = None,
        errors: dict[str, Any] | None = None,
        lead_id: str | None = None,
        page: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(
            message,
            status=status,
            title=title,
            detail=detail,
            trace_id=trace_id,
            errors=errors,
            lead_id=lead_id,
            page=page,
            attempts=attempts,
        )
        self.retry_after = retry_after


class PaginationError(LeadpingError):
    """The continuation-token chain is broken: the server returned a token it returned before.

    Following it would loop forever or return duplicate events, so paging stops with this error.
    """

    def __init__(
        self, message: str, *, lead_id: str | None = None, page: int | None = None
    ) -> None:
        super().__init__(message)
        self.lead_id = lead_id
        self.page = page

    def __str__(self) -> str:
        where = [f"lead {self.lead_id!r}"] if self.lead_id is not None else []
        if self.page is not None:
            where.append(f"page {self.page}")
        text = super().__str__()
        return f"{text} ({', '.join(where)})" if where else text


class SchemaError(LeadpingError, ValueError):
    """A value cannot be converted to the declared event schema.

    Attributes
    ----------
    field
        The API field name (camelCase).
    value
        The offending raw value, as text.
    lead_id, page, event_id
        Where the value was found (``None`` when unknown).
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        value: str | None = None,
        lead_id: str | None = None,
        page: int | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.lead_id = lead_id
        self.page = page
        self.event_id = event_id


class FetchError(LeadpingError):
    """Something unexpected went wrong while fetching one lead (or one account window).

    :meth:`~leadping_nb.Client.fetch_events` and
    :meth:`~leadping_nb.Client.account_events` turn any exception that is not a
    :class:`LeadpingError` (a bug, a body no parser expected) into this error of that lead
    alone: it is in ``FetchResult.errors`` and the status table, the other leads are
    returned as usual. The original exception is ``__cause__`` (and :attr:`cause`).

    Attributes
    ----------
    lead_id
        The lead (``None`` for an account window: the message names the window).
    cause
        The original exception.

    Examples
    --------
    >>> err = FetchError.wrap(ValueError("boom"), lead_id="lead_0001")
    >>> print(err)
    unexpected ValueError while fetching lead 'lead_0001': boom
    >>> err.cause
    ValueError('boom')
    """

    def __init__(
        self, message: str, *, lead_id: str | None = None, cause: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.lead_id = lead_id
        self.cause = cause

    @classmethod
    def wrap(
        cls, exc: BaseException, *, lead_id: str | None = None, window: str | None = None
    ) -> FetchError:
        """The error of one lead (or window, by its label) for an unexpected ``exc``."""
        # printable whatever it holds (a lone surrogate cannot be written to a file)
        text = str(exc).encode("utf-8", "backslashreplace").decode("utf-8")
        if len(text) > 500:
            text = text[:500] + f"... ({len(text):,} characters)"
        where = f"lead {lead_id!r}" if window is None else f"window {window}"
        err = cls(
            f"unexpected {type(exc).__name__} while fetching {where}: {text}",
            lead_id=lead_id,
            cause=exc,
        )
        err.__cause__ = exc
        return err
