"""The one declared event schema.

Every column of an events frame is declared here: its API (camelCase) name, the
snake_case column, the Polars dtype, the field's kind, the schema eras that carry it, and
what it means. Nothing in leadping_nb infers a type from data.

* Timestamps are ``Datetime("us", "UTC")``.
* Money (``billableAmount``) is ``Decimal(MONEY_PRECISION, MONEY_SCALE)``; an amount with
  more fractional digits than ``MONEY_SCALE`` is an error, never rounded.
* ``retryCount`` is ``Int32`` (the API's int32).

Two schema eras exist (docs/api.md §4): ``seed`` (the 41 fields of the seed page,
numbers as strings) and ``current`` (today's fields). Both land in one canonical frame;
renamed fields are bridged through :attr:`Field.aliases` and documented bridges
(``is_warmup`` from ``trafficType == "Warmup"`` when ``isWarmup`` is absent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

__all__ = [
    "EVENT_FIELDS",
    "EVENT_SCHEMA",
    "KNOWN_VALUES",
    "MONEY_DTYPE",
    "MONEY_PRECISION",
    "MONEY_SCALE",
    "SEED_ITEM_FIELDS",
    "TIMESTAMP_DTYPE",
    "Field",
    "FieldKind",
    "field_by_name",
]

#: Precision of money columns: 18 digits hold amounts up to 999,999,999,999.999999.
MONEY_PRECISION = 18
#: Scale of money columns: 6 fractional digits hold every amount the API bills
#: (the emulator and the seed use 4); more digits raise :class:`~leadping_nb.SchemaError`.
MONEY_SCALE = 6
MONEY_DTYPE = pl.Decimal(MONEY_PRECISION, MONEY_SCALE)
TIMESTAMP_DTYPE = pl.Datetime("us", "UTC")

FieldKind = Literal["string", "timestamp", "money", "integer", "boolean", "enum", "media"]

MEDIA_DTYPE = pl.List(
    pl.Struct(
        {
            "url": pl.String,
            "content_type": pl.String,
            "size": pl.Int64,
            "sha256": pl.String,
            "file_name": pl.String,
            "file_id": pl.String,
        }
    )
)

_KIND_DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "enum": pl.String(),
    "timestamp": TIMESTAMP_DTYPE,
    "money": MONEY_DTYPE,
    "integer": pl.Int32(),
    "boolean": pl.Boolean(),
    "media": MEDIA_DTYPE,
}


@dataclass(frozen=True)
class Field:
    """One declared column of the events frame.

    Parameters
    ----------
    api
        The API's JSON name (camelCase), as sent today.
    column
        The snake_case column name in the frame.
    kind
        One of ``string``, ``enum`` (a string with documented values), ``timestamp``,
        ``money``, ``integer``, ``boolean`` or ``media``.
    eras
        The schema eras whose items carry this field: ``seed``, ``current`` or both.
    meaning
        One line on what the field is.
    aliases
        Older API names bridged into this column (the seed's ``activityCategory``).
    """

    api: str
    column: str
    kind: FieldKind
    eras: tuple[str, ...]
    meaning: str
    aliases: tuple[str, ...] = ()

    @property
    def dtype(self) -> pl.DataType:
        """The Polars dtype of the column."""
        return _KIND_DTYPES[self.kind]

    @property
    def comparable(self) -> bool:
        """Whether range filters and ordering make sense on this field."""
        return self.kind in ("timestamp", "money", "integer", "string", "enum")


_B = ("seed", "current")
_S = ("seed",)
_C = ("current",)

EVENT_FIELDS: tuple[Field, ...] = (
    Field("id", "id", "string", _B, "Unique event id."),
    Field("leadId", "lead_id", "string", _B, "The lead the event belongs to."),
    Field("eventType", "event_type", "string", _B, "Event classifier (Sms, Call, ...)."),
    Field("eventCategory", "event_category", "string", _B, "High-level grouping of the event."),
    Field(
        "timelineCategory",
        "timeline_category",
        "string",
        _B,
        "Display and filter grouping; the seed's activityCategory.",
        aliases=("activityCategory",),
    ),
    Field(
        "timelineType",
        "timeline_type",
        "enum",
        _C,
        "Kind of timeline activity (EventTimelineType); the seed era's activityType.",
        aliases=("activityType",),
    ),
    Field("description", "description", "string", _B, "Human-readable explanation."),
    Field("summary", "summary", "string", _B, "Short text for lists and notifications."),
    Field("conversationId", "conversation_id", "string", _B, "Inbox thread id."),
    Field("relatedEntityType", "related_entity_type", "string", _C, "Type of a linked entity."),
    Field("relatedEntityId", "related_entity_id", "string", _C, "Id of a linked entity."),
    Field("direction", "direction", "string", _B, "Inbound or Outbound."),
    Field("status", "status", "enum", _C, "Customer-facing outcome (EventTableRow status)."),
    Field("statusReason", "status_reason", "string", _B, "Why the item has its status."),
    Field("trafficType", "traffic_type", "enum", _C, "RealLead, Warmup, Test, ..."),
    Field(
        "isWarmup",
        "is_warmup",
        "boolean",
        _S,
        "Warm-up traffic. Bridged from trafficType == 'Warmup' when absent.",
    ),
    Field("isDemo", "is_demo", "boolean", _C, "Demo data."),
    Field("fromPhoneNumberId", "from_phone_number_id", "string", _B, "Sender number id."),
    Field(
        "outboundPhoneNumberId",
        "outbound_phone_number_id",
        "string",
        _B,
        "Number selected for outbound delivery.",
    ),
    Field("fromPhoneNumber", "from_phone_number", "string", _B, "Sender number (E.164)."),
    Field("toPhoneNumber", "to_phone_number", "string", _B, "Recipient number (E.164)."),
    Field("telnyxId", "telnyx_id", "string", _S, "Carrier (Telnyx) id; removed in SDK 1.0.17."),
    Field(
        "providerMessageId",
        "provider_message_id",
        "string",
        _S,
        "Provider message id; removed in SDK 1.0.17.",
    ),
    Field(
        "selectionReason",
        "selection_reason",
        "enum",
        _C,
        "Why the outgoing number was chosen.",
    ),
    Field(
        "wasManuallyOverridden",
        "was_manually_overridden",
        "boolean",
        _B,
        "A user overrode automatic number selection.",
    ),
    Field("campaignId", "campaign_id", "string", _B, "Messaging campaign id."),
    Field("sourceId", "source_id", "string", _B, "Lead source id."),
    Field(
        "tenDlcCampaignId",
        "ten_dlc_campaign_id",
        "string",
        _S,
        "10DLC campaign id; removed in SDK 1.0.17.",
    ),
    Field("complianceAction", "compliance_action", "string", _B, "Compliance action taken."),
    Field("billingStatus", "billing_status", "string", _B, "Billing state (free string)."),
    Field("billableAmount", "billable_amount", "money", _B, "Amount billed, exact Decimal."),
    Field("errorCode", "error_code", "string", _B, "Machine-readable processing error code."),
    Field("retryCount", "retry_count", "integer", _B, "Delivery retries already made."),
    Field("queuedAt", "queued_at", "timestamp", _B, "Message queued."),
    Field("sendingStartedAt", "sending_started_at", "timestamp", _B, "Sending started."),
    Field("sentAt", "sent_at", "timestamp", _B, "Handed to the carrier."),
    Field("deliveredAt", "delivered_at", "timestamp", _B, "Carrier confirmed delivery."),
    Field("receivedAt", "received_at", "timestamp", _B, "Inbound message received."),
    Field("failedAt", "failed_at", "timestamp", _B, "Sending failed."),
    Field("undeliverableAt", "undeliverable_at", "timestamp", _B, "Marked undeliverable."),
    Field("blockedAt", "blocked_at", "timestamp", _B, "Blocked (compliance or billing)."),
    Field("nextRetryAt", "next_retry_at", "timestamp", _B, "When the next retry is due."),
    Field("scheduledFor", "scheduled_for", "timestamp", _B, "When a scheduled send is due."),
    Field("scheduledReason", "scheduled_reason", "string", _B, "Why the send was scheduled."),
    Field("canceledAt", "canceled_at", "timestamp", _B, "Canceled."),
    Field("cancelReason", "cancel_reason", "string", _B, "Why it was canceled."),
    Field("createdAt", "created_at", "timestamp", _B, "When the row was created."),
    Field("createdBy", "created_by", "string", _B, "Creator display name or identifier."),
    Field("actorUserId", "actor_user_id", "string", _C, "User who performed the action."),
    Field("actorDisplayName", "actor_display_name", "string", _C, "Actor display name."),
    Field("actorEmail", "actor_email", "string", _C, "Actor e-mail."),
    Field("actorLeadId", "actor_lead_id", "string", _C, "Lead who performed the action."),
    Field("automationRunId", "automation_run_id", "string", _C, "Automation run id."),
    Field("voicemailUrl", "voicemail_url", "string", _C, "Voicemail recording URL."),
    Field("media", "media", "media", _C, "MMS attachments (url, contentType, size, ...)."),
)

#: The canonical frame schema, in column order.
EVENT_SCHEMA: pl.Schema = pl.Schema({f.column: f.dtype for f in EVENT_FIELDS})

#: The seed page's 41 item fields, in the seed's order (the ``seed`` era emits exactly these).
SEED_ITEM_FIELDS: tuple[str, ...] = (
    "id",
    "eventType",
    "eventCategory",
    "activityCategory",
    "description",
    "conversationId",
    "leadId",
    "summary",
    "direction",
    "statusReason",
    "isWarmup",
    "fromPhoneNumberId",
    "outboundPhoneNumberId",
    "fromPhoneNumber",
    "toPhoneNumber",
    "telnyxId",
    "providerMessageId",
    "wasManuallyOverridden",
    "campaignId",
    "sourceId",
    "tenDlcCampaignId",
    "complianceAction",
    "billingStatus",
    "billableAmount",
    "errorCode",
    "retryCount",
    "queuedAt",
    "sendingStartedAt",
    "sentAt",
    "deliveredAt",
    "receivedAt",
    "failedAt",
    "undeliverableAt",
    "blockedAt",
    "nextRetryAt",
    "scheduledFor",
    "scheduledReason",
    "canceledAt",
    "cancelReason",
    "createdAt",
    "createdBy",
)

#: The API's documented values of the enum-like columns (this table is their record in the
#: repository). Unknown values are kept in the frame and reported, never fatal.
KNOWN_VALUES: dict[str, frozenset[str]] = {
    "timeline_type": frozenset(
        "Message Sms Mms Call Voicemail Note Disposition LeadStatusChange LeadCreated "
        "LeadUpdated Notification Payment Warmup".split()
    ),
    "status": frozenset(
        [
            "Pending",
            "InProgress",
            "Completed",
            "Cancelled",
            "Scheduled",
            "Queued",
            "Sending",
            "Sent",
            "Received",
            "Delivered",
            "Undeliverable",
            "Opted out",
            "Blocked",
            "Initiated",
            "Ringing",
            "Active",
            "Ended",
            "Missed",
            "Voicemail",
            "Failed",
            "Canceled",
        ]
    ),
    "traffic_type": frozenset("RealLead Warmup Test SystemInternal FailedAttempt".split()),
    "selection_reason": frozenset(
        "StickyConversation LeadAssigned CampaignOrSource Preferred LocalArea HealthyPool "
        "FallbackDefault ManualOverride".split()
    ),
}

_BY_NAME: dict[str, Field] = {}
for _f in EVENT_FIELDS:
    _BY_NAME[_f.api] = _f
    _BY_NAME[_f.column] = _f
    for _alias in _f.aliases:
        _BY_NAME[_alias] = _f


def field_by_name(name: str) -> Field | None:
    """Look a field up by its API camelCase name, an alias, or its snake_case column.

    Examples
    --------
    >>> field_by_name("retry_count").api
    'retryCount'
    >>> field_by_name("activityCategory").column
    'timeline_category'
    >>> field_by_name("nope") is None
    True
    """
    return _BY_NAME.get(name)
