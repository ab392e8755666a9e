"""Families: the CSV import from a commune's previous software (preview, all-or-nothing,
valid lines only, idempotent re-import, updates) and activation links sent in bulk."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from pathlib import Path

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from family import imports as family_import
from family.imports import Action, preview_family_import, reading
from shared_identity.models import Child, Family, Guardian, Invitation, Membership
from shared_identity.services import create_family_dossier
from tests.conftest import commune_path, make_family, make_staff

HEADER = (
    "numero_dossier;nom_famille;adresse;code_postal;ville;resp1_prenom;resp1_nom;resp1_email;"
    "resp1_telephone;resp2_prenom;resp2_nom;resp2_email;resp2_telephone;enfant_prenom;enfant_nom;"
    "enfant_date_naissance"
)
MARTIN_LEA = (
    "A100;Martin;3 rue des Écoles;38000;JolieVille;Camille;Martin;camille@example.fr;0601020304;"
    ";;;;Léa;Martin;14/05/2017"
)
MARTIN_HUGO = "A100;Martin;;;;;;;;;;;;Hugo;Martin;02/09/2019"
DURAND = "A101;Durand;12 avenue de la Gare;38000;JolieVille;Sacha;Durand;sacha@example.fr;;;;;;Noé;Durand;23/11/2018"
PETIT = "A102;Petit;1 place de la Mairie;38000;JolieVille;Alex;Petit;alex@example.fr;;;;;;;;"
TEMPLATE = Path(__file__).resolve().parents[1] / "static" / "console" / "modele-import-familles.csv"


def csv_bytes(*lines: str, header: str = HEADER, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join([header, *lines]) + "\r\n").encode(encoding)


def upload(client, commune, data: bytes, name: str = "familles.csv"):
    return client.post(
        commune_path(commune, "console/familles/import/"),
        {"fichier": SimpleUploadedFile(name, data, content_type="text/csv")},
    )


def token_of(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    return re.search(r"/familles/import/([\w-]+)/$", response["Location"]).group(1)


def confirm(client, commune, token: str, mode: str = "all"):
    return client.post(commune_path(commune, f"console/familles/import/{token}/importer/"), {"mode": mode})


def page_text(response) -> str:
    """What a person reads: the page without its tags, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def page_html(response) -> str:
    return html.unescape(response.content.decode())


def identity_rows() -> dict:
    """Every identity row the import may write, to compare before and after."""
    return {
        "families": list(
            Family.objects.order_by("pk").values_list("pk", "name", "address_line", "postcode", "city")
        ),
        "guardians": list(
            Guardian.objects.order_by("pk").values_list(
                "pk", "family_id", "first_name", "last_name", "email", "phone"
            )
        ),
        "children": list(
            Child.objects.order_by("pk").values_list(
                "pk", "family_id", "first_name", "last_name", "birth_date"
            )
        ),
        "memberships": list(
            Membership.objects.order_by("pk").values_list(
                "pk", "family_id", "commune_id", "dossier_number", "status"
            )
        ),
    }


def errors_of(preview) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.message) for e in preview.errors]


# --- The format --------------------------------------------------------------------------------


def test_the_downloadable_template_is_the_documented_format_and_imports_cleanly(client, commune_a, agent_a):
    # given the model file offered on the import page
    data = TEMPLATE.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data[3:].decode("utf-8").splitlines()[0] == family_import.template_header()
    client.force_login(agent_a)
    page = page_html(client.get(commune_path(commune_a, "console/familles/import/")))
    assert "/static/console/modele-import-familles.csv" in page and "enfant_date_naissance" in page
    # when it is uploaded and imported
    token = token_of(upload(client, commune_a, data))
    preview = page_text(client.get(commune_path(commune_a, f"console/familles/import/{token}/")))
    response = confirm(client, commune_a, token)
    # then
    assert "3 dossiers à créer" in preview and "en erreur" not in preview
    assert response.status_code == 302
    assert sorted(Membership.objects.filter(commune=commune_a).values_list("dossier_number", flat=True)) == [
        "F00042",
        "F00043",
        "F00044",
    ]
    martin = Membership.objects.get(commune=commune_a, dossier_number="F00042").family
    assert (martin.name, martin.address_line, martin.postcode, martin.city) == (
        "Martin",
        "3 rue des Écoles",
        "38000",
        "JolieVille",
    )
    assert list(martin.guardians.order_by("pk").values_list("first_name", "email", "phone")) == [
        ("Camille", "camille.martin@example.fr", "06 01 02 03 04"),
        ("Dominique", "dominique.martin@example.fr", ""),
    ]
    assert list(martin.children.values_list("first_name", "birth_date")) == [
        ("Léa", dt.date(2017, 5, 14)),
        ("Hugo", dt.date(2019, 9, 2)),
    ]
    assert not Membership.objects.get(dossier_number="F00044").family.children.exists()


@pytest.mark.parametrize(
    ("encoding", "separator", "prefix", "label"),
    [
        ("utf-8", ";", b"\xef\xbb\xbf", "UTF-8 (BOM)"),
        ("utf-8", ";", b"", "UTF-8"),
        ("utf-8", ",", b"", "UTF-8"),
        ("cp1252", ";", b"", "Windows-1252"),
        ("cp1252", ",", b"", "Windows-1252"),
        ("cp1252", ";", b"sep=;\r\n", "Windows-1252"),
        ("utf-16", "\t", b"", "UTF-16"),
    ],
)
def test_encodings_and_separators_are_recognised(commune_a, encoding, separator, prefix, label):
    # given the same family written by different spreadsheets
    line = "A200;Lefèvre;2 rue de l'Église;38000;Saint-Étienne;Chloé;Lefèvre;chloe@example.fr;;;;;;Zoé;Lefèvre;01/02/2018"
    data = prefix + csv_bytes(
        line.replace(";", separator), header=HEADER.replace(";", separator), encoding=encoding
    )
    # when
    preview = preview_family_import(commune=commune_a, data=data)
    # then
    assert (preview.encoding, preview.delimiter, preview.errors) == (label, separator, [])
    [plan] = preview.plans
    assert (plan.action, plan.family_name) == (Action.CREATE, "Lefèvre")
    assert plan.draft.value("ville") == "Saint-Étienne"
    assert [(c.first_name, c.birth_date) for c in plan.draft.children] == [("Zoé", dt.date(2018, 2, 1))]


def test_a_spreadsheet_instead_of_a_csv_and_missing_columns_are_refused_at_upload(client, commune_a, agent_a):
    client.force_login(agent_a)
    # a workbook
    response = upload(client, commune_a, b"PK\x03\x04" + b"\x00" * 100, name="familles.xlsx")
    assert response.status_code == 200
    assert "est un classeur (Excel ou LibreOffice), pas un CSV" in page_text(response)
    # a header without the guardian's e-mail
    response = upload(client, commune_a, csv_bytes("A1;Martin", header="numero_dossier;nom_famille"))
    assert response.status_code == 200
    assert "Colonnes absentes de la première ligne : resp1_prenom, resp1_nom, resp1_email." in page_text(
        response
    )
    assert not Membership.objects.exists()


def test_a_too_large_file_is_refused_and_nothing_is_kept(client, commune_a, agent_a, monkeypatch):
    client.force_login(agent_a)
    # given a file over 5 Mo
    data = csv_bytes(*[DURAND] * ((family_import.MAX_BYTES // len(DURAND)) + 2000))
    assert len(data) > family_import.MAX_BYTES
    # when
    response = upload(client, commune_a, data)
    # then
    assert response.status_code == 200
    size = f"{len(data) / 1024 / 1024:.1f}".replace(".", ",")
    assert (
        f"Le fichier fait {size} Mo : la limite est de 5 Mo. Découpez-le en plusieurs fichiers (par exemple par "
        "ordre alphabétique des familles) et importez-les l'un après l'autre." in page_text(response)
    )
    assert not Membership.objects.exists() and not Family.objects.exists()
    # and too many lines, even small ones
    monkeypatch.setattr(reading, "SPEC", dataclasses.replace(reading.SPEC, max_lines=2))
    response = upload(client, commune_a, csv_bytes(MARTIN_LEA, MARTIN_HUGO, DURAND))
    assert response.status_code == 200
    assert "Le fichier compte plus de 2 lignes : découpez-le" in page_text(response)


# --- The preview --------------------------------------------------------------------------------


def test_preview_lists_every_bad_line_in_french_and_writes_nothing(client, commune_a, agent_a):
    # given a dossier of the commune whose guardian's address is in the file for another dossier
    make_family(commune_a, email="deja@example.fr", name="Ancien", active=False, dossier="F00001")
    before = identity_rows()
    data = csv_bytes(
        MARTIN_LEA,  # 2: valid
        "A300;Bernard;;;;Lou;Bernard;lou@exemple;;;;;;Tom;Bernard;31/02/2018",  # 3: bad e-mail, bad date
        "A301;;;;;Max;Roux;max@example.fr;;;;;;;;",  # 4: no family name
        "A100;Martine;;;;;;;;;;;;Hugo;Martin;02/09/2019",  # 5: same dossier as line 2, another name
        "A302;Blanc;;3800;;Eva;Blanc;deja@example.fr;;;;;;;;",  # 6: short postcode, e-mail taken
        ";Sans numéro;;;;Ana;Noir;ana@example.fr;;;;;;;;",  # 7: no dossier number
        "A303;Vert;;;;Jo;Vert;jo@example.fr;;Jo;Vert;jo@example.fr;;Ines;;01/01/2030",  # 8
    )
    # when
    preview = preview_family_import(commune=commune_a, data=data)
    # then
    assert errors_of(preview) == [
        (
            3,
            "enfant_date_naissance (P)",
            "« 31/02/2018 » n'est pas une date : jj/mm/aaaa attendu (par exemple 14/05/2017).",
        ),
        (3, "resp1_email (H)", "« lou@exemple » n'est pas une adresse e-mail valide."),
        (4, "nom_famille (B)", "Le nom de la famille est obligatoire."),
        (
            5,
            "nom_famille (B)",
            "Le dossier n° A100 a une autre valeur ligne 2 (« Martin ») : une même famille doit avoir les "
            "mêmes informations sur toutes ses lignes.",
        ),
        (
            6,
            "code_postal (D)",
            "« 3800 » n'est pas un code postal : 5 chiffres attendus (un tableur supprime parfois le 0 du "
            "début : mettez la colonne au format texte).",
        ),
        (6, "resp1_email (H)", "deja@example.fr est déjà responsable du dossier n° F00001 dans la commune."),
        (7, "numero_dossier (A)", "Le numéro de dossier est obligatoire."),
        (8, "enfant_date_naissance (P)", "La date de naissance n'est pas plausible. (01/01/2030)"),
        (8, "enfant_nom (O)", "Le nom de l'enfant est obligatoire."),
        (
            8,
            "resp2_email (L)",
            "Les deux responsables ont la même adresse e-mail : chacun a la sienne (chacun se connecte).",
        ),
    ]
    assert {plan.number: plan.action for plan in preview.plans} == {
        "A100": Action.INVALID,
        "A300": Action.INVALID,
        "A301": Action.INVALID,
        "A302": Action.INVALID,
        "A303": Action.INVALID,
    }
    # and the page shows them, with what would happen
    client.force_login(agent_a)
    token = token_of(upload(client, commune_a, data))
    page = page_text(client.get(commune_path(commune_a, f"console/familles/import/{token}/")))
    assert "6 lignes en erreur" in page and "5 dossiers en erreur" in page
    assert "« lou@exemple » n'est pas une adresse e-mail valide." in page
    assert "Importer les lignes valides" not in page  # no dossier is valid
    assert identity_rows() == before


def test_the_same_e_mail_in_two_dossiers_of_the_file_spoils_both(commune_a):
    data = csv_bytes(DURAND, "A110;Autre;;;;Sam;Autre;sacha@example.fr;;;;;;;;", PETIT)
    preview = preview_family_import(commune=commune_a, data=data)
    assert errors_of(preview) == [
        (
            2,
            "resp1_email (H)",
            "sacha@example.fr est aussi un responsable du dossier n° A110 (ligne 3) de ce fichier.",
        ),
        (
            3,
            "resp1_email (H)",
            "sacha@example.fr est aussi un responsable du dossier n° A101 (ligne 2) de ce fichier.",
        ),
    ]
    assert [(p.number, p.action) for p in preview.plans] == [
        ("A101", Action.INVALID),
        ("A110", Action.INVALID),
        ("A102", Action.CREATE),
    ]


# --- The import ---------------------------------------------------------------------------------


def test_with_an_error_nothing_is_imported(client, commune_a, agent_a, django_capture_on_commit_callbacks):
    client.force_login(agent_a)
    before = identity_rows()
    token = token_of(
        upload(
            client,
            commune_a,
            csv_bytes(MARTIN_LEA, DURAND, "A300;Bernard;;;;Lou;Bernard;pas-un-email;;;;;;;;"),
        )
    )
    # when the agent asks for the whole file
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = confirm(client, commune_a, token, mode="all")
    # then
    assert response.status_code == 200
    assert (
        "Rien n'a été importé : 1 ligne(s) en erreur. Corrigez le fichier et déposez-le à nouveau, ou importez "
        "seulement les dossiers valides." in page_text(response)
    )
    assert "Importer les lignes valides (2 dossiers, sans les dossiers en erreur)" in page_text(response)
    assert identity_rows() == before and callbacks == [] and mail.outbox == []


def test_importing_the_valid_lines_leaves_the_bad_dossiers_out(client, commune_a, agent_a):
    client.force_login(agent_a)
    token = token_of(
        upload(
            client,
            commune_a,
            csv_bytes(MARTIN_LEA, MARTIN_HUGO, DURAND, "A101;Durand;;;;;;;;;;;;Noa;Durand;99/99/2018"),
        )
    )
    # when
    response = confirm(client, commune_a, token, mode="valid")
    # then only Martin is imported: Durand has a bad line
    assert response.status_code == 302 and response["Location"].endswith(f"/import/{token}/resultat/")
    assert list(Membership.objects.values_list("dossier_number", "status")) == [("A100", "invited")]
    assert Family.objects.get().name == "Martin"
    result = page_text(client.get(response["Location"]))
    assert "1 dossier créé" in result
    assert "1 dossier en erreur n'a pas été importé" in result


def test_reimporting_the_same_file_changes_nothing_and_says_so(client, commune_a, agent_a):
    client.force_login(agent_a)
    data = csv_bytes(MARTIN_LEA, MARTIN_HUGO, DURAND, PETIT)
    assert confirm(client, commune_a, token_of(upload(client, commune_a, data))).status_code == 302
    after_first = identity_rows()
    assert len(after_first["memberships"]) == 3 and len(after_first["children"]) == 3
    # when the same file comes again
    token = token_of(upload(client, commune_a, data))
    preview = page_text(client.get(commune_path(commune_a, f"console/familles/import/{token}/")))
    response = confirm(client, commune_a, token)
    # then
    assert "3 dossiers inchangés" in preview
    assert "Les dossiers du fichier sont déjà à jour : l'import ne changera rien." in preview
    result = page_text(client.get(response["Location"]))
    assert "Rien n'a changé : les 3 dossiers du fichier étaient déjà à jour." in result
    assert identity_rows() == after_first


def test_a_changed_line_updates_the_dossier_and_deletes_nothing(client, commune_a, agent_a):
    client.force_login(agent_a)
    confirm(client, commune_a, token_of(upload(client, commune_a, csv_bytes(MARTIN_LEA, MARTIN_HUGO))))
    family = Family.objects.get()
    camille = family.guardians.get()
    lea = family.children.get(first_name="Léa")
    # a child the commune added by hand meanwhile
    Child.objects.create(family=family, first_name="Nina", last_name="Martin", birth_date=dt.date(2020, 1, 3))
    # when the new export has a new address, another phone, a second guardian, Léa's new name and a
    # baby, but no Hugo line and an empty postcode
    changed = csv_bytes(
        "A100;Martin;8 rue Neuve;;JolieVille;Camille;Martin;CAMILLE@example.fr;07 00 00 00 01;"
        "Dominique;Martin;dom@example.fr;;Léa;Martin-Roux;14/05/2017",
        "A100;Martin;;;;;;;;;;;;Jade;Martin;10/10/2024",
    )
    token = token_of(upload(client, commune_a, changed))
    preview = page_text(client.get(commune_path(commune_a, f"console/familles/import/{token}/")))
    response = confirm(client, commune_a, token)
    # then
    assert "1 dossier à mettre à jour" in preview
    for change in (
        "Adresse : « 3 rue des Écoles » → « 8 rue Neuve »",
        "Responsable camille@example.fr, téléphone : « 06 01 02 03 04 » → « 07 00 00 00 01 »",
        "Nouveau responsable : Dominique Martin (dom@example.fr)",
        "Enfant Léa (14/05/2017), nom : « Martin » → « Martin-Roux »",
        "Nouvel enfant : Jade Martin, né(e) le 10/10/2024",
    ):
        assert change in preview
    assert response.status_code == 302
    family.refresh_from_db()
    assert (family.name, family.address_line, family.postcode, family.city) == (
        "Martin",
        "8 rue Neuve",
        "38000",
        "JolieVille",
    )
    assert list(family.guardians.order_by("pk").values_list("pk", "first_name", "email", "phone")) == [
        (camille.pk, "Camille", "camille@example.fr", "07 00 00 00 01"),
        (camille.pk + 1, "Dominique", "dom@example.fr", ""),
    ] or list(family.guardians.order_by("pk").values_list("first_name", "email", "phone")) == [
        ("Camille", "camille@example.fr", "07 00 00 00 01"),
        ("Dominique", "dom@example.fr", ""),
    ]
    assert sorted(family.children.values_list("pk", "first_name", "last_name")) == sorted(
        [
            (lea.pk, "Léa", "Martin-Roux"),
            (family.children.get(first_name="Hugo").pk, "Hugo", "Martin"),
            (family.children.get(first_name="Nina").pk, "Nina", "Martin"),
            (family.children.get(first_name="Jade").pk, "Jade", "Martin"),
        ]
    )
    assert Membership.objects.count() == 1 and Family.objects.count() == 1


def test_a_third_guardian_is_refused(commune_a):
    membership = make_family(commune_a, email="un@example.fr", name="Trio", active=False, dossier="A500")
    Guardian.objects.create(
        family=membership.family, first_name="Deux", last_name="Trio", email="deux@example.fr"
    )
    preview = preview_family_import(
        commune=commune_a, data=csv_bytes("A500;Trio;;;;Trois;Trio;trois@example.fr;;;;;;;;")
    )
    assert errors_of(preview) == [
        (
            2,
            "resp1_email (H)",
            "Le dossier n° A500 a déjà deux responsables (un@example.fr, deux@example.fr) : trois@example.fr "
            "serait un troisième. Corrigez l'adresse, ou le dossier dans la console.",
        )
    ]
    assert preview.plans[0].action == Action.INVALID


def test_a_dossier_the_family_activated_is_not_overwritten(client, commune_a, agent_a):
    # given an activated family
    membership = make_family(commune_a, email="actif@example.fr", name="Actif", dossier="A600")
    before = identity_rows()
    data = csv_bytes(
        "A600;Actif;9 rue Autre;38000;Ailleurs;Camille;Actif;actif@example.fr;;;;;;Léa;Actif;14/05/2017"
    )
    client.force_login(agent_a)
    token = token_of(upload(client, commune_a, data))
    preview = page_text(client.get(commune_path(commune_a, f"console/familles/import/{token}/")))
    response = confirm(client, commune_a, token)
    # then the differences are shown, and not applied
    assert "1 dossier tenu par la famille" in preview and "Adresse : (vide) → « 9 rue Autre »" in preview
    assert response.status_code == 302
    assert identity_rows() == before
    assert membership.family.guardians.get().account is not None


def test_dossier_numbers_from_the_file_are_kept_and_numbering_goes_on(client, commune_a, agent_a):
    client.force_login(agent_a)
    data = csv_bytes(
        "F00120;Haut;;;;Al;Haut;al@example.fr;;;;;;;;",
        "2019-0042;Ancien;;;;Bo;Ancien;bo@example.fr;;;;;;;;",
    )
    confirm(client, commune_a, token_of(upload(client, commune_a, data)))
    # when an agent opens a dossier by hand
    membership = create_family_dossier(
        commune=commune_a,
        actor=agent_a,
        family_name="Neuf",
        guardian_first_name="Cy",
        guardian_last_name="Neuf",
        guardian_email="cy@example.fr",
        children=[],
    )
    # then
    assert membership.dossier_number == "F00121"
    assert sorted(Membership.objects.values_list("dossier_number", flat=True)) == [
        "2019-0042",
        "F00120",
        "F00121",
    ]


# --- Access --------------------------------------------------------------------------------------


def test_commune_b_agent_gets_404_on_commune_a_import(client, commune_a, commune_b, agent_a, agent_b):
    client.force_login(agent_a)
    token = token_of(upload(client, commune_a, csv_bytes(DURAND)))
    client.force_login(agent_b)
    # neither in commune A's console, nor with A's token in their own
    for commune in (commune_a, commune_b):
        assert client.get(commune_path(commune, f"console/familles/import/{token}/")).status_code == 404
        assert confirm(client, commune, token).status_code == 404
        assert (
            client.get(commune_path(commune, f"console/familles/import/{token}/resultat/")).status_code == 404
        )
    assert client.get(commune_path(commune_a, "console/familles/import/")).status_code == 404
    assert upload(client, commune_a, csv_bytes(PETIT)).status_code == 404
    assert not Membership.objects.exists()


def test_another_agent_of_the_commune_does_not_see_my_upload(client, commune_a, agent_a):
    client.force_login(agent_a)
    token = token_of(upload(client, commune_a, csv_bytes(DURAND)))
    client.force_login(make_staff(commune_a, "collegue@jolieville.test"))
    assert client.get(commune_path(commune_a, f"console/familles/import/{token}/")).status_code == 404
    assert confirm(client, commune_a, token).status_code == 404
    assert not Membership.objects.exists()


def test_a_family_account_reaches_no_import_page(client, commune_a):
    family = make_family(commune_a, email="parent@example.fr")
    client.force_login(family.family.guardians.get().account)
    assert client.get(commune_path(commune_a, "console/familles/import/")).status_code == 404
    assert client.post(commune_path(commune_a, "console/familles/activation/")).status_code == 404


# --- Activation links in bulk ---------------------------------------------------------------------


def _dossiers(commune, count: int, *, prefix: str = "inv") -> list[Membership]:
    return [
        make_family(
            commune, email=f"{prefix}{i}@example.fr", name=f"Famille{i}", active=False, dossier=f"B{i:03d}"
        )
        for i in range(count)
    ]


def test_bulk_send_creates_invitations_and_emails(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    # given three dossiers waiting and one activated
    waiting = _dossiers(commune_a, 3)
    active = make_family(commune_a, email="actif@example.fr", name="Actif", dossier="B999")
    client.force_login(agent_a)
    # when the agent ticks them all
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, "console/familles/activation/"),
            {"scope": "selected", "membership": [m.pk for m in [*waiting, active]]},
        )
    # then
    assert response.status_code == 302 and response["Location"] == "/c/jolieville/console/familles/"
    invitations = Invitation.objects.filter(kind=Invitation.Kind.FAMILY).order_by("membership_id")
    assert [(i.membership_id, i.email, i.delivery, i.send_count, i.created_by_id) for i in invitations] == [
        (m.pk, f"inv{n}@example.fr", Invitation.Delivery.SENT, 1, agent_a.pk) for n, m in enumerate(waiting)
    ]
    assert sorted(message.to[0] for message in mail.outbox) == [
        "inv0@example.fr",
        "inv1@example.fr",
        "inv2@example.fr",
    ]
    page = page_html(client.get(response["Location"]))
    assert (
        "Les liens d'activation partent vers 3 dossiers (valables 72 heures) : la colonne « Activation » suit "
        "leur envoi. 1 dossier déjà activé n'a rien reçu." in page
    )
    assert page.count('<span class="activation activation-sent">Lien envoyé</span>') == 3


def test_bulk_resend_replaces_each_link(client, commune_a, agent_a, django_capture_on_commit_callbacks):
    waiting = _dossiers(commune_a, 2)
    client.force_login(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            commune_path(commune_a, "console/familles/activation/"), {"membership": [m.pk for m in waiting]}
        )
    first_links = {m.to[0]: re.search(r"/activation/([^\s/]+)/", m.body).group(1) for m in mail.outbox}
    Invitation.objects.filter(membership=waiting[0]).update(delivery=Invitation.Delivery.FAILED)
    # when the agent sends again
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            commune_path(commune_a, "console/familles/activation/"), {"membership": [m.pk for m in waiting]}
        )
    # then one invitation per dossier, sent twice, with a new link
    assert sorted(Invitation.objects.values_list("membership_id", "delivery", "send_count")) == [
        (waiting[0].pk, Invitation.Delivery.SENT, 2),
        (waiting[1].pk, Invitation.Delivery.SENT, 2),
    ]
    assert len(mail.outbox) == 4
    second_links = {m.to[0]: re.search(r"/activation/([^\s/]+)/", m.body).group(1) for m in mail.outbox[2:]}
    assert all(first_links[email] != second_links[email] for email in first_links)


def test_bulk_send_to_every_never_invited_dossier_of_the_filter(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    waiting = _dossiers(commune_a, 3)
    client.force_login(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(commune_path(commune_a, "console/familles/activation/"), {"membership": [waiting[0].pk]})
    mail.outbox.clear()
    # when the agent sends to "all of the list", the list filtered on "jamais invitée"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, "console/familles/activation/"),
            {"scope": "filtered", "activation": "never"},
        )
    # then only the two never invited dossiers get a link
    assert response["Location"] == "/c/jolieville/console/familles/?activation=never"
    assert sorted(message.to[0] for message in mail.outbox) == ["inv1@example.fr", "inv2@example.fr"]
    assert Invitation.objects.get(membership=waiting[0]).send_count == 1


def test_bulk_send_ignores_other_communes_dossiers(
    client, commune_a, commune_b, agent_a, agent_b, django_capture_on_commit_callbacks
):
    dossier_b = make_family(commune_b, email="b@example.fr", active=False, dossier="B001")
    client.force_login(agent_a)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            commune_path(commune_a, "console/familles/activation/"), {"membership": [dossier_b.pk]}
        )
    assert "Cochez au moins un dossier de la liste." in page_text(client.get(response["Location"]))
    assert not Invitation.objects.exists() and mail.outbox == [] and callbacks == []
    # and commune A's agent has no bulk action in commune B
    assert (
        client.post(
            commune_path(commune_b, "console/familles/activation/"), {"membership": [dossier_b.pk]}
        ).status_code
        == 404
    )


def test_the_list_shows_and_filters_the_activation_status(
    client, commune_a, agent_a, django_assert_max_num_queries
):
    # given one dossier in each state
    never, queued, sent, failed, expired = _dossiers(commune_a, 5)
    make_family(commune_a, email="actif@example.fr", name="Famille5", dossier="B005")
    now = timezone.now()
    for membership, delivery, expires in (
        (queued, Invitation.Delivery.QUEUED, now + dt.timedelta(hours=72)),
        (sent, Invitation.Delivery.SENT, now + dt.timedelta(hours=72)),
        (failed, Invitation.Delivery.FAILED, now + dt.timedelta(hours=72)),
        (expired, Invitation.Delivery.SENT, now - dt.timedelta(hours=1)),
    ):
        Invitation.objects.create(
            kind=Invitation.Kind.FAMILY,
            commune=commune_a,
            membership=membership,
            email="x@example.fr",
            token_hash=f"hash-{membership.pk}",
            delivery=delivery,
            expires_at=expires,
            sent_at=now if delivery == Invitation.Delivery.SENT else None,
        )
    client.force_login(agent_a)
    # when / then: every status on the list, one query set whatever the number of dossiers
    with django_assert_max_num_queries(8):
        page = page_html(client.get(commune_path(commune_a, "console/familles/")))
    for label in (
        "Jamais invitée",
        "Envoi en cours",
        "Lien envoyé",
        "Échec de l'envoi",
        "Lien expiré",
        "Activée",
    ):
        assert f">{label}</span>" in page
    expected = {
        "never": "Famille0",
        "queued": "Famille1",
        "sent": "Famille2",
        "failed": "Famille3",
        "expired": "Famille4",
        "active": "Famille5",
    }
    for status, name in expected.items():
        page = page_html(client.get(commune_path(commune_a, "console/familles/"), {"activation": status}))
        shown = re.findall(r"<td>(Famille\d)</td>", page)
        assert shown == [name], status
    # an unknown filter shows everything
    page = page_html(client.get(commune_path(commune_a, "console/familles/"), {"activation": "n'importe"}))
    assert len(re.findall(r"<td>(Famille\d)</td>", page)) == 6


def test_after_an_import_the_new_dossiers_get_their_links_in_one_action(
    client, commune_a, agent_a, django_capture_on_commit_callbacks
):
    client.force_login(agent_a)
    # one dossier of the file was already invited by hand
    invited = make_family(commune_a, email="sacha@example.fr", name="Durand", active=False, dossier="A101")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(commune_path(commune_a, f"console/familles/{invited.pk}/activation/"))
    mail.outbox.clear()
    token = token_of(upload(client, commune_a, csv_bytes(MARTIN_LEA, DURAND, PETIT)))
    result_url = confirm(client, commune_a, token)["Location"]
    result = page_text(client.get(result_url))
    assert "2 dossiers de cet import n'ont jamais reçu de lien d'activation." in result
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(commune_path(commune_a, f"console/familles/import/{token}/activation/"))
    # then
    assert response.status_code == 302
    assert sorted(message.to[0] for message in mail.outbox) == ["alex@example.fr", "camille@example.fr"]
    assert "Tous les dossiers de cet import ont déjà reçu un lien" in page_text(client.get(result_url))
