"""The exact stdlib read of a page (``json`` with ``Decimal``): what ``pl.read_json`` cannot
read faithfully — invalid JSON, a value of the wrong JSON type, a repeated key, a lone
surrogate — and the exact scan of unknown fields. See docs/frame.md (Hostile values).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import polars as pl

from leadping_nb._core.errors import SchemaError
from leadping_nb._core.schema import EVENT_SCHEMA
from leadping_nb._frame.page import (
    _FIELD_OF_KEY,
    _MEDIA_FIELDS,
    _MEDIA_KEY,
    _MONEY_KEY,
    _RAW_ITEM_SCHEMA,
    _RAW_KEY_SET,
    _RAW_KEYS,
    ParsedPage,
    _envelope_int,
    _is_unicode,
    _kept_name,
    _malformed,
    _shown,
    _unreadable_envelope,
    _where,
)

# A surrogate escape (``\uD800``-``\uDFFF``), with the low half of a pair when there is one:
# group 1 is None for a lone surrogate. Whether the backslash is itself escaped (``\\uD800``
# is text) is decided by counting the backslashes before it (_lone_surrogate).
_SURROGATE_RX = re.compile(
    rb"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(\\u[dD][c-fC-F][0-9a-fA-F]{2})?|[c-fC-F][0-9a-fA-F]{2})"
)


def _lone_surrogate(body: bytes) -> bool:
    """Whether ``body`` has a ``\\uXXXX`` escape of a surrogate that is not half of a pair.

    ``pl.read_json`` turns a lone high surrogate into ``"\\x00"`` (and fails on a lone low
    one); a JSON string with one is not valid Unicode, so such a page is read exactly
    (:func:`_parse_python`), which names the value.

    Examples
    --------
    >>> from leadping_nb._frame.exact import _lone_surrogate
    >>> _lone_surrogate(rb'{"a":"\\ud83d\\ude00 \\u00e9"}'), _lone_surrogate(rb'{"a":"\\ud800"}')
    (False, True)
    >>> _lone_surrogate(rb'{"a":"\\\\ud800"}')  # an escaped backslash, then text
    False
    """
    pos = 0
    while (m := _SURROGATE_RX.search(body, pos)) is not None:
        start = back = m.start()
        while back and body[back - 1] == 0x5C:  # backslash
            back -= 1
        if (start - back) % 2:  # this backslash is escaped: the "u..." after it is text
            pos = start + 1
            continue
        if m.group(1) is None:
            return True
        pos = m.end()
    return False


class _Dup(dict[str, Any]):
    """A JSON object with a key repeated with different values (made by :func:`_pairs`);
    ``dups`` holds every copy of those keys."""

    dups: dict[str, list[Any]]


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that keeps the copies of a key repeated with different values.

    ``json`` keeps the last copy and ``pl.read_json`` the first; copies with the same JSON
    text leave nothing to choose, so only differing copies make a :class:`_Dup`.
    """
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    copies: dict[str, list[Any]] = {}
    for key, value in pairs:
        copies.setdefault(key, []).append(value)
    dups = {k: v for k, v in copies.items() if len(v) > 1 and len({_json_text(c) for c in v}) > 1}
    if not dups:
        return obj
    dup = _Dup(pairs)
    dup.dups = dups
    return dup


def _load_exact(
    body: bytes,
    *,
    parse_float: Callable[[str], Any],
    parse_constant: Callable[[str], Any] | None = None,
) -> tuple[Any, bool]:
    """``json.loads`` of ``body`` that also says whether any object repeats a key."""
    found = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        obj = _pairs(pairs)
        found = found or isinstance(obj, _Dup)
        return obj

    doc = json.loads(
        body, parse_float=parse_float, parse_constant=parse_constant, object_pairs_hook=hook
    )
    return doc, found


def _scan_unknown(
    doc: Any, *, keep_unknown: bool
) -> tuple[tuple[str, ...], dict[str, list[str | None]]]:
    """Exact unknown keys of a parsed page (only when the fast count disagrees)."""
    items: list[dict[str, Any]] = doc["items"]
    found: dict[str, None] = {}
    for item in items:
        for key, value in item.items():
            if value is not None and key not in _RAW_KEY_SET:
                found[key] = None
        media = item.get(_MEDIA_KEY)
        if isinstance(media, list):
            for m in media:
                if isinstance(m, dict):
                    for key, value in m.items():
                        if value is not None and key not in _MEDIA_FIELDS:
                            found[f"{_MEDIA_KEY}.{key}"] = None
    kept: dict[str, list[str | None]] = {}
    if keep_unknown:
        for key in found:
            if not key.startswith(f"{_MEDIA_KEY}."):
                kept[_kept_name(key)] = [_kept_text(item.get(key)) for item in items]
    return tuple(found), kept


def _unread_keys(doc: Any, read: frozenset[str]) -> frozenset[str]:
    """Declared item keys with a value in ``doc`` that are not in ``read``."""
    unread: set[str] = set()
    items = doc.get("items") if isinstance(doc, dict) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict):
            unread.update(
                k for k, v in item.items() if v is not None and k in _RAW_KEY_SET and k not in read
            )
    return frozenset(unread)


def _kept_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return _json_text(value)


def _json_text(value: Any) -> str:
    """Compact JSON text, numbers exactly as parsed (Decimal keeps the sent digits)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                json.dumps(k, ensure_ascii=False) + ":" + _json_text(v) for k, v in value.items()
            )
            + "}"
        )
    return json.dumps(value)  # float (from Mapping input)


class _WrongType:
    """Marker: a JSON object/array where a scalar is expected."""

    def __init__(self, text: str) -> None:
        self.text = text


def _f64_text(value: Decimal) -> str:
    """Render a JSON number the way Polars does for a String schema (float64, positional)."""
    as_float = float(value)
    if as_float != as_float or as_float in (float("inf"), float("-inf")):
        return str(value)
    d = Decimal(repr(as_float))
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _scalar_text(value: Any, *, money: bool) -> str | _WrongType | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if money and value.is_finite() else _f64_text(value)
    return _WrongType(_json_text(value))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


#: Why a value cannot be read (messages of _parse_python's checks).
_NOT_UNICODE = "not valid Unicode (a lone surrogate escape, which UTF-8 cannot hold)"

_KEY_NOT_UNICODE = f"the key is {_NOT_UNICODE}"

_ENVELOPE_KEYS = ("items", "pageSize", "totalCount", "continuationToken")


def _repeated(key: str, copies: Sequence[Any]) -> tuple[str, str]:
    """(value text, reason) of a key an object repeats."""
    text = ", ".join(_json_text(v) for v in copies)
    return text, f"the key appears {len(copies)} times in one object; refusing to pick one"


def _problem(value: Any) -> str | None:
    """Why a JSON value cannot be kept exactly: a repeated key or a lone surrogate in it."""
    if isinstance(value, str):
        return None if _is_unicode(value) else _NOT_UNICODE
    if isinstance(value, list):
        for v in value:
            reason = _problem(v)
            if reason is not None:
                return reason
    elif isinstance(value, dict):
        if isinstance(value, _Dup):
            return "a key appears more than once in one object; refusing to pick one"
        for k, v in value.items():
            reason = _NOT_UNICODE if not _is_unicode(k) else _problem(v)
            if reason is not None:
                return reason
    return None


def _parse_python(
    body: bytes,
    *,
    lead_id: str | None,
    page: int | None,
    lenient: bool,
    keep_unknown: bool,
) -> ParsedPage:
    """Exact read with :mod:`json`: invalid JSON, a value of the wrong JSON type, a repeated
    key or a lone surrogate.

    Values that cannot be read (wrong type, a key repeated in one item, not valid Unicode)
    raise :class:`~leadping_nb.SchemaError` after conversion (the earliest row wins), or
    become null and are counted with ``lenient=True``; except where nulling would lose or
    misfile data (an item's ``id``, a key that is not valid Unicode, the envelope's keys),
    which raise in both modes.
    """
    doc, items = _load_page(body, lead_id=lead_id, page=page)
    bad = _BadValues(items, lead_id=lead_id, page=page, lenient=lenient)
    frame = _item_columns(items, bad)
    unknown, kept = _scan_unknown(doc, keep_unknown=keep_unknown)
    unknown = tuple(k for k in unknown if _is_unicode(k))  # the others raise (_item_columns)
    _check_kept(kept, items, bad)
    texts = [
        _envelope_text(doc, name, lenient=lenient, nulled=bad.nulled, lead_id=lead_id, page=page)
        for name in ("pageSize", "totalCount", "continuationToken")
    ]
    ps_text, tc_text, token = texts
    page_size = _envelope_int(
        ps_text, "pageSize", lenient=lenient, nulled=bad.nulled, lead_id=lead_id, page=page
    )
    total_count = _envelope_int(
        tc_text, "totalCount", lenient=lenient, nulled=bad.nulled, lead_id=lead_id, page=page
    )
    return ParsedPage(
        items=frame.to_struct("items").implode(),
        n_items=frame.height,
        token=token or None,
        page_size=page_size,
        total_count=total_count,
        nulled=bad.nulled,
        page=page,
        lead_id=lead_id,
        body=body,
        lenient=lenient,
        keep_unknown=keep_unknown,
        unknown=unknown,
        kept=kept,
        type_error=bad.first,
        money_exact=True,
    )


def _load_page(
    body: bytes, *, lead_id: str | None, page: int | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The parsed body and its items; a malformed page or a repeated envelope key raises."""
    try:
        doc, _ = _load_exact(body, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _malformed(f"invalid JSON ({exc})", body, lead_id, page) from None
    if not isinstance(doc, dict):
        raise _malformed("the body is not a JSON object", body, lead_id, page)
    if isinstance(doc, _Dup):
        for name in _ENVELOPE_KEYS:
            if name in doc.dups:
                copies, _ = _repeated(name, doc.dups[name])
                raise SchemaError(
                    f"the page has {len(doc.dups[name])} copies of {name} ({_shown(copies)}): "
                    f"refusing to pick one{_where(lead_id, page)}",
                    field=name,
                    value=_shown(copies),
                    lead_id=lead_id,
                    page=page,
                )
    items = doc.get("items")
    if not isinstance(items, list):
        raise _malformed("there is no 'items' array", body, lead_id, page)
    if not all(isinstance(item, dict) for item in items):
        raise _malformed("an item is not a JSON object", body, lead_id, page)
    return doc, items


class _BadValues:
    """The values of one page that cannot be read: nulled and counted (lenient), or the
    page's error (the first in row order; raised after conversion, unless an earlier row
    of the batch has a conversion error, :func:`~leadping_nb._frame.decode._assemble`)."""

    def __init__(
        self, items: list[dict[str, Any]], *, lead_id: str | None, page: int | None, lenient: bool
    ) -> None:
        self.items = items
        self.lead_id = lead_id
        self.page = page
        self.lenient = lenient
        self.nulled: dict[str, int] = {}
        self.first: tuple[int, SchemaError] | None = None

    def __call__(
        self, key: str, text: str, row: int, reason: str | None = None, *, always: bool = False
    ) -> None:
        """Record one value that cannot be read (``always``: an error also when lenient)."""
        if self.lenient and not always:
            self.nulled[key] = self.nulled.get(key, 0) + 1
            return
        if self.first is not None:  # only the first one (in row order) is raised
            return
        item = self.items[row]
        event_id = item.get("id")
        if (
            not isinstance(event_id, str)
            or not _is_unicode(event_id)
            or "id" in getattr(item, "dups", ())
        ):
            event_id = None
        lead = self.lead_id if self.lead_id is not None else item.get("leadId")
        lead = lead if isinstance(lead, str) and _is_unicode(lead) else None
        if reason is None:
            kind = _FIELD_OF_KEY[key.split(".")[0]].kind
            reason = f"a JSON object or array where a {kind} is expected"
        shown = _shown(text)
        what = (
            f"an item key {shown!r} is {_NOT_UNICODE}"
            if reason is _KEY_NOT_UNICODE
            else f"cannot convert {_shown(key)} value {shown!r}: {reason}"
        )
        error = SchemaError(
            f"{what}{_where(lead, self.page, event_id, row)}",
            field=_shown(key),
            value=shown,
            lead_id=lead,
            page=self.page,
            event_id=event_id,
        )
        self.first = (row, error)


def _item_columns(items: list[dict[str, Any]], bad: _BadValues) -> pl.DataFrame:
    """The items as raw (all-``String``) columns of every declared key, each value checked."""
    columns: dict[str, list[Any]] = {k: [] for k in _RAW_KEYS}
    for row, item in enumerate(items):
        dups: dict[str, list[Any]] = getattr(item, "dups", {})
        for key in item:
            if not _is_unicode(key):
                bad(key, key, row, _KEY_NOT_UNICODE, always=True)
        for key in _RAW_KEYS:
            value = item.get(key)
            if key in dups:
                copies, why = _repeated(key, dups[key])
                bad(key, copies, row, why, always=key == "id")
                columns[key].append(None)
                continue
            if key == _MEDIA_KEY:
                columns[key].append(_media_value(value, row, bad))
                continue
            text = _scalar_text(value, money=key == _MONEY_KEY)
            if isinstance(text, _WrongType):
                bad(key, text.text, row)
                text = None
            elif text is not None and not _is_unicode(text):
                bad(key, text, row, _NOT_UNICODE, always=key == "id")
                text = None
            columns[key].append(text)
    return pl.DataFrame(
        [pl.Series(k, columns[k], dtype=_RAW_ITEM_SCHEMA[k]) for k in _RAW_KEYS],
    )


def _check_kept(
    kept: dict[str, list[str | None]], items: list[dict[str, Any]], bad: _BadValues
) -> None:
    """Drop kept unknown values that cannot be kept exactly (a repeated key, a lone
    surrogate; :func:`_problem`), recording each with ``bad``. In place."""
    for name in list(kept):
        if not _is_unicode(name):
            del kept[name]
            continue
        base = name.removesuffix(" (unknown)")
        key = base if base != name and (base in EVENT_SCHEMA or base in _RAW_KEY_SET) else name
        for row, item in enumerate(items):
            value = item.get(key)
            problem = (
                _repeated(key, item.dups[key])[1]
                if isinstance(item, _Dup) and key in item.dups
                else _problem(value)
            )
            if problem is not None:
                bad(key, _shown(_kept_text(value) or ""), row, problem)
                kept[name][row] = None


def _envelope_text(
    doc: dict[str, Any],
    name: str,
    *,
    lenient: bool,
    nulled: dict[str, int],
    lead_id: str | None,
    page: int | None,
) -> str | None:
    """An envelope field's text; a wrong type is nulled (lenient) or raises, a lone
    surrogate always raises (a changed or dropped continuation token would lose pages)."""
    text = _scalar_text(doc.get(name), money=False)
    if isinstance(text, _WrongType):
        _unreadable_envelope(
            name, _shown(text.text), "", lenient=lenient, nulled=nulled, lead_id=lead_id, page=page
        )
        return None
    if text is not None and not _is_unicode(text):
        raise SchemaError(
            f"cannot convert {name} value {_shown(text)!r}: {_NOT_UNICODE}{_where(lead_id, page)}",
            field=name,
            value=_shown(text),
            lead_id=lead_id,
            page=page,
        )
    return text


def _media_value(
    value: Any, row: int, bad: Callable[..., None]
) -> list[dict[str, str | None] | None] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        bad(_MEDIA_KEY, _json_text(value), row)
        return None
    out: list[dict[str, str | None] | None] = []
    for m in value:
        if m is None:
            out.append(None)
            continue
        if not isinstance(m, dict):
            bad(_MEDIA_KEY, _json_text(m), row)
            out.append(None)
            continue
        dups: dict[str, list[Any]] = getattr(m, "dups", {})
        for key in m:
            if not _is_unicode(key):
                bad(f"{_MEDIA_KEY}.{key}", key, row, _KEY_NOT_UNICODE, always=True)
        struct: dict[str, str | None] = {}
        for key in _MEDIA_FIELDS:
            name = f"{_MEDIA_KEY}.{key}"
            if key in dups:
                copies, reason = _repeated(key, dups[key])
                bad(name, copies, row, reason)
                struct[key] = None
                continue
            text = _scalar_text(m.get(key), money=False)
            if isinstance(text, _WrongType):
                bad(name, text.text, row)
                text = None
            elif text is not None and not _is_unicode(text):
                bad(name, text, row, _NOT_UNICODE)
                text = None
            struct[key] = text
        out.append(struct)
    return out
