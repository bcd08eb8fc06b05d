"""The one place values become text: money, counts, rates, plain numbers.

Reports, figures, widgets and the CLI all format through these functions, so an amount
reads the same everywhere: ``"USD 122.7486"`` — the currency code, a space, the exact
Decimal with thousands separators and **4 decimals** (more only when the value has more
non-zero digits: a digit is never rounded away). Nothing goes through float.

The Leadping API states no currency (``billableAmount`` is a bare number), so the
currency is a setting: :data:`DEFAULT_CURRENCY` (``"USD"``) unless the caller passes
another three-letter ISO-4217 code (:func:`check_currency`). See docs/metrics.md,
"Billing".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "DEFAULT_CURRENCY",
    "MONEY_PLACES",
    "check_currency",
    "fmt_count",
    "fmt_duration",
    "fmt_number",
    "fmt_rate",
    "money_label",
    "money_text",
    "money_texts",
]

#: The currency assumed when none is given (the API states none).
DEFAULT_CURRENCY: Final = "USD"
#: Decimals every amount is shown with (at least; never fewer, never a digit rounded).
MONEY_PLACES: Final = 4

_CURRENCY = re.compile(r"[A-Z]{3}")
_DASH = "—"


def check_currency(currency: object) -> str:
    """Return ``currency`` if it is a three-letter upper-case ISO-4217-style code.

    Raises
    ------
    ValueError
        For anything else (``"usd"``, ``"US$"``, ``""``, ``None``), naming the value.

    Examples
    --------
    >>> check_currency("EUR")
    'EUR'
    >>> check_currency("usd")
    Traceback (most recent call last):
    ...
    ValueError: currency must be three upper-case letters (ISO 4217, e.g. 'USD'), got 'usd'
    """
    if not isinstance(currency, str) or _CURRENCY.fullmatch(currency) is None:
        raise ValueError(
            f"currency must be three upper-case letters (ISO 4217, e.g. 'USD'), got {currency!r}"
        )
    return currency


def _digits(value: Decimal) -> int:
    """Decimals needed to show ``value`` exactly (0 for an integer)."""
    if not value.is_finite():
        return 0
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def money_texts(values: Sequence[Decimal | None], *, places: int = MONEY_PLACES) -> list[str]:
    """Exact text of Decimal amounts, all with the same number of decimals (no currency).

    The number of decimals is ``places`` (4), or more when a value needs more to be
    shown exactly: no digit is ever rounded away, and nothing goes through float.
    ``None`` becomes ``"—"``. For a table column whose header names the currency
    (:func:`money_label`).

    Examples
    --------
    >>> money_texts([Decimal("1234.500000"), Decimal("0.007900"), None])
    ['1,234.5000', '0.0079', '—']
    >>> money_texts([Decimal("0.0000125"), Decimal("2")])
    ['0.0000125', '2.0000000']
    """
    digits = max([places, *(_digits(v) for v in values if v is not None)])
    quantum = Decimal(1).scaleb(-digits)
    return [_DASH if v is None else format(v.quantize(quantum), ",f") for v in values]


def money_text(value: Decimal | None, currency: str = DEFAULT_CURRENCY) -> str:
    """One exact amount with its currency: ``"USD 1,234.5000"`` (``"—"`` for ``None``).

    Examples
    --------
    >>> money_text(Decimal("122.748600")), money_text(Decimal("0E-6"), "EUR")
    ('USD 122.7486', 'EUR 0.0000')
    >>> money_text(None)
    '—'
    """
    if value is None:
        return _DASH
    return f"{check_currency(currency)} {money_texts([value])[0]}"


def money_label(label: str, currency: str = DEFAULT_CURRENCY) -> str:
    """A header or axis label for amounts: ``"Billed amount (USD)"``.

    Examples
    --------
    >>> money_label("Net amount", "EUR")
    'Net amount (EUR)'
    """
    return f"{label} ({check_currency(currency)})"


def fmt_count(v: Any) -> str:
    """An integer count with thousands separators (``"—"`` for ``None``).

    Examples
    --------
    >>> fmt_count(6413), fmt_count(None)
    ('6,413', '—')
    """
    return _DASH if v is None else f"{int(v):,}"


def fmt_rate(v: Any) -> str:
    """A 0-1 rate in percent with two decimals (``"—"`` for ``None``).

    Examples
    --------
    >>> fmt_rate(0.8123456), fmt_rate(None)
    ('81.23%', '—')
    """
    return _DASH if v is None else f"{float(v):.2%}"


def fmt_number(v: Any) -> str:
    """A plain number: a float with one decimal, anything else as is, separated.

    Examples
    --------
    >>> fmt_number(1234.56), fmt_number(1234), fmt_number(None)
    ('1,234.6', '1,234', '—')
    """
    if v is None:
        return _DASH
    return f"{v:,.1f}" if isinstance(v, float) else f"{v:,}"


def fmt_duration(ms: Any) -> str:
    """A duration given in milliseconds, as text with its unit: ms below a second, s
    below a minute, min below an hour, h below two days, then d ("—" for None).

    Examples
    --------
    >>> [fmt_duration(v) for v in (None, 12.4, 1_500.0, 59_361_031.0, 90_000.0, 2.6e8)]
    ['—', '12 ms', '1.50 s', '16.5 h', '1.5 min', '3.0 d']
    """
    if ms is None:
        return "—"
    v = float(ms)
    if abs(v) < 1000:
        return f"{v:,.0f} ms"
    if abs(v) < 60_000:
        return f"{v / 1000:,.2f} s"
    if abs(v) < 3_600_000:
        return f"{v / 60_000:,.1f} min"
    if abs(v) < 172_800_000:
        return f"{v / 3_600_000:,.1f} h"
    return f"{v / 86_400_000:,.1f} d"
