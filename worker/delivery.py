"""Delivering outbound messages: claim the rows, send, record what the provider said.

Two jobs share one path. `deliver_batch(message_ids)` is the bulk one: the outbox hook queues
one per committed transaction of several messages, `worker.notify` runs it in-process for the
messages it has just stored, and `release_held` and the survey reminders queue it in chunks of
`BATCH_SIZE`. `deliver(message_id)` is the single-message job (a reply, an alert, an admin's
retry, the recovery sweep); it is the same path with one id.

Guarantees, whatever the size of the batch:

- **Once.** One conditional ``UPDATE … RETURNING`` claims every still-`queued` row of the batch
  (queued → sending, attempts + 1, claimed_at), so two workers running the same ids send each
  message once; a row claimed, sent or parked by someone else is simply not returned.
- **Opt-outs.** The claimed rows' contacts are loaded in one query; an address that opted out
  (or is gone) is marked `suppressed` and never sent.
- **Web chat** rows are never claimed: the chat page fetches them itself.
- **Long texts** are cut into numbered parts (`worker.long_messages`); the parts are queued in
  the claim's transaction and the outbox hook hands them on.
- **Retries with backoff.** The outcomes are recorded in one transaction. A transient failure
  with attempts left goes back to `queued`: `deliver` raises for RQ's retry, `deliver_batch`
  queues the failed ids again as a smaller batch after the delivery policy's interval for
  their attempt count (a scheduled RQ job the recovery sweep sees as live). After the last
  attempt, or on a permanent error, the row is parked `failed` with the provider's code.
- **Bounded claims.** A batch stops sending after `SEND_BUDGET_SECONDS` or after
  `BREAKER_FAILURES` transient failures in a row (the provider is down): the rows it did not
  try go back to `queued` with their attempt returned and are queued again. So no row stays
  `sending` anywhere near the recovery sweep's stale limit while its worker is alive.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from redis import Redis
from redis.exceptions import RedisError
from rq import get_current_job
from rq.job import Job
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import case, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.case_numbers import display_case_number
from cases.db import session_scope
from cases.models import Area, Case, Contact, Message
from cases.models.messaging import Channel, Direction, MessageStatus
from cases.settings import Settings
from cases.status_texts import STATUS_TEXT, item_name, unit_name
from worker import outbox, runtime
from worker.long_messages import split_long_message
from worker.queue import POLICIES, WILL_RUN, enqueue_once, get_queue
from worker.runtime import Services
from worker.senders import Outbound, Sender, SendError, SendResult, make_sender
from worker.wechat_template import TemplateNotice, fill

log = logging.getLogger(__name__)
assert outbox  # imported for its session hooks: committed queued messages get delivered

JOB = "worker.delivery.deliver"
BATCH_JOB = "worker.delivery.deliver_batch"
_RETRY = POLICIES[JOB].retry
MAX_ATTEMPTS = (_RETRY.max if _RETRY is not None else 0) + 1
# At most this many messages per batch job (and per claim).
BATCH_SIZE = 100
# Batch jobs' ids: "deliveries-{first id}-{count}" (a retry adds "-try{attempts}"). Apart from
# the single jobs' "deliver-{id}", which the recovery sweep looks up by message.
BATCH_PREFIX = "deliveries-"
# A batch sends for at most this long (plus one send's timeout), far inside the recovery sweep's
# stale-`sending` limit; what is left goes back to the queue.
SEND_BUDGET_SECONDS = 40.0
# This many transient failures in a row: the provider is down, the rest of the batch waits.
BREAKER_FAILURES = 3

# The process's senders, by kind ("wechat", "default"), with the settings they were made from:
# installing other services (another test, a reconfigured process) makes fresh ones. A sender
# set by `use_sender` is kept whatever the settings (None in place of the settings).
_senders: dict[str, tuple[Settings | None, Sender]] = {}


def _kind(channel: Channel) -> str:
    return "wechat" if channel is Channel.WECHAT else "default"


def sender(channel: Channel = Channel.SMS) -> Sender:
    """The process's sender for a channel, made from the installed settings: WeChat's (or
    local) for WeChat, Twilio (or local) for the others."""
    services = runtime.current()
    kind = _kind(channel)
    cached = _senders.get(kind)
    if cached is not None and (cached[0] is None or cached[0] is services.settings):
        return cached[1]
    if kind == "wechat":
        redis = services.redis if services.settings.uses_redis else None
        made = make_sender(services.settings, Channel.WECHAT, redis)
    else:
        made = make_sender(services.settings)
    _senders[kind] = (services.settings, made)
    return made


def use_sender(replacement: Sender | None, channel: Channel = Channel.SMS) -> None:
    """Pin the process's sender for a channel (tests, the embedded simulator); None unpins."""
    if replacement is None:
        _senders.pop(_kind(channel), None)
    else:
        _senders[_kind(channel)] = (None, replacement)


# ---------------------------------------------------------------------------------------------
# Queueing


def enqueue_delivery(connection: Redis, message_id: int) -> None:
    """Queue delivery of a committed outbound message (safe to call twice).

    The job id is the message's. While a job of that id will still run (queued, scheduled,
    running) it is not queued again — the outbox hook and the shell may both ask; a finished or
    failed job's record is replaced, so a message queued again (an admin's retry) goes out. The
    delivery claim guards whatever slips between the look and the enqueue.
    """
    enqueue_once(connection, JOB, message_id, job_id=f"deliver-{message_id}")


def enqueue_deliveries(connection: Redis, message_ids: Sequence[int]) -> None:
    """Queue delivery of committed outbound messages: one message as `enqueue_delivery` does
    (its own job id, so the callers that also queue it share the job), several as batch jobs
    of at most `BATCH_SIZE`.

    Raises:
        redis.exceptions.RedisError: the queue is unreachable (the messages stay `queued`; the
            recovery sweep hands them on).
    """
    ids = sorted(set(message_ids))
    if len(ids) == 1:
        enqueue_delivery(connection, ids[0])
        return
    for chunk in _chunks(ids, BATCH_SIZE):
        enqueue_batch(connection, chunk)


def enqueue_batch(
    connection: Redis, message_ids: Sequence[int], delay: float = 0.0, tag: str = ""
) -> None:
    """Queue one `deliver_batch` job for `message_ids`, now or after `delay` seconds.

    The job id is deterministic (first id, count, and the retry's `tag`), so asking twice
    while the job will run queues it once; the claim guards anything else.
    """
    ids = sorted(message_ids)
    job_id = f"{BATCH_PREFIX}{ids[0]}-{len(ids)}" + (f"-{tag}" if tag else "")
    current = get_current_job()
    if current is not None and current.id == job_id:
        job_id += "-again"  # never the running job's own id: it would count as "will run"
    enqueue_once(connection, BATCH_JOB, ids, job_id=job_id, delay=delay)


def batched_message_ids(connection: Redis) -> set[int]:
    """Ids of the messages a live batch job (waiting, scheduled for a retry, running) will
    deliver: the recovery sweep leaves them to it."""
    queue = get_queue(POLICIES[BATCH_JOB].queue, connection)
    job_ids = set(queue.get_job_ids())
    for registry in (
        ScheduledJobRegistry(queue=queue),
        StartedJobRegistry(queue=queue),
        DeferredJobRegistry(queue=queue),
    ):
        job_ids.update(registry.get_job_ids(cleanup=False))
    wanted = sorted(job_id for job_id in job_ids if job_id.startswith(BATCH_PREFIX))
    covered: set[int] = set()
    for job in Job.fetch_many(wanted, connection=connection):
        if job is not None and job.get_status(refresh=False) in WILL_RUN and job.args:
            covered.update(int(message_id) for message_id in job.args[0])
    return covered


# ---------------------------------------------------------------------------------------------
# Jobs


@dataclass
class Outcome:
    """What became of one claimed message."""

    status: MessageStatus
    attempts: int
    error: SendError | None = None
    retry: bool = False  # transient, attempts left: back to `queued`
    released: bool = False  # not tried (budget or breaker): back to `queued`, attempt returned


@dataclass(frozen=True)
class BatchResult:
    """What one `deliver_batch` run did, by message."""

    sent: int = 0
    suppressed: int = 0
    failed: int = 0
    retrying: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    not_claimed: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counts, as the job's result in RQ."""
        return {
            "sent": self.sent,
            "suppressed": self.suppressed,
            "failed": self.failed,
            "retrying": len(self.retrying),
            "released": len(self.released),
            "not_claimed": self.not_claimed,
        }


def deliver(message_id: int) -> str:
    """Send one outbound message; returns its status afterwards.

    Raises:
        SendError: a transient failure with attempts left (RQ retries the job).
    """
    outcome = send_messages([message_id]).get(message_id)
    if outcome is None:  # not ours to send: sent, parked, web chat, or someone else's claim
        with session_scope(runtime.current().sessions) as session:
            current = session.get(Message, message_id)
            return current.status.value if current else "missing"
    if outcome.retry and outcome.error is not None:
        raise outcome.error
    return outcome.status.value


def deliver_batch(message_ids: Sequence[int]) -> dict[str, int]:
    """Send the still-queued messages among `message_ids`, `BATCH_SIZE` at a time (the job).

    Transient failures are queued again as a smaller batch after the delivery policy's
    backoff for their attempt count; rows a batch did not try are queued again at once (or,
    when the provider looked down, with the failures). Returns counts (`BatchResult`).
    """
    total = BatchResult()
    for chunk in _chunks(sorted(set(message_ids)), BATCH_SIZE):
        outcomes = send_messages(chunk)
        result = _summary(chunk, outcomes)
        _requeue(outcomes)
        total = BatchResult(
            sent=total.sent + result.sent,
            suppressed=total.suppressed + result.suppressed,
            failed=total.failed + result.failed,
            retrying=total.retrying + result.retrying,
            released=total.released + result.released,
            not_claimed=total.not_claimed + result.not_claimed,
        )
    return total.as_dict()


def send_messages(message_ids: Sequence[int]) -> dict[int, Outcome]:
    """Claim, send and record one batch (at most `BATCH_SIZE` ids); the outcome of each
    message this run claimed. Queues nothing: the callers decide how to retry."""
    services = runtime.current()
    with session_scope(services.sessions) as session:
        claimed = _claim(session, message_ids)
        outcomes: dict[int, Outcome] = {}
        to_send: list[tuple[int, Outbound]] = []
        contacts = _contacts(session, [message.contact_id for message in claimed])
        callback = _status_callback(services.settings.public_url)
        notices = _template_notices(session, services, claimed)
        for message in claimed:
            contact = contacts.get(message.contact_id)
            if contact is None or contact.opted_out:
                message.status = MessageStatus.SUPPRESSED
                outcomes[message.id] = Outcome(MessageStatus.SUPPRESSED, message.attempts)
                continue
            split_long_message(session, message)
            outcomes[message.id] = Outcome(MessageStatus.SENDING, message.attempts)
            to_send.append(
                (
                    message.id,
                    Outbound(
                        # a WeChat follower is reached by openid, whatever phone they gave
                        to=contact.address
                        if message.channel is Channel.WECHAT
                        else (contact.phone or contact.address),
                        body=message.body,
                        channel=message.channel,
                        status_callback=callback,
                        template=notices.get(message.id),
                    ),
                )
            )
    results = _send(to_send, outcomes)
    _record(services.sessions, results, outcomes)
    if outcomes:
        log.info(
            "messages delivered",
            extra={
                "claimed": len(outcomes),
                "sent": len(results),
                "not_sent": sum(o.status is not MessageStatus.SENT for o in outcomes.values()),
            },
        )
    return outcomes


def _claim(session: Session, message_ids: Sequence[int]) -> list[Message]:
    """queued → sending for every row of `message_ids` still queued, in one statement."""
    statement = (
        update(Message)
        .where(
            Message.id.in_(list(message_ids)),
            Message.direction == Direction.OUTBOUND,
            Message.status == MessageStatus.QUEUED,
            # Web chat has no push: the chat page fetches its queued messages itself.
            Message.channel != Channel.WEB,
        )
        .values(
            status=MessageStatus.SENDING,
            attempts=Message.attempts + 1,
            claimed_at=dt.datetime.now(dt.UTC),
        )
        .returning(Message)
    )
    claimed = session.scalars(statement).all()
    return sorted(claimed, key=lambda message: message.id)


def _template_notices(
    session: Session, services: Services, messages: Sequence[Message]
) -> dict[int, TemplateNotice]:
    """The WeChat template notice of each WeChat message about a case, by message id, for
    followers the 48-hour window closed on; none when no template is configured."""
    settings = services.settings
    fields = settings.wechat_template
    wanted = [m for m in messages if m.channel is Channel.WECHAT and m.case_id is not None]
    if not fields or not wanted:
        return {}
    cases = {
        found.id: found
        for found in session.scalars(select(Case).where(Case.id.in_({m.case_id for m in wanted})))
    }
    zone = services.clock.hours.zone
    notices: dict[int, TemplateNotice] = {}
    for message in wanted:
        found = cases.get(message.case_id or 0)
        if found is None:
            continue
        at = (message.created_at or found.updated_at).astimezone(zone)
        values = {
            "case_number": display_case_number(found.number, settings.case_number_prefix),
            "item": item_name(found.item_code, "zh"),
            "status": STATUS_TEXT[found.status][0],
            "time": at.strftime("%Y-%m-%d %H:%M"),
            "unit": unit_name(session, found, "zh") or _place_name(session, found),
            "notice": message.body,
        }
        notices[message.id] = fill(settings.wechat_template_id, fields, values)
    return notices


def _place_name(session: Session, found: Case) -> str:
    area = session.get(Area, found.area_id) if found.area_id else None
    return area.name if area is not None else ""


def _contacts(session: Session, contact_ids: list[int]) -> dict[int, Contact]:
    if not contact_ids:
        return {}
    found = session.scalars(select(Contact).where(Contact.id.in_(set(contact_ids))))
    return {contact.id: contact for contact in found}


def _send(
    to_send: list[tuple[int, Outbound]], outcomes: dict[int, Outcome]
) -> dict[int, SendResult]:
    """Send one after another, within the budget and while the provider answers."""
    started = time.monotonic()
    in_a_row = 0
    results: dict[int, SendResult] = {}
    for index, (message_id, outbound) in enumerate(to_send):
        if in_a_row >= BREAKER_FAILURES or time.monotonic() - started > SEND_BUDGET_SECONDS:
            for left, _ in to_send[index:]:
                outcomes[left].released = True
                outcomes[left].status = MessageStatus.QUEUED
                outcomes[left].attempts -= 1
            log.warning(
                "batch stopped early; the rest is queued again",
                extra={"left": len(to_send) - index, "provider_down": in_a_row > 0},
            )
            break
        try:
            results[message_id] = sender(outbound.channel).send(outbound)
        except SendError as exc:
            outcome = outcomes[message_id]
            outcome.error = exc
            outcome.retry = exc.transient and outcome.attempts < MAX_ATTEMPTS
            outcome.status = MessageStatus.QUEUED if outcome.retry else MessageStatus.FAILED
            in_a_row = in_a_row + 1 if exc.transient else 0
            log.warning(
                "message not sent",
                extra={"message_id": message_id, "code": exc.code, "will_retry": outcome.retry},
            )
        else:
            outcomes[message_id].status = MessageStatus.SENT
            in_a_row = 0
    return results


def _record(
    sessions: sessionmaker[Session], results: dict[int, SendResult], outcomes: dict[int, Outcome]
) -> None:
    """Every outcome of the batch in one transaction (no ORM objects: the outbox hook must
    not hand failed rows straight back to the queue, their retry waits for its backoff)."""
    failed = {i: o for i, o in outcomes.items() if o.error is not None}
    released = sorted(i for i, o in outcomes.items() if o.released)
    if not (results or failed or released):
        return
    now = dt.datetime.now(dt.UTC)
    plain = {"synchronize_session": False}
    with session_scope(sessions) as session:
        if results:
            ids = sorted(results)
            provider_ids = {i: results[i].provider_id for i in ids}
            session.execute(
                update(Message)
                .where(Message.id.in_(ids))
                .values(
                    status=MessageStatus.SENT,
                    provider_id=case(provider_ids, value=Message.id),
                    sent_at=now,
                    error_code="",
                    error_message="",
                ),
                execution_options=plain,
            )
        for message_id, outcome in sorted(failed.items()):
            assert outcome.error is not None
            session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(
                    status=outcome.status,
                    error_code=outcome.error.code[:32],
                    error_message=str(outcome.error)[:255],
                ),
                execution_options=plain,
            )
        if released:
            session.execute(
                update(Message)
                .where(Message.id.in_(released), Message.status == MessageStatus.SENDING)
                .values(status=MessageStatus.QUEUED, attempts=Message.attempts - 1),
                execution_options=plain,
            )
        _fall_back_to_sms(
            session,
            [i for i, o in failed.items() if o.error is not None and o.error.code in SMS_FALLBACK],
        )


# Provider codes after which the resident is still reached, by SMS, when a phone is known:
# WeChat takes customer-service messages only within 48 hours of the follower's last message.
SMS_FALLBACK = frozenset({"45015"})


def _fall_back_to_sms(session: Session, message_ids: list[int]) -> None:
    """Queue an SMS copy of each failed WeChat message whose follower gave a phone number."""
    for message_id in message_ids:
        message = session.get(Message, message_id)
        if message is None or message.channel is not Channel.WECHAT:
            continue
        contact = session.get(Contact, message.contact_id)
        if contact is None or not contact.phone or contact.opted_out:
            continue
        session.add(
            Message(
                contact_id=contact.id,
                case_id=message.case_id,
                direction=Direction.OUTBOUND,
                channel=Channel.SMS,
                body=message.body,
                media=[],
                status=MessageStatus.QUEUED,
            )
        )
        log.info("WeChat window closed: the message goes by SMS", extra={"message_id": message_id})


def _summary(chunk: Sequence[int], outcomes: dict[int, Outcome]) -> BatchResult:
    statuses = [outcome.status for outcome in outcomes.values()]
    return BatchResult(
        sent=statuses.count(MessageStatus.SENT),
        suppressed=statuses.count(MessageStatus.SUPPRESSED),
        failed=statuses.count(MessageStatus.FAILED),
        retrying=sorted(i for i, o in outcomes.items() if o.retry),
        released=sorted(i for i, o in outcomes.items() if o.released),
        not_claimed=len(chunk) - len(outcomes),
    )


def retry_delay(attempts: int) -> float:
    """Seconds before attempt `attempts + 1`, by the delivery policy's intervals."""
    retry = POLICIES[JOB].retry
    intervals = list(retry.intervals) if retry is not None and retry.intervals else [0]
    return float(intervals[max(0, min(attempts, len(intervals)) - 1)])


def _requeue(outcomes: dict[int, Outcome]) -> None:
    """Queue the batch's transient failures again, grouped by attempt count (each group after
    its backoff), and the rows it did not try (at once, or with the failures when the provider
    looked down). An unreachable queue leaves them `queued` for the recovery sweep."""
    groups: dict[float, list[int]] = {}
    for message_id, outcome in outcomes.items():
        if outcome.retry:
            groups.setdefault(retry_delay(outcome.attempts), []).append(message_id)
    released = [i for i, o in outcomes.items() if o.released]
    if released:
        delay = min(groups) if groups else 0.0
        groups.setdefault(delay, []).extend(released)
    services = runtime.current()
    for delay, ids in sorted(groups.items()):
        # The retry's job id names its attempt ("t2": the messages' second try is over).
        attempts = max(outcomes[i].attempts for i in ids)
        tag = f"t{attempts}" + ("" if any(outcomes[i].retry for i in ids) else "r")
        try:
            enqueue_batch(services.redis, ids, delay, tag)
        except RedisError:
            log.warning("queue unreachable; messages stay queued", extra={"messages": len(ids)})


def _chunks(ids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _status_callback(public_url: str) -> str | None:
    return f"{public_url}/twilio/sms/status" if public_url else None


# Imported last, for its session hooks: every process that can deliver also notifies residents
# of committed case events (`worker.notify` itself imports this module).
from worker import notify  # noqa: E402

assert notify
