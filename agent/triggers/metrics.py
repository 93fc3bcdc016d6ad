"""Prometheus metrics at ``/metrics``: from the event log, the tables, and the API process.

Workers are separate processes (and, on PostgreSQL, other agents), so counters kept in a
worker's memory would be lost with it and unseen by the API process. prometheus-client's
multiprocess mode would need a shared folder of mmap files, cleanup of dead workers'
files, and still could not see other agents. Instead everything a worker does is read from
where it is recorded anyway:

* **counters and histograms from the event log.** Each scrape reads the events appended
  since the previous scrape (``id > last``; the first scrape starts at the agent's start)
  and adds them up: tasks by type and outcome with their durations (``task.finished``'s
  ``duration_ms``), queue waits (``task.started`` minus the task's creation), events by
  kind (``rate(atr_events_total[1m])`` is events per second), votes and ballots,
  distribution steps per channel, distribution task durations per channel, mail sent and
  failed, triggers by source. The event log is the one record of what happened, so the
  numbers agree with it, whoever wrote the events;
* **gauges from the tables at scrape time**: queue depth by task type and state, the
  oldest queued task's wait, open votes, mail waiting in the outbox;
* **the API process's own**: HTTP requests by method, route template and status, with a
  duration histogram (a middleware), websocket clients connected and how far behind the
  newest event they are (the event bus's subscriptions), the bus's last event id.

Names are prefixed ``atr_``, units in the name (``_seconds``), counters end in ``_total``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.db import models
from agent.engine.bus import EventBus
from shared.protocol import EventKind

__all__ = ["Metrics"]

TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60)
_BATCH = 5000
"""Events read per query while catching up (a scrape reads until it is current)."""


@dataclass(frozen=True, slots=True)
class _TaskOf:
    """The task an event is about (if any), and when the event happened."""

    type: str
    args: dict[str, Any]
    created: datetime | None
    at: datetime


class _Gauges(Collector):
    """Gauges read from the tables (and the bus) when Prometheus scrapes."""

    def __init__(self, factory: sessionmaker[Session], bus: EventBus | None) -> None:
        self.factory = factory
        self.bus = bus

    def collect(self) -> Iterable[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "atr_queue_tasks", "Tasks in the queue by type and state", labels=["type", "state"]
        )
        oldest = GaugeMetricFamily(
            "atr_queue_oldest_wait_seconds", "How long the oldest queued task has waited"
        )
        votes = GaugeMetricFamily("atr_votes_open", "Votes open now")
        outbox = GaugeMetricFamily(
            "atr_mail_outbox", "Mail in the outbox by state", labels=["state"]
        )
        with self.factory() as session:
            for type_, state, count in session.execute(
                select(models.Task.type, models.Task.state, func.count())
                .where(models.Task.state.in_(("queued", "running")))
                .group_by(models.Task.type, models.Task.state)
            ):
                depth.add_metric([type_, state], count)
            first = session.scalar(
                select(func.min(models.Task.available_at)).where(models.Task.state == "queued")
            )
            now = datetime.now(first.tzinfo) if first is not None else None
            oldest.add_metric([], max(0.0, (now - first).total_seconds()) if first and now else 0.0)
            votes.add_metric(
                [],
                session.scalar(
                    select(func.count()).select_from(models.Vote).where(models.Vote.state == "open")
                )
                or 0,
            )
            for state, count in session.execute(
                select(models.OutboxMessage.state, func.count()).group_by(
                    models.OutboxMessage.state
                )
            ):
                outbox.add_metric([state], count)
        yield from (depth, oldest, votes, outbox)
        if self.bus is not None:
            clients = GaugeMetricFamily("atr_websocket_clients", "Websocket clients subscribed")
            clients.add_metric([], self.bus.subscriber_count)
            lag = GaugeMetricFamily(
                "atr_websocket_lag_events",
                "Events queued for websocket clients and not yet sent (the slowest client, "
                "and all of them)",
                labels=["which"],
            )
            pending = self.bus.pending_counts
            lag.add_metric(["max"], max(pending, default=0))
            lag.add_metric(["sum"], sum(pending))
            last = GaugeMetricFamily("atr_events_last_id", "The newest event id the bus has sent")
            last.add_metric([], self.bus.last_id)
            yield from (clients, lag, last)


class Metrics:
    """The agent's metrics: one registry, fed by the event log, the tables and the API."""

    def __init__(self, factory: sessionmaker[Session], bus: EventBus | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.factory = factory
        self._lock = threading.Lock()
        self._last_id: int | None = None
        r = self.registry
        self.requests = Counter(
            "atr_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "atr_http_request_duration_seconds",
            "HTTP request duration",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.events = Counter("atr_events", "Events appended, by kind", ["kind"], registry=r)
        self.tasks = Counter(
            "atr_tasks_finished",
            "Tasks finished, by type and outcome",
            ["type", "outcome"],
            registry=r,
        )
        self.task_seconds = Histogram(
            "atr_task_duration_seconds",
            "Duration of a task's last attempt, by type and outcome",
            ["type", "outcome"],
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.task_retries = Counter(
            "atr_task_retries", "Task attempts retried", ["type"], registry=r
        )
        self.queue_wait = Histogram(
            "atr_queue_wait_seconds",
            "Time from a task's queueing to its first start, by type",
            ["type"],
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.votes_started = Counter("atr_votes_started", "Votes started", registry=r)
        self.votes_decided = Counter("atr_votes_decided", "Votes decided", ["outcome"], registry=r)
        self.ballots = Counter("atr_ballots", "Ballots cast", ["binding", "source"], registry=r)
        self.dist_steps = Counter(
            "atr_distribution_steps",
            "Distribution step changes by channel and state",
            ["channel", "state"],
            registry=r,
        )
        self.dist_failures = Counter(
            "atr_distribution_failures", "Files that failed on a channel", ["channel"], registry=r
        )
        self.dist_seconds = Histogram(
            "atr_distribution_channel_duration_seconds",
            "Duration of a channel's publish-and-verify task",
            ["channel", "outcome"],
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.dist_settled = Counter(
            "atr_distributions_settled", "Distributions settled", ["kind", "state"], registry=r
        )
        self.mail = Counter("atr_mail", "Mail delivery attempts", ["kind", "outcome"], registry=r)
        self.mail_queued_seconds = Histogram(
            "atr_mail_queued_seconds",
            "Time from queueing a mail to sending it",
            buckets=TASK_BUCKETS,
            registry=r,
        )
        self.triggers = Counter(
            "atr_triggers", "Triggers received", ["source", "state"], registry=r
        )
        self.imported = Counter("atr_releases_imported", "Releases imported", ["area"], registry=r)
        r.register(_Gauges(factory, bus))

    # --- the event log ------------------------------------------------------------------------

    def start_at_current(self) -> None:
        """Count only what happens from now on (called when the agent starts)."""
        with self.factory() as session:
            self._last_id = session.scalar(select(func.max(models.Event.id))) or 0

    def catch_up(self) -> int:
        """Add up the events appended since the last call; how many were read."""
        with self._lock:
            if self._last_id is None:
                self.start_at_current()
            read = 0
            while True:
                batch = self._read(self._last_id or 0)
                for row in batch:
                    self._count(tuple(row))
                read += len(batch)
                if batch:
                    self._last_id = batch[-1][0]
                if len(batch) < _BATCH:
                    return read

    def _read(self, since: int) -> list[tuple[Any, ...]]:
        with self.factory() as session:
            return list(
                session.execute(
                    select(
                        models.Event.id,
                        models.Event.kind,
                        models.Event.data,
                        models.Event.at,
                        models.Task.type,
                        models.Task.args,
                        models.Task.created_at,
                    )
                    .outerjoin(models.Task, models.Task.id == models.Event.task_id)
                    .where(models.Event.id > since)
                    .order_by(models.Event.id)
                    .limit(_BATCH)
                ).all()
            )

    def _count(self, row: tuple[Any, ...]) -> None:
        _id, kind, data, at, task_type, task_args, task_created = row
        self.events.labels(kind).inc()
        handler = self._HANDLERS.get(kind)
        if handler is not None:
            handler(self, data, _TaskOf(task_type or "unknown", task_args or {}, task_created, at))

    def _task_finished(self, data: dict[str, Any], task: _TaskOf) -> None:
        outcome = str(data.get("state", "unknown"))
        self.tasks.labels(task.type, outcome).inc()
        if data.get("duration_ms") is None:
            return
        seconds = float(data["duration_ms"]) / 1000
        self.task_seconds.labels(task.type, outcome).observe(seconds)
        if task.type == "distribute" and not task.args.get("discard"):
            # (a failed vote's staging taken off a channel is a task of the same type)
            channel = str(task.args.get("channel", "?"))
            self.dist_seconds.labels(channel, outcome).observe(seconds)

    def _task_retry(self, _data: dict[str, Any], task: _TaskOf) -> None:
        self.task_retries.labels(task.type).inc()

    def _task_started(self, data: dict[str, Any], task: _TaskOf) -> None:
        if data.get("attempt") == 1 and task.created is not None:
            waited = max(0.0, (task.at - task.created).total_seconds())
            self.queue_wait.labels(task.type).observe(waited)

    def _vote_started(self, _data: dict[str, Any], _task: _TaskOf) -> None:
        self.votes_started.inc()

    def _vote_decided(self, data: dict[str, Any], _task: _TaskOf) -> None:
        self.votes_decided.labels(str(data.get("outcome", "unknown"))).inc()

    def _ballot(self, data: dict[str, Any], _task: _TaskOf) -> None:
        binding = str(bool(data.get("binding"))).lower()
        self.ballots.labels(binding, str(data.get("source", "?"))).inc()

    def _dist_step(self, data: dict[str, Any], _task: _TaskOf) -> None:
        channel, state = str(data.get("channel", "?")), str(data.get("state", "?"))
        self.dist_steps.labels(channel, state).inc()
        if state == "failed":
            self.dist_failures.labels(channel).inc()

    def _dist_settled(self, data: dict[str, Any], _task: _TaskOf) -> None:
        self.dist_settled.labels(str(data.get("kind", "?")), str(data.get("state", "?"))).inc()

    def _mail_sent(self, data: dict[str, Any], _task: _TaskOf) -> None:
        self.mail.labels(str(data.get("kind", "?")), "sent").inc()
        if data.get("seconds_queued") is not None:
            self.mail_queued_seconds.observe(float(data["seconds_queued"]))

    def _mail_failed(self, data: dict[str, Any], _task: _TaskOf) -> None:
        outcome = "gave_up" if data.get("final") else "failed"
        self.mail.labels(str(data.get("kind", "?")), outcome).inc()

    def _trigger(self, data: dict[str, Any], _task: _TaskOf) -> None:
        self.triggers.labels(str(data.get("source", "?")), str(data.get("state", "?"))).inc()

    def _imported(self, data: dict[str, Any], _task: _TaskOf) -> None:
        self.imported.labels(str(data.get("area", "?"))).inc()

    _HANDLERS: dict[str, Callable[[Metrics, dict[str, Any], _TaskOf], None]] = {
        EventKind.TASK_FINISHED.value: _task_finished,
        EventKind.TASK_RETRY.value: _task_retry,
        EventKind.TASK_STARTED.value: _task_started,
        EventKind.VOTE_STARTED.value: _vote_started,
        EventKind.VOTE_DECIDED.value: _vote_decided,
        EventKind.BALLOT_CAST.value: _ballot,
        EventKind.DISTRIBUTION_STEP.value: _dist_step,
        EventKind.DISTRIBUTION_SETTLED.value: _dist_settled,
        EventKind.MAIL_SENT.value: _mail_sent,
        EventKind.MAIL_FAILED.value: _mail_failed,
        EventKind.TRIGGER_RECEIVED.value: _trigger,
        EventKind.RELEASE_IMPORTED.value: _imported,
    }


def _route_of(request_scope: Scope, templates: Mapping[object, str]) -> str:
    """The route template the router matched (bounded label values), or 'unmatched'."""
    endpoint = request_scope.get("endpoint")
    if endpoint is not None and endpoint in templates:
        return templates[endpoint]
    route = request_scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestMetrics:
    """ASGI middleware counting HTTP requests (websockets are counted by the bus gauges)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Callable[[], Metrics | None],
        templates: Mapping[object, str] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates or {}
        """endpoint → its full path template (routers mounted with a prefix)"""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics = self.metrics()
        if scope["type"] != "http" or metrics is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = _route_of(scope, self.templates)
            method = str(scope.get("method", "GET"))
            metrics.requests.labels(method, route, str(status)).inc()
            metrics.request_seconds.labels(method, route).observe(time.perf_counter() - started)


def metrics_response(metrics: Metrics) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415

    metrics.catch_up()
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


Handler = Callable[[Request], Awaitable[Response]]
