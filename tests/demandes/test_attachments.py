"""Attachments are private: stored under the commune's schema in the attachments storage,
streamed only to the owning family or the commune's staff, never reachable from a URL."""

from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages

from demandes.models import RequestAttachment
from foyer.uploads import private_storage
from reservations.models import CancellationRequest
from tenants.context import commune_context
from tests.conftest import commune_path, make_family, make_staff
from tests.demandes.conftest import PDF, file_pickup, guardian_of


def _attachment(commune, request) -> RequestAttachment:
    with commune_context(commune):
        return RequestAttachment.objects.get(request=request)


def test_the_owning_family_and_the_communes_staff_download_the_file(client, commune_a, family_a, agent_a):
    # given
    attachment = _attachment(commune_a, file_pickup(commune_a, family_a))
    family_url = commune_path(commune_a, f"demandes/pieces/{attachment.pk}/")
    staff_url = commune_path(commune_a, f"console/demandes/pieces/{attachment.pk}/")
    # when / then: the family
    client.force_login(guardian_of(family_a))
    response = client.get(family_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="cni.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    # when / then: the commune's agent
    client.force_login(agent_a)
    response = client.get(staff_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF


def test_another_family_and_another_communes_agent_get_not_found(
    client, commune_a, commune_b, family_a, other_family_a, agent_b
):
    # given
    attachment = _attachment(commune_a, file_pickup(commune_a, family_a))
    family_url = commune_path(commune_a, f"demandes/pieces/{attachment.pk}/")
    staff_url = commune_path(commune_a, f"console/demandes/pieces/{attachment.pk}/")
    # another family of the same commune
    client.force_login(guardian_of(other_family_a))
    assert client.get(family_url).status_code == 404
    assert client.get(staff_url).status_code == 404
    # another commune's agent, in commune A's console and in their own
    client.force_login(agent_b)
    assert client.get(staff_url).status_code == 404
    assert client.get(family_url).status_code == 404
    assert client.get(commune_path(commune_b, f"console/demandes/pieces/{attachment.pk}/")).status_code == 404
    # the family itself, through the other commune (the id means nothing there)
    family_a.family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    client.force_login(guardian_of(family_a))
    assert client.get(commune_path(commune_b, f"demandes/pieces/{attachment.pk}/")).status_code == 404
    # an agent of commune A is staff, not the family: the family URL is not theirs
    client.force_login(make_staff(commune_a, "agent2@jolieville.test"))
    assert client.get(family_url).status_code == 404


def test_a_signed_out_visitor_is_sent_to_sign_in(client, commune_a, family_a):
    attachment = _attachment(commune_a, file_pickup(commune_a, family_a))
    response = client.get(commune_path(commune_a, f"demandes/pieces/{attachment.pk}/"))
    assert response.status_code == 302 and response["Location"].startswith("/connexion/")
    response = client.get(commune_path(commune_a, f"console/demandes/pieces/{attachment.pk}/"))
    assert response.status_code == 302 and response["Location"].startswith("/connexion/")


def test_a_file_of_another_communes_folder_is_never_served(client, commune_a, family_a, agent_a):
    # given a row pointing outside the commune's folder (a forged path)
    attachment = _attachment(commune_a, file_pickup(commune_a, family_a))
    with commune_context(commune_a):
        RequestAttachment.objects.filter(pk=attachment.pk).update(file="c_demo/demandes/1/x.pdf")
    # then
    client.force_login(guardian_of(family_a))
    assert client.get(commune_path(commune_a, f"demandes/pieces/{attachment.pk}/")).status_code == 404
    client.force_login(agent_a)
    assert client.get(commune_path(commune_a, f"console/demandes/pieces/{attachment.pk}/")).status_code == 404


def test_the_file_is_stored_privately_under_the_schema_and_cannot_be_guessed(
    client, commune_a, family_a, private_files
):
    # given
    attachment = _attachment(commune_a, file_pickup(commune_a, family_a))
    name = attachment.file.name
    # then: under the commune's schema, with a random name
    assert name.startswith("c_jolieville/demandes/")
    assert len(Path(name).stem) == 32
    # the model stores request files in the attachments storage, never the default one
    field = RequestAttachment._meta.get_field("file")
    assert field._storage_callable is private_storage
    assert private_storage() is storages["attachments"]
    assert storages["attachments"] is not default_storage
    location = Path(storages["attachments"].location).resolve()
    for public in [Path(settings.STATIC_ROOT), *map(Path, settings.STATICFILES_DIRS)]:
        assert not location.is_relative_to(public.resolve())
    # no URL serves the file, wherever one might guess it
    client.force_login(guardian_of(family_a))
    for guess in (
        f"/{name}",
        f"/media/{name}",
        f"/private/{name}",
        f"/static/{name}",
        f"/c/jolieville/{name}",
    ):
        assert client.get(guess).status_code == 404, guess
    # the pages link to the checking view only
    page = client.get(commune_path(commune_a, f"demandes/{attachment.request_id}/")).content.decode()
    assert f"/c/jolieville/demandes/pieces/{attachment.pk}/" in page
    assert name not in page and "/media/" not in page


def test_cancellation_certificates_also_go_to_the_attachments_storage(commune_a):
    # given
    field = CancellationRequest._meta.get_field("attachment")
    # then
    assert field._storage_callable is private_storage
    configured = storages["attachments"]
    assert (type(field.storage), field.storage.location) == (type(configured), configured.location)
    assert field.storage.location != default_storage.location
    with commune_context(commune_a):
        assert field.generate_filename(None, "certificat.pdf").startswith("c_jolieville/cancellations/")


def test_the_migration_moves_existing_certificates_out_of_the_public_storage(
    commune_a, tmp_path, monkeypatch
):
    # given a certificate saved in the default storage before the migration
    import importlib

    from django.apps import apps
    from django.core.files.storage import FileSystemStorage

    migration = importlib.import_module("reservations.migrations.0002_cancellation_attachment_private")
    public = FileSystemStorage(location=str(tmp_path / "media"))
    private = FileSystemStorage(location=str(tmp_path / "media" / "private"))
    monkeypatch.setattr("django.core.files.storage.default_storage", public)
    monkeypatch.setattr("foyer.uploads.storages", {"attachments": private})
    from tests.reservations.conftest import MONDAY, enrol, make_catalogue

    canteen = make_catalogue(commune_a)
    membership = make_family(commune_a, email="parent@example.fr")
    child = membership.family.children.get()
    enrol(canteen, child)
    name = public.save("c_jolieville/cancellations/abc.pdf", ContentFile(PDF))
    with commune_context(commune_a):
        from reservations.models import Booking

        booking = Booking.objects.create(
            child=child,
            family=membership.family,
            prestation=canteen.prestation,
            site=canteen.site,
            date=MONDAY,
            status="confirmed",
            price="4.05",
        )
        CancellationRequest.objects.create(
            booking=booking, family=membership.family, account=guardian_of(membership), reason="Malade"
        )
        CancellationRequest.objects.update(attachment=name)
        # when
        migration.move_to_private_storage(apps, None)
    # then
    assert not public.exists(name)
    with private.open(name, "rb") as moved:
        assert moved.read() == PDF
