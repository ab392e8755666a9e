"""Forms of the request pages. They only parse what was typed; demandes.services decides what
is valid (and the same messages come back through portal.forms.apply_errors)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from foyer.dates import DateField
from foyer.uploads import ALL_TYPES, EXTENSIONS, TYPE_LABELS

from .models import AttachmentType, FieldKind, Request, RequestCategory
from .services import CategoryInput, FieldInput


def accept_attribute(types) -> str:
    """The file picker's filter: the accepted types and their usual extensions."""
    extensions = [EXTENSIONS[t] for t in types] + ([".jpeg"] if "image/jpeg" in types else [])
    return ",".join([*types, *extensions])


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.Field):
    """Several files in one input. No check here: demandes.services checks each file's content,
    size and count, and says which file is refused."""

    widget = MultipleFileInput

    def __init__(self, *, accept: list[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.widget.attrs["accept"] = accept_attribute(accept or ALL_TYPES)

    def clean(self, value):
        files = [f for f in (value if isinstance(value, list | tuple) else [value]) if f]
        if self.required and not files:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        return files


def _date_field(**kwargs) -> forms.DateField:
    return DateField(**kwargs)


def _file_help(category: RequestCategory) -> str:
    return _("%(types)s, %(size)s Mo au plus par fichier.") % {
        "types": category.file_type_labels,
        "size": category.max_file_mb,
    }


class RequestForm(forms.Form):
    """ "Faire une demande": the category's questions, then one input per required document and
    one for any other document."""

    def __init__(self, data=None, files=None, *, category: RequestCategory, children, families=()):
        super().__init__(data, files)
        self.category = category
        if len(families) > 1:
            self.fields["family"] = forms.TypedChoiceField(
                label=_("Famille"), coerce=int, choices=[(f.pk, f.name) for f in families]
            )
        for spec in category.fields:
            self.fields[spec["key"]] = self._field(spec, children)
        help_text = _file_help(category)
        for code in category.attachment_types:
            self.fields[code] = MultipleFileField(
                label=AttachmentType(code).label,
                required=True,
                accept=category.file_types,
                help_text=help_text,
                error_messages={
                    "required": _("Pièce jointe obligatoire : %(type)s.")
                    % {"type": AttachmentType(code).label}
                },
            )
        self.fields[AttachmentType.AUTRE] = MultipleFileField(
            label=_("Autre document (facultatif)"),
            required=False,
            accept=category.file_types,
            help_text=_("%(help)s %(count)s fichiers au plus en tout.")
            % {"help": help_text, "count": category.max_files},
        )

    @staticmethod
    def _field(spec: dict, children) -> forms.Field:
        common = {
            "label": spec["label"],
            "required": spec.get("required", False),
            "help_text": spec.get("help", ""),
        }
        kind = spec["kind"]
        if kind == FieldKind.TEXTAREA:
            return forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=4000, **common)
        if kind == FieldKind.DATE:
            return _date_field(**common)
        if kind == FieldKind.CHOICE:
            return forms.ChoiceField(
                choices=[("", "—"), *((c, c) for c in spec.get("choices", []))], **common
            )
        if kind == FieldKind.CHILD:
            return forms.TypedChoiceField(
                coerce=int,
                empty_value=None,
                choices=[("", "—"), *((c.pk, f"{c.first_name} {c.last_name}") for c in children)],
                **common,
            )
        return forms.CharField(max_length=200, **common)

    def answers(self) -> dict:
        keys = [spec["key"] for spec in self.category.fields if spec["kind"] != FieldKind.CHILD]
        return {key: self.cleaned_data.get(key) for key in keys}

    def child_id(self) -> int | None:
        return self.cleaned_data.get("child")

    def attachments(self) -> list[tuple]:
        codes = [*self.category.attachment_types, AttachmentType.AUTRE]
        return [(code, upload) for code in codes for upload in self.cleaned_data.get(code) or []]


class ReplyForm(forms.Form):
    """The family's answer, or a document added while the request is open."""

    message = forms.CharField(
        label=_("Votre message"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    type_code = forms.ChoiceField(label=_("Type de document"), required=False)
    documents = MultipleFileField(label=_("Ajouter un document"), required=False)

    def __init__(self, data=None, files=None, *, request: Request, type_choices):
        super().__init__(data, files)
        self.fields["type_code"].choices = type_choices
        self.fields["documents"].help_text = _file_help(request.category)
        self.fields["documents"].widget.attrs["accept"] = accept_attribute(request.category.file_types)

    def attachments(self) -> list[tuple]:
        code = self.cleaned_data.get("type_code") or AttachmentType.AUTRE
        return [(code, upload) for upload in self.cleaned_data.get("documents") or []]


# --- Console ---------------------------------------------------------------------------------------


class QueueFilterForm(forms.Form):
    statut = forms.ChoiceField(
        label=_("Statut"),
        required=False,
        choices=[("", _("Tous (ouvertes d'abord)")), *Request.Status.choices],
    )
    categorie = forms.TypedChoiceField(label=_("Catégorie"), required=False, coerce=int, empty_value=None)
    attribuee = forms.ChoiceField(label=_("Attribuée à"), required=False)
    q = forms.CharField(
        label=_("Rechercher"),
        required=False,
        max_length=100,
        help_text=_("Famille, enfant, n° de demande ou de dossier"),
    )

    def __init__(self, data=None, *, categories, staff, me):
        super().__init__(data)
        self.fields["categorie"].choices = [("", _("Toutes")), *((c.pk, c.title) for c in categories)]
        self.fields["attribuee"].choices = [
            ("", _("Tout le monde")),
            ("moi", _("Moi")),
            ("personne", _("Personne")),
            *((str(a.pk), a.get_full_name() or a.email) for a in staff if a.pk != me.pk),
        ]

    def to_filters(self, me) -> dict:
        if not self.is_valid():
            return {}
        who = self.cleaned_data["attribuee"]
        return {
            "status": self.cleaned_data["statut"],
            "category_id": self.cleaned_data["categorie"],
            "assignee_id": me.pk if who == "moi" else (int(who) if who.isdecimal() else None),
            "unassigned": who == "personne",
            "search": self.cleaned_data["q"],
        }


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Nouveau statut"), widget=forms.RadioSelect)
    message = forms.CharField(
        label=_("Commentaire à la famille"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Obligatoire pour un refus ; envoyé par e-mail à la famille."),
    )

    def __init__(self, data=None, *, request: Request):
        super().__init__(data, prefix="statut")
        allowed = Request.TRANSITIONS[Request.Status(request.status)]
        self.fields["status"].choices = [(s, label) for s, label in Request.Status.choices if s in allowed]


class MessageForm(forms.Form):
    message = forms.CharField(
        label=_("Message"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    internal = forms.BooleanField(
        label=_("Note interne (la famille ne la voit pas et ne reçoit pas d'e-mail)"), required=False
    )
    type_code = forms.ChoiceField(label=_("Type de document"), required=False)
    documents = MultipleFileField(label=_("Joindre un document pour la famille"), required=False)

    def __init__(self, data=None, files=None, *, request: Request, type_choices):
        super().__init__(data, files, prefix="message")
        self.fields["type_code"].choices = type_choices
        self.fields["documents"].help_text = _file_help(request.category)
        self.fields["documents"].widget.attrs["accept"] = accept_attribute(request.category.file_types)

    def attachments(self) -> list[tuple]:
        code = self.cleaned_data.get("type_code") or AttachmentType.AUTRE
        return [(code, upload) for upload in self.cleaned_data.get("documents") or []]


class AssignForm(forms.Form):
    assignee = forms.TypedChoiceField(label=_("Attribuée à"), required=False, coerce=int, empty_value=None)

    def __init__(self, data=None, *, staff, initial=None):
        super().__init__(data, prefix="attribution", initial=initial)
        self.fields["assignee"].choices = [
            ("", _("Personne")),
            *((a.pk, a.get_full_name() or a.email) for a in staff),
        ]


class CategoryFieldForm(forms.Form):
    label = forms.CharField(label=_("Libellé"), required=False, max_length=150)
    kind = forms.ChoiceField(label=_("Type"), choices=FieldKind.choices, initial=FieldKind.TEXT)
    required = forms.BooleanField(label=_("Obligatoire"), required=False, initial=True)
    choices = forms.CharField(
        label=_("Choix (un par ligne)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Pour un champ « choix dans une liste »."),
    )
    help = forms.CharField(label=_("Aide"), required=False, max_length=300)
    key = forms.CharField(required=False, widget=forms.HiddenInput)

    def to_input(self) -> FieldInput | None:
        data = self.cleaned_data
        if not data.get("label", "").strip():
            return None
        return FieldInput(
            label=data["label"],
            kind=data["kind"],
            required=data["required"],
            choices=tuple(line.strip() for line in data["choices"].splitlines() if line.strip()),
            help=data["help"],
            key=data["key"],
        )


CategoryFieldFormSet = forms.formset_factory(CategoryFieldForm, extra=2, max_num=20, validate_max=True)


class CategoryForm(forms.Form):
    title = forms.CharField(label=_("Titre"), max_length=150)
    code = forms.SlugField(
        label=_("Code"),
        max_length=60,
        required=False,
        help_text=_("Laissez vide pour le déduire du titre. Minuscules, chiffres et tirets."),
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    attachment_types = forms.MultipleChoiceField(
        label=_("Pièces jointes obligatoires"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(c, label) for c, label in AttachmentType.choices if c != AttachmentType.AUTRE],
    )
    file_types = forms.MultipleChoiceField(
        label=_("Types de fichiers acceptés"),
        widget=forms.CheckboxSelectMultiple,
        choices=[(t, TYPE_LABELS[t]) for t in ALL_TYPES],
        initial=list(ALL_TYPES),
    )
    max_file_mb = forms.IntegerField(
        label=_("Taille maximale d'un fichier (Mo)"), min_value=1, max_value=10, initial=5
    )
    max_files = forms.IntegerField(
        label=_("Nombre maximal de fichiers par envoi"), min_value=1, max_value=10, initial=5
    )
    position = forms.IntegerField(label=_("Ordre d'affichage"), min_value=0, max_value=1000, initial=100)
    is_active = forms.BooleanField(label=_("Proposée aux familles"), required=False, initial=True)

    def __init__(self, data=None, *, category: RequestCategory | None = None):
        initial = None
        if category is not None:
            initial = {
                "title": category.title,
                "code": category.code,
                "description": category.description,
                "attachment_types": category.attachment_types,
                "file_types": category.file_types,
                "max_file_mb": category.max_file_mb,
                "max_files": category.max_files,
                "position": category.position,
                "is_active": category.is_active,
            }
        super().__init__(data, initial=initial)
        self.category = category
        self.system = category is not None and category.is_system
        if self.system:
            for name in ("code", "attachment_types"):
                self.fields[name].disabled = True
            self.fields["code"].help_text = _(
                "Catégorie de Foyer : son code, son formulaire et ses pièces sont fixes."
            )
            self.fields["is_active"].label = _("Active")
            self.rows = None
        else:
            self.rows = CategoryFieldFormSet(
                data,
                prefix="champs",
                initial=[
                    {
                        "label": f["label"],
                        "kind": f["kind"],
                        "required": f.get("required", False),
                        "choices": "\n".join(f.get("choices", [])),
                        "help": f.get("help", ""),
                        "key": f["key"],
                    }
                    for f in (category.fields if category else [])
                ],
            )

    def is_valid(self) -> bool:
        return all([super().is_valid(), self.rows is None or self.rows.is_valid()])

    def to_input(self) -> CategoryInput:
        data = self.cleaned_data
        fields = ()
        if self.rows is not None:
            fields = tuple(item for item in (row.to_input() for row in self.rows if row.cleaned_data) if item)
        return CategoryInput(
            title=data["title"],
            code=data.get("code") or "",
            description=data["description"],
            is_active=data["is_active"],
            attachment_types=tuple(data.get("attachment_types") or ()),
            file_types=tuple(data["file_types"]),
            max_file_mb=data["max_file_mb"],
            max_files=data["max_files"],
            position=data["position"],
            fields=fields,
        )
