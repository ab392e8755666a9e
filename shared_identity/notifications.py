"""Every e-mail Foyer sends leaves through this module.

Apps ask it to notify; none renders or sends an e-mail itself. It owns:

* the templates: ``templates/emails/<name>_subject.txt`` and ``<name>.txt``, and
  ``<name>.html`` when it exists (sent as the HTML alternative);
* what every template may use: ``base_url`` (``FOYER_BASE_URL``, never the request's host)
  and ``commune`` when a commune's schema is selected;
* the families' e-mail preferences: ``notify_families(kind=…)`` writes only to the guardians
  who kept that kind on (``shared_identity.selectors.family_recipients``);
* when it leaves: ``send`` sends now (from a Celery task); ``send_after_commit`` renders now
  and writes the message in the transactional outbox (``tenants.outbox``), in the caller's
  transaction: a task sends it once that transaction has committed and the broker answers.

It lives in the identity app because the people it writes to, their addresses and their
preferences are identity's; every layer above may call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection
from django.template import Context, TemplateDoesNotExist
from django.template.loader import get_template

from tenants import outbox
from tenants.models import Commune

from .selectors import family_recipients

KINDS = ("invoice", "request", "reminder", "news")
# shared_identity.tasks.send_email, by name: the tasks module imports this one.
SEND_EMAIL_TASK = "shared_identity.tasks.send_email"
Message = EmailMultiAlternatives


def compose(
    template: str, context: dict, *, to: list[str], reply_to: list[str] | None = None
) -> EmailMultiAlternatives:
    """The message built from ``emails/<template>…``, ready to send."""
    context = {"base_url": settings.FOYER_BASE_URL, **context}
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Commune):
        context.setdefault("commune", tenant)
    subject = " ".join(_plain_text(f"emails/{template}_subject.txt", context).split())
    message = EmailMultiAlternatives(
        subject=subject,
        body=_plain_text(f"emails/{template}.txt", context),
        to=to,
        reply_to=reply_to or None,
    )
    try:
        html = get_template(f"emails/{template}.html")
    except TemplateDoesNotExist:
        pass
    else:
        message.attach_alternative(html.render(context), "text/html")
    return message


def _plain_text(name: str, context: dict) -> str:
    """A text template rendered without HTML escaping: a plain-text e-mail shows "n'habitez",
    never "n&#x27;habitez" (the HTML alternative stays escaped)."""
    return get_template(name).template.render(Context(context, autoescape=False))


def send(
    template: str,
    context: dict,
    *,
    to: list[str],
    reply_to: list[str] | None = None,
    attachments: Iterable[tuple[str, bytes, str]] = (),
) -> None:
    """Send one e-mail now (callers are Celery tasks, or code already after its commit), with
    its (file name, content, MIME type) attachments."""
    if to:
        message = compose(template, context, to=to, reply_to=reply_to)
        for attachment in attachments:
            message.attach(*attachment)
        message.send()


def broadcast(template: str, context: dict, *, recipients: Iterable[list[str]]) -> int:
    """The same e-mail, rendered once, to each list of addresses (one message per list: a
    family's guardians), over one SMTP connection. Returns the number of messages sent."""
    lists = [to for to in recipients if to]
    if not lists:
        return 0
    model = compose(template, context, to=[])
    messages = []
    for to in lists:
        message = EmailMultiAlternatives(subject=model.subject, body=model.body, to=to)
        message.alternatives = list(model.alternatives)
        messages.append(message)
    return get_connection().send_messages(messages) or 0


def deliver(*, subject: str, body: str, to: list[str], html: str | None = None) -> None:
    """Send a message rendered earlier (by send_after_commit, from its task)."""
    message = EmailMultiAlternatives(subject=subject, body=body, to=to)
    if html:
        message.attach_alternative(html, "text/html")
    message.send()


def send_after_commit(template: str, context: dict, *, to: list[str]) -> None:
    """Render now (the context may not outlive the request) and send from a task once the
    current transaction commits; nothing leaves if it rolls back, and a broker outage only
    delays it (the outbox keeps it)."""
    if not to:
        return
    message = compose(template, context, to=to)
    html = next((content for content, mimetype in message.alternatives if mimetype == "text/html"), None)
    outbox.enqueue(SEND_EMAIL_TASK, subject=message.subject, body=message.body, to=list(to), html=html)


def recipients(family_ids: Iterable[int], *, kind: str | None = None) -> dict[int, list[str]]:
    """Each family's guardian addresses that accept e-mails of ``kind`` (all guardians with an
    account when ``kind`` is None: service messages nobody can turn off)."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"Unknown notification kind: {kind!r}")
    return family_recipients(family_ids, kind=kind)


def notify_families(
    *,
    family_ids: Iterable[int],
    kind: str | None,
    template: str,
    context: Callable[[int], dict] | dict,
    attachments: Iterable[tuple[str, bytes, str]] = (),
) -> int:
    """One e-mail per family to its guardians who want this kind of message; ``context`` is
    the same for every family, or a function of the family id. Returns the e-mails sent."""
    emails = recipients(family_ids, kind=kind)
    attachments = list(attachments)
    sent = 0
    for family_id, to in emails.items():
        if to:
            send(
                template,
                context(family_id) if callable(context) else context,
                to=to,
                attachments=attachments,
            )
            sent += 1
    return sent
