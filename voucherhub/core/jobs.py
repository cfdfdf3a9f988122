"""Long background jobs (exports, code imports): a heartbeat, a claim that takes over a dead worker's job,
and one sweeper for every kind of job.

A job row says what it is doing in `status`. While a worker works on it the row is in one of the model's
WORKING statuses and the worker writes `heartbeat_at` at least every JOBS_HEARTBEAT_SECONDS. A worker
that dies (SIGKILL, OOM, a lost machine, django-q2's own timeout) stops writing it, so a job whose
heartbeat is older than JOBS_STALE_SECONDS has nobody working on it:

* `job_claim` moves a job from a waiting status to its working status, or takes over a stale working
  job (a django-q2 redelivery), and counts the attempt. The attempt number is the claim's token: every
  later write of that worker (`JobHeartbeat.beat`, the app's finishing update) is conditional on it, so a
  worker that lost its job to another stops instead of overwriting the newer attempt's row.
* `jobs_sweep` (scheduled every minute, `jobs_sweep_task`) finds the stale working jobs of
  every registered model and hands each to its app: `requeue` (back to the waiting status, task queued
  again) while attempts < JOBS_MAX_ATTEMPTS, `give_up` (failed, "the worker stopped") after that. The
  person who started the job sees that and can retry it from the page where they saw it.

Each app writes only its own tables: the sweeper only reads; the app's `requeue` and `give_up` services
write, usually through `job_take_over`, whose condition (same status, same attempt, still stale) makes a
job that came back to life, or that another sweeper already handled, a no-op.
"""

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import checks
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from voucherhub.core.errors import DomainError

logger = logging.getLogger(__name__)

# The failure code (and its label) of a job whose worker stopped; each job model lists it in its choices.
WORKER_STOPPED = "worker_stopped"
WORKER_STOPPED_LABEL = _("Failed: the worker stopped")


class JobLost(Exception):
    """This worker's claim on the job is gone: another attempt took it over, or the sweeper gave it up."""


class JobNotRetryable(DomainError):
    code = "job_not_retryable"
    status = 409
    default_message = _("Only a failed job can be retried.")


class LongJob(models.Model):
    """The fields every long job shares. A subclass sets WORKING = {working status: waiting status}: the
    statuses a worker holds the job in, each with the status a new attempt starts from."""

    WORKING: dict[str, str] = {}

    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0, editable=False)

    class Meta:
        abstract = True


def heartbeat_seconds() -> float:
    return float(getattr(settings, "JOBS_HEARTBEAT_SECONDS", 10))


def stale_seconds() -> float:
    return float(getattr(settings, "JOBS_STALE_SECONDS", 120))


def max_attempts() -> int:
    return int(getattr(settings, "JOBS_MAX_ATTEMPTS", 2))


def stale_before(now: datetime | None = None) -> datetime:
    """A working job whose heartbeat is older than this has nobody working on it."""
    return (now or timezone.now()) - timedelta(seconds=stale_seconds())


def _stale(cutoff: datetime) -> Q:
    # No heartbeat at all: a row left working by a release that did not write one.
    return Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)


def job_claim(model: type[LongJob], *, pk: int, frm: Iterable[str], to: str, **fields) -> int | None:
    """Move the job from a waiting status in `frm` to the working status `to`, or take it over when it is
    in `to` with a stale heartbeat. Returns the attempt number (the claim's token), or None when the job is
    finished, or another worker holds it and is alive. `fields` are written with the claim."""
    now = timezone.now()
    condition = Q(status__in=list(frm)) | (Q(status=to) & _stale(stale_before(now)))
    claimed = model.objects.filter(condition, pk=pk).update(status=to, heartbeat_at=now, attempts=F("attempts") + 1, **fields)
    if not claimed:
        return None
    return model.objects.filter(pk=pk).values_list("attempts", flat=True).get()


def job_take_over(model: type[LongJob], job: LongJob, **fields) -> bool:
    """For a sweeper's `requeue` / `give_up`: write `fields` on a job only if it is still in the status and
    attempt it was found in and its heartbeat is still stale. False: it came back to life or was handled."""
    condition = Q(pk=job.pk, status=job.status, attempts=job.attempts) & _stale(stale_before())
    return bool(model.objects.filter(condition).update(**fields))


class JobHeartbeat:
    """The worker's sign of life, as a context manager around the work: a thread writes heartbeat_at every
    JOBS_HEARTBEAT_SECONDS through its own database connection (so it lands while the work sits in a long
    query, a COPY or its own transaction), only while the job is still this attempt's.

    When the row is no longer this attempt's (taken over, given up), the thread stops and `check()`, which
    the work calls at its progress points, raises JobLost. A worker that is killed takes the thread with it:
    the heartbeat stops, and that is what the sweeper sees."""

    def __init__(self, model: type[LongJob], *, pk: int, status: str, attempt: int):
        self.model, self.pk, self.status, self.attempt = model, pk, status, attempt
        self.every = heartbeat_seconds()
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._fields: dict = {}
        self._fields_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {model._meta.label} {pk}", daemon=True)

    def __enter__(self) -> "JobHeartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        # Not forever: a beat may wait on a row lock the work's caller still holds (the thread ends after it).
        self._thread.join(timeout=self.every)

    def check(self) -> None:
        if self._lost.is_set():
            raise JobLost(f"{self.model._meta.label} {self.pk} attempt {self.attempt}")

    def report(self, **fields) -> None:
        """Fields (progress counts) for the thread to write with its next beat, for work whose own connection
        is busy (a COPY streaming out)."""
        with self._fields_lock:
            self._fields.update(fields)

    def beat(self) -> bool:
        """One heartbeat (with the fields reported since the last); False when the job is no longer this attempt's."""
        with self._fields_lock:
            fields, self._fields = self._fields, {}
        mine = self.model.objects.filter(pk=self.pk, status=self.status, attempts=self.attempt)
        return bool(mine.update(heartbeat_at=timezone.now(), **fields))

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.every):
                try:
                    if not self.beat():
                        self._lost.set()
                        return
                except DatabaseError:
                    # The database is away for a moment: the next beat reconnects. Only a long silence is stale.
                    logger.warning("%s %s: heartbeat not written", self.model._meta.label, self.pk, exc_info=True)
                    connections[DEFAULT_DB_ALIAS].close()
        finally:
            connections.close_all()  # this thread's own connections


# --- The registry and the sweeper -------------------------------------------------------------------------


@dataclass(frozen=True)
class JobKind:
    model: type[LongJob]
    requeue: Callable[[LongJob], bool]  # the app's service: back to the waiting status and queued again
    give_up: Callable[[LongJob], bool]  # the app's service: failed with WORKER_STOPPED


_KINDS: dict[str, JobKind] = {}


def jobs_register(*, model: type[LongJob], requeue: Callable[[LongJob], bool], give_up: Callable[[LongJob], bool]) -> None:
    """Called from an app's ready(): the sweeper looks after `model`'s stale jobs through these services."""
    if not model.WORKING:
        raise ValueError(f"{model._meta.label} must list its WORKING statuses")
    _KINDS[model._meta.label] = JobKind(model=model, requeue=requeue, give_up=give_up)


def jobs_registered() -> list[type[LongJob]]:
    return [kind.model for kind in _KINDS.values()]


@dataclass
class SweepResult:
    requeued: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"requeued={self.requeued} failed={self.failed}"


def jobs_sweep() -> SweepResult:
    """Every registered job left working by a dead worker is queued again, or failed after its last attempt."""
    result = SweepResult()
    cutoff = stale_before()
    limit = max_attempts()
    for kind in _KINDS.values():
        stale = kind.model.objects.filter(_stale(cutoff), status__in=list(kind.model.WORKING)).order_by("pk")
        for job in stale:
            if job.attempts < limit:
                if kind.requeue(job):
                    result.requeued += 1
                    logger.warning("%s %s: its worker stopped (attempt %s); queued again", kind.model._meta.label, job.pk, job.attempts)
            elif kind.give_up(job):
                result.failed += 1
                logger.warning("%s %s: its worker stopped on attempt %s; failed", kind.model._meta.label, job.pk, job.attempts)
    return result


def jobs_sweep_task() -> str:
    """The django-q2 entry point of the sweeper (every minute)."""
    return str(jobs_sweep())


SWEEP_SCHEDULE_NAME = "jobs: sweep stale jobs"
SWEEP_TASK = "voucherhub.core.jobs.jobs_sweep_task"


def jobs_sweep_schedule_ensure() -> None:
    """Create (or fix) the every-minute django-q2 schedule of the sweeper. Idempotent."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE_NAME,
        defaults={"func": SWEEP_TASK, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )


@checks.register()
def jobs_settings_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """django-q2 must not redeliver a task still within its timeout, and a heartbeat must come several times
    within the stale window (or a live job would be swept)."""
    errors = []
    q = getattr(settings, "Q_CLUSTER", {})
    timeout, retry = q.get("timeout"), q.get("retry")
    if timeout is not None and retry is not None and not timeout < retry:
        errors.append(
            checks.Error(
                f"Q_CLUSTER timeout ({timeout}s) must be below retry ({retry}s)",
                hint="Otherwise django-q2 hands a task that is still running to a second worker.",
                id="core.E101",
            )
        )
    if stale_seconds() < 3 * heartbeat_seconds():
        errors.append(
            checks.Error(
                "JOBS_STALE_SECONDS must be at least three JOBS_HEARTBEAT_SECONDS",
                hint="A job whose worker is alive would otherwise be taken for dead.",
                id="core.E102",
            )
        )
    return errors
