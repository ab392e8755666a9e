# The categories every commune starts with. This runs in the template schema (new communes
# are clones of it, rows included) and in each existing commune; a commune that already has
# a category of the same code keeps its own.

from django.db import migrations

ALL_TYPES = ["application/pdf", "image/jpeg", "image/png"]


def _field(key, label, kind, required=True, choices=(), help_text=""):
    return {
        "key": key,
        "label": label,
        "kind": kind,
        "required": required,
        "choices": list(choices),
        "help": help_text,
    }


DEFAULT_CATEGORIES = [
    {
        "code": "autorisation-recuperation",
        "title": "Autorisation de récupération d'un enfant",
        "description": (
            "Autorisez une personne à venir chercher votre enfant à la sortie de l'école, "
            "de la garderie ou du centre de loisirs."
        ),
        "fields": [
            _field("child", "Enfant", "child"),
            _field("personne_autorisee", "Personne autorisée (nom et prénom)", "text"),
            _field(
                "lien", "Lien avec l'enfant", "text", required=False, help_text="Grand-parent, voisin, ami…"
            ),
            _field("telephone", "Téléphone de la personne autorisée", "text"),
            _field("date_debut", "À partir du", "date"),
            _field(
                "date_fin", "Jusqu'au", "date", required=False, help_text="Laissez vide pour toute l'année."
            ),
        ],
        "attachment_types": ["piece_identite"],
        "position": 10,
    },
    {
        "code": "changement-adresse",
        "title": "Changement d'adresse",
        "description": "Signalez votre nouvelle adresse, avec un justificatif de domicile de moins de 3 mois.",
        "fields": [
            _field("address_line", "Nouvelle adresse", "text"),
            _field("postcode", "Code postal", "text"),
            _field("city", "Ville", "text"),
            _field("moving_date", "Date du déménagement", "date", required=False),
        ],
        "attachment_types": ["justificatif_domicile"],
        "is_system": True,
        "position": 20,
    },
    {
        "code": "allergie-pai",
        "title": "Allergie, régime alimentaire, PAI",
        "description": (
            "Signalez une allergie ou un besoin de santé de votre enfant pour la restauration "
            "scolaire ou l'accueil (projet d'accueil individualisé)."
        ),
        "fields": [
            _field("child", "Enfant", "child"),
            _field(
                "besoin",
                "Besoin",
                "choice",
                choices=[
                    "Allergie alimentaire",
                    "Régime sans porc",
                    "Régime sans viande",
                    "Autre besoin de santé",
                ],
            ),
            _field("precisions", "Précisions", "textarea"),
        ],
        "attachment_types": ["certificat_medical"],
        "position": 30,
    },
    {
        "code": "attestation",
        "title": "Demande d'attestation",
        "description": "Attestation de frais de garde (impôts), de présence ou de paiement.",
        "fields": [
            _field("child", "Enfant", "child", required=False),
            _field(
                "type_attestation",
                "Attestation souhaitée",
                "choice",
                choices=["Frais de garde (déclaration d'impôts)", "Présence", "Paiement"],
            ),
            _field("annee", "Année concernée", "text"),
        ],
        "attachment_types": [],
        "position": 40,
    },
    {
        "code": "autre-demande",
        "title": "Autre demande",
        "description": "Toute autre question à votre commune.",
        "fields": [
            _field("objet", "Objet", "text"),
            _field("message", "Votre demande", "textarea"),
        ],
        "attachment_types": [],
        "position": 90,
    },
]


def create_default_categories(apps, schema_editor):
    RequestCategory = apps.get_model("demandes", "RequestCategory")
    existing = set(RequestCategory.objects.values_list("code", flat=True))
    RequestCategory.objects.bulk_create(
        [
            RequestCategory(
                code=item["code"],
                title=item["title"],
                description=item["description"],
                fields=item["fields"],
                attachment_types=item["attachment_types"],
                file_types=ALL_TYPES,
                max_file_mb=5,
                max_files=5,
                is_active=True,
                is_system=item.get("is_system", False),
                position=item["position"],
            )
            for item in DEFAULT_CATEGORIES
            if item["code"] not in existing
        ]
    )


def remove_default_categories(apps, schema_editor):
    RequestCategory = apps.get_model("demandes", "RequestCategory")
    RequestCategory.objects.filter(
        code__in=[item["code"] for item in DEFAULT_CATEGORIES], requests__isnull=True
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("demandes", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_default_categories, remove_default_categories),
    ]
