"""The platform's health, as the operators' health page shows it: one line per thing
watched, each with a status (OK / attention / panne) and a French sentence.

Every check catches its own failure and turns it into a "panne" line: the page must still
show what works when something does not.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import redis
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_tenants.utils import schema_exists

from family.identity import ORPHANS_REPORT_KEY
from tenants import schemas
from tenants.models import Commune
from tenants.selectors import get_outbox_backlog, list_commune_schema_names

from .models import TaskFailure
from .tasks import BEAT_HEARTBEAT_KEY

logger = logging.getLogger(__name__)

OK, ATTENTION, PANNE = "ok", "attention", "panne"
_SEVERITY = {OK: 0, ATTENTION: 1, PANNE: 2}

BEAT_LATE_AFTER = dt.timedelta(minutes=3)
# The relay runs every 15 s: a message waiting longer means the broker or the relay is down.
OUTBOX_LATE_AFTER = dt.timedelta(minutes=2)
QUEUE_ATTENTION_FROM = 100  # tasks waiting: more means the workers do not keep up
FAILURES_SHOWN = 50
BEHIND_SHOWN = 50
REDIS_TIMEOUT_SECONDS = 2.0
# kombu's Redis transport keeps a queue's messages of priority p > 0 in "<queue>\x06\x16<p>".
_KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
_KOMBU_PRIORITY_STEPS = (3, 6, 9)


@dataclass
class HealthLine:
    key: str
    label: str
    status: str
    summary: str

    @property
    def status_label(self) -> str:
        return {OK: _("OK"), ATTENTION: _("Attention"), PANNE: _("Panne")}[self.status]


@dataclass
class PlatformHealth:
    lines: list[HealthLine]
    failures: list[TaskFailure] = field(default_factory=list)
    failures_24h: int = 0
    communes_behind: list[Commune] = field(default_factory=list)
    communes_behind_count: int = 0
    queue_name: str = ""
    queue_length: int | None = None
    beat_last_run: dt.datetime | None = None
    checked_at: dt.datetime | None = None

    @property
    def status(self) -> str:
        return max((line.status for line in self.lines), key=_SEVERITY.__getitem__, default=OK)

    @property
    def status_label(self) -> str:
        return {OK: _("OK"), ATTENTION: _("Attention"), PANNE: _("Panne")}[self.status]


def get_platform_health(*, now: dt.datetime | None = None) -> PlatformHealth:
    now = now or timezone.now()
    health = PlatformHealth(lines=[], checked_at=now)
    health.lines.append(_check_database())
    health.lines += _check_redis(health)
    health.lines.append(_check_beat(health, now=now))
    health.lines += _check_schemas(health)
    health.lines.append(_check_identity_references())
    health.lines.append(_check_outbox(now=now))
    health.lines.append(_check_failures(health, now=now))
    return health


def _check_database() -> HealthLine:
    label = _("Base de données")
    try:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        elapsed = (time.perf_counter() - started) * 1000
    except Exception as exc:
        logger.exception("Health: the database is unreachable")
        return HealthLine("database", label, PANNE, _("Injoignable : %(error)s") % {"error": exc})
    return HealthLine(
        "database",
        label,
        OK,
        _("Joignable (PostgreSQL %(version)s, réponse en %(ms)s ms).")
        % {"version": connection.pg_version // 10000, "ms": f"{elapsed:.0f}"},
    )


def broker_redis_url() -> str | None:
    """The Celery broker as a redis-py URL, or None when the broker is not Redis."""
    from foyer.celery import app

    url = app.conf.broker_url or ""
    if url.startswith("redis+socket://"):  # kombu's spelling of a Unix socket
        url = "unix://" + url[len("redis+socket://") :]
    return url if url.startswith(("redis://", "rediss://", "unix://")) else None


def queue_keys(queue: str) -> list[str]:
    return [queue] + [f"{queue}{_KOMBU_PRIORITY_SEPARATOR}{step}" for step in _KOMBU_PRIORITY_STEPS]


def read_queue_length(client: redis.Redis, queue: str) -> tuple[float, int]:
    """PING and LLEN of the queue (and its priority lists) in one round trip: (ms, length)."""
    started = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    pipe.ping()
    for key in queue_keys(queue):
        pipe.llen(key)
    _pong, *lengths = pipe.execute()
    return (time.perf_counter() - started) * 1000, sum(lengths)


def _check_cache() -> str | None:
    """None when Django's cache answers, else the error."""
    try:
        cache.get("foyer:health:probe")
    except Exception as exc:
        logger.warning("Health: the cache is unreachable: %s", exc)
        return str(exc) or type(exc).__name__
    return None


def _check_redis(health: PlatformHealth) -> list[HealthLine]:
    from foyer.celery import app

    redis_label, queue_label = _("Redis (broker Celery et cache)"), _("File d'attente Celery")
    health.queue_name = queue = app.conf.task_default_queue or "celery"
    cache_error = _check_cache()
    cache_part = (
        _("cache injoignable (%(error)s)") % {"error": cache_error} if cache_error else _("cache joignable")
    )
    url = broker_redis_url()
    if url is None:
        message = _(
            "Le broker Celery n'est pas Redis (%(broker)s) : les tâches ne quittent pas ce processus ;"
        ) % {"broker": (app.conf.broker_url or "").split(":", 1)[0]}
        return [
            HealthLine("redis", redis_label, PANNE if cache_error else ATTENTION, f"{message} {cache_part}."),
            HealthLine("queue", queue_label, ATTENTION, _("Longueur inconnue : pas de broker Redis.")),
        ]
    client = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )
    try:
        elapsed, length = read_queue_length(client, queue)
    except redis.RedisError as exc:
        logger.warning("Health: the broker is unreachable: %s", exc)
        down = _("Broker injoignable (%(error)s) ; %(cache)s.") % {"error": exc, "cache": cache_part}
        return [
            HealthLine("redis", redis_label, PANNE, down),
            HealthLine("queue", queue_label, PANNE, _("Illisible : le broker est injoignable.")),
        ]
    finally:
        client.close()
    health.queue_length = length
    reachable = _("Broker joignable (réponse en %(ms)s ms) ; %(cache)s.") % {
        "ms": f"{elapsed:.0f}",
        "cache": cache_part,
    }
    lines = [HealthLine("redis", redis_label, PANNE if cache_error else OK, reachable)]
    if length == 0:
        waiting = _("Aucune tâche en attente dans la file « %(queue)s ».") % {"queue": queue}
    else:
        waiting = ngettext(
            "%(count)s tâche en attente dans la file « %(queue)s ».",
            "%(count)s tâches en attente dans la file « %(queue)s ».",
            length,
        ) % {"count": length, "queue": queue}
    if length >= QUEUE_ATTENTION_FROM:
        waiting += " " + _("Les workers ne suivent pas : vérifiez qu'ils tournent, ou ajoutez-en.")
        lines.append(HealthLine("queue", queue_label, ATTENTION, waiting))
    else:
        lines.append(HealthLine("queue", queue_label, OK, waiting))
    return lines


def _check_beat(health: PlatformHealth, *, now: dt.datetime) -> HealthLine:
    label = _("Celery beat (tâches périodiques)")
    try:
        value = cache.get(BEAT_HEARTBEAT_KEY)
    except Exception as exc:
        logger.warning("Health: the cache is unreachable: %s", exc)
        return HealthLine(
            "beat", label, PANNE, _("Inconnu : le cache est injoignable (%(error)s).") % {"error": exc}
        )
    if not value:
        return HealthLine(
            "beat", label, PANNE, _("Aucun passage enregistré : beat ne tourne pas, ou vient de démarrer.")
        )
    try:
        last = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return HealthLine(
            "beat", label, ATTENTION, _("Dernier passage illisible : %(value)s.") % {"value": value}
        )
    health.beat_last_run = last
    age = max(now - last, dt.timedelta(0))
    when = timezone.localtime(last).strftime("%d/%m/%Y à %H:%M:%S")
    if age > BEAT_LATE_AFTER:
        return HealthLine(
            "beat",
            label,
            ATTENTION,
            _("En retard : dernier passage le %(when)s, il y a %(minutes)s min (attendu chaque minute).")
            % {"when": when, "minutes": int(age.total_seconds() // 60)},
        )
    return HealthLine(
        "beat",
        label,
        OK,
        _("Dernier passage le %(when)s, il y a %(seconds)s s.")
        % {"when": when, "seconds": int(age.total_seconds())},
    )


def _check_schemas(health: PlatformHealth) -> list[HealthLine]:
    communes_label, template_label = _("Migrations des communes"), _("Schéma modèle des nouvelles communes")
    template = schemas.TEMPLATE_SCHEMA
    try:
        names = list_commune_schema_names()
        behind = set(schemas.schemas_behind([template, *names]))
        template_exists = schema_exists(template)
        behind_communes = Commune.objects.filter(schema_name__in=behind - {template}).order_by("name")
        health.communes_behind_count = len(behind - {template})
        health.communes_behind = list(behind_communes[:BEHIND_SHOWN]) if health.communes_behind_count else []
    except Exception as exc:
        logger.exception("Health: could not read the migration state")
        down = _("Illisible : %(error)s") % {"error": exc}
        return [
            HealthLine("migrations", communes_label, PANNE, down),
            HealthLine("template", template_label, PANNE, down),
        ]
    count = health.communes_behind_count
    if count:
        migrations = HealthLine(
            "migrations",
            communes_label,
            ATTENTION,
            ngettext(
                "%(count)s commune sur %(total)s a des migrations en retard : lancez « manage.py migrate_communes ».",
                "%(count)s communes sur %(total)s ont des migrations en retard : lancez « manage.py migrate_communes ».",
                count,
            )
            % {"count": count, "total": len(names)},
        )
    else:
        migrations = HealthLine(
            "migrations",
            communes_label,
            OK,
            ngettext("La commune est à jour.", "Les %(total)s communes sont à jour.", len(names))
            % {"total": len(names)}
            if names
            else _("Aucune commune pour l'instant."),
        )
    if not template_exists:
        template_line = HealthLine(
            "template",
            template_label,
            ATTENTION,
            _("Absent : il sera créé (quelques secondes) à la prochaine création de commune."),
        )
    elif template in behind:
        template_line = HealthLine(
            "template",
            template_label,
            ATTENTION,
            _(
                "Migrations en retard : lancez « manage.py migrate_communes » (sinon il est migré, quelques "
                "secondes, à la prochaine création de commune)."
            ),
        )
    else:
        template_line = HealthLine(
            "template", template_label, OK, _("À jour : une nouvelle commune en est une copie immédiate.")
        )
    return [migrations, template_line]


def _check_identity_references() -> HealthLine:
    """The last report of the daily check (family.identity): commune rows whose account,
    family or child id points at nothing."""
    label = _("Références aux identités")
    try:
        report = cache.get(ORPHANS_REPORT_KEY)
    except Exception as exc:
        logger.warning("Health: the cache is unreachable: %s", exc)
        return HealthLine(
            "identity", label, PANNE, _("Inconnu : le cache est injoignable (%(error)s).") % {"error": exc}
        )
    if not report:
        return HealthLine(
            "identity", label, ATTENTION, _("Pas encore vérifiées : la vérification passe chaque nuit.")
        )
    when = timezone.localtime(dt.datetime.fromisoformat(report["checked_at"])).strftime("%d/%m/%Y à %H:%M")
    orphans = report["orphans"]
    if not orphans:
        return HealthLine(
            "identity", label, OK, _("Aucune référence orpheline (vérifié le %(when)s).") % {"when": when}
        )
    rows = sum(count for _schema, _reference, count in orphans)
    shown = ", ".join(f"{schema}.{reference} ({count})" for schema, reference, count in orphans[:10])
    return HealthLine(
        "identity",
        label,
        PANNE,
        ngettext(
            "%(count)s ligne de commune désigne un compte, une famille ou un enfant qui n'existe plus "
            "(vérifié le %(when)s) : %(where)s.",
            "%(count)s lignes de commune désignent un compte, une famille ou un enfant qui n'existe plus "
            "(vérifié le %(when)s) : %(where)s.",
            rows,
        )
        % {"count": rows, "when": when, "where": shown},
    )


def _check_outbox(*, now: dt.datetime) -> HealthLine:
    """The transactional outbox (tenants.outbox): e-mails and tasks written with their cause
    that wait to be handed to Celery."""
    label = _("E-mails et tâches à transmettre (boîte d'envoi)")
    try:
        backlog = get_outbox_backlog()
    except Exception as exc:
        logger.exception("Health: could not read the outbox")
        return HealthLine("outbox", label, PANNE, _("Illisible : %(error)s") % {"error": exc})
    if not backlog.pending:
        return HealthLine("outbox", label, OK, _("Aucun message en attente : tout a été transmis."))
    age = max(now - backlog.oldest_pending_at, dt.timedelta(0))
    summary = ngettext(
        "%(count)s message en attente, le plus ancien depuis %(age)s.",
        "%(count)s messages en attente, le plus ancien depuis %(age)s.",
        backlog.pending,
    ) % {"count": backlog.pending, "age": _duration(age)}
    if backlog.failing:
        summary += " " + ngettext(
            "%(count)s n'a pas pu être transmis (nouvel essai automatique), dernière erreur : %(error)s",
            "%(count)s n'ont pas pu être transmis (nouvel essai automatique), dernière erreur : %(error)s",
            backlog.failing,
        ) % {"count": backlog.failing, "error": backlog.last_error[:300]}
    if backlog.failing or age > OUTBOX_LATE_AFTER:
        return HealthLine("outbox", label, ATTENTION, summary)
    return HealthLine("outbox", label, OK, summary)


def _duration(age: dt.timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 60:
        return _("%(seconds)s s") % {"seconds": seconds}
    if seconds < 3600:
        return _("%(minutes)s min") % {"minutes": seconds // 60}
    return _("%(hours)s h %(minutes)02d min") % {"hours": seconds // 3600, "minutes": seconds % 3600 // 60}


def _check_failures(health: PlatformHealth, *, now: dt.datetime) -> HealthLine:
    label = _("Tâches en échec")
    try:
        health.failures_24h = TaskFailure.objects.filter(failed_at__gte=now - dt.timedelta(hours=24)).count()
        health.failures = list(TaskFailure.objects.all()[:FAILURES_SHOWN])
    except Exception as exc:
        logger.exception("Health: could not read the failed tasks")
        return HealthLine("failures", label, PANNE, _("Illisible : %(error)s") % {"error": exc})
    count = health.failures_24h
    if count:
        return HealthLine(
            "failures",
            label,
            ATTENTION,
            ngettext(
                "%(count)s tâche a échoué ces dernières 24 heures.",
                "%(count)s tâches ont échoué ces dernières 24 heures.",
                count,
            )
            % {"count": count},
        )
    return HealthLine("failures", label, OK, _("Aucune tâche en échec ces dernières 24 heures."))
