"""A message's lifecycle: the timed steps from queued to delivered, failed, retried,
blocked or canceled, and the charge being billed (amounts are set with the steps that bill
them, so billing lives here too).

:class:`_Lifecycle` is the part of the per-lead generator (:class:`._kinds._Gen`) that
turns a message into steps and applies the ones up to ``now`` (``_drive``).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from ._catalog import (
    _CARRIER_SURCHARGE,
    _HOUR,
    _TPS,
    FAIL_ERRORS,
    OPT_OUT_BLOCK,
    OPT_OUT_CANCEL,
    OTHER_BLOCK_REASONS,
    OTHER_CANCEL_REASONS,
    S_AMOUNT,
    S_BILLING,
    S_BLOCKED,
    S_CANCEL_REASON,
    S_CANCELED,
    S_COMPLIANCE,
    S_DELIVERED,
    S_ERROR,
    S_FAILED,
    S_ID,
    S_NEXT_RETRY,
    S_QUEUED,
    S_RETRY,
    S_SEGMENTS,
    S_SENDING,
    S_SENT,
    S_STATUS,
    S_STATUS_REASON,
    S_TRAFFIC,
    S_UNDELIVERABLE,
    UNDELIVERABLE_ERRORS,
)
from ._profiles import (
    _T_BILL,
    _T_BLOCK,
    _T_FAIL,
    _T_QUEUE,
    _T_SEND,
    LeadProfile,
    _carrier_gap,
)

#: A time after every other (``_Lifecycle.stop`` of a lead that does not opt out).
NEVER = 1 << 62

#: One lifecycle step: when it happens and the ``(slot, value)`` pairs it sets.
_Step = tuple[int, tuple[tuple[int, Any], ...]]


def _step_time(step: _Step) -> int:
    return step[0]


class _Lifecycle:
    """The message-lifecycle methods of :class:`._kinds._Gen` (state is the generator's)."""

    __slots__ = ("future", "src", "stop")

    # set by the generator's ``__init__``
    p: LeadProfile
    now: int
    rng: random.Random
    #: the random source a message's lifecycle draws from (see ``_drive``)
    src: list[random.Random]
    #: the steps of the last message that lie after ``now`` (``None``: it is settled)
    future: list[_Step] | None
    #: when the lead replied STOP (``NEVER``: it does not opt out): no send from then on
    stop: int

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

    def _canceled(self, cancel: int, opted_out: bool = False) -> Iterator[_Step]:
        yield (cancel, ())  # the cancel reason is drawn when the step is reached
        if opted_out:
            reason = OPT_OUT_CANCEL
        else:
            reason = OTHER_CANCEL_REASONS[int(self.src[0].random() * len(OTHER_CANCEL_REASONS))]
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
        """A message's steps from its send time: blocked, or queued -> (retries) -> sending,
        then failed (and retried), undeliverable, or sent and its receipt. One generator
        because the random source changes between its steps (``_drive`` swaps ``src[0]`` at
        ``now``): every draw below is made from the source that is current at its step."""
        src = self.src
        yield (start, ())  # reaching the send time: later draws are the live source's
        rnd = src[0].random
        if outcome == 3 or outcome == 6:
            yield self._blocked_step(start, outcome == 6, rnd)
            return
        backoffs, sending = self._queue_times(start, outcome, rnd)
        yield (
            start,
            (
                (S_QUEUED, start),
                (S_STATUS, "Queued"),
                (S_STATUS_REASON, "Waiting in the send queue"),
            ),
        )
        if sending >= self.stop:
            # the lead replied STOP while the message waited in the queue
            yield self._suppressed_step(sending, row[S_TRAFFIC])
            return
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
        amount = None
        if not warmup:
            amount = ((200 if mms else 79) + _CARRIER_SURCHARGE[carrier]) * row[S_SEGMENTS]
        if outcome == 1:
            yield from self._failed(row, sending, warmup, amount)
            return
        sent = sending + _T_SEND[int(src[0].random() * 4096)]
        yield self._sent_step(sent, warmup, amount)
        final = sent + _carrier_gap(src[0])
        if outcome == 2:
            yield self._undeliverable_step(final)
            return
        yield from self._receipt(row, sent, None if outcome == 5 else final, warmup)

    def _blocked_step(self, start: int, opted_out: bool, rnd: Callable[[], float]) -> _Step:
        """Blocked by compliance before sending (``opted_out``: the lead replied STOP before;
        the reason is drawn all the same)."""
        i = int(rnd() * len(OTHER_BLOCK_REASONS))
        code, reason, action = OPT_OUT_BLOCK if opted_out else OTHER_BLOCK_REASONS[i]
        blocked = start + _T_BLOCK[int(rnd() * 4096)]
        return (
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

    def _queue_times(
        self, start: int, outcome: int, rnd: Callable[[], float]
    ) -> tuple[list[int], int]:
        """The backoffs of the retries while queued, and when sending starts."""
        retries = 0
        if outcome == 0 and rnd() < 0.04:
            retries = 1 if rnd() < 0.75 else 2
        queue_gap = _T_QUEUE[int(rnd() * 4096)] + int(rnd() * 1000)
        if rnd() < 0.02:
            # a queue backlog (capped at an hour)
            queue_gap += min(int(self.src[0].paretovariate(1.3) * 30 * _TPS), _HOUR)
        backoffs = [int((30 << k) * _TPS * (1 + rnd())) for k in range(retries)]
        return backoffs, start + queue_gap + sum(backoffs)

    def _failed(
        self, row: list[Any], sending: int, warmup: bool, amount: int | None
    ) -> Iterator[_Step]:
        """The carrier refuses the message; a retryable error is retried (``_retries``)."""
        rnd = self.src[0].random
        base_traffic = row[S_TRAFFIC]
        code, reason, retryable = FAIL_ERRORS[int(rnd() * len(FAIL_ERRORS))]
        failed = sending + _T_FAIL[int(rnd() * 4096)]
        nretry = (0, 0, 0, 1, 1, 2, 3, 3)[int(rnd() * 8)]
        nxt = None
        if retryable and nretry < 3:
            nxt = failed + int((60 << nretry) * _TPS * (1 + rnd()))
        yield self._failed_step(failed, code, reason, nretry, nxt, warmup, base_traffic)
        if nxt is not None:
            yield from self._retries(row, nxt, nretry, warmup, amount, base_traffic)

    def _undeliverable_step(self, final: int) -> _Step:
        code, reason = UNDELIVERABLE_ERRORS[int(self.src[0].random() * len(UNDELIVERABLE_ERRORS))]
        return (
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

    def _suppressed_step(self, at: int, traffic: str) -> _Step:
        """A send attempt at ``at``, after the lead's STOP: blocked, never sent."""
        code, reason, action = OPT_OUT_BLOCK
        return (
            at,
            (
                (S_BLOCKED, at),
                (S_NEXT_RETRY, None),
                (S_STATUS, "Blocked"),
                (S_STATUS_REASON, reason),
                (S_ERROR, code),
                (S_COMPLIANCE, action),
                (S_BILLING, "NotBilled"),
                (S_AMOUNT, None),
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
            if attempt >= self.stop:
                yield self._suppressed_step(attempt, base_traffic)
                return
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
