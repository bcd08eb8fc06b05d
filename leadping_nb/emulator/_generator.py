"""Seeded, lazy generator of synthetic SMS lead follow-up activity.

Every event is produced as a compact *internal row*: a tuple indexed by the ``S_*`` slot
constants below (one slot per field of :data:`leadping_nb._schema.EVENT_FIELDS`, in that
order, plus two slots for the optional "unknown extra fields"). Values are stored in
compact canonical form:

* timestamps: ``int`` ticks of 100 ns since the Unix epoch (UTC), already truncated to the
  precision the emulator serves (the *quantum*), so what is filtered and sorted is exactly
  what is rendered;
* money: ``int`` in units of 0.0001 (4 decimals);
* integers and booleans as such; strings as ``str``; ``None`` for null;
* media: a tuple of ``(url, contentType, size, sha256, fileName, fileId)`` tuples.

A lead's events depend only on ``(seed, lead index, heavy?, now, quantum)``, so any lead
can be regenerated on demand (the emulator caches them in a bounded LRU).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Any

from leadping_nb._schema import EVENT_FIELDS

__all__ = [
    "DEFAULT_NOW",
    "N_SLOTS",
    "SLOT_OF",
    "TICKS_PER_SECOND",
    "LeadProfile",
    "generate_lead_events",
    "generate_raw_events",
    "make_profile",
]

TICKS_PER_SECOND = 10_000_000
_TPS = TICKS_PER_SECOND
_MIN = 60 * _TPS
_HOUR = 3600 * _TPS
_DAY = 86400 * _TPS

#: The fixed "now" generated data end at, unless the emulator is given another one.
DEFAULT_NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

#: Internal slot of every field (API name -> index); extras follow the declared fields.
SLOT_OF: dict[str, int] = {f.api: i for i, f in enumerate(EVENT_FIELDS)}
SLOT_OF["_segments"] = len(EVENT_FIELDS)
SLOT_OF["_carrier"] = len(EVENT_FIELDS) + 1
N_SLOTS = len(SLOT_OF)

S_ID = SLOT_OF["id"]
S_LEAD = SLOT_OF["leadId"]
S_ETYPE = SLOT_OF["eventType"]
S_ECAT = SLOT_OF["eventCategory"]
S_TCAT = SLOT_OF["timelineCategory"]
S_TTYPE = SLOT_OF["timelineType"]
S_DESC = SLOT_OF["description"]
S_SUMMARY = SLOT_OF["summary"]
S_CONV = SLOT_OF["conversationId"]
S_REL_TYPE = SLOT_OF["relatedEntityType"]
S_REL_ID = SLOT_OF["relatedEntityId"]
S_DIR = SLOT_OF["direction"]
S_STATUS = SLOT_OF["status"]
S_STATUS_REASON = SLOT_OF["statusReason"]
S_TRAFFIC = SLOT_OF["trafficType"]
S_WARMUP = SLOT_OF["isWarmup"]
S_DEMO = SLOT_OF["isDemo"]
S_FROM_ID = SLOT_OF["fromPhoneNumberId"]
S_OUT_ID = SLOT_OF["outboundPhoneNumberId"]
S_FROM = SLOT_OF["fromPhoneNumber"]
S_TO = SLOT_OF["toPhoneNumber"]
S_TELNYX = SLOT_OF["telnyxId"]
S_PROVIDER = SLOT_OF["providerMessageId"]
S_SELECTION = SLOT_OF["selectionReason"]
S_OVERRIDE = SLOT_OF["wasManuallyOverridden"]
S_CAMPAIGN = SLOT_OF["campaignId"]
S_SOURCE = SLOT_OF["sourceId"]
S_TENDLC = SLOT_OF["tenDlcCampaignId"]
S_COMPLIANCE = SLOT_OF["complianceAction"]
S_BILLING = SLOT_OF["billingStatus"]
S_AMOUNT = SLOT_OF["billableAmount"]
S_ERROR = SLOT_OF["errorCode"]
S_RETRY = SLOT_OF["retryCount"]
S_QUEUED = SLOT_OF["queuedAt"]
S_SENDING = SLOT_OF["sendingStartedAt"]
S_SENT = SLOT_OF["sentAt"]
S_DELIVERED = SLOT_OF["deliveredAt"]
S_RECEIVED = SLOT_OF["receivedAt"]
S_FAILED = SLOT_OF["failedAt"]
S_UNDELIVERABLE = SLOT_OF["undeliverableAt"]
S_BLOCKED = SLOT_OF["blockedAt"]
S_NEXT_RETRY = SLOT_OF["nextRetryAt"]
S_SCHEDULED = SLOT_OF["scheduledFor"]
S_SCHED_REASON = SLOT_OF["scheduledReason"]
S_CANCELED = SLOT_OF["canceledAt"]
S_CANCEL_REASON = SLOT_OF["cancelReason"]
S_CREATED = SLOT_OF["createdAt"]
S_CREATED_BY = SLOT_OF["createdBy"]
S_ACTOR_USER = SLOT_OF["actorUserId"]
S_ACTOR_NAME = SLOT_OF["actorDisplayName"]
S_ACTOR_EMAIL = SLOT_OF["actorEmail"]
S_ACTOR_LEAD = SLOT_OF["actorLeadId"]
S_AUTOMATION = SLOT_OF["automationRunId"]
S_VOICEMAIL = SLOT_OF["voicemailUrl"]
S_MEDIA = SLOT_OF["media"]
S_SEGMENTS = SLOT_OF["_segments"]
S_CARRIER = SLOT_OF["_carrier"]

#: Slots holding timestamps (ticks), in lifecycle order.
TIMESTAMP_SLOTS: tuple[int, ...] = tuple(
    i for i, f in enumerate(EVENT_FIELDS) if f.kind == "timestamp"
)

_BLANK: list[Any] = [None] * N_SLOTS
_BLANK[S_OVERRIDE] = False
_BLANK[S_RETRY] = 0
_BLANK[S_WARMUP] = False
_BLANK[S_DEMO] = False
_BLANK[S_MEDIA] = ()

# --------------------------------------------------------------------------------------
# Pools: sources, campaigns, 10DLC campaigns, sending numbers, users
# --------------------------------------------------------------------------------------

ORGANIZATION = ("org_7f3c2a", "Summit Home Advisors")

SOURCES: tuple[tuple[str, str], ...] = (
    ("src_fb01", "Facebook Lead Ads"),
    ("src_ggl2", "Google Ads"),
    ("src_web3", "Website Form"),
    ("src_zil4", "Zillow"),
    ("src_ref5", "Referral"),
    ("src_csv6", "CSV Import"),
)
_SOURCE_WEIGHTS = (0.32, 0.22, 0.2, 0.14, 0.07, 0.05)

#: (campaign id, name, topic used in message texts)
CAMPAIGNS: tuple[tuple[str, str, str], ...] = (
    ("cmp_1001", "Speed to Lead", "your home search"),
    ("cmp_1002", "Refinance Follow-up", "refinancing"),
    ("cmp_1003", "Open House Invites", "this weekend's open house"),
    ("cmp_1004", "Seller Valuation", "a free home valuation"),
    ("cmp_1005", "Re-engagement 90d", "buying a home this year"),
    ("cmp_1006", "Appointment Reminders", "your appointment"),
    ("cmp_1007", "First-time Buyers", "first-time buyer programs"),
    ("cmp_1008", "Rental Leads", "rentals in your area"),
)

TEN_DLC_CAMPAIGNS: tuple[str, ...] = ("CQ7ZK2M", "CB4RTV9", "CX1HN8P")

_AREA_CODES = (212, 305, 312, 415, 512, 602, 617, 702, 713, 773, 801, 919, 206, 303, 404, 503)
_TZ_BY_AREA = {
    212: -5,
    305: -5,
    312: -6,
    415: -8,
    512: -6,
    602: -7,
    617: -5,
    702: -8,
    713: -6,
    773: -6,
    801: -7,
    919: -5,
    206: -8,
    303: -7,
    404: -5,
    503: -8,
}


def _make_numbers() -> tuple[tuple[str, str, int], ...]:
    """Sending numbers: (id, E.164, area code); 3 per area code (16 areas -> 48 numbers)."""
    rng = random.Random(4242)
    out = []
    for area in _AREA_CODES:
        for _ in range(3):
            nid = f"pn_{rng.getrandbits(40):010x}"
            out.append((nid, f"+1{area}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}", area))
    return tuple(out)


SENDING_NUMBERS: tuple[tuple[str, str, int], ...] = _make_numbers()
_NUMBERS_BY_AREA: dict[int, list[tuple[str, str, int]]] = {}
for _n in SENDING_NUMBERS:
    _NUMBERS_BY_AREA.setdefault(_n[2], []).append(_n)
#: Dedicated warm-up numbers (internal peers of warm-up traffic).
WARMUP_NUMBERS: tuple[tuple[str, str], ...] = (
    ("pn_wu00000001", "+18885550101"),
    ("pn_wu00000002", "+18885550102"),
    ("pn_wu00000003", "+18885550103"),
    ("pn_wu00000004", "+18885550104"),
)

#: (user id, display name, email)
USERS: tuple[tuple[str, str, str], ...] = (
    ("usr_a1f3", "Maya Patel", "maya.patel@summithome.example"),
    ("usr_b7c2", "Jordan Reyes", "jordan.reyes@summithome.example"),
    ("usr_c9d4", "Priya Shah", "priya.shah@summithome.example"),
    ("usr_d2e8", "Tom Becker", "tom.becker@summithome.example"),
    ("usr_e5b1", "Alicia Gómez", "alicia.gomez@summithome.example"),
)

_FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara "
    "Richard Susan Joseph Jessica Thomas Sarah Carlos Karen Daniel Lisa Matthew Nancy Anthony "
    "Sandra Mark Ashley Luis Emily Kevin Dana Brian Michelle Wei Amanda Omar Melissa Raj Zoe "
    "José Renée Chloé Nguyen Fatima Mateo"
).split()
_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "O'Brien Kowalski Müller Chen Okafor Dubois"
).split()
_MAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com")

LEAD_STATUSES: tuple[tuple[str, str, str], ...] = (
    ("ls_new", "New", "info"),
    ("ls_contacted", "Contacted", "info"),
    ("ls_qualified", "Qualified", "success"),
    ("ls_appt", "Appointment Set", "success"),
    ("ls_won", "Won", "success"),
    ("ls_lost", "Lost", "danger"),
    ("ls_unresp", "Unresponsive", "warning"),
)

TAGS: tuple[tuple[str, str, str], ...] = (
    ("tag_hot", "Hot", "#e5484d"),
    ("tag_buyer", "Buyer", "#3e63dd"),
    ("tag_seller", "Seller", "#30a46c"),
    ("tag_vip", "VIP", "#f5d90a"),
    ("tag_spanish", "Spanish", "#8e4ec6"),
)

_OUT_TEXTS = (
    "Hi {f}, thanks for your interest in {t}! When is a good time to chat?",
    "Hi {f}, just following up on your request about {t}. Reply YES to set up a call.",
    "{f}, are you still looking into {t}? We have openings this week.",
    "Hi {f}, this is {a} with Summit Home Advisors. Do you have 5 minutes today?",
    "Quick reminder {f}: your call about {t} is tomorrow at {h}:00.",
    "Hi {f}! Any questions about {t}? Happy to help. Reply STOP to opt out.",
    "{f}, I have a few new listings that match {t}. Want me to send them over?",
)
_IN_TEXTS = (
    "Yes please",
    "Who is this?",
    "Can you call me tomorrow?",
    "Not interested, thanks",
    "What are the rates right now?",
    "Thanks!",
    "Sounds good, 3pm works",
    "Send me the listings",
    "STOP",
    "Is this still available?",
    "I'm at work, text me later",
)
_NOTE_TEXTS = (
    "Left voicemail, will try again Thursday.",
    "Lead prefers text over calls.",
    "Pre-approved with a local lender; budget around $450k.",
    "Asked to be contacted after 5pm.",
    "Spoke with spouse, wants to tour on Saturday.",
    "Duplicate of an older lead, merged notes.",
)
_CARRIERS = ("T-Mobile", "Verizon Wireless", "AT&T", "US Cellular", "Google Voice")
_CARRIER_SURCHARGE = (30, 30, 20, 25, 0)  # in 0.0001 units per segment

#: Carrier-style error codes (Telnyx messaging codes) and their status reasons.
FAIL_ERRORS: tuple[tuple[str, str, bool], ...] = (
    ("40006", "Recipient server unavailable", True),
    ("40001", "Not routable", False),
    ("40002", "Blocked as spam - temporary", True),
    ("40018", "AT&T daily message limit exceeded", True),
    ("40014", "Message expired during transmission", True),
    ("40012", "Invalid destination number", False),
)
UNDELIVERABLE_ERRORS: tuple[tuple[str, str], ...] = (
    ("40008", "Undeliverable"),
    ("40310", "Invalid 'to' address"),
    ("40013", "Landline or non-SMS-capable number"),
    ("40003", "Blocked as spam - permanent"),
)
BLOCK_REASONS: tuple[tuple[str, str, str], ...] = (
    ("40300", "Recipient opted out (STOP)", "OptOutSuppressed"),
    ("40305", "Quiet hours: sending window closed", "QuietHoursBlocked"),
    ("40331", "No consent on record for this number", "ConsentMissing"),
    ("40333", "Number on the suppression list", "SuppressionListBlocked"),
)
CANCEL_REASONS = ("LeadReplied", "LeadOptedOut", "CampaignPaused", "ManuallyCanceled")
SCHEDULE_REASONS = ("RateLimited", "SendWindow", "DripStep", "CarrierThroughput")


@dataclass(frozen=True)
class LeadProfile:
    """Everything fixed about one generated lead (its events are derived from it)."""

    index: int
    id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    area: int
    tz_hours: int
    created: int  # ticks
    source: tuple[str, str]
    campaign: tuple[str, str, str]
    ten_dlc: str
    number: tuple[str, str, int]
    n_events: int
    heavy: bool
    is_demo: bool
    conversation_id: str
    user: tuple[str, str, str]
    status: tuple[str, str, str]
    price: int  # cents
    tags: tuple[int, ...]
    archived: bool
    seed: int


def lead_id_for(index: int, n_leads: int = 0) -> str:
    """The id of the lead at ``index`` (``lead_0001`` ...)."""
    width = max(4, len(str(n_leads)))
    return f"lead_{index + 1:0{width}d}"


def _choice_w(rng: random.Random, items: tuple[Any, ...], weights: tuple[float, ...]) -> Any:
    r = rng.random()
    acc = 0.0
    for item, w in zip(items, weights, strict=True):
        acc += w
        if r < acc:
            return item
    return items[-1]


def make_profile(
    seed: int, index: int, *, heavy: bool, now: int, n_leads: int = 0, lead_id: str | None = None
) -> LeadProfile:
    """Build the profile of lead ``index`` (deterministic in its arguments)."""
    rng = random.Random(f"lead:{seed}:{index}")
    first = rng.choice(_FIRST)
    last = rng.choice(_LAST)
    area = rng.choice(_AREA_CODES)
    phone = f"+1{area}555{rng.randint(0, 9999):04d}"
    mail_user = (first + "." + last).lower().replace("'", "").replace(" ", "")
    email = f"{mail_user}{rng.randint(1, 99)}@{rng.choice(_MAIL_DOMAINS)}"
    if heavy:
        n_events = int(math.exp(rng.uniform(math.log(1000), math.log(5000))))
        age_days = rng.uniform(200, 400)
    else:
        n_events = max(3, min(400, int(rng.lognormvariate(math.log(28), 0.55))))
        # leads keep arriving: recent leads are more common (exponential age)
        age_days = min(360.0, rng.expovariate(1 / 60) + 0.2)
    created = now - int(age_days * _DAY)
    created -= created % _TPS  # leads are created at whole seconds
    source = _choice_w(rng, SOURCES, _SOURCE_WEIGHTS)
    campaign = rng.choice(CAMPAIGNS)
    numbers = _NUMBERS_BY_AREA.get(area) or list(SENDING_NUMBERS)
    number = rng.choice(numbers) if rng.random() < 0.85 else rng.choice(SENDING_NUMBERS)
    return LeadProfile(
        index=index,
        id=lead_id if lead_id is not None else lead_id_for(index, n_leads),
        first_name=first,
        last_name=last,
        email=email,
        phone=phone,
        area=area,
        tz_hours=_TZ_BY_AREA[area],
        created=created,
        source=source,
        campaign=campaign,
        ten_dlc=TEN_DLC_CAMPAIGNS[index % len(TEN_DLC_CAMPAIGNS)],
        number=number,
        n_events=n_events,
        heavy=heavy,
        is_demo=rng.random() < 0.06,
        conversation_id=f"conv_{rng.getrandbits(48):012x}",
        user=rng.choice(USERS),
        status=rng.choice(LEAD_STATUSES),
        price=rng.choice((0, 1500, 2500, 3500, 4500, 7500)),
        tags=tuple(sorted(rng.sample(range(len(TAGS)), rng.choice((0, 0, 1, 1, 2))))),
        archived=rng.random() < 0.05,
        seed=seed,
    )


def _uuid(rng: random.Random) -> str:
    s = f"{rng.getrandbits(128):032x}"
    return f"{s[:8]}-{s[8:12]}-4{s[13:16]}-{s[16:20]}-{s[20:]}"


_ID_MULT = 0x9E3779B97F4A7C15  # odd: multiplication is a bijection modulo 2**48
_MASK48 = (1 << 48) - 1


def _rhythm(t: int, tz_ticks: int, rng: random.Random) -> int:
    """Push a timestamp towards business hours and weekdays (daily and weekly rhythm)."""
    local = t + tz_ticks
    day_start = local - local % _DAY
    hour = (local - day_start) // _HOUR
    if (hour < 8 or hour >= 21) and rng.random() < 0.82:
        # night: most activity waits for the next morning
        base = day_start + (_DAY if hour >= 21 else 0)
        local = base + 8 * _HOUR + int(rng.random() * 4 * _HOUR)
        day_start = local - local % _DAY
    weekday = (day_start // _DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    if weekday >= 5 and rng.random() < 0.55:
        local += (7 - weekday) * _DAY
    return local - tz_ticks


def _timeline(p: LeadProfile, now: int, rng: random.Random) -> list[int]:
    """Sorted creation times (ticks) of a lead's events, the first being lead creation."""
    n = p.n_events
    t0 = p.created
    times = [t0]
    if n == 1:
        return times
    # speed to lead: the first follow-up lands seconds to minutes after creation
    first = t0 + _lognorm_ticks(rng, 25.0, 1.0)
    times.append(first)
    m = n - 2
    if m == 0:
        return times
    room = now - first - _MIN
    if p.heavy:
        span = int(room * rng.uniform(0.8, 0.98))
    else:
        span = int(min(room * rng.uniform(0.5, 0.98), rng.lognormvariate(math.log(9), 0.9) * _DAY))
    span = max(span, m * _TPS)
    rnd = rng.random
    gaps = [_T_GAP[int(rnd() * 4096)] for _ in range(m)]
    scale = span / sum(gaps)
    tz = p.tz_hours * _HOUR
    acc = 0.0
    limit = now - _TPS
    for g in gaps:
        acc += g * scale
        t = _rhythm(first + int(acc) + int(rnd() * _TPS), tz, rng)
        if t > limit:
            t = limit - int(rnd() * 6 * _HOUR)
        if t <= t0:
            t = t0 + 1 + int(rnd() * _MIN)
        times.append(t)
    times.sort()
    return times


def _quiet(t: int, tz_ticks: int) -> int:
    """If ``t`` is in local quiet hours (21:00-08:00), the next 08:00 local; else 0."""
    local = t + tz_ticks
    day_start = local - local % _DAY
    hour = (local - day_start) // _HOUR
    if hour >= 21:
        return day_start + _DAY + 8 * _HOUR - tz_ticks
    if hour < 8:
        return day_start + 8 * _HOUR - tz_ticks
    return 0


_exp = math.exp
_TABLE_SIZE = 4096


def _lognorm_table(median_s: float, sigma: float) -> tuple[int, ...]:
    """Quantiles of a log-normal duration in ticks: ``table[int(random() * 4096)]`` draws it.

    A lookup is ~10x faster than ``random.lognormvariate`` and indistinguishable at this
    resolution (the tails reach +-3.7 sigma; the slow-carrier tail is drawn separately).
    """
    nd = NormalDist()
    return tuple(
        1 + int(median_s * _exp(sigma * nd.inv_cdf((i + 0.5) / _TABLE_SIZE)) * _TPS)
        for i in range(_TABLE_SIZE)
    )


def _lognorm_ticks(rng: random.Random, median_s: float, sigma: float) -> int:
    """A log-normal duration in ticks (heavy right tail), at least one tick."""
    return 1 + int(median_s * _exp(sigma * rng.gauss()) * _TPS)


_T_QUEUE = _lognorm_table(0.15, 1.0)  # queued -> sending started
_T_SEND = _lognorm_table(0.4, 0.7)  # sending started -> sent
_T_CARRIER = _lognorm_table(2.5, 1.1)  # sent -> delivered (normal carrier)
_T_FAIL = _lognorm_table(0.8, 1.2)  # sending started -> failed
_T_BLOCK = _lognorm_table(0.05, 0.5)  # compliance check
_T_GAP = tuple(
    _exp(1.5 * NormalDist().inv_cdf((i + 0.5) / _TABLE_SIZE)) for i in range(_TABLE_SIZE)
)


def _carrier_gap(rng: random.Random) -> int:
    """sent -> delivered: seconds usually, a slow carrier (minutes) now and then."""
    r = rng.random()
    if r < 0.03:
        return int((60 + rng.paretovariate(1.1) * 60) * _TPS) + int(rng.random() * _TPS)
    return _T_CARRIER[int(rng.random() * 4096)]


class _Gen:
    """Per-lead generation state (kept in one object so helpers share it cheaply)."""

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
        now = self.now
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

        if outcome == 4:
            if not scheduled:
                scheduled = t + int(rnd() * 2 * _DAY) + _HOUR
                row[S_SCHEDULED] = scheduled
                row[S_SCHED_REASON] = "DripStep"
            cancel = t + 1 + int(rnd() * (scheduled - t))
            if cancel <= now:
                row[S_CANCELED] = cancel
                row[S_CANCEL_REASON] = CANCEL_REASONS[int(rnd() * len(CANCEL_REASONS))]
                row[S_STATUS] = "Canceled"
                row[S_STATUS_REASON] = "Send canceled before it was due"
                row[S_BILLING] = "NotBilled"
                return row
            outcome = 0
        if start > now:
            row[S_STATUS] = "Scheduled"
            row[S_STATUS_REASON] = "Waiting for the scheduled send time"
            row[S_BILLING] = "Pending"
            return row
        if outcome == 3:
            code, reason, action = BLOCK_REASONS[int(rnd() * len(BLOCK_REASONS))]
            row[S_BLOCKED] = start + _T_BLOCK[int(rnd() * 4096)]
            row[S_STATUS] = "Blocked"
            row[S_STATUS_REASON] = reason
            row[S_ERROR] = code
            row[S_COMPLIANCE] = action
            row[S_BILLING] = "NotBilled"
            return row

        # ---- lifecycle queued -> sending started -> sent -> delivered
        retries = 0
        if outcome == 0 and rnd() < 0.04:
            retries = 1 if rnd() < 0.75 else 2
        row[S_QUEUED] = start
        queue_gap = _T_QUEUE[int(rnd() * 4096)] + int(rnd() * 1000)
        if rnd() < 0.02:
            queue_gap += int(rng.paretovariate(1.3) * 30 * _TPS)  # queue backlog
        for k in range(retries):
            queue_gap += int((30 << k) * _TPS * (1 + rnd()))
        sending = start + queue_gap
        row[S_RETRY] = retries
        if sending > now:
            row[S_STATUS] = "Queued"
            row[S_STATUS_REASON] = "Waiting in the send queue"
            row[S_BILLING] = "Pending"
            return row
        row[S_SENDING] = sending
        if outcome == 1:
            code, reason, retryable = FAIL_ERRORS[int(rnd() * len(FAIL_ERRORS))]
            failed = sending + _T_FAIL[int(rnd() * 4096)]
            if failed > now:
                failed = now
            row[S_FAILED] = failed
            row[S_STATUS] = "Failed"
            row[S_STATUS_REASON] = reason
            row[S_ERROR] = code
            row[S_BILLING] = "NotBilled"
            nretry = (0, 0, 0, 1, 1, 2, 3, 3)[int(rnd() * 8)]
            row[S_RETRY] = nretry
            if retryable and nretry < 3:
                row[S_NEXT_RETRY] = failed + int((60 << nretry) * _TPS * (1 + rnd()))
                if not warmup:
                    row[S_TRAFFIC] = "FailedAttempt"
            return row
        sent = sending + _T_SEND[int(rnd() * 4096)]
        if sent > now:
            row[S_STATUS] = "Sending"
            row[S_STATUS_REASON] = "Handing the message to the carrier"
            row[S_BILLING] = "Pending"
            return row
        row[S_SENT] = sent
        final = sent + _carrier_gap(rng)
        if outcome == 2:
            code, reason = UNDELIVERABLE_ERRORS[int(rnd() * len(UNDELIVERABLE_ERRORS))]
            if final > now:
                final = now
            row[S_UNDELIVERABLE] = final
            row[S_STATUS] = "Undeliverable"
            row[S_STATUS_REASON] = reason
            row[S_ERROR] = code
            row[S_BILLING] = "NotBilled"
            return row
        if warmup:
            row[S_BILLING] = "NotBillable"
        else:
            per_segment = (200 if mms else 79) + _CARRIER_SURCHARGE[carrier]
            row[S_AMOUNT] = per_segment * row[S_SEGMENTS]
            row[S_BILLING] = "Billed"
        if outcome == 5 or final > now:
            row[S_STATUS] = "Sent"
            row[S_STATUS_REASON] = "Accepted by the carrier; no delivery receipt yet"
            return row
        row[S_DELIVERED] = final
        row[S_STATUS] = "Delivered"
        row[S_STATUS_REASON] = "Delivered to handset"
        return row

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


def generate_lead_events(p: LeadProfile, now: int, quantum: int = 1) -> list[tuple[Any, ...]]:
    """Every event of one lead, as internal rows in creation order.

    Parameters
    ----------
    p
        The lead's profile (:func:`make_profile`).
    now
        The data end, in ticks: nothing happens after it.
    quantum
        Timestamps are truncated to a multiple of this many ticks (the served precision).
    """
    rng = random.Random(f"events:{p.seed}:{p.index}")
    times = _timeline(p, now, rng)
    g = _Gen(p, now, quantum, rng)
    rnd = rng.random
    outbound, inbound, call = g.outbound, g.inbound, g.call
    out: list[tuple[Any, ...]] = [_finish(g.lead_created(times[0]), quantum)]
    append = out.append
    descriptions = _DESCRIPTIONS
    slots = TIMESTAMP_SLOTS if quantum > 1 else ()
    for i in range(1, len(times)):
        t = times[i]
        r = 0.0 if i == 1 else rnd()
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
        append(tuple(row))
    return out


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


def heavy_indices(seed: int, n_leads: int, heavy_leads: int | None) -> frozenset[int]:
    """Which lead indices get thousands of events (default: about 1 in 25, at least 1)."""
    if heavy_leads is None:
        heavy_leads = 0 if n_leads < 5 else max(1, round(n_leads / 25))
    heavy_leads = max(0, min(heavy_leads, n_leads))
    rng = random.Random(f"heavy:{seed}")
    return frozenset(rng.sample(range(n_leads), heavy_leads))


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


def to_ticks(dt: datetime) -> int:
    """Ticks (100 ns since the epoch) of an aware datetime (naive = UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86400 + delta.seconds) * _TPS + delta.microseconds * 10


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
