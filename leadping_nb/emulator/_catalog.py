"""The fixed world the emulator's generator draws from (constants and tables only).

Tick constants (``TICKS_PER_SECOND``: ticks are 100 ns since the Unix epoch, UTC) and
``DEFAULT_NOW``; the internal row layout (``SLOT_OF``, ``N_SLOTS``, the ``S_*`` slot
indices: one per field of :data:`leadping_nb._core.schema.EVENT_FIELDS`, in that order, plus two
for the optional "unknown extra fields"); and the pools: organization, sources, campaigns,
area codes and time zones, sending numbers, users, names, mail domains, message texts,
carriers and surcharges, and the error, block, cancel and schedule reasons.

Row values are compact and canonical: timestamps are ``int`` ticks already truncated to the
served precision (the *quantum*); money is ``int`` in units of 0.0001; media is a tuple of
``(url, contentType, size, sha256, fileName, fileId)`` tuples; ``None`` is null.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from leadping_nb._core.schema import EVENT_FIELDS

__all__ = [
    "DEFAULT_NOW",
    "N_SLOTS",
    "SLOT_OF",
    "TICKS_PER_SECOND",
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
#: The replies of a lead that does not opt out (its drawn "STOP" becomes one of these).
_IN_REPLIES = tuple(t for t in _IN_TEXTS if t != "STOP")
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
#: The opt-out suppression (only ever for a lead that replied STOP before) and the other
#: block and cancel reasons (drawn for any lead).
OPT_OUT_BLOCK = BLOCK_REASONS[0]
OTHER_BLOCK_REASONS = BLOCK_REASONS[1:]
OPT_OUT_CANCEL = CANCEL_REASONS[1]
OTHER_CANCEL_REASONS = tuple(r for r in CANCEL_REASONS if r != OPT_OUT_CANCEL)
SCHEDULE_REASONS = ("RateLimited", "SendWindow", "DripStep", "CarrierThroughput")
