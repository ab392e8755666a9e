"""Dates typed by people or put in a URL: one way to read them, within bounds.

A date far in the past or the future (``0001-01-01``, ``9999-12-31``) is a valid ISO date, but a
week around it, or the day after it, cannot be computed: every date that comes from outside
(query strings, forms, the API) goes through this module, which keeps it between ``MIN_DATE``
and ``MAX_DATE`` and otherwise refuses it with a French message.
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from rest_framework import serializers

MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2199, 12, 31)
INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]


def out_of_range_message() -> str:
    return _("Saisissez une date entre %(min)s et %(max)s.") % {
        "min": MIN_DATE.strftime("%d/%m/%Y"),
        "max": MAX_DATE.strftime("%d/%m/%Y"),
    }


def validate_date_in_range(value: dt.date | None) -> None:
    """A validator for form and serializer fields."""
    if value is not None and not MIN_DATE <= value <= MAX_DATE:
        raise ValidationError(out_of_range_message(), code="date_out_of_range")


def parse_date(value: str | None) -> dt.date | None:
    """The ISO (``2025-09-01``) or French (``01/09/2025``) date of ``value``, or None when it
    is empty, not a date, or out of range."""
    text = (value or "").strip()
    for pattern in INPUT_FORMATS:
        try:
            day = dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        return day if MIN_DATE <= day <= MAX_DATE else None
    return None


class DateField(forms.DateField):
    """A form's date: ISO or French, shown as ISO in an ``<input type="date">``, within bounds."""

    default_validators = [validate_date_in_range]

    def __init__(self, *, input_formats=None, widget=None, **kwargs):
        super().__init__(
            input_formats=input_formats or INPUT_FORMATS,
            widget=widget or forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            **kwargs,
        )

    def to_python(self, value):
        try:
            return super().to_python(value)
        except OverflowError as error:  # a year past 9999
            raise ValidationError(self.error_messages["invalid"], code="invalid") from error


class ApiDateField(serializers.DateField):
    """An API date (ISO), within bounds: out of range is the API's usual validation error."""

    default_validators = [validate_date_in_range]
