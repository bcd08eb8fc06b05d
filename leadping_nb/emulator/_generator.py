"""Seeded, lazy generator of synthetic SMS lead follow-up activity: the event rows.

Every event is a compact *internal row*, a tuple indexed by the ``S_*`` slots of
``_catalog`` (which says how values are stored). A lead's events are derived from its
profile (``_profiles``) and depend only on ``(seed, lead index, heavy?, now, quantum)``, so
any lead can be regenerated on demand (the emulator caches them in a bounded LRU).
:class:`_Gen` builds one lead's rows; :func:`generate_lead_events`,
:func:`appended_events` and :func:`generate_raw_events` drive it.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ._catalog import (
    _BLANK,
    _CARRIER_SURCHARGE,
    _CARRIERS,
    _DAY,
    _HOUR,
    _IN_TEXTS,
    _MIN,
    _NOTE_TEXTS,
    _OUT_TEXTS,
    _TPS,
    BLOCK_REASONS,
    CANCEL_REASONS,
    DEFAULT_NOW,
    FAIL_ERRORS,
    LEAD_STATUSES,
    S_ACTOR_EMAIL,
    S_ACTOR_LEAD,
    S_ACTOR_NAME,
    S_ACTOR_USER,
    S_AMOUNT,
    S_AUTOMATION,
    S_BILLING,
    S_BLOCKED,
    S_CAMPAIGN,
    S_CANCEL_REASON,
    S_CANCELED,
    S_CARRIER,
    S_COMPLIANCE,
    S_CONV,
    S_CREATED,
    S_CREATED_BY,
    S_DELIVERED,
    S_DEMO,
    S_DESC,
    S_DIR,
    S_ECAT,
    S_ERROR,
    S_ETYPE,
    S_FAILED,
    S_FROM,
    S_FROM_ID,
    S_ID,
    S_LEAD,
    S_MEDIA,
    S_NEXT_RETRY,
    S_OUT_ID,
    S_OVERRIDE,
    S_PROVIDER,
    S_QUEUED,
    S_RECEIVED,
    S_REL_ID,
    S_REL_TYPE,
    S_RETRY,
    S_SCHED_REASON,
    S_SCHEDULED,
    S_SEGMENTS,
    S_SELECTION,
    S_SENDING,
    S_SENT,
    S_SOURCE,
    S_STATUS,
    S_STATUS_REASON,
    S_SUMMARY,
    S_TCAT,
    S_TELNYX,
    S_TENDLC,
    S_TO,
    S_TRAFFIC,
    S_TTYPE,
    S_UNDELIVERABLE,
    S_VOICEMAIL,
    S_WARMUP,
    SCHEDULE_REASONS,
    SENDING_NUMBERS,
    TIMESTAMP_SLOTS,
    UNDELIVERABLE_ERRORS,
    WARMUP_NUMBERS,
)
from ._profiles import (
    _T_BILL,
    _T_BLOCK,
    _T_FAIL,
    _T_QUEUE,
    _T_SEND,
    LeadProfile,
    _carrier_gap,
    _lognorm_ticks,
    _quiet,
    _rhythm,
    _timeline,
    make_profile,
    to_ticks,
)

__all__ = [
    "LeadLife",
    "future_events",
    "generate_lead_events",
    "generate_lead_life",
    "generate_raw_events",
    "new_lead_times",
    "state_at",
]


def _uuid(rng: random.Random) -> str:
    s = f"{rng.getrandbits(128):032x}"
    return f"{s[:8]}-{s[8:12]}-4{s[13:16]}-{s[16:20]}-{s[20:]}"


_ID_MULT = 0x9E3779B97F4A7C15  # odd: multiplication is a bijection modulo 2**48
_MASK48 = (1 << 48) - 1

_exp = math.exp

#: One lifecycle step: when it happens and the ``(slot, value)`` pairs it sets.
_Step = tuple[int, tuple[tuple[int, Any], ...]]


def _step_time(step: _Step) -> int:
    return step[0]


class _Gen:
    """Per-lead generation state (kept in one object so helpers share it cheaply)."""

    __slots__ = (
        "future",
        "id_head",
        "n_out",
        "now",
        "p",
        "q",
        "rng",
        "run_id",
        "salt",
        "salt2",
        "seq",
        "src",
        "texts",
        "tid_head",
        "topic",
        "tpl",
        "tpl_in",
        "tpl_out",
        "tpl_warm",
    )

    def __init__(self, p: LeadProfile, now: int, quantum: int, rng: random.Random) -> None:
        self.p = p
        self.now = now
        self.q = quantum
        self.rng = rng
        self.n_out = 0
        self.topic = p.campaign[2]
        self.run_id = f"run_{rng.getrandbits(40):010x}"
        self.id_head = _uuid(rng)[:23]
        self.tid_head = _uuid(rng)[:23]
        self.salt = rng.getrandbits(48)
        self.salt2 = rng.getrandbits(48)
        self.seq = 0
        #: the random source a message's lifecycle draws from (see ``_drive``)
        self.src = [rng]
        #: the steps of the last message that lie after ``now`` (``None``: it is settled)
        self.future: list[_Step] | None = None
        agent = p.user[1].split()[0]
        # every text a lead can get, formatted once (shared strings: fast and compact)
        self.texts = tuple(
            t.format(f=p.first_name, t=self.topic, a=agent, h=h)
            for t in _OUT_TEXTS
            for h in range(9, 17)
        )
        # per-lead row templates: the fields that never change for this lead and kind
        tpl = _BLANK[:]
        tpl[S_LEAD] = p.id
        tpl[S_SOURCE] = p.source[0]
        tpl[S_DEMO] = p.is_demo
        tpl[S_TRAFFIC] = "Test" if p.is_demo else "RealLead"
        self.tpl = tpl
        msg = tpl[:]
        msg[S_ECAT] = "Messaging"
        msg[S_TCAT] = "Messages"
        msg[S_CONV] = p.conversation_id
        msg[S_TENDLC] = p.ten_dlc
        warm = msg[:]
        warm[S_DIR] = "Outbound"
        warm[S_ETYPE] = "Sms"
        warm[S_TTYPE] = "Warmup"
        warm[S_TRAFFIC] = "Warmup"
        warm[S_WARMUP] = True
        warm[S_FROM_ID] = warm[S_OUT_ID] = p.number[0]
        warm[S_FROM] = p.number[1]
        warm[S_SELECTION] = "HealthyPool"
        warm[S_CREATED_BY] = "Warmup scheduler"
        warm[S_SUMMARY] = "Warm-up message"
        warm[S_SEGMENTS] = 1
        self.tpl_warm = warm
        msg[S_TRAFFIC] = "Test" if p.is_demo else "RealLead"
        msg[S_CAMPAIGN] = p.campaign[0]
        out = msg[:]
        out[S_DIR] = "Outbound"
        out[S_TO] = p.phone
        self.tpl_out = out
        inn = msg[:]
        inn[S_ETYPE] = "Sms"
        inn[S_TTYPE] = "Sms"
        inn[S_DIR] = "Inbound"
        inn[S_STATUS] = "Received"
        inn[S_STATUS_REASON] = "Inbound message received"
        inn[S_FROM] = p.phone
        inn[S_TO] = p.number[1]
        inn[S_OUT_ID] = p.number[0]
        inn[S_SELECTION] = "StickyConversation"
        inn[S_CREATED_BY] = f"{p.first_name} {p.last_name}"
        inn[S_ACTOR_LEAD] = p.id
        inn[S_BILLING] = "Billed"
        inn[S_AMOUNT] = 40
        inn[S_SEGMENTS] = 1
        self.tpl_in = inn

    def base(self, t: int, tpl: list[Any] | None = None) -> list[Any]:
        # ids: a per-lead random UUID head plus a bijectively scrambled sequence number
        # (unique, UUID-shaped, and ~5x cheaper than formatting 128 random bits each time)
        self.seq = seq = self.seq + 1
        tail = (seq * _ID_MULT + self.salt) & _MASK48
        if tpl is None:
            row = self.tpl[:]
            row[S_ID] = f"{self.id_head}-{tail:012x}"
        else:
            row = tpl[:]
            row[S_ID] = f"{self.id_head}-{tail:012x}"
            row[S_TELNYX] = row[S_PROVIDER] = f"{self.tid_head}-{tail ^ self.salt2:012x}"
        row[S_CREATED] = t
        return row

    def outbound(self, t: int, mms: bool, warmup: bool) -> list[Any]:
        p = self.p
        rng = self.rng
        rnd = rng.random
        carrier = int(rnd() * 5) if rnd() < 0.97 else 4
        if warmup:
            row = self.base(t, self.tpl_warm)
            row[S_TO] = WARMUP_NUMBERS[int(rnd() * len(WARMUP_NUMBERS))][1]
        else:
            row = self.base(t, self.tpl_out)
            row[S_ETYPE] = row[S_TTYPE] = "Mms" if mms else "Sms"
            override = rnd() < 0.02
            row[S_OVERRIDE] = override
            if override:
                num = SENDING_NUMBERS[int(rnd() * len(SENDING_NUMBERS))]
                row[S_SELECTION] = "ManualOverride"
            else:
                num = p.number
                if self.n_out == 0:
                    row[S_SELECTION] = "LocalArea" if num[2] == p.area else "CampaignOrSource"
                else:
                    r = rnd()
                    row[S_SELECTION] = (
                        "StickyConversation"
                        if r < 0.8
                        else "LeadAssigned"
                        if r < 0.88
                        else "Preferred"
                        if r < 0.95
                        else "FallbackDefault"
                    )
            row[S_FROM_ID] = num[0]
            row[S_OUT_ID] = num[0] if rnd() < 0.97 else p.number[0]
            row[S_FROM] = num[1]
            texts = self.texts
            row[S_SUMMARY] = text = texts[int(rnd() * len(texts))]
            if rnd() < 0.12:
                u = p.user
                row[S_ACTOR_USER] = u[0]
                row[S_ACTOR_NAME] = u[1]
                row[S_ACTOR_EMAIL] = u[2]
                row[S_CREATED_BY] = u[1]
            else:
                row[S_CREATED_BY] = "Automation"
                if rnd() < 0.3:
                    self.run_id = f"run_{rng.getrandbits(40):010x}"
                row[S_AUTOMATION] = self.run_id
            if self.n_out == 0:
                row[S_COMPLIANCE] = "OptOutFooterAppended"
            segments = 1 if len(text) <= 160 else 2
            if rnd() < 0.08:
                segments += 1
            row[S_SEGMENTS] = segments
            if mms:
                row[S_MEDIA] = (
                    (
                        f"https://media.leadping.example/{rng.getrandbits(64):016x}.jpg",
                        "image/jpeg",
                        20_000 + int(rnd() * 1_500_000),
                        f"{rng.getrandbits(256):064x}",
                        "listing.jpg",
                        f"file_{rng.getrandbits(48):012x}",
                    ),
                )
        row[S_CARRIER] = _CARRIERS[carrier]
        self.n_out += 1

        # ---- scheduling (quiet hours and other reasons)
        start = t
        scheduled = 0
        quiet = _quiet(t, p.tz_hours * _HOUR)
        if quiet and not warmup:
            scheduled = quiet + int(rnd() * 45 * _MIN)
            row[S_SCHED_REASON] = "QuietHours"
        elif rnd() < 0.03:
            reason = SCHEDULE_REASONS[int(rnd() * len(SCHEDULE_REASONS))]
            delay = (
                int(rnd() * 5 * _MIN) + _TPS
                if reason in ("RateLimited", "CarrierThroughput")
                else int(rnd() * 3 * _DAY) + _HOUR
            )
            scheduled = t + delay
            row[S_SCHED_REASON] = reason
        if scheduled:
            row[S_SCHEDULED] = scheduled
            start = scheduled

        r = rnd()
        if warmup:
            outcome = 0 if r < 0.97 else 1
        elif r < 0.80:
            outcome = 0  # delivered
        elif r < 0.85:
            outcome = 1  # failed
        elif r < 0.875:
            outcome = 2  # undeliverable
        elif r < 0.895:
            outcome = 3  # compliance-blocked
        elif r < 0.91:
            outcome = 4  # canceled
        else:
            outcome = 5  # sent, no delivery receipt

        # the state before anything happens: waiting for the send time, or in the queue
        row[S_BILLING] = "Pending"
        if scheduled or outcome == 4:
            row[S_STATUS] = "Scheduled"
            row[S_STATUS_REASON] = "Waiting for the scheduled send time"
        else:
            row[S_STATUS] = "Queued"
            row[S_STATUS_REASON] = "Waiting in the send queue"
        if outcome == 4:
            if not scheduled:
                scheduled = t + int(rnd() * 2 * _DAY) + _HOUR
                row[S_SCHEDULED] = scheduled
                row[S_SCHED_REASON] = "DripStep"
            cancel = t + 1 + int(rnd() * (scheduled - t))
            steps: Iterator[_Step] = self._canceled(cancel)
        else:
            steps = self._lifecycle(row, start, outcome, warmup, mms, carrier)
        self._drive(row, steps)
        return row

    # ---- a message's lifecycle --------------------------------------------------------
    #
    # The lifecycle is a sequence of steps ``(time, ((slot, value), ...))`` in time order.
    # Steps up to ``now`` are applied to the row; the first later step makes the message
    # *live*: it and the rest are kept as ``self.future`` and become the states the
    # emulator serves as its clock passes them. The draws are the same as when everything
    # is past: the steps draw from ``self.src[0]``, which the driver switches to a
    # per-message source (seeded by the event id) when the message goes live, so the
    # lead's main stream, and every later event of the lead, does not depend on ``now``.

    def _live_rng(self, row: list[Any], salt: str) -> random.Random:
        return random.Random(f"{salt}:{self.p.seed}:{self.p.index}:{row[S_ID]}")

    def _drive(self, row: list[Any], steps: Iterator[_Step]) -> None:
        now = self.now
        self.src[0] = self.rng
        future: list[_Step] | None = None
        for step in steps:
            if future is None:
                if step[0] <= now:
                    for s, v in step[1]:
                        row[s] = v
                    continue
                future = []
                self.src[0] = self._live_rng(row, "live")
            future.append(step)
        self.future = future

    def _canceled(self, cancel: int) -> Iterator[_Step]:
        yield (cancel, ())  # the cancel reason is drawn when the step is reached
        reason = CANCEL_REASONS[int(self.src[0].random() * len(CANCEL_REASONS))]
        # (the empty step above only decides past/live; the patch follows at the same time)
        yield (
            cancel,
            (
                (S_CANCELED, cancel),
                (S_CANCEL_REASON, reason),
                (S_STATUS, "Canceled"),
                (S_STATUS_REASON, "Send canceled before it was due"),
                (S_BILLING, "NotBilled"),
            ),
        )

    def _lifecycle(
        self, row: list[Any], start: int, outcome: int, warmup: bool, mms: bool, carrier: int
    ) -> Iterator[_Step]:
        src = self.src
        yield (start, ())  # reaching the send time: later draws are the live source's
        rnd = src[0].random
        if outcome == 3:
            code, reason, action = BLOCK_REASONS[int(rnd() * len(BLOCK_REASONS))]
            blocked = start + _T_BLOCK[int(rnd() * 4096)]
            yield (
                blocked,
                (
                    (S_BLOCKED, blocked),
                    (S_STATUS, "Blocked"),
                    (S_STATUS_REASON, reason),
                    (S_ERROR, code),
                    (S_COMPLIANCE, action),
                    (S_BILLING, "NotBilled"),
                ),
            )
            return
        # queued -> (retries while queued) -> sending started
        retries = 0
        if outcome == 0 and rnd() < 0.04:
            retries = 1 if rnd() < 0.75 else 2
        queue_gap = _T_QUEUE[int(rnd() * 4096)] + int(rnd() * 1000)
        if rnd() < 0.02:
            queue_gap += int(src[0].paretovariate(1.3) * 30 * _TPS)  # queue backlog
        backoffs = [int((30 << k) * _TPS * (1 + rnd())) for k in range(retries)]
        queue_gap += sum(backoffs)
        sending = start + queue_gap
        yield (
            start,
            (
                (S_QUEUED, start),
                (S_STATUS, "Queued"),
                (S_STATUS_REASON, "Waiting in the send queue"),
            ),
        )
        at = sending - sum(backoffs)
        for k, b in enumerate(backoffs):
            yield (at, ((S_RETRY, k + 1),))
            at += b
        yield (
            sending,
            (
                (S_SENDING, sending),
                (S_STATUS, "Sending"),
                (S_STATUS_REASON, "Handing the message to the carrier"),
            ),
        )
        base_traffic = row[S_TRAFFIC]
        amount = None
        if not warmup:
            amount = ((200 if mms else 79) + _CARRIER_SURCHARGE[carrier]) * row[S_SEGMENTS]
        rnd = src[0].random
        if outcome == 1:
            code, reason, retryable = FAIL_ERRORS[int(rnd() * len(FAIL_ERRORS))]
            failed = sending + _T_FAIL[int(rnd() * 4096)]
            nretry = (0, 0, 0, 1, 1, 2, 3, 3)[int(rnd() * 8)]
            nxt = None
            if retryable and nretry < 3:
                nxt = failed + int((60 << nretry) * _TPS * (1 + rnd()))
            yield self._failed_step(failed, code, reason, nretry, nxt, warmup, base_traffic)
            if nxt is not None:
                yield from self._retries(row, nxt, nretry, warmup, amount, base_traffic)
            return
        sent = sending + _T_SEND[int(rnd() * 4096)]
        yield self._sent_step(sent, warmup, amount)
        final = sent + _carrier_gap(src[0])
        if outcome == 2:
            code, reason = UNDELIVERABLE_ERRORS[int(src[0].random() * len(UNDELIVERABLE_ERRORS))]
            yield (
                final,
                (
                    (S_UNDELIVERABLE, final),
                    (S_STATUS, "Undeliverable"),
                    (S_STATUS_REASON, reason),
                    (S_ERROR, code),
                    (S_BILLING, "NotBilled"),
                    (S_AMOUNT, None),
                ),
            )
            return
        yield from self._receipt(row, sent, None if outcome == 5 else final, warmup)

    def _failed_step(
        self,
        failed: int,
        code: str,
        reason: str,
        retries: int,
        next_retry: int | None,
        warmup: bool,
        base_traffic: str,
    ) -> _Step:
        traffic = "FailedAttempt" if next_retry is not None and not warmup else base_traffic
        return (
            failed,
            (
                (S_FAILED, failed),
                (S_STATUS, "Failed"),
                (S_STATUS_REASON, reason),
                (S_ERROR, code),
                (S_BILLING, "NotBilled"),
                (S_AMOUNT, None),
                (S_RETRY, retries),
                (S_NEXT_RETRY, next_retry),
                (S_TRAFFIC, traffic),
            ),
        )

    def _sent_step(self, sent: int, warmup: bool, amount: int | None) -> _Step:
        return (
            sent,
            (
                (S_SENT, sent),
                (S_STATUS, "Sent"),
                (S_STATUS_REASON, "Accepted by the carrier; no delivery receipt yet"),
                (S_BILLING, "NotBillable" if warmup else "Pending"),
                (S_AMOUNT, amount),
            ),
        )

    def _receipt(
        self, row: list[Any], sent: int, delivered: int | None, warmup: bool
    ) -> Iterator[_Step]:
        """The delivery receipt (``None``: none ever comes) and the charge being billed."""
        steps: list[_Step] = []
        if not warmup:
            lag = _T_BILL[zlib.crc32(row[S_ID].encode()) & 4095]
            steps.append((sent + lag, ((S_BILLING, "Billed"),)))
        if delivered is not None:
            steps.append(
                (
                    delivered,
                    (
                        (S_DELIVERED, delivered),
                        (S_STATUS, "Delivered"),
                        (S_STATUS_REASON, "Delivered to handset"),
                    ),
                )
            )
        steps.sort(key=_step_time)
        yield from steps

    def _retries(
        self,
        row: list[Any],
        next_retry: int,
        retries: int,
        warmup: bool,
        amount: int | None,
        base_traffic: str,
    ) -> Iterator[_Step]:
        """Retries of a retryable failure, each at its ``nextRetryAt``, until one is
        delivered, the error is final or three retries were made. Drawn from a source of
        the message's own, so the lead's other events do not depend on them."""
        rng = self._live_rng(row, "retry")
        nxt: int | None = next_retry
        k = retries
        while nxt is not None:
            k += 1
            attempt = nxt
            yield (
                attempt,
                (
                    (S_SENDING, attempt),
                    (S_FAILED, None),
                    (S_NEXT_RETRY, None),
                    (S_ERROR, None),
                    (S_STATUS, "Sending"),
                    (S_STATUS_REASON, f"Retry {k}: handing the message to the carrier"),
                    (S_BILLING, "Pending"),
                    (S_RETRY, k),
                    (S_TRAFFIC, base_traffic),
                ),
            )
            if rng.random() < 0.55:
                sent = attempt + _T_SEND[int(rng.random() * 4096)]
                yield self._sent_step(sent, warmup, amount)
                yield from self._receipt(row, sent, sent + _carrier_gap(rng), warmup)
                return
            code, reason, retryable = FAIL_ERRORS[int(rng.random() * len(FAIL_ERRORS))]
            failed = attempt + _T_FAIL[int(rng.random() * 4096)]
            nxt = None
            if retryable and k < 3:
                nxt = failed + int((60 << k) * _TPS * (1 + rng.random()))
            yield self._failed_step(failed, code, reason, k, nxt, warmup, base_traffic)

    def inbound(self, t: int) -> list[Any]:
        rnd = self.rng.random
        row = self.base(t, self.tpl_in)
        row[S_SUMMARY] = text = _IN_TEXTS[int(rnd() * len(_IN_TEXTS))]
        row[S_RECEIVED] = t
        row[S_CARRIER] = _CARRIERS[int(rnd() * 4)]
        if text == "STOP":
            row[S_COMPLIANCE] = "OptOutRecorded"
        return row

    def call(self, t: int) -> list[Any]:
        p = self.p
        rnd = self.rng.random
        row = self.base(t)
        outbound = rnd() < 0.7
        r = rnd()
        status = "Completed" if r < 0.6 else "Missed" if r < 0.85 else "Voicemail"
        row[S_ETYPE] = "Call"
        row[S_ECAT] = "Calls"
        row[S_TCAT] = "Calls"
        row[S_TTYPE] = "Voicemail" if status == "Voicemail" else "Call"
        row[S_DIR] = "Outbound" if outbound else "Inbound"
        row[S_CONV] = p.conversation_id
        row[S_STATUS] = status
        row[S_TRAFFIC] = "Test" if p.is_demo else "RealLead"
        row[S_FROM] = p.number[1] if outbound else p.phone
        row[S_TO] = p.phone if outbound else p.number[1]
        row[S_FROM_ID] = p.number[0] if outbound else None
        row[S_OUT_ID] = p.number[0] if outbound else None
        row[S_SELECTION] = "StickyConversation"
        row[S_CAMPAIGN] = p.campaign[0]
        u = p.user
        if outbound:
            row[S_ACTOR_USER] = u[0]
            row[S_ACTOR_NAME] = u[1]
            row[S_ACTOR_EMAIL] = u[2]
            row[S_CREATED_BY] = u[1]
        else:
            row[S_CREATED_BY] = f"{p.first_name} {p.last_name}"
            row[S_ACTOR_LEAD] = p.id
        if status == "Missed":
            row[S_STATUS_REASON] = "No answer" if outbound else "Missed incoming call"
            row[S_BILLING] = "NotBilled"
            row[S_SUMMARY] = "Missed call"
        else:
            seconds = 5 + int(90 * _exp(self.rng.gauss()))
            minutes = -(-seconds // 60)
            row[S_AMOUNT] = 140 * minutes
            row[S_BILLING] = "Billed"
            if status == "Voicemail":
                row[S_STATUS_REASON] = "Caller left a voicemail"
                row[S_VOICEMAIL] = (
                    f"https://media.leadping.example/voicemail/{self.rng.getrandbits(64):016x}.mp3"
                )
                row[S_SUMMARY] = f"Voicemail ({seconds}s)"
            else:
                row[S_STATUS_REASON] = "Call completed"
                row[S_SUMMARY] = f"Call lasted {seconds // 60}m {seconds % 60:02d}s"
        return row

    def note(self, t: int) -> list[Any]:
        p = self.p
        u = p.user
        row = self.base(t)
        row[S_ETYPE] = "Note"
        row[S_ECAT] = "Notes"
        row[S_TCAT] = "Notes"
        row[S_TTYPE] = "Note"
        row[S_STATUS] = "Completed"
        row[S_SUMMARY] = _NOTE_TEXTS[int(self.rng.random() * len(_NOTE_TEXTS))]
        row[S_CREATED_BY] = u[1]
        row[S_ACTOR_USER] = u[0]
        row[S_ACTOR_NAME] = u[1]
        row[S_ACTOR_EMAIL] = u[2]
        row[S_CONV] = p.conversation_id
        return row

    def status_change(self, t: int) -> list[Any]:
        p = self.p
        rnd = self.rng.random
        row = self.base(t)
        a = LEAD_STATUSES[int(rnd() * len(LEAD_STATUSES))]
        b = LEAD_STATUSES[int(rnd() * len(LEAD_STATUSES))]
        row[S_ETYPE] = "LeadStatusChange"
        row[S_ECAT] = "Lead"
        row[S_TCAT] = "Lead"
        row[S_TTYPE] = "LeadStatusChange"
        row[S_STATUS] = "Completed"
        row[S_SUMMARY] = f"Status changed from {a[1]} to {b[1]}"
        row[S_REL_TYPE] = "LeadStatus"
        row[S_REL_ID] = b[0]
        if rnd() < 0.5:
            u = p.user
            row[S_CREATED_BY] = u[1]
            row[S_ACTOR_USER] = u[0]
            row[S_ACTOR_NAME] = u[1]
            row[S_ACTOR_EMAIL] = u[2]
        else:
            row[S_CREATED_BY] = "Automation"
        return row

    def notify(self, t: int) -> list[Any]:
        p = self.p
        rng = self.rng
        row = self.base(t)
        row[S_ETYPE] = "AutomationStep"
        row[S_ECAT] = "Automation"
        row[S_TCAT] = "Automation"
        row[S_TTYPE] = "Notification"
        row[S_STATUS] = "Completed"
        row[S_TRAFFIC] = "SystemInternal"
        row[S_CAMPAIGN] = p.campaign[0]
        row[S_AUTOMATION] = f"run_{rng.getrandbits(40):010x}"
        row[S_REL_TYPE] = "Automation"
        row[S_REL_ID] = f"aut_{p.campaign[0][4:]}"
        row[S_SUMMARY] = f"Automation step ran for {p.campaign[1]}"
        row[S_CREATED_BY] = "Automation"
        return row

    def lead_created(self, t: int) -> list[Any]:
        p = self.p
        row = self.base(t)
        row[S_ETYPE] = "LeadCreated"
        row[S_ECAT] = "Lead"
        row[S_TCAT] = "Lead"
        row[S_TTYPE] = "LeadCreated"
        row[S_STATUS] = "Completed"
        row[S_SUMMARY] = f"New lead {p.first_name} {p.last_name} from {p.source[1]}"
        row[S_CREATED_BY] = p.source[1]
        row[S_REL_TYPE] = "Lead"
        row[S_REL_ID] = p.id
        return row


_DESCRIPTIONS: dict[tuple[str | None, ...], str] = {}


def _describe(row: list[Any]) -> str:
    key = (row[S_ETYPE], row[S_DIR], row[S_STATUS], row[S_TTYPE])
    d = _DESCRIPTIONS.get(key)
    if d is None:
        etype, direction, status, ttype = key
        if ttype == "Warmup":
            d = "Warm-up SMS " + str(status).lower()
        elif etype in ("Sms", "Mms"):
            d = f"{direction} {etype.upper()} {str(status).lower()}"
        elif etype == "Call":
            d = f"{direction} call {str(status).lower()}"
        elif etype == "Note":
            d = "Note added"
        elif etype == "LeadStatusChange":
            d = "Lead status changed"
        elif etype == "LeadCreated":
            d = "Lead created"
        else:
            d = "Automation step completed"
        _DESCRIPTIONS[key] = d
    return d


def _finish(row: list[Any], q: int) -> tuple[Any, ...]:
    row[S_DESC] = _describe(row)
    if q > 1:
        for s in TIMESTAMP_SLOTS:
            v = row[s]
            if v is not None:
                row[s] = v - v % q
    return tuple(row)


#: A live event's later states, ``((time, row), ...)`` in time order: from ``time`` on, the
#: event reads as ``row`` (until the next state's time).
States = tuple[tuple[int, tuple[Any, ...]], ...]


@dataclass(frozen=True)
class LeadLife:
    """A lead's events: each one's state at the generation's ``now``, plus the later states
    of the events still in flight then (``live``: index in ``rows`` -> states)."""

    rows: list[tuple[Any, ...]]
    live: dict[int, States]


_TS_SLOTS = frozenset(TIMESTAMP_SLOTS)


def _states(row: tuple[Any, ...], future: list[_Step], quantum: int) -> States:
    """Materialise a live event's steps after ``now`` into its later states."""
    out: list[tuple[int, tuple[Any, ...]]] = []
    cur = list(row)
    for time, patch in future:
        if not patch:
            continue
        for s, v in patch:
            if quantum > 1 and v is not None and s in _TS_SLOTS:
                v -= v % quantum
            cur[s] = v
        cur[S_DESC] = _describe(cur)
        state = (time, tuple(cur))
        if out and out[-1][0] == time:
            out[-1] = state
        else:
            out.append(state)
    return tuple(out)


def state_at(row: tuple[Any, ...], states: States, now: int) -> tuple[Any, ...]:
    """The event as it reads at ``now``: the last state reached, else ``row``."""
    for time, later in reversed(states):
        if time <= now:
            return later
    return row


def _event_rows(g: _Gen, times: list[int], *, first: bool, live_from_creation: bool) -> LeadLife:
    """Build the events at ``times`` (the kind of each drawn from the lead's stream)."""
    rnd = g.rng.random
    quantum = g.q
    outbound, inbound, call = g.outbound, g.inbound, g.call
    out: list[tuple[Any, ...]] = []
    live: dict[int, States] = {}
    append = out.append
    descriptions = _DESCRIPTIONS
    slots = TIMESTAMP_SLOTS if quantum > 1 else ()
    for i, t in enumerate(times):
        if live_from_creation:
            g.now = t
        if first and i == 0:
            append(_finish(g.lead_created(t), quantum))
            continue
        r = 0.0 if first and i == 1 else rnd()
        if r < 0.55:
            row = outbound(t, False, False)
        elif r < 0.69:
            row = inbound(t)
        elif r < 0.74:
            row = outbound(t, False, True)
        elif r < 0.77:
            row = outbound(t, True, False)
        elif r < 0.84:
            row = call(t)
        elif r < 0.88:
            row = g.note(t)
        elif r < 0.92:
            row = g.status_change(t)
        else:
            row = g.notify(t)
        key = (row[S_ETYPE], row[S_DIR], row[S_STATUS], row[S_TTYPE])
        d = descriptions.get(key)
        row[S_DESC] = d if d is not None else _describe(row)
        for s in slots:
            v = row[s]
            if v is not None:
                row[s] = v - v % quantum
        if g.future:
            live[len(out)] = _states(tuple(row), g.future, quantum)
        g.future = None
        append(tuple(row))
    return LeadLife(out, live)


def generate_lead_life(
    p: LeadProfile, now: int | None, quantum: int = 1, *, horizon: int = 30 * _DAY
) -> LeadLife:
    """Every event of one lead: its state at ``now`` and the later states of those in flight.

    Parameters
    ----------
    p
        The lead's profile (:func:`make_profile`).
    now
        The instant the lead's history is generated up to, in ticks: events are created
        before it, and what happens to them after it is kept as later states. ``None``: a
        lead that arrives after the emulator started; its events are created over
        ``horizon`` after the lead, each live from its creation.
    quantum
        Timestamps are truncated to a multiple of this many ticks (the served precision).
    """
    rng = random.Random(f"events:{p.seed}:{p.index}")
    end = p.created + horizon if now is None else now
    times = _timeline(p, end, rng)
    g = _Gen(p, end, quantum, rng)
    return _event_rows(g, times, first=True, live_from_creation=now is None)


def generate_lead_events(p: LeadProfile, now: int, quantum: int = 1) -> list[tuple[Any, ...]]:
    """Every event of one lead as it reads at ``now``, as internal rows in creation order."""
    return generate_lead_life(p, now, quantum).rows


def future_rate(p: LeadProfile, at: int) -> float:
    """Expected events a day of an existing lead at ``at`` (ticks): heavy leads keep their
    pace, others fade out over their first weeks and come back now and then."""
    age_days = max(0.0, (at - p.created) / _DAY)
    if p.heavy:
        return p.n_events / max(age_days, 30.0)
    return 3.0 * _exp(-age_days / 5.0) + 0.03


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (normal approximation above 30)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, int(rng.gauss(lam, math.sqrt(lam)) + 0.5))
    limit = _exp(-lam)
    k = 0
    prod = rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def future_events(p: LeadProfile, day: int, start: int, quantum: int) -> LeadLife:
    """The events an existing lead gets in ``[start, start + 1 day)`` (day ``day`` after
    the emulator's start), each live from its creation; deterministic in its arguments."""
    rng = random.Random(f"future:{p.seed}:{p.index}:{day}")
    n = poisson(rng, future_rate(p, start + _DAY // 2))
    tz = p.tz_hours * _HOUR
    times = sorted(_rhythm(start + 1 + int(rng.random() * (_DAY - 1)), tz, rng) for _ in range(n))
    g = _Gen(p, start, quantum, rng)
    g.n_out = 1
    return _event_rows(g, times, first=False, live_from_creation=True)


def new_lead_times(seed: int, day: int, start: int, rate: float) -> list[int]:
    """Creation instants (whole seconds) of the leads that arrive in ``[start, start + 1
    day)``; ``rate`` is the expected number a day."""
    rng = random.Random(f"new-leads:{seed}:{day}")
    n = poisson(rng, rate)
    times = sorted(start + 1 + int(rng.random() * (_DAY - 1)) for _ in range(n))
    return [t - t % _TPS + _TPS for t in times]


def appended_events(
    p: LeadProfile, start: int, n: int, counter: int, quantum: int
) -> list[tuple[Any, ...]]:
    """``n`` new outbound/inbound events after ``start`` (ticks), for incremental refreshes.

    Each event is at least one second after the previous one, so they stay strictly after
    the current data end at every served precision.
    """
    rng = random.Random(f"append:{p.seed}:{p.index}:{counter}")
    g = _Gen(p, 1 << 62, quantum, rng)  # no "now" limit: appended events are complete
    g.n_out = 1
    out = []
    t = start
    for _ in range(n):
        t += _TPS + _lognorm_ticks(rng, 120.0, 1.0)
        t -= t % quantum
        row = g.inbound(t) if rng.random() < 0.2 else g.outbound(t, False, False)
        row[S_SCHEDULED] = row[S_SCHED_REASON] = None
        out.append(_finish(row, quantum))
    return out


def generate_raw_events(
    seed: int, n_events: int, *, now: int | None = None, quantum: int = 1
) -> Iterator[tuple[Any, ...]]:
    """Stream ``n_events`` internal rows from an unbounded population of leads.

    About 1 lead in 25 is heavy (thousands of events). Deterministic in ``seed``.
    """
    if now is None:
        now = to_ticks(DEFAULT_NOW)
    produced = 0
    index = 0
    heavy_rng = random.Random(f"heavy-stream:{seed}")
    while produced < n_events:
        heavy = heavy_rng.random() < 0.04
        p = make_profile(seed, index, heavy=heavy, now=now, n_leads=10**7)
        rows = generate_lead_events(p, now, quantum)
        take = min(len(rows), n_events - produced)
        yield from rows[:take]
        produced += take
        index += 1
