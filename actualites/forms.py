"""The console's news form. It parses what was typed (dates in the commune's time zone, set
by the view) into the services' input; the services decide what is valid."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from foyer.errors import FoyerError

from . import images
from .models import TITLE_MAX_LENGTH, NewsItem
from .services import NewsInput

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"]


def datetime_field(label: str, **kwargs) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={"invalid": _("Saisissez une date et une heure valides (jj/mm/aaaa hh:mm).")},
        **kwargs,
    )


def _minute(value: dt.datetime) -> dt.datetime:
    return value.replace(second=0, microsecond=0)


class NewsForm(forms.Form):
    DRAFT, NOW, AT = "draft", "now", "at"

    title = forms.CharField(
        label=_("Titre"),
        max_length=TITLE_MAX_LENGTH,
        error_messages={
            "required": _("Indiquez un titre."),
            "max_length": _("Le titre ne doit pas dépasser %(limit_value)d caractères."),
        },
    )
    body = forms.CharField(
        label=_("Texte"),
        widget=forms.Textarea(attrs={"rows": 10}),
        strip=False,
        help_text=_("Texte simple : les retours à la ligne sont conservés, le HTML est affiché tel quel."),
        error_messages={"required": _("Écrivez le texte de l'actualité.")},
    )
    image = forms.FileField(
        label=_("Image"),
        required=False,
        widget=forms.FileInput(attrs={"accept": "image/jpeg,image/png"}),
        help_text=_("Facultative. JPEG ou PNG, 2 Mo au plus."),
    )
    image_alt = forms.CharField(
        label=_("Description de l'image"),
        required=False,
        max_length=200,
        help_text=_("Ce que montre l'image, pour les personnes qui ne la voient pas."),
    )
    remove_image = forms.BooleanField(label=_("Retirer l'image actuelle"), required=False)
    publication = forms.ChoiceField(
        label=_("Publication"),
        choices=[
            (DRAFT, _("Brouillon : visible de l'équipe seulement")),
            (NOW, _("Publier maintenant")),
            (AT, _("Programmer à la date indiquée")),
        ],
        initial=NOW,
        widget=forms.RadioSelect,
    )
    publish_at = datetime_field(
        _("Date de publication"),
        help_text=_("Pour une publication programmée. Les familles reçoivent un e-mail à cette date."),
    )
    unpublish_at = datetime_field(
        _("Fin de publication"), help_text=_("Facultative : l'actualité disparaît du fil à cette date.")
    )
    pinned = forms.BooleanField(label=_("Épingler en tête du fil des familles"), required=False)

    def __init__(self, *args, item: NewsItem | None = None, **kwargs):
        self.item = item
        if item is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "title": item.title,
                "body": item.body,
                "image_alt": item.image_alt,
                "publication": (
                    self.DRAFT
                    if item.publish_at is None
                    else self.NOW
                    if item.publish_at <= timezone.now()
                    else self.AT
                ),
                "publish_at": item.publish_at,
                "unpublish_at": item.unpublish_at,
                "pinned": item.pinned,
            }
        super().__init__(*args, **kwargs)
        if item is None or not item.image:
            del self.fields["remove_image"]
        if item is not None and item.publish_at is not None and item.publish_at <= timezone.now():
            self.fields["publication"].choices = [
                (self.DRAFT, _("Brouillon : ne plus la montrer aux familles")),
                (self.NOW, _("Publiée : garder sa date de publication")),
                (self.AT, _("Publiée ou programmée à la date indiquée")),
            ]

    def clean_image(self):
        upload = self.cleaned_data.get("image")
        if upload:
            try:
                images.validate_news_image(upload)
            except FoyerError as error:
                raise ValidationError(error.message, code=error.code) from None
        return upload or None

    def clean(self):
        data = super().clean()
        if (
            data.get("publication") == self.AT
            and not data.get("publish_at")
            and "publish_at" not in self.errors
        ):
            self.add_error("publish_at", _("Indiquez la date et l'heure de publication."))
        return data

    def _typed(self, name: str) -> dt.datetime | None:
        """A typed date, or the item's own when it is the same minute (the input shows no
        seconds: saving the form unchanged must not move the window)."""
        value = self.cleaned_data.get(name)
        current = getattr(self.item, name, None) if self.item is not None else None
        if value is not None and current is not None and _minute(value) == _minute(current):
            return current
        return value

    def publish_at_for(self, now: dt.datetime) -> dt.datetime | None:
        choice = self.cleaned_data["publication"]
        if choice == self.DRAFT:
            return None
        if choice == self.AT:
            return self._typed("publish_at")
        # "now": an item already published keeps its date (and its place in the feed).
        current = self.item.publish_at if self.item is not None else None
        return current if current is not None and current <= now else now

    def to_input(self, now: dt.datetime) -> NewsInput:
        return NewsInput(
            title=self.cleaned_data["title"],
            body=self.cleaned_data["body"],
            publish_at=self.publish_at_for(now),
            unpublish_at=self._typed("unpublish_at"),
            pinned=self.cleaned_data.get("pinned", False),
            image_alt=self.cleaned_data.get("image_alt", ""),
        )


class DeleteForm(forms.Form):
    action = forms.ChoiceField(choices=[("withdraw", "withdraw"), ("delete", "delete")])
