"""Hand-computed fixtures for every definition of leadping_nb.metrics (see docs/metrics.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from leadping_nb import metrics as m
from leadping_nb._core.schema import EVENT_SCHEMA, MONEY_DTYPE, TIMESTAMP_DTYPE

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
AS_OF = datetime(2024, 5, 2, tzinfo=UTC)


def ms(x: float) -> timedelta:
    return timedelta(milliseconds=x)


def frame(*rows: dict[str, Any]) -> pl.DataFrame:
    """Events with the declared schema (never types inferred from the Python values)."""
    df = pl.DataFrame(list(rows), schema=EVENT_SCHEMA)
    assert df.schema == EVENT_SCHEMA
    assert df.schema["billable_amount"] == MONEY_DTYPE
    assert df.schema["created_at"] == TIMESTAMP_DTYPE
    return df


def sms(**kw: Any) -> dict[str, Any]:
    """An outbound SMS created at T0 (override anything)."""
    return {"event_type": "Sms", "direction": "Outbound", "created_at": T0, **kw}


def delivered(**kw: Any) -> dict[str, Any]:
    lifecycle = {"queued_at": T0, "sending_started_at": T0 + ms(100), "sent_at": T0 + ms(300),
                 "delivered_at": T0 + ms(2300)}  # fmt: skip
    return sms(**{**lifecycle, **kw})


# --------------------------------------------------------------------------------------
# latency


def test_latency_stages_in_ms_with_microsecond_precision() -> None:
    row = sms(
        scheduled_for=T0 - ms(50),
        queued_at=T0,
        sending_started_at=T0 + timedelta(microseconds=1_500),
        sent_at=T0 + timedelta(seconds=1, microseconds=1_501),
        delivered_at=T0 + timedelta(seconds=5),
    )
    got = frame(row).select([m.latency_ms(s) for s in m.STAGES]).row(0, named=True)
    assert got == {
        "latency_queue_ms": 1.5,
        "latency_send_ms": 1000.001,
        "latency_carrier_ms": 3998.499,
        "latency_end_to_end_ms": 5000.0,
        "latency_schedule_lag_ms": 51.5,
        "latency_to_failure_ms": None,  # not failed
    }
    assert frame(row).select(m.latency_ms("queue")).dtypes == [pl.Float64]


def test_latency_is_null_when_an_end_is_missing_and_negative_is_kept() -> None:
    df = frame(sms(sent_at=T0), sms(sent_at=T0 + ms(10), delivered_at=T0))
    out = df.select(m.latency_ms("carrier"), m.negative_gap("carrier"))
    assert out.rows() == [(None, None), (-10.0, True)]


def test_negative_gap_is_false_for_zero_and_positive_gaps() -> None:
    df = frame(sms(sent_at=T0, delivered_at=T0), sms(sent_at=T0, delivered_at=T0 + ms(1)))
    assert df.select(m.negative_gap("carrier")).to_series().to_list() == [False, False]


def test_unknown_stage_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown latency stage"):
        m.latency_ms("bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown latency stages"):
        m.latency_summary(frame(sms()), stages=["queue", "bogus"])  # type: ignore[list-item]


def test_latency_summary_counts_used_missing_negative_and_out_of_scope() -> None:
    df = frame(
        sms(sent_at=T0, delivered_at=T0 + ms(1000)),
        sms(sent_at=T0, delivered_at=T0 + ms(2000)),
        sms(sent_at=T0, delivered_at=T0 + ms(4000)),
        sms(sent_at=T0, delivered_at=T0 + ms(8000)),
        sms(sent_at=T0, delivered_at=T0 - ms(5)),  # negative: counted, not used
        sms(sent_at=T0),  # missing end
        sms(sent_at=T0, delivered_at=T0 + ms(1), traffic_type="Warmup"),  # out of scope
        {"event_type": "Note", "created_at": T0},  # not a message: out of scope
    )
    row = m.latency_summary(df, stages=["carrier"]).row(0, named=True)
    assert row["stage"] == "carrier"
    assert (row["n_events"], row["n_used"], row["n_excluded"]) == (8, 4, 4)
    assert (row["n_out_of_scope"], row["n_missing"], row["n_negative"]) == (2, 1, 1)
    # sorted 1000, 2000, 4000, 8000; h = 3q
    assert row["min_ms"] == 1000.0 and row["max_ms"] == 8000.0
    assert row["mean_ms"] == 3750.0
    assert row["p50_ms"] == 3000.0  # h = 1.5
    assert row["p90_ms"] == pytest.approx(6800.0)  # h = 2.7 -> 4000 + 0.7 * 4000
    assert row["p99_ms"] == pytest.approx(7880.0)  # h = 2.97


def test_latency_summary_with_no_values_has_null_statistics() -> None:
    row = m.latency_summary(frame(sms()), stages=["send"]).row(0, named=True)
    assert row["n_used"] == 0 and row["n_missing"] == 1
    assert row["p50_ms"] is None and row["mean_ms"] is None and row["min_ms"] is None


def us(n: int) -> timedelta:
    return timedelta(microseconds=n)


def carrier_means(df: pl.DataFrame) -> list[float]:
    """``mean_ms`` of the carrier stage by every route: frame function eager and lazy,
    grouped, summary in memory and streaming (Polars' own ``mean`` differs by route)."""
    grouped = df.with_columns(pl.lit("a").alias("campaign_id"))
    frames = [
        m.latency_summary(df, stages=["carrier"]),
        m.latency_summary(df.lazy(), stages=["carrier"]).collect(),
        m.latency_summary(grouped, by="campaign_id", stages=["carrier"]),
        m.summary(df, as_of=AS_OF).latency,
        m.summary(df.lazy(), as_of=AS_OF, engine="streaming").latency,
        m.summary(grouped, by="campaign_id", every="day", as_of=AS_OF).latency,
    ]
    return [f.filter(pl.col("stage") == "carrier")["mean_ms"].item() for f in frames]


def test_latency_mean_is_one_division_of_the_exact_microsecond_sum() -> None:
    # 1 µs over 7 messages: 1/7000 ms. Dividing a rounded mean in µs by 1000 rounds twice
    # and lands one ulp below the nearest Float64.
    df = frame(*[sms(sent_at=T0, delivered_at=T0 + us(x)) for x in (1, 0, 0, 0, 0, 0, 0)])
    nearest = 0.00014285714285714287  # float(Fraction(1, 7000))
    assert (1 / 7) / 1000 == 0.00014285714285714284  # the double rounding, for the record
    assert carrier_means(df) == [nearest] * 6


def test_latency_mean_sums_microseconds_exactly_past_2_to_the_53() -> None:
    # 2^53 + 1 + 1 µs: a Float64 running sum loses both ones (2^53 + 1 rounds to 2^53);
    # the integer sum is exact, then converted (2^53 + 2 is a Float64) and divided once.
    t = datetime(1900, 1, 1, tzinfo=UTC)
    df = frame(*[sms(sent_at=t, delivered_at=t + us(x)) for x in (2**53, 1, 1)])
    assert carrier_means(df) == [3002399751580.3315] * 6  # float(Fraction(2**53 + 2, 3000))
    assert (2**53 + 2) / 3000 == 3002399751580.3315


def test_latency_mean_sum_does_not_overflow_int64() -> None:
    # three gaps of 2^62 µs (146,000 years: bogus timestamps): their sum passes 2^63
    huge = frame(sms(), sms(), sms()).with_columns(
        pl.lit(-(2**61)).cast(pl.Datetime("us", "UTC")).alias("sent_at"),
        pl.lit(2**61).cast(pl.Datetime("us", "UTC")).alias("delivered_at"),
    )
    row = m.latency_summary(huge, stages=["carrier"]).row(0, named=True)
    assert row["n_used"] == 3
    assert row["mean_ms"] == row["max_ms"] == 2**62 / 1000


def test_latency_mean_of_groups_of_one_value_is_that_value() -> None:
    # every group has one value, so Polars holds the count column as one broadcast value;
    # a plain division by it goes through the reciprocal (71 µs -> 0.07100000000000001 ms)
    df = frame(
        sms(sent_at=T0, delivered_at=T0, campaign_id="a"),
        sms(sent_at=T0, delivered_at=T0 + us(71), campaign_id="b"),
    )
    for latency in (
        m.summary(df, by="campaign_id", as_of=AS_OF).latency,
        m.latency_summary(df.lazy(), by="campaign_id").collect(),
    ):
        carrier = latency.filter(pl.col("stage") == "carrier")
        assert carrier["mean_ms"].to_list() == carrier["max_ms"].to_list() == [0.0, 0.071]


def test_ratios_are_one_division_of_exact_counts() -> None:
    # 1 of 3 retried, 2 of 3 delivered, 4 retries over 3 messages: Python's int / int
    df = frame(
        delivered(retry_count=4, campaign_id="a"),
        delivered(retry_count=0, campaign_id="a"),
        sms(failed_at=T0, retry_count=0, campaign_id="a"),
    )
    for retry in (m.retry_summary(df, as_of=AS_OF), m.summary(df, as_of=AS_OF).retry):
        row = retry.row(0, named=True)
        assert (row["share_retried"], row["delivery_rate"]) == (1 / 3, 2 / 3)
        assert (row["mean_retries"], row["extra_attempts_per_delivered"]) == (4 / 3, 2.0)


def test_latency_summary_has_one_row_per_group_and_stage() -> None:
    df = frame(delivered(campaign_id="a"), delivered(campaign_id="b"), delivered(campaign_id="b"))
    out = m.latency_summary(df, by="campaign_id")
    assert out.height == 2 * len(m.STAGES)
    assert out.schema["stage"] == m.STAGE_DTYPE
    carrier = out.filter(pl.col("stage") == "carrier").select("campaign_id", "n_used", "p50_ms")
    assert carrier.rows() == [("a", 1, 2000.0), ("b", 2, 2000.0)]


# --------------------------------------------------------------------------------------
# outcome

CASES = [
    ({"delivered_at": T0, "failed_at": T0, "undeliverable_at": T0}, "delivered"),
    ({"undeliverable_at": T0, "failed_at": T0}, "undeliverable"),
    ({"failed_at": T0, "blocked_at": T0}, "failed"),
    ({"blocked_at": T0, "canceled_at": T0}, "blocked"),
    ({"canceled_at": T0, "scheduled_for": T0}, "canceled"),
    ({"scheduled_for": T0, "queued_at": T0}, "scheduled"),
    ({"scheduled_for": T0, "sending_started_at": T0}, "in_flight"),
    ({"scheduled_for": T0, "sent_at": T0}, "in_flight"),
    ({"queued_at": T0}, "in_flight"),
    ({}, "in_flight"),  # an outbound SMS that has not been queued yet
    ({"direction": "OUTBOUND", "sent_at": T0}, "in_flight"),
    ({"direction": None, "delivered_at": T0}, "delivered"),  # timestamps say outbound
    ({"direction": "Outbound", "received_at": T0}, "inbound"),  # mislabelled inbound
    ({"direction": "inbound", "delivered_at": T0}, "inbound"),  # direction wins
    ({"direction": "Inbound", "event_type": None, "received_at": T0}, "inbound"),
    ({"direction": "Outbound", "event_type": "Call"}, None),  # calls are not messages
    ({"direction": "Inbound", "event_type": "Call"}, None),
    ({"direction": None, "event_type": "Sms"}, None),  # no direction, no timestamp
    ({"direction": None, "event_type": None}, None),
    ({"event_type": None, "timeline_type": "Warmup"}, "in_flight"),
    ({"event_type": "mms", "next_retry_at": T0}, "in_flight"),
]


@pytest.mark.parametrize(("fields", "expected"), CASES)
def test_outcome_precedence(fields: dict[str, Any], expected: str | None) -> None:
    df = frame(sms(**fields))
    got = df.select(m.outcome(as_of=T0 + timedelta(hours=1)), m.is_outbound(), m.is_inbound())
    assert got.schema["outcome"] == m.OUTCOME_DTYPE
    outcome, outbound, inbound = got.row(0)
    assert outcome == expected
    assert inbound == (expected == "inbound")
    assert outbound == (expected not in (None, "inbound"))


def test_receipt_timeout_turns_a_sent_message_without_receipt_into_no_receipt() -> None:
    # sent at T0 with no final timestamp: in flight for 24 h, then no_receipt
    df = frame(
        sms(sent_at=T0),
        sms(sent_at=T0, next_retry_at=T0 + timedelta(days=3)),  # a retry is still due
        sms(queued_at=T0),  # never sent: in flight forever
        sms(sent_at=T0, delivered_at=T0 + timedelta(days=2)),  # a late receipt wins
    )

    def outcomes(**kw: Any) -> list[str]:
        return df.select(m.outcome(**kw)).to_series().to_list()

    day = timedelta(hours=24)
    assert outcomes(as_of=T0 + day - timedelta(microseconds=1)) == [
        "in_flight", "in_flight", "in_flight", "delivered",
    ]  # fmt: skip
    assert outcomes(as_of=T0 + day) == ["no_receipt", "no_receipt", "in_flight", "delivered"]
    short = outcomes(as_of=T0 + timedelta(hours=2), receipt_timeout=timedelta(hours=1))
    assert short[:3] == ["no_receipt", "no_receipt", "in_flight"]
    pending = df.select(m.retry_pending(T0 + day)).to_series().to_list()
    assert pending == [False, True, False, False]  # no_receipt leaves a retry open
    assert day == m.RECEIPT_TIMEOUT
    with pytest.raises(ValueError, match="receipt_timeout"):
        m.delivery_summary(df, as_of=T0, receipt_timeout=timedelta(hours=-1))


def test_with_metrics_adds_the_documented_columns_and_keeps_the_kind() -> None:
    df = frame(delivered(retry_count=2, next_retry_at=AS_OF + ms(1)))
    out = m.with_metrics(df, as_of=AS_OF)
    assert isinstance(out, pl.DataFrame)
    added = [c for c in out.columns if c not in df.columns]
    assert added == [
        "outcome",
        "is_outbound",
        "is_countable_traffic",
        *[f"latency_{s}_ms" for s in m.STAGES],
        *[f"negative_gap_{s}" for s in m.STAGES],
        "is_retried",
        "retry_pending",
    ]
    row = out.row(0, named=True)
    assert row["outcome"] == "delivered" and row["is_retried"] is True
    assert row["retry_pending"] is False  # delivered ends retrying
    lazy = m.with_metrics(df.lazy())
    assert isinstance(lazy, pl.LazyFrame)
    assert "retry_pending" not in lazy.collect_schema()


# --------------------------------------------------------------------------------------
# traffic and delivery rate


def test_countable_traffic() -> None:
    # trafficType is an enum of exact strings: "WARMUP" and "TEST" are unknown values
    df = frame(
        sms(traffic_type="RealLead"),
        sms(traffic_type="Warmup"),
        sms(traffic_type="WARMUP"),
        sms(traffic_type=None, is_warmup=True),
        sms(traffic_type="Test"),
        sms(traffic_type="TEST"),
        sms(traffic_type="FailedAttempt", is_warmup=False),
        sms(traffic_type="SystemInternal", is_demo=True),
        sms(),
    )
    assert df.select(m.is_countable_traffic()).to_series().to_list() == [
        True, False, True, False, False, True, True, False, True,
    ]  # fmt: skip
    everything = m.is_countable_traffic(include_warmup=True, include_test=True, include_demo=True)
    assert df.select(everything).to_series().all()
    assert df.select(m.is_countable_traffic(include_demo=True)).to_series().to_list() == [
        True, False, True, False, False, True, True, True, True,
    ]  # fmt: skip
    assert df.select(m.is_warmup_traffic()).to_series().sum() == 2
    assert df.select(m.is_test_traffic()).to_series().sum() == 1
    assert df.select(m.is_demo_traffic()).to_series().sum() == 1


def test_traffic_scope_is_the_one_definition() -> None:
    df = frame(
        sms(traffic_type="RealLead"),
        sms(traffic_type="Warmup", is_demo=True),
        sms(traffic_type="Test"),
        sms(is_demo=True),
    )
    for warmup in (False, True):
        for test in (False, True):
            for demo in (False, True):
                scope = m.TrafficScope(warmup=warmup, test=test, demo=demo)
                flags = {"include_warmup": warmup, "include_test": test, "include_demo": demo}
                assert scope == m.TrafficScope.of(**flags)
                got = df.select(scope.expr()).to_series().to_list()
                assert got == df.select(m.is_countable_traffic(**flags)).to_series().to_list()
                want = [True, warmup and demo, test, demo]
                assert got == want, scope
    assert m.TrafficScope() == m.TrafficScope(False, False, False)
    assert m.TrafficScope().is_customer and not m.TrafficScope(demo=True).is_customer
    assert m.TrafficScope().label == "customer traffic (warm-up, test and demo excluded)"
    assert m.TrafficScope(test=True, demo=True).label == (
        "customer, test and demo traffic (warm-up excluded)"
    )
    assert m.TrafficScope(True, True, True).label == "all traffic (warm-up, test and demo included)"
    with pytest.raises(AttributeError):
        m.TrafficScope().warmup = True  # type: ignore[misc]


def delivery_fixture() -> pl.DataFrame:
    return frame(
        delivered(),
        delivered(),
        delivered(),
        sms(failed_at=T0),
        sms(undeliverable_at=T0),
        sms(blocked_at=T0),
        sms(canceled_at=T0),
        sms(scheduled_for=T0),
        sms(queued_at=T0),
        delivered(traffic_type="Warmup"),
        sms(failed_at=T0, traffic_type="Test"),
        {"event_type": "Sms", "direction": "Inbound", "received_at": T0, "created_at": T0},
        {"event_type": "Note", "created_at": T0},
        sms(sent_at=T0 - timedelta(days=2)),  # no receipt for two days at AS_OF
        sms(sent_at=AS_OF - timedelta(hours=1)),  # sent an hour before AS_OF: in flight
        sms(failed_at=T0, sent_at=T0),  # failed after it was sent
        delivered(is_demo=True),  # demo: out of the customer scope
    )


def test_delivery_summary_hand_computed() -> None:
    row = m.delivery_summary(delivery_fixture(), as_of=AS_OF).row(0, named=True)
    assert row == {
        "n_events": 17,
        "n_not_outbound": 2,
        "n_traffic_excluded": 3,  # warm-up, test, demo
        "n_outbound": 12,
        "n_delivered": 3,
        "n_undeliverable": 1,
        "n_failed": 2,
        "n_blocked": 1,
        "n_canceled": 1,
        "n_scheduled": 1,
        "n_no_receipt": 1,
        "n_in_flight": 2,  # queued; sent an hour ago
        "n_sent": 7,  # 3 delivered (sent_at), undeliverable, no receipt, in flight, failed
        "n_used": 8,  # 3 delivered + 1 undeliverable + 2 failed + 1 blocked + 1 no receipt
        "n_excluded": 9,
        "delivery_rate": 3 / 8,
        "sent_delivery_rate": 3 / 7,
    }


def test_delivery_summary_traffic_parameters() -> None:
    kw: dict[str, Any] = {"as_of": AS_OF}
    row = m.delivery_summary(delivery_fixture(), include_warmup=True, **kw).row(0, named=True)
    assert (row["n_delivered"], row["n_used"], row["n_traffic_excluded"]) == (4, 9, 2)
    row = m.delivery_summary(delivery_fixture(), include_warmup=True, include_test=True, **kw).row(
        0, named=True
    )
    assert (row["n_failed"], row["n_used"], row["delivery_rate"]) == (3, 10, 4 / 10)
    row = m.delivery_summary(delivery_fixture(), include_demo=True, **kw).row(0, named=True)
    assert (row["n_delivered"], row["n_sent"], row["sent_delivery_rate"]) == (4, 8, 4 / 8)


def test_delivery_rate_is_null_without_terminal_messages() -> None:
    row = m.delivery_summary(frame(sms(queued_at=T0))).row(0, named=True)
    assert row["n_used"] == 0 and row["delivery_rate"] is None


def test_outcome_counts_hand_computed() -> None:
    out = m.outcome_counts(delivery_fixture(), as_of=AS_OF)
    assert out.select("outcome", "n", "n_excluded").rows() == [
        ("delivered", 3, 2),  # warm-up, demo
        ("undeliverable", 1, 0),
        ("failed", 2, 1),  # test
        ("blocked", 1, 0),
        ("canceled", 1, 0),
        ("scheduled", 1, 0),
        ("no_receipt", 1, 0),
        ("in_flight", 2, 0),
        ("inbound", 1, 0),
        (None, 1, 0),
    ]
    assert out["share"].sum() == pytest.approx(1.0)
    assert out["n"].sum() == 14 and out["n_events"].sum() == 17


# --------------------------------------------------------------------------------------
# retries


def retry_fixture() -> pl.DataFrame:
    return frame(
        delivered(retry_count=0),
        delivered(retry_count=0),
        delivered(retry_count=2),
        sms(failed_at=T0, retry_count=1, next_retry_at=AS_OF + timedelta(minutes=5)),
        sms(failed_at=T0, retry_count=3, next_retry_at=AS_OF - timedelta(minutes=5)),
        sms(undeliverable_at=T0, retry_count=1),
        sms(queued_at=T0, retry_count=None, next_retry_at=AS_OF + ms(1)),
        sms(queued_at=T0, retry_count=-1),
        delivered(retry_count=5, traffic_type="Warmup"),
    )


def test_retry_summary_hand_computed() -> None:
    row = m.retry_summary(retry_fixture(), as_of=AS_OF).row(0, named=True)
    assert row == {
        "n_events": 9,
        "n_used": 6,
        "n_excluded": 3,
        "n_out_of_scope": 1,
        "n_missing_retry_count": 2,
        "n_retried": 4,
        "share_retried": 4 / 6,
        "total_retries": 7,
        "mean_retries": 7 / 6,
        "max_retries": 3,
        "n_delivered": 3,
        "n_terminal": 6,
        "delivery_rate": 0.5,
        "extra_attempts_per_delivered": 7 / 3,
        "n_retry_pending": 1,  # not the queued message due later: its count is null
    }


def test_retry_terminal_counts_every_final_outcome() -> None:
    df = frame(
        delivered(retry_count=1),
        sms(blocked_at=T0, retry_count=0),
        sms(sent_at=T0 - timedelta(days=2), retry_count=2),  # no receipt at AS_OF
        sms(canceled_at=T0, retry_count=0),  # not final: the sender stopped it
        sms(sent_at=AS_OF, retry_count=0),  # in flight
    )
    row = m.retry_summary(df, as_of=AS_OF).row(0, named=True)
    assert (row["n_used"], row["n_delivered"], row["n_terminal"]) == (5, 1, 3)
    assert row["delivery_rate"] == 1 / 3
    dist = m.retry_distribution(df, as_of=AS_OF)
    assert dist.select("retry_count", "n_messages", "n_terminal").rows() == [
        (0, 3, 1),
        (1, 1, 1),
        (2, 1, 1),
    ]


def test_to_failure_stage_measures_failed_messages() -> None:
    df = frame(
        sms(queued_at=T0, sending_started_at=T0 + ms(100), failed_at=T0 + ms(1100)),
        sms(queued_at=T0, sending_started_at=T0 + ms(100), failed_at=T0 + ms(3100),
            error_code="E1"),
        sms(queued_at=T0, failed_at=T0 + ms(50), error_code="E1"),  # never started: missing
        sms(sending_started_at=T0, failed_at=T0 - ms(1), error_code="E1"),  # negative
        delivered(error_code="E1"),  # not failed: missing
    )  # fmt: skip
    assert m.STAGE_COLUMNS["to_failure"] == ("sending_started_at", "failed_at")
    assert m.STAGES[-1] == "to_failure"
    out = m.latency_summary(df, by="error_code", stages=["to_failure"])
    rows = {r["error_code"]: r for r in out.iter_rows(named=True)}
    e1 = rows["E1"]
    assert (e1["n_used"], e1["n_missing"], e1["n_negative"]) == (1, 2, 1)
    assert e1["p50_ms"] == e1["mean_ms"] == 3000.0
    assert rows[None]["p50_ms"] == 1000.0
    whole = m.latency_summary(df, stages=["to_failure"]).row(0, named=True)
    assert (whole["n_used"], whole["mean_ms"], whole["p50_ms"]) == (2, 2000.0, 2000.0)
    assert whole["p90_ms"] == 1000.0 + 0.9 * 2000.0


def test_retry_distribution_hand_computed() -> None:
    out = m.retry_distribution(retry_fixture(), as_of=AS_OF)
    assert out.select("retry_count", "n_messages", "n_delivered", "n_terminal").rows() == [
        (0, 2, 2, 2),
        (1, 2, 0, 2),
        (2, 1, 1, 1),
        (3, 1, 0, 1),
    ]
    assert out["delivery_rate"].to_list() == [1.0, 0.0, 1.0, 0.0]
    assert out["n_retry_pending"].to_list() == [0, 1, 0, 0]
    assert out["share"].to_list() == pytest.approx([2 / 6, 2 / 6, 1 / 6, 1 / 6])


def test_retry_pending_counts_only_messages_with_a_valid_retry_count() -> None:
    later, earlier = AS_OF + timedelta(minutes=5), AS_OF - timedelta(minutes=5)
    df = frame(
        sms(failed_at=T0, retry_count=None, next_retry_at=later),  # due, count null
        sms(failed_at=T0, retry_count=-1, next_retry_at=later),  # due, count negative
        sms(failed_at=T0, retry_count=1, next_retry_at=later),  # pending
        sms(queued_at=T0, retry_count=3, next_retry_at=AS_OF + ms(1)),  # pending (in flight)
        sms(failed_at=T0, retry_count=2, next_retry_at=earlier),  # retry in the past
        sms(failed_at=T0, retry_count=0, next_retry_at=AS_OF),  # not strictly after as_of
        delivered(retry_count=1, next_retry_at=later),  # delivered: no retry
        sms(failed_at=T0, retry_count=1, next_retry_at=later, traffic_type="Warmup"),
    )
    row = m.retry_summary(df, as_of=AS_OF).row(0, named=True)
    assert (row["n_used"], row["n_missing_retry_count"], row["n_out_of_scope"]) == (5, 2, 1)
    assert row["n_retry_pending"] == 2
    # the distribution has the same scope: its pending counts add up to the summary's
    dist = m.retry_distribution(df, as_of=AS_OF)
    assert dist.select("retry_count", "n_retry_pending").rows() == [(0, 0), (1, 1), (2, 0), (3, 1)]
    s = m.summary(df, as_of=AS_OF)
    assert s.retry["n_retry_pending"].item() == s.retry_distribution["n_retry_pending"].sum() == 2
    # the per-event flag itself does not look at the count
    flags = df.select(m.retry_pending(AS_OF)).to_series().to_list()
    assert flags == [True, True, True, True, False, False, False, True]


def test_retry_pending_depends_on_as_of_and_outcome() -> None:
    df = frame(
        sms(failed_at=T0, next_retry_at=T0 + ms(10)),
        sms(delivered_at=T0, next_retry_at=T0 + ms(10)),
        sms(failed_at=T0, next_retry_at=T0),
        sms(failed_at=T0),
    )
    before = df.select(m.retry_pending(T0)).to_series().to_list()
    assert before == [True, False, False, False]
    after = df.select(m.retry_pending(T0 + ms(10))).to_series().to_list()
    assert after == [False, False, False, False]
    berlin = datetime(2024, 5, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # == T0
    assert df.select(m.retry_pending(berlin)).to_series().to_list() == before


def test_as_of_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        m.retry_pending(datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        m.retry_summary(retry_fixture(), as_of=datetime(2024, 1, 1))


def test_is_retried() -> None:
    df = frame(sms(retry_count=0), sms(retry_count=3), sms(retry_count=None))
    assert df.select(m.is_retried()).to_series().to_list() == [False, True, None]


# --------------------------------------------------------------------------------------
# billing


def billing_fixture() -> pl.DataFrame:
    d = Decimal
    return frame(
        delivered(billing_status="Billed", campaign_id="c1", billable_amount=d("0.0079")),
        delivered(billing_status="Billed", campaign_id="c1", billable_amount=d("0.0109")),
        delivered(billing_status="Billed", campaign_id="c2", billable_amount=d("0.000001")),
        sms(failed_at=T0, billing_status="NotBilled", campaign_id="c2"),
        sms(failed_at=T0, billing_status="Refunded", campaign_id=None,
            billable_amount=d("-0.0079")),
        delivered(billing_status="NotBillable", traffic_type="Warmup", billable_amount=d("0")),
        {"event_type": "Call", "created_at": T0, "billable_amount": d("0.0140"),
         "billing_status": "Billed"},
    )  # fmt: skip


def test_billing_summary_exact_totals_by_status() -> None:
    out = m.billing_summary(billing_fixture())
    assert out.schema["total_amount"] == pl.Decimal(38, 6)
    assert out.schema["cost_per_delivered"] == pl.Decimal(38, 4)
    rows = {r["billing_status"]: r for r in out.iter_rows(named=True)}
    assert list(rows) == ["Billed", "NotBillable", "NotBilled", "Refunded"]
    billed = rows["Billed"]
    assert billed["total_amount"] == Decimal("0.032801")
    assert (billed["n_events"], billed["n_used"], billed["n_delivered"]) == (4, 4, 3)
    # 0.032801 / 3 = 0.0109336... -> 0.0109
    assert billed["cost_per_delivered"] == Decimal("0.0109")
    assert rows["NotBilled"]["total_amount"] == Decimal("0")
    assert rows["NotBilled"]["n_missing_amount"] == 1
    assert rows["NotBilled"]["cost_per_delivered"] is None
    assert rows["Refunded"]["total_amount"] == Decimal("-0.0079")


def test_billing_totals_foot_to_the_grand_total_and_the_input_sum() -> None:
    df = billing_fixture()
    exact = sum(a for a in df["billable_amount"].to_list() if a is not None)
    assert exact == Decimal("0.024901")
    for by in ("billing_status", "campaign_id", ("campaign_id", "billing_status"), ()):
        out = m.billing_summary(df, by=by)
        assert sum(out["total_amount"].to_list()) == exact
        assert out["n_events"].sum() == df.height
    s = m.summary(df, as_of=AS_OF, billing_by=("campaign_id", "source_id"))
    assert s.billing_total["total_amount"].item() == exact
    assert sum(s.billing["total_amount"].to_list()) == exact


def test_billing_defaults_to_the_customer_scope_of_every_metric() -> None:
    d = Decimal
    df = pl.concat([
        billing_fixture(),
        frame(
            delivered(billing_status="Billed", traffic_type="Test", billable_amount=d("0.0100")),
            delivered(billing_status="Billed", is_demo=True, billable_amount=d("0.0200")),
        ),
    ])  # fmt: skip
    row = m.billing_summary(df, by=()).row(0, named=True)
    # customer traffic: warm-up (0), test (0.0100) and demo (0.0200) excluded
    assert (row["n_traffic_excluded"], row["n_delivered"]) == (3, 3)
    assert row["total_amount"] == Decimal("0.024901")
    assert row["n_used"] + row["n_excluded"] == row["n_events"] == 9
    assert row["n_delivered"] == m.delivery_summary(df, as_of=AS_OF)["n_delivered"].item()
    every: dict[str, Any] = {"include_warmup": True, "include_test": True, "include_demo": True}
    row = m.billing_summary(df, by=(), **every).row(0, named=True)
    assert (row["n_traffic_excluded"], row["n_delivered"]) == (0, 6)
    assert row["total_amount"] == Decimal("0.054901")
    row = m.billing_summary(df, by=(), include_demo=True).row(0, named=True)
    assert (row["total_amount"], row["n_delivered"]) == (Decimal("0.044901"), 4)
    s = m.summary(df, as_of=AS_OF, **every)
    assert s.scope == m.TrafficScope(True, True, True)
    assert s.billing_total["total_amount"].item() == Decimal("0.054901")
    assert m.summary(df, as_of=AS_OF).scope == m.TrafficScope()


def test_cost_per_delivered_rounds_half_to_even_at_the_stated_scale() -> None:
    d = Decimal
    df = frame(
        delivered(billing_status="A", billable_amount=d("0.0001")),
        delivered(billing_status="A", billable_amount=d("0")),
        delivered(billing_status="B", billable_amount=d("0.0003")),
        delivered(billing_status="B", billable_amount=d("0")),
    )
    # A: 0.00005 -> 0.0000 (tie, even); B: 0.00015 -> 0.0002 (tie, even)
    out = m.billing_summary(df, cost_scale=4)
    assert out["cost_per_delivered"].to_list() == [d("0.0000"), d("0.0002")]
    out = m.billing_summary(df, cost_scale=6)
    assert out.schema["cost_per_delivered"] == pl.Decimal(38, 6)
    assert out["cost_per_delivered"].to_list() == [d("0.000050"), d("0.000150")]
    out = m.billing_summary(df, cost_scale=0, by=())
    assert out["cost_per_delivered"].item() == d("0")


def test_money_must_be_decimal() -> None:
    df = frame(delivered(billable_amount=Decimal("0.0079")))
    df = df.with_columns(pl.col("billable_amount").cast(pl.Float64))
    with pytest.raises(TypeError, match="Decimal"):
        m.billing_summary(df)
    with pytest.raises(TypeError, match="Decimal"):
        m.summary(df)


@pytest.mark.parametrize(
    ("amount", "n", "scale", "expected"),
    [
        ("0.0150", 2, 3, "0.008"),  # 0.0075 -> tie, 7 odd -> up
        ("0.0250", 2, 3, "0.012"),  # 0.0125 -> tie, 2 even -> stays
        ("-0.0150", 2, 3, "-0.008"),
        ("1", 3, 4, "0.3333"),
        ("2", 3, 4, "0.6667"),
        ("5", 0, 4, None),
        ("0.000001", 1, 8, "0.00000100"),
    ],
)
def test_decimal_ratio(amount: str, n: int, scale: int, expected: str | None) -> None:
    df = pl.DataFrame({"a": [Decimal(amount)], "n": [n]}, schema={"a": MONEY_DTYPE, "n": pl.Int64})
    got = df.select(m.decimal_ratio(pl.col("a"), pl.col("n"), scale=scale)).item()
    assert got == (None if expected is None else Decimal(expected))
    if expected is not None:
        assert str(got) == expected


# --------------------------------------------------------------------------------------
# percentiles


def test_percentile_linear_interpolation() -> None:
    df = pl.DataFrame({"x": [4.0, 1.0, None, 3.0, 2.0]})
    got = df.select([m.percentile("x", q).alias(str(q)) for q in (0, 0.5, 0.9, 0.95, 1)])
    assert got.row(0) == pytest.approx((1.0, 2.5, 3.7, 3.85, 4.0))
    one = pl.DataFrame({"x": [7.0]}).select(m.percentile("x", 0.99)).item()
    assert one == 7.0
    empty = pl.DataFrame({"x": [None]}, schema={"x": pl.Float64})
    assert empty.select(m.percentile("x", 0.5)).item() is None
    with pytest.raises(ValueError, match="within"):
        m.percentile("x", 1.5)


def test_percentile_in_group_by_and_integers() -> None:
    df = pl.DataFrame({"g": [1, 1, 1, 2], "x": [10, 20, 40, 5]})
    got = df.group_by("g").agg(m.percentile("x", 0.5)).sort("g")
    assert got.rows() == [(1, 20.0), (2, 5.0)]


# --------------------------------------------------------------------------------------
# periods


def events_at(*instants: datetime) -> pl.DataFrame:
    return frame(*[{"created_at": t} for t in instants])


def test_period_day_week_month_in_utc() -> None:
    df = events_at(datetime(2024, 5, 1, 23, 59, tzinfo=UTC), datetime(2024, 5, 5, tzinfo=UTC))
    got = df.select(
        m.period("day").alias("d"), m.period("week").alias("w"), m.period("month").alias("m")
    )
    assert got.schema["d"] == pl.Datetime("us", "UTC")
    assert got.rows() == [
        (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 4, 29, tzinfo=UTC),
         datetime(2024, 5, 1, tzinfo=UTC)),
        (datetime(2024, 5, 5, tzinfo=UTC), datetime(2024, 4, 29, tzinfo=UTC),
         datetime(2024, 5, 1, tzinfo=UTC)),
    ]  # fmt: skip


def test_period_in_a_zone_returns_that_zone() -> None:
    ny = ZoneInfo("America/New_York")
    df = events_at(datetime(2024, 3, 1, 3, tzinfo=UTC))  # Feb 29, 22:00 in New York
    got = df.select(
        m.period("month", "America/New_York").alias("month"),
        m.period("day", "America/New_York").alias("day"),
    )
    assert got.schema["month"] == pl.Datetime("us", "America/New_York")
    assert got.row(0) == (datetime(2024, 2, 1, tzinfo=ny), datetime(2024, 2, 29, tzinfo=ny))


@pytest.mark.parametrize(
    ("zone", "local_day", "first_instant_utc"),
    [
        # midnight does not exist (DST starts at 00:00): the day starts at 01:00 -03
        ("America/Santiago", datetime(2024, 9, 8), datetime(2024, 9, 8, 4, 0, tzinfo=UTC)),
        # midnight happens twice (DST ends at 01:00 -> 00:00): the earlier one
        ("America/Havana", datetime(2024, 11, 3), datetime(2024, 11, 3, 4, 0, tzinfo=UTC)),
        ("Europe/Berlin", datetime(2024, 3, 31), datetime(2024, 3, 30, 23, 0, tzinfo=UTC)),
        ("Europe/Berlin", datetime(2024, 10, 27), datetime(2024, 10, 26, 22, 0, tzinfo=UTC)),
    ],
)
def test_period_is_dst_safe(zone: str, local_day: datetime, first_instant_utc: datetime) -> None:
    tz = ZoneInfo(zone)
    # every 20 minutes of the local day, as UTC instants
    start = first_instant_utc
    instants = []
    t = start
    while t.astimezone(tz).date() == local_day.date():
        instants.append(t)
        t += timedelta(minutes=20)
    assert len(instants) >= 60
    df = events_at(*instants)
    starts = df.select(m.period("day", zone)).to_series().unique()
    assert starts.dtype == pl.Datetime("us", zone)
    assert starts.len() == 1
    # compare as UTC: Python never finds an ambiguous local time equal to a UTC one
    assert starts.dt.convert_time_zone("UTC").item() == first_instant_utc
    # the instant before belongs to the previous day
    prev = events_at(start - timedelta(microseconds=1)).select(m.period("day", zone)).item()
    assert prev < start


def test_grouping_by_period_and_columns() -> None:
    d1, d2 = datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 2, 10, tzinfo=UTC)
    df = frame(
        delivered(created_at=d1, campaign_id="a"),
        sms(created_at=d1, failed_at=d1, campaign_id="a"),
        delivered(created_at=d2, campaign_id="a"),
        delivered(created_at=d2, campaign_id=None),
    )
    out = m.delivery_summary(df, by="campaign_id", every="day", time_zone="Asia/Tokyo")
    assert out.columns[:2] == ["period", "campaign_id"]
    assert out.schema["period"] == pl.Datetime("us", "Asia/Tokyo")
    tokyo = ZoneInfo("Asia/Tokyo")
    assert out.select("period", "campaign_id", "n_used", "delivery_rate").rows() == [
        (datetime(2024, 5, 1, tzinfo=tokyo), "a", 2, 0.5),
        (datetime(2024, 5, 2, tzinfo=tokyo), "a", 1, 1.0),
        (datetime(2024, 5, 2, tzinfo=tokyo), None, 1, 1.0),
    ]


def test_grouping_arguments_are_validated() -> None:
    df = frame(sms())
    with pytest.raises(ValueError, match="unknown time zone"):
        m.delivery_summary(df, every="day", time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="unknown period"):
        m.delivery_summary(df, every="year")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="period"):
        m.delivery_summary(df, by="period", every="day")
    with pytest.raises(ValueError, match="duplicate"):
        m.delivery_summary(df, by=("campaign_id", "campaign_id"))
    with pytest.raises(TypeError, match="DataFrame or LazyFrame"):
        m.delivery_summary({"a": [1]})  # type: ignore[type-var]


# --------------------------------------------------------------------------------------
# shape: same kind in and out, summary agrees with the frame functions


FUNCTIONS = [
    m.outcome_counts,
    m.delivery_summary,
    m.latency_summary,
    m.billing_summary,
]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_frame_functions_return_the_kind_they_get(fn: Any) -> None:
    df = delivery_fixture()
    eager = fn(df, every="week")
    lazy = fn(df.lazy(), every="week")
    assert isinstance(eager, pl.DataFrame)
    assert isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(lazy.collect(), eager)


@pytest.mark.parametrize("fn", [m.retry_summary, m.retry_distribution])
def test_retry_functions_return_the_kind_they_get(fn: Any) -> None:
    df = retry_fixture()
    eager = fn(df, as_of=AS_OF)
    lazy = fn(df.lazy(), as_of=AS_OF)
    assert isinstance(eager, pl.DataFrame) and isinstance(lazy, pl.LazyFrame)
    assert_frame_equal(lazy.collect(), eager)


def mixed() -> pl.DataFrame:
    d2 = T0 + timedelta(days=3)
    return pl.concat(
        [
            delivery_fixture(),
            retry_fixture(),
            billing_fixture(),
            frame(delivered(created_at=d2, billing_status="Billed",
                            billable_amount=Decimal("0.01"), sent_at=d2)),
        ]
    )  # fmt: skip


@pytest.mark.parametrize("lazy", [False, True])
def test_summary_equals_the_frame_functions(lazy: bool) -> None:
    df = mixed()
    src = df.lazy() if lazy else df
    kw: dict[str, Any] = {"by": "campaign_id", "every": "day", "time_zone": "America/Chicago"}
    s = m.summary(src, **kw, as_of=AS_OF, billing_by=("billing_status", "source_id"))
    assert s.as_of == AS_OF
    assert_frame_equal(s.outcomes, m.outcome_counts(df, **kw, as_of=AS_OF))
    assert_frame_equal(s.delivery, m.delivery_summary(df, **kw, as_of=AS_OF))
    assert_frame_equal(s.latency, m.latency_summary(df, **kw))
    assert_frame_equal(s.retry, m.retry_summary(df, **kw, as_of=AS_OF))
    assert_frame_equal(s.retry_distribution, m.retry_distribution(df, **kw, as_of=AS_OF))
    billing = m.billing_summary(df, **{**kw, "by": ("campaign_id", "billing_status", "source_id")})
    assert_frame_equal(s.billing, billing)
    assert_frame_equal(s.billing_total, m.billing_summary(df, by=()))


def test_every_summary_row_splits_events_into_used_and_excluded() -> None:
    s = m.summary(mixed(), by="billing_status", every="day", as_of=AS_OF)
    for f in (s.outcomes, s.delivery, s.latency, s.retry, s.billing, s.billing_total):
        assert (f["n_used"] + f["n_excluded"] == f["n_events"]).all()
    n = mixed().height
    assert s.counts.columns == ["metric", "n_events", "n_used", "n_excluded"]
    assert s.counts["metric"].to_list() == [
        "outcome", "delivery", *[f"latency.{x}" for x in m.STAGES], "retry", "billing",
    ]  # fmt: skip
    assert (s.counts["n_events"] == n).all()
    assert (s.counts["n_used"] + s.counts["n_excluded"] == n).all()
    assert s.delivery["n_events"].sum() == n


SUMMARY_FRAMES = ("outcomes", "delivery", "latency", "retry", "retry_distribution", "billing",
                  "billing_total", "counts")  # fmt: skip
METRICS = ["outcome", "delivery", *[f"latency.{x}" for x in m.STAGES], "retry", "billing"]


@pytest.mark.parametrize(
    "kw",
    [{}, {"by": "campaign_id"}, {"every": "day", "by": ("campaign_id", "billing_status")}],
)
def test_summary_of_an_empty_frame_has_the_shape_of_a_full_one(kw: dict[str, Any]) -> None:
    s = m.summary(frame(), as_of=AS_OF, **kw)
    full = m.summary(mixed(), as_of=AS_OF, **kw)
    for name in SUMMARY_FRAMES:
        assert getattr(s, name).schema == getattr(full, name).schema, name
    # one row per metric, grouped or not: every latency stage too
    zeros = pl.Series([0] * len(METRICS), dtype=pl.Int64)
    expected = pl.DataFrame(
        {"metric": METRICS, "n_events": zeros, "n_used": zeros, "n_excluded": zeros}
    )
    assert_frame_equal(s.counts, expected)
    total = s.billing_total.row(0, named=True)
    assert s.billing_total.height == 1
    assert total["total_amount"] == Decimal("0") and total["cost_per_delivered"] is None
    assert total["n_events"] == total["n_used"] == total["n_delivered"] == 0
    assert s.outcomes.height == 0 and s.retry_distribution.height == 0 and s.billing.height == 0
    if kw:  # no events, no groups
        assert s.delivery.height == s.latency.height == s.retry.height == 0


def test_summary_of_an_empty_frame_without_grouping_has_zero_counts_and_null_stats() -> None:
    s = m.summary(frame(), as_of=AS_OF)
    delivery = s.delivery.row(0, named=True)
    assert s.delivery.height == 1 and delivery.pop("delivery_rate") is None
    assert delivery.pop("sent_delivery_rate") is None
    assert set(delivery.values()) == {0}
    assert s.latency["stage"].to_list() == list(m.STAGES)
    for row in s.latency.iter_rows(named=True):
        assert [row[c] for c in ("n_events", "n_used", "n_excluded", "n_out_of_scope",
                                 "n_missing", "n_negative")] == [0] * 6  # fmt: skip
        assert [row[c] for c in ("mean_ms", "min_ms", "p50_ms", "p99_ms", "max_ms")] == [None] * 5
    retry = s.retry.row(0, named=True)
    stats = ("share_retried", "mean_retries", "max_retries", "delivery_rate",
             "extra_attempts_per_delivered")  # fmt: skip
    assert [retry.pop(c) for c in stats] == [None] * 5
    assert set(retry.values()) == {0}
    billing = m.summary(frame(), as_of=AS_OF, billing_by=()).billing
    assert_frame_equal(billing, s.billing_total)


@pytest.mark.parametrize(("every", "by"), [(None, ()), ("month", "campaign_id")])
def test_summary_reads_a_parquet_scan_with_the_streaming_engine(
    tmp_path: Any, every: str | None, by: Any
) -> None:
    df = mixed()
    path = tmp_path / "events.parquet"
    df.write_parquet(path)
    kw: dict[str, Any] = {"as_of": AS_OF, "every": every, "by": by}
    s = m.summary(pl.scan_parquet(path), engine="streaming", **kw)
    ref = m.summary(df, **kw)
    for name in ("outcomes", "delivery", "latency", "retry", "billing", "billing_total"):
        assert_frame_equal(getattr(s, name), getattr(ref, name))


@pytest.mark.parametrize("every", ["day", "week", "month"])
def test_period_column_replaces_the_key(every: str) -> None:
    out = m.delivery_summary(mixed(), every=every, time_zone="Europe/Berlin")  # type: ignore[arg-type]
    assert out.columns[0] == "period"
    assert out.columns.count("period") == 1 and "date" not in out.columns
    assert out.schema["period"] == pl.Datetime("us", "Europe/Berlin")
    assert out["period"].is_sorted()


def test_grouping_by_a_column_the_metrics_also_use() -> None:
    out = m.delivery_summary(retry_fixture(), by="retry_count")
    assert out["n_events"].sum() == retry_fixture().height
    dist = m.retry_distribution(retry_fixture(), by="retry_count", as_of=AS_OF)
    assert dist.columns[:2] == ["retry_count", "n_messages"]
    assert dist["n_messages"].to_list() == [2, 2, 1, 1]


# --------------------------------------------------------------------------------------
# billing breakdown: channels, billed / pending / refunded, gross and net


def finance_fixture() -> pl.DataFrame:
    """Both refund forms, a pending charge, every channel, warm-up and test traffic.

    The hand computation is in the tests below; tests/test_reports.py reuses it.
    """
    d = Decimal
    call = {"event_type": "Call", "timeline_type": "Call", "created_at": T0}
    inbound = {"event_type": "Sms", "direction": "Inbound", "created_at": T0, "received_at": T0}
    return frame(
        delivered(billing_status="Billed", billable_amount=d("0.0100")),  # 1
        delivered(billing_status="Billed", billable_amount=d("0.0120")),  # 2
        sms(sent_at=T0, billing_status="Billed", billable_amount=d("0.0100")),  # 3 no receipt
        sms(failed_at=T0, billing_status="NotBilled"),  # 4
        delivered(billing_status="Pending", billable_amount=d("0.0110")),  # 5
        delivered(event_type="Mms", billing_status="Refunded", billable_amount=d("0.0250")),  # 6
        delivered(event_type="MMS", billing_status="Billed", billable_amount=d("0.0266")),  # 7
        sms(billing_status="Billed", billable_amount=d("-0.0120")),  # 8 a credit for 2
        {**inbound, "billing_status": "Billed", "billable_amount": d("0.0040")},  # 9
        {**inbound, "billing_status": "Billed", "billable_amount": d("0.0040")},  # 10
        {**call, "direction": "Outbound", "billing_status": "Billed",
         "billable_amount": d("0.0280")},  # 11
        {**call, "direction": "Inbound", "billing_status": "NotBilled"},  # 12 missed
        delivered(traffic_type="Warmup", billing_status="NotBillable"),  # 13
        delivered(traffic_type="Test", billing_status="billed", billable_amount=d("0.0079")),  # 14
        {"event_type": "Note", "created_at": T0},  # 15
    )  # fmt: skip


def test_billing_breakdown_by_channel_hand_computed() -> None:
    d = Decimal
    out = m.billing_breakdown(finance_fixture())
    assert out.schema["channel"] == m.CHANNEL_DTYPE
    assert out.schema["cost_per_unit"] == pl.Decimal(38, 4)
    rows = {r["channel"]: r for r in out.iter_rows(named=True)}
    assert list(rows) == ["sms", "mms", "inbound", "call", "other"]
    sms_ = rows["sms"]  # events 1-5, 8; 13 and 14 are warm-up / test traffic
    assert (sms_["n_events"], sms_["n_used"], sms_["n_traffic_excluded"]) == (8, 5, 2)
    assert sms_["n_missing_amount"] == 1 and sms_["n_excluded"] == 3
    assert sms_["billed_amount"] == d("0.0320")  # 1 + 2 + 3
    assert sms_["pending_amount"] == d("0.0110")  # 5
    assert sms_["gross_amount"] == d("0.0430")
    assert sms_["refunded_amount"] == d("0.0120")  # 8: minus its negative amount
    assert sms_["net_amount"] == sms_["total_amount"] == d("0.0310")
    # 3 delivered (1, 2, 5): 0.0310 / 3 = 0.010333... -> 0.0103
    assert (sms_["unit"], sms_["n_units"], sms_["cost_per_unit"]) == (
        "delivered message", 3, d("0.0103"))  # fmt: skip
    mms = rows["mms"]  # 6 refunded by its status: charged (gross) and refunded
    assert (mms["gross_amount"], mms["refunded_amount"]) == (d("0.0516"), d("0.0250"))
    assert (mms["net_amount"], mms["total_amount"]) == (d("0.0266"), d("0.0516"))
    assert (mms["n_units"], mms["cost_per_unit"]) == (2, d("0.0133"))  # 0.0266 / 2
    inbound = rows["inbound"]  # shown apart: per received message, not per delivery
    assert (inbound["unit"], inbound["n_units"]) == ("received message", 2)
    assert (inbound["net_amount"], inbound["cost_per_unit"]) == (d("0.0080"), d("0.0040"))
    call = rows["call"]  # no duration field: per charged call (12 was missed, no amount)
    assert (call["n_events"], call["n_used"], call["n_units"]) == (2, 1, 1)
    assert (call["unit"], call["cost_per_unit"]) == ("charged call", d("0.0280"))
    other = rows["other"]
    assert (other["n_used"], other["unit"], other["n_units"], other["cost_per_unit"]) == (
        0, None, None, None)  # fmt: skip


def test_billing_breakdown_states_and_totals_hand_computed() -> None:
    d = Decimal
    df = finance_fixture()
    whole = m.billing_breakdown(df, split=None).row(0, named=True)
    assert whole["gross_amount"] == d("0.1306")
    assert whole["refunded_amount"] == d("0.0370")  # 0.0120 (negative) + 0.0250 (status)
    assert whole["net_amount"] == d("0.0936")
    assert (whole["billed_amount"], whole["pending_amount"]) == (d("0.0946"), d("0.0110"))
    # the plain sum counts the status-refunded charge: net + 0.0250
    assert whole["total_amount"] == d("0.1186")
    assert (
        whole["total_amount"]
        == m.billing_summary(df, by=(), include_warmup=False, include_test=False)[
            "total_amount"
        ].item()
    )
    assert "cost_per_unit" not in whole
    states = m.billing_breakdown(df, split="billing_state")
    assert states["billing_state"].to_list() == ["billed", "pending", "refunded", "other"]
    got = {r["billing_state"]: r for r in states.iter_rows(named=True)}
    assert [got["billed"][k] for k in ("n_used", "gross_amount", "refunded_amount")] == [
        7, d("0.0946"), d("0")]  # fmt: skip
    assert (got["pending"]["n_used"], got["pending"]["net_amount"]) == (1, d("0.0110"))
    refunded = got["refunded"]  # 6 (status) and 8 (negative amount, status Billed)
    assert (refunded["n_used"], refunded["gross_amount"]) == (2, d("0.0250"))
    assert (refunded["refunded_amount"], refunded["net_amount"]) == (d("0.0370"), d("-0.0120"))
    assert got["other"]["n_used"] == 0  # 4, 12, 15: no amount


@pytest.mark.parametrize("split", ["channel", "billing_state", None])
@pytest.mark.parametrize("by", [(), "campaign_id"])
def test_billing_breakdown_groups_foot_to_the_total(split: Any, by: Any) -> None:
    df = finance_fixture().with_columns(
        pl.Series("campaign_id", ["c1", "c2", None] * 5, dtype=pl.String)
    )
    whole = m.billing_breakdown(df, split=None, include_warmup=True, include_test=True)
    out = m.billing_breakdown(df, split=split, by=by, include_warmup=True, include_test=True)
    for col in ("gross_amount", "refunded_amount", "net_amount", "total_amount",
                "billed_amount", "pending_amount"):  # fmt: skip
        assert sum(out[col].to_list(), Decimal(0)) == whole[col].item(), col
    for col in ("n_events", "n_used", "n_excluded", "n_missing_amount"):
        assert out[col].sum() == whole[col].item(), col
    assert (out["net_amount"] == out["gross_amount"] - out["refunded_amount"]).all()
    assert whole["n_events"].item() == df.height


def test_billing_breakdown_traffic_scope_and_lazy() -> None:
    d = Decimal
    df = finance_fixture()
    out = m.billing_breakdown(df, include_warmup=True, include_test=True)
    sms_ = out.filter(pl.col("channel") == "sms").row(0, named=True)
    # 14 adds a billed 0.0079 ('billed': any case); 13 and 14 add two deliveries
    assert (sms_["billed_amount"], sms_["net_amount"]) == (d("0.0399"), d("0.0389"))
    assert (sms_["n_units"], sms_["cost_per_unit"]) == (5, d("0.0078"))  # 0.00778
    assert m.billing_breakdown(df.lazy()).collect().equals(m.billing_breakdown(df))
    with pytest.raises(ValueError, match="split"):
        m.billing_breakdown(df, split="status")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cost_scale"):
        m.billing_breakdown(df, cost_scale=19)
    with pytest.raises(TypeError, match="Decimal"):
        m.billing_breakdown(df.with_columns(pl.col("billable_amount").cast(pl.Float64)))
