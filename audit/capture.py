"""Row changes recorded automatically while a staff member acts: pre_save reads the row as it
is in the database, post_save writes the difference (or the whole row for a creation),
post_delete the row removed. Only inside an audit scope, only for the models of the registry,
in the same transaction as the change."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save, pre_save

from . import registry
from .scope import AuditScope, current_scope


def connect() -> None:
    for model in registry.tracked_models():
        uid = f"audit:{model._meta.label}"
        pre_save.connect(_pre_save, sender=model, dispatch_uid=uid, weak=False)
        post_save.connect(_post_save, sender=model, dispatch_uid=uid, weak=False)
        post_delete.connect(_post_delete, sender=model, dispatch_uid=uid, weak=False)


def _scope_for(sender: type[models.Model], raw: bool = False) -> AuditScope | None:
    scope = current_scope()
    if scope is None or raw or sender._meta.label in scope.muted:
        return None
    return scope


def _key(instance: models.Model) -> tuple[str, object]:
    return (instance._meta.label, instance.pk)


# --- Receivers -----------------------------------------------------------------------------------


def _pre_save(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    scope = _scope_for(sender, raw)
    if scope is None or instance._state.adding or instance.pk is None:
        return
    fields = registry.tracked_fields(sender)
    before = sender._base_manager.filter(pk=instance.pk).values(*(f.attname for f in fields)).first()
    if before is None:
        return
    spec = registry.spec_for_model(sender)
    scope.before[_key(instance)] = {
        "row": before,
        "collections": {name: read(instance) for name, (_label, read) in spec.collections.items()},
    }


def _post_save(sender, instance, created=False, raw=False, update_fields=None, **kwargs) -> None:
    scope = _scope_for(sender, raw)
    if scope is None:
        return
    spec = registry.spec_for_model(sender)
    fields = registry.tracked_fields(sender)
    previous = None if created else scope.before.pop(_key(instance), None)
    if created and not spec.record_creation:
        return
    if previous is None:
        # A creation; or, rarely, an update whose row pre_save could not read: the row as saved.
        after = {f.name: _stored(f, f.value_from_object(instance), instance=instance) for f in fields}
        if created and spec.collections:
            _keep_pending(scope, instance, "create", after, {})
            return
        _write(scope, instance, "create" if created else "update", {"after": after})
        return
    if update_fields is not None:
        names = set(update_fields)
        fields = [f for f in fields if f.name in names or f.attname in names]
    changes = {}
    for f in fields:
        old, new = previous["row"].get(f.attname), f.value_from_object(instance)
        if _normal(f, old) != _normal(f, new):
            changes[f.name] = [_stored(f, old), _stored(f, new, instance=instance)]
    if spec.collections:
        _keep_pending(scope, instance, "update", changes, previous["collections"])
        return
    if changes:
        _write(scope, instance, "update", changes)


def _post_delete(sender, instance, **kwargs) -> None:
    scope = _scope_for(sender)
    if scope is None:
        return
    fields = registry.tracked_fields(sender)
    before = {f.name: _stored(f, f.value_from_object(instance), instance=instance) for f in fields}
    _write(scope, instance, "delete", {"before": before})


def created_in_bulk(rows: list[models.Model]) -> list[models.Model]:
    """Creation entries for rows inserted with bulk_create (which sends no signal)."""
    if rows:
        scope = _scope_for(type(rows[0]))
        if scope is not None:
            fields = registry.tracked_fields(type(rows[0]))
            for row in rows:
                after = {f.name: _stored(f, f.value_from_object(row), instance=row) for f in fields}
                _write(scope, row, "create", {"after": after})
    return rows


# --- Objects saved with their collections ---------------------------------------------------------


def _keep_pending(scope: AuditScope, instance, verb: str, changes: dict, collections_before: dict) -> None:
    """Hold the entry of an object saved with child collections until they are saved too:
    audit.related_saved() writes it in the same transaction; if a caller does not, it is
    written once the transaction commits (and dropped if it rolls back)."""
    key = _key(instance)
    earlier = scope.pending.get(key)
    if earlier is None:
        transaction.on_commit(lambda: _complete(scope, key))
    elif earlier[0] == "create":
        verb = "create"
        changes = {
            f.name: _stored(f, f.value_from_object(instance), instance=instance)
            for f in registry.tracked_fields(type(instance))
        }
        collections_before = {}
    else:
        merged = dict(earlier[2])
        for name, (old, new) in changes.items():
            merged[name] = [merged[name][0], new] if name in merged else [old, new]
        changes, collections_before = merged, earlier[3]
    scope.pending[key] = (verb, instance, changes, collections_before)


def related_saved(instance: models.Model) -> None:
    """Complete the entry of an object whose child rows are replaced after its own save (a
    prestation's sites and price brackets, a site's services): one entry for the whole save."""
    scope = _scope_for(type(instance))
    if scope is not None:
        _complete(scope, _key(instance))


def _complete(scope: AuditScope, key) -> None:
    pending = scope.pending.pop(key, None)
    if pending is None:
        return
    verb, row, changes, collections_before = pending
    spec = registry.spec_for_model(type(row))
    now = {name: read(row) for name, (_label, read) in spec.collections.items()}
    if verb == "create":
        _write(scope, row, "create", {"after": {**changes, **now}})
        return
    changes = {name: values for name, values in changes.items() if values[0] != values[1]}
    for name, rows in now.items():
        if rows != collections_before.get(name):
            changes[name] = [collections_before.get(name), rows]
    if changes:
        _write(scope, row, "update", changes)


# --- Values --------------------------------------------------------------------------------------


def _normal(f: models.Field, value):
    """Compare like with like: what the database gave back and what the instance holds."""
    if value is None:
        return None
    try:
        return f.to_python(value)
    except ValidationError:
        return value


def _stored(f: models.Field, value, *, instance: models.Model | None = None):
    value = registry.stored_value(f, _normal(f, value))
    if f.is_relation and f.many_to_one and value is not None and not registry.is_secret(f.attname):
        return {"id": value, "label": _related_label(f, value, instance)}
    return value


def _related_label(f: models.ForeignKey, pk, instance: models.Model | None) -> str:
    """The name of the row a foreign key points at: from the instance when it holds it,
    else read (one query, only for keys that changed or for a creation)."""
    related = None
    if instance is not None and f.is_cached(instance):
        cached = f.get_cached_value(instance)
        if cached is not None and cached.pk == pk:
            related = cached
    if related is None:
        related = f.related_model._base_manager.filter(pk=pk).first()
    if related is None:
        return ""
    if f.related_model._meta.label == "shared_identity.Account":
        from .scope import actor_label

        return actor_label(related)
    return registry.object_name(related)


def _write(scope: AuditScope, instance: models.Model, verb: str, changes: dict) -> None:
    from .recorder import write_entries

    spec = registry.spec_for_model(type(instance))
    name = registry.object_name(instance)
    summary = f"{registry.VERBS[verb]} : {spec.label} « {name} »"
    if verb == "update":
        summary += " — " + ", ".join(registry.field_label(spec.object_type, field) for field in changes)
    write_entries(
        scope,
        [
            {
                "action": f"{spec.object_type}.{verb}",
                "object_type": spec.object_type,
                "object_id": str(instance.pk),
                "object_label": name,
                "summary": summary,
                "changes": changes,
            }
        ],
    )
