"""The kinds of events a lead gets: :class:`_Gen`, one lead's generation state, builds
its outbound and inbound messages, calls, notes, status changes, automation steps and its
``LeadCreated`` event (messages run through their lifecycle, :mod:`._lifecycle`).
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from typing import Any

from ._catalog import (
    _BLANK,
    _CARRIERS,
    _DAY,
    _HOUR,
    _IN_REPLIES,
    _IN_TEXTS,
    _MIN,
    _NOTE_TEXTS,
    _OUT_TEXTS,
    _TPS,
    LEAD_STATUSES,
    S_ACTOR_EMAIL,
    S_ACTOR_LEAD,
    S_ACTOR_NAME,
    S_ACTOR_USER,
    S_AMOUNT,
    S_AUTOMATION,
    S_BILLING,
    S_CAMPAIGN,
    S_CARRIER,
    S_COMPLIANCE,
    S_CONV,
    S_CREATED,
    S_CREATED_BY,
    S_DEMO,
    S_DIR,
    S_ECAT,
    S_ETYPE,
    S_FROM,
    S_FROM_ID,
    S_ID,
    S_LEAD,
    S_MEDIA,
    S_OUT_ID,
    S_OVERRIDE,
    S_PROVIDER,
    S_RECEIVED,
    S_REL_ID,
    S_REL_TYPE,
    S_SCHED_REASON,
    S_SCHEDULED,
    S_SEGMENTS,
    S_SELECTION,
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
    S_VOICEMAIL,
    S_WARMUP,
    SCHEDULE_REASONS,
    SENDING_NUMBERS,
    WARMUP_NUMBERS,
)
from ._lifecycle import NEVER, _Lifecycle, _Step
from ._profiles import (
    _T_BLOCK,
    LeadProfile,
    _quiet,
)


def _uuid(rng: random.Random) -> str:
    s = f"{rng.getrandbits(128):032x}"
    return f"{s[:8]}-{s[8:12]}-4{s[13:16]}-{s[16:20]}-{s[20:]}"


_ID_MULT = 0x9E3779B97F4A7C15  # odd: multiplication is a bijection modulo 2**48
_MASK48 = (1 << 48) - 1

_exp = math.exp


def _row_templates(
    p: LeadProfile,
) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """A lead's row templates, the fields that never change for this lead and kind: any
    event, a warm-up message, an outbound message, an inbound message."""
    tpl = _BLANK[:]
    tpl[S_LEAD] = p.id
    tpl[S_SOURCE] = p.source[0]
    tpl[S_DEMO] = p.is_demo
    tpl[S_TRAFFIC] = "Test" if p.is_demo else "RealLead"
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
    msg[S_TRAFFIC] = "Test" if p.is_demo else "RealLead"
    msg[S_CAMPAIGN] = p.campaign[0]
    out = msg[:]
    out[S_DIR] = "Outbound"
    out[S_TO] = p.phone
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
    return tpl, warm, out, inn


class _Gen(_Lifecycle):
    """Per-lead generation state (kept in one object so helpers share it cheaply).

    One job, one class: a lead's event rows, one public method per kind (``outbound``,
    ``inbound``, ``stop_reply``, ``call``, ``note``, ``status_change``, ``notify``,
    ``lead_created``) over one shared state (the lead's random stream, ids and row
    templates); the message lifecycle is the base class, :class:`._lifecycle._Lifecycle`.
    It is long because the kinds are many, not because it does several things.
    """

    __slots__ = (
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
        self.stop = NEVER
        agent = p.user[1].split()[0]
        # every text a lead can get, formatted once (shared strings: fast and compact)
        self.texts = tuple(
            t.format(f=p.first_name, t=self.topic, a=agent, h=h)
            for t in _OUT_TEXTS
            for h in range(9, 17)
        )
        self.tpl, self.tpl_warm, self.tpl_out, self.tpl_in = _row_templates(p)

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
        """An outbound SMS/MMS (or warm-up message) created at ``t``, driven through its
        lifecycle up to ``now``. The steps below draw from the lead's stream in this order
        (the emulator's data depend on it): carrier, the message fields, the schedule, the
        outcome, then the lifecycle."""
        rnd = self.rng.random
        carrier = int(rnd() * 5) if rnd() < 0.97 else 4
        if warmup:
            row = self.base(t, self.tpl_warm)
            row[S_TO] = WARMUP_NUMBERS[int(rnd() * len(WARMUP_NUMBERS))][1]
        else:
            row = self._message(t, mms)
        row[S_CARRIER] = _CARRIERS[carrier]
        self.n_out += 1
        scheduled = self._schedule(row, t, warmup)
        outcome = self._outcome(t, warmup)
        self._drive(row, self._first_steps(row, t, scheduled, outcome, warmup, mms, carrier))
        return row

    def _message(self, t: int, mms: bool) -> list[Any]:
        """A customer message's fields: sending number, text, author, segments, media."""
        p = self.p
        rng = self.rng
        rnd = rng.random
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
            self._by_user(row)
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
        return row

    def _schedule(self, row: list[Any], t: int, warmup: bool) -> int:
        """The scheduled send time (quiet hours and other reasons), 0 for a send now."""
        rnd = self.rng.random
        scheduled = 0
        quiet = _quiet(t, self.p.tz_hours * _HOUR)
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
        return scheduled

    def _outcome(self, t: int, warmup: bool) -> int:
        """How the message ends: 0 delivered, 1 failed, 2 undeliverable, 3 compliance-blocked,
        4 canceled, 5 sent without a receipt, 6 suppressed (after the lead's STOP)."""
        r = self.rng.random()
        if warmup:
            outcome = 0 if r < 0.97 else 1
        elif r < 0.80:
            outcome = 0
        elif r < 0.85:
            outcome = 1
        elif r < 0.875:
            outcome = 2
        elif r < 0.895:
            outcome = 3
        elif r < 0.91:
            outcome = 4
        else:
            outcome = 5
        if not warmup and t >= self.stop:
            outcome = 6
        return outcome

    def _first_steps(
        self,
        row: list[Any],
        t: int,
        scheduled: int,
        outcome: int,
        warmup: bool,
        mms: bool,
        carrier: int,
    ) -> Iterator[_Step]:
        """The state before anything happens (waiting for the send time, or in the queue),
        then the steps that follow: a cancellation, or the lifecycle from the send time."""
        rnd = self.rng.random
        start = scheduled or t
        stop = NEVER if warmup else self.stop
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
            if cancel >= stop:
                cancel = self._opt_out_cancel(row, stop)
            return self._canceled(cancel, cancel > stop)
        if start >= stop and outcome != 6:
            # due after the lead's STOP: the scheduled send is canceled then
            row[S_STATUS] = "Scheduled"
            row[S_STATUS_REASON] = "Waiting for the scheduled send time"
            return self._canceled(self._opt_out_cancel(row, stop), True)
        return self._lifecycle(row, start, outcome, warmup, mms, carrier)

    def _completed(
        self, t: int, event_type: str, category: str, timeline: str, timeline_type: str
    ) -> list[Any]:
        """A new row of a kind that is complete when created (notes, lead events, automation
        steps): its type, category, timeline category and type, status ``Completed``."""
        row = self.base(t)
        row[S_ETYPE] = event_type
        row[S_ECAT] = category
        row[S_TCAT] = timeline
        row[S_TTYPE] = timeline_type
        row[S_STATUS] = "Completed"
        return row

    def _by_user(self, row: list[Any]) -> None:
        """The lead's user as the actor and author of ``row`` (no draw)."""
        u = self.p.user
        row[S_ACTOR_USER] = u[0]
        row[S_ACTOR_NAME] = u[1]
        row[S_ACTOR_EMAIL] = u[2]
        row[S_CREATED_BY] = u[1]

    def _opt_out_cancel(self, row: list[Any], stop: int) -> int:
        """When a send due after the lead's STOP is canceled: just after it (no draw)."""
        return stop + _TPS + _T_BLOCK[zlib.crc32(row[S_ID].encode()) & 4095]

    def inbound(self, t: int) -> list[Any]:
        rnd = self.rng.random
        row = self.base(t, self.tpl_in)
        text = _IN_TEXTS[int(rnd() * len(_IN_TEXTS))]
        if text == "STOP":
            # only a lead that opts out replies STOP (:meth:`stop_reply`): another reply
            text = _IN_REPLIES[zlib.crc32(row[S_ID].encode()) % len(_IN_REPLIES)]
        row[S_SUMMARY] = text
        row[S_RECEIVED] = t
        row[S_CARRIER] = _CARRIERS[int(rnd() * 4)]
        return row

    def stop_reply(self, t: int) -> list[Any]:
        """The lead's STOP at ``t`` (``self.stop``): no draw from the lead's stream."""
        p = self.p
        row = self.base(t, self.tpl_in)
        row[S_SUMMARY] = "STOP"
        row[S_RECEIVED] = t
        row[S_CARRIER] = _CARRIERS[zlib.crc32(f"stop:{p.seed}:{p.index}".encode()) % 4]
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
        if outbound:
            self._by_user(row)
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
        row = self._completed(t, "Note", "Notes", "Notes", "Note")
        row[S_SUMMARY] = _NOTE_TEXTS[int(self.rng.random() * len(_NOTE_TEXTS))]
        self._by_user(row)
        row[S_CONV] = self.p.conversation_id
        return row

    def status_change(self, t: int) -> list[Any]:
        rnd = self.rng.random
        row = self._completed(t, "LeadStatusChange", "Lead", "Lead", "LeadStatusChange")
        a = LEAD_STATUSES[int(rnd() * len(LEAD_STATUSES))]
        b = LEAD_STATUSES[int(rnd() * len(LEAD_STATUSES))]
        row[S_SUMMARY] = f"Status changed from {a[1]} to {b[1]}"
        row[S_REL_TYPE] = "LeadStatus"
        row[S_REL_ID] = b[0]
        if rnd() < 0.5:
            self._by_user(row)
        else:
            row[S_CREATED_BY] = "Automation"
        return row

    def notify(self, t: int) -> list[Any]:
        p = self.p
        rng = self.rng
        row = self._completed(t, "AutomationStep", "Automation", "Automation", "Notification")
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
        row = self._completed(t, "LeadCreated", "Lead", "Lead", "LeadCreated")
        row[S_SUMMARY] = f"New lead {p.first_name} {p.last_name} from {p.source[1]}"
        row[S_CREATED_BY] = p.source[1]
        row[S_REL_TYPE] = "Lead"
        row[S_REL_ID] = p.id
        return row
