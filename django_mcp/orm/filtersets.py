"""A django-filter ``FilterSet`` as the filter arguments of a search tool.

Optional: importing this module needs ``django-filter`` installed
(``pip install django-channels-mcp[filters]``). Each filter becomes one
argument, typed from its form field; range filters become one argument per
part (``published_min``/``published_max``, ``lent_after``/``lent_before``).
The FilterSet validates the values and filters the toolset's queryset.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any, Literal

from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from pydantic import Field

from django_mcp.orm import querying
from django_mcp.orm.schema import pk_type

try:
    import django_filters
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImproperlyConfigured(
        "`filterset_class` needs django-filter: pip install django-channels-mcp[filters]"
    ) from exc


def form_field_type(field: forms.Field) -> Any:
    """The Python type of the values a form field accepts."""
    if isinstance(field, forms.ModelChoiceField):
        related: Any = getattr(field.queryset, "model", None)
        base = pk_type(related)
        many = isinstance(field, forms.ModelMultipleChoiceField)
        return list[base] if many else base  # type: ignore[valid-type]
    if isinstance(field, forms.MultipleChoiceField):
        return list[_choices(field)]  # type: ignore[misc]
    if isinstance(field, forms.NullBooleanField | forms.BooleanField):
        return bool
    if isinstance(field, forms.ChoiceField):
        return _choices(field)
    if isinstance(field, forms.DecimalField | forms.FloatField):
        return float
    if isinstance(field, forms.IntegerField):
        return int
    if isinstance(field, forms.DateTimeField):
        return datetime.datetime
    if isinstance(field, forms.DateField):
        return datetime.date
    if isinstance(field, forms.TimeField):
        return datetime.time
    if isinstance(field, forms.DurationField):
        return datetime.timedelta
    if isinstance(field, forms.UUIDField):
        return uuid.UUID
    return str


def _choices(field: forms.ChoiceField) -> Any:
    values = []
    choices: Any = field.choices
    for value, label in choices:
        if isinstance(label, list | tuple):
            values += [inner for inner, _ in label]
        else:
            values.append(value)
    values = [value for value in values if value not in ("", None)]
    return Literal[tuple(values)] if values else str


class FilterSetArguments:
    """The arguments a ``FilterSet`` accepts, and how to hand them back to it."""

    def __init__(self, filterset_class: type[Any], model: type[models.Model]) -> None:
        if not (
            isinstance(filterset_class, type)
            and issubclass(filterset_class, django_filters.FilterSet)
        ):
            raise ImproperlyConfigured(f"{filterset_class!r} is not a django-filter FilterSet")
        self.filterset_class = filterset_class
        self.arguments: dict[str, Any] = {}
        self.csv: set[str] = set()
        self.multivalued = False
        for name, flt in filterset_class.base_filters.items():
            if isinstance(flt, django_filters.OrderingFilter):
                continue  # The search tool orders by its own allow-list.
            field = flt.field
            description = str(flt.label or name)
            help_text = flt.extra.get("help_text")
            if help_text:
                description += f". {help_text}"
            suffixes = getattr(field.widget, "suffixes", None)
            if isinstance(field, forms.MultiValueField) and suffixes:
                for suffix, part in zip(suffixes, field.fields, strict=False):
                    key = f"{name}_{suffix}" if suffix else name
                    self.arguments[key] = (
                        form_field_type(part) | None,
                        Field(default=None, description=f"{description} ({suffix})."),
                    )
                continue
            annotation = form_field_type(field)
            extra: dict[str, Any] = {}
            if isinstance(flt, django_filters.BaseCSVFilter):
                annotation = list[annotation]  # type: ignore[valid-type]
                extra = {"min_length": 1, "max_length": querying.MAX_IN_VALUES}
                self.csv.add(name)
            self.arguments[name] = (
                annotation | None,
                Field(default=None, description=description, **extra),
            )
            try:
                resolved = querying.resolve(model, flt.field_name)
            except ImproperlyConfigured:
                continue  # A method filter: not a field path.
            self.multivalued = self.multivalued or resolved.multivalued

    def apply(
        self, queryset: models.QuerySet[Any], arguments: dict[str, Any]
    ) -> models.QuerySet[Any]:
        from django_mcp.orm.adapters import InvalidData

        data: dict[str, Any] = {}
        for name in self.arguments:
            value = arguments.get(name)
            if value is None:
                continue
            if name in self.csv:
                value = ",".join(str(item) for item in value)
            elif isinstance(value, decimal.Decimal | float):
                value = str(value)
            data[name] = value
        filterset = self.filterset_class(data=data, queryset=queryset)
        if not filterset.is_valid():
            errors = {
                field: [str(error["message"]) for error in messages]
                for field, messages in filterset.errors.get_json_data().items()
            }
            raise InvalidData(errors, "filter", verb="applied")
        result: models.QuerySet[Any] = filterset.qs
        return result
