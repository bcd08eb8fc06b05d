"""The checks of what a user configures that need no HTTP stack: the API key
(:func:`check_api_key`, without ever showing it), loopback hosts, and :func:`mask_url` for
URLs shown in messages."""

from __future__ import annotations

import ipaddress

from leadping_nb._core.errors import QueryError

__all__ = ["MAX_API_KEY_LENGTH", "check_api_key", "mask_url"]


def _is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: The longest API key accepted (a bearer token; real ones are far shorter).
MAX_API_KEY_LENGTH = 4096


def check_api_key(key: str | None, source: str) -> str | None:
    """Check an API key before anything is sent; return it stripped (``None``: no key).

    A key must be a valid HTTP header value token: printable ASCII without white space
    (after the surrounding white space is stripped), not empty, at most 4,096 characters.
    The error never shows the key nor any part of it, only what is wrong and where.

    Parameters
    ----------
    key
        The key, or ``None`` (no key).
    source
        Where it came from, named in the error: ``"api_key"`` or ``"LEADPING_API_KEY"``.

    Examples
    --------
    >>> check_api_key("  lp_live_abc123  ", "api_key")
    'lp_live_abc123'
    >>> check_api_key("lp_live\\nabc123", "api_key")
    Traceback (most recent call last):
    ...
    leadping_nb._core.errors.QueryError: api_key: the API key contains a line break ...
    """
    if key is None:
        return None
    where = "the API key" if source == "api_key" else f"the key in {source}"
    hint = (
        "copy the key again from the Leadping dashboard (nothing was sent; the key is not "
        "shown here)"
    )
    if not isinstance(key, str):
        raise QueryError(
            f"{source}: {where} must be a string, got {type(key).__name__}", field=source
        )
    stripped = key.strip()
    if not stripped:
        raise QueryError(f"{source}: {where} is empty or blank; {hint}", field=source)
    if len(stripped) > MAX_API_KEY_LENGTH:
        raise QueryError(
            f"{source}: {where} is {len(stripped):,} characters long, more than the "
            f"{MAX_API_KEY_LENGTH:,} accepted; {hint}",
            field=source,
        )
    for i, ch in enumerate(stripped):
        if "!" <= ch <= "~":
            continue
        if ch in "\r\n":
            what = "a line break"
        elif ord(ch) < 32 or ord(ch) == 127 or 0x80 <= ord(ch) <= 0x9F:
            what = "a control character"
        elif ch.isspace():
            what = "white space"
        else:
            what = "a non-ASCII character"
        raise QueryError(
            f"{source}: {where} contains {what} (at position {i + 1} of {len(stripped)}); "
            f"a key is printable ASCII without spaces. {hint[0].upper()}{hint[1:]}",
            field=source,
        )
    return stripped


def mask_url(url: str, limit: int = 200) -> str:
    """``url`` fit for a message: credentials (``user:pass@``) as ``***@``, control
    characters escaped, at most ``limit`` characters.

    Everything up to the last ``@`` of the authority is masked, so a password holding ``/``,
    ``#`` or ``@`` is never shown either.

    Examples
    --------
    >>> mask_url("ftp://u:KEY@x/path")
    "'ftp://***@x/path'"
    >>> mask_url("https://a@b:c@host")
    "'https://***@host'"
    """
    text = str(url)
    head, sep, rest = text.partition("//")
    if sep and "@" in rest:
        # everything up to the last @ before the path could be credentials; with a / or
        # a # in the password the "path" starts too early, so mask up to the last @ of all
        text = f"{head}//***@{rest.rsplit('@', 1)[1]}"
    elif not sep and "@" in text:
        text = "***@" + text.rsplit("@", 1)[1]
    shown = repr(text)
    if len(shown) > limit:
        shown = shown[:limit] + f"... ({len(text):,} characters)"
    return shown
