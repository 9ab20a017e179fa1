"""Filters, search, ordering and cursor pagination for the ``*_search`` tools.

Everything a client may ask for is declared on the toolset and checked when the
toolset is registered: a client can filter only on declared fields and lookups,
search only the declared fields, and order only by the allow-list.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.constants import LOOKUP_SEP
from django.db.models.fields.related import ForeignObjectRel
from django.utils.duration import duration_string
from django.utils.text import capfirst, smart_split, unescape_string_literal
from pydantic import Field

from django_mcp.exceptions import ToolError
from django_mcp.orm.schema import classify, pk_type, value_type

if TYPE_CHECKING:
    from django_mcp.orm.schema import ModelField

#: Lookups a toolset may declare, and how each reads in a description.
LOOKUPS: dict[str, str] = {
    "exact": "equals this",
    "iexact": "equals this, ignoring case",
    "contains": "contains this text",
    "icontains": "contains this text, ignoring case",
    "startswith": "starts with this text",
    "istartswith": "starts with this text, ignoring case",
    "endswith": "ends with this text",
    "iendswith": "ends with this text, ignoring case",
    "gt": "is greater than this",
    "gte": "is this or more",
    "lt": "is less than this",
    "lte": "is this or less",
    "in": "is one of these",
    "isnull": "is empty (true) or set (false)",
    "range": "is between these two values, inclusive",
}
_TEXT_LOOKUPS = frozenset(
    {"iexact", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}
)
#: Most values one ``in`` filter accepts.
MAX_IN_VALUES = 100
#: Longest accepted search text.
MAX_SEARCH_LENGTH = 200

_SEARCH_PREFIXES = {"^": "istartswith", "=": "iexact", "@": "search"}


@dataclass(frozen=True)
class Path:
    """A ``field__field`` path from the toolset's model, resolved."""

    path: str
    field: ModelField
    #: Whether following it may match several rows per object (so ``distinct()``).
    multivalued: bool
    #: Whether a row may have no value at the end of it.
    nullable: bool


def resolve(model: type[models.Model], path: str) -> Path:
    """Follow ``path`` through the model's relations, or raise ``ImproperlyConfigured``."""
    current: type[models.Model] = model
    multivalued = False
    nullable = False
    field: ModelField | None = None
    parts = path.split(LOOKUP_SEP)
    for position, part in enumerate(parts):
        name = current._meta.pk.name if part == "pk" and current._meta.pk else part
        try:
            field = current._meta.get_field(name)
        except FieldDoesNotExist:
            raise ImproperlyConfigured(
                f"{model.__name__} has no field path {path!r} ({current.__name__} has no "
                f"field {part!r})"
            ) from None
        multivalued = multivalued or classify(field) == "many"
        nullable = nullable or bool(getattr(field, "null", False)) or classify(field) == "many"
        if position < len(parts) - 1:
            if not field.is_relation or field.related_model is None:
                raise ImproperlyConfigured(
                    f"{model.__name__} field path {path!r}: {part!r} is not a relation"
                )
            related = field.related_model
            assert isinstance(related, type)
            current = related
    assert field is not None
    return Path(path=path, field=field, multivalued=multivalued, nullable=nullable)


def path_type(resolved: Path) -> Any:
    """The Python type of the value at the end of a path (an id for a relation)."""
    field = resolved.field
    if field.is_relation:
        related = field.related_model
        assert isinstance(related, type)
        return pk_type(related)
    assert isinstance(field, models.Field)
    return value_type(field)[0]


def _to_python(field: ModelField, value: Any) -> Any:
    if isinstance(field, ForeignObjectRel) or field.is_relation:
        related = field.related_model
        assert isinstance(related, type) and related._meta.pk is not None
        return _to_python(related._meta.pk, value)
    assert isinstance(field, models.Field)
    return field.to_python(value)


def _label(path: str) -> str:
    return path.replace(LOOKUP_SEP, " ").replace("_", " ")


# Filters ------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """One filter argument of the search tool."""

    argument: str
    path: Path
    lookup: str

    def schema(self, plural: str) -> tuple[Any, Any]:
        base: Any = str if self.lookup in _TEXT_LOOKUPS else path_type(self.path)
        annotation: Any
        extra: dict[str, Any] = {}
        if self.lookup == "isnull":
            annotation = bool
        elif self.lookup == "in":
            annotation = list[base]
            extra = {"min_length": 1, "max_length": MAX_IN_VALUES}
        elif self.lookup == "range":
            annotation = tuple[base, base]
        else:
            annotation = base
        label = _label(self.path.path)
        if self.path.field.is_relation and self.lookup != "isnull":
            label += " id"
        description = f"Only {plural} whose {label} {LOOKUPS[self.lookup]}."
        help_text = str(getattr(self.path.field, "help_text", "") or "")
        if help_text:
            description += f" {help_text}"
        title = capfirst(_label(self.path.path))
        if self.lookup != "exact":
            title += f" ({self.lookup})"
        return annotation | None, Field(default=None, title=title, description=description, **extra)

    def apply(self, queryset: models.QuerySet[Any], value: Any) -> models.QuerySet[Any]:
        return queryset.filter(**{f"{self.path.path}{LOOKUP_SEP}{self.lookup}": value})


def declared_filters(
    model: type[models.Model], declared: Mapping[str, Sequence[str]] | Sequence[str]
) -> list[Filter]:
    """``{"genre": ["exact", "in"]}`` or ``["genre"]`` (exact only) as filter arguments."""
    spec: Mapping[str, Sequence[str]] = (
        declared if isinstance(declared, Mapping) else {path: ["exact"] for path in declared}
    )
    filters = []
    for path, lookups in spec.items():
        resolved = resolve(model, path)
        for lookup in lookups:
            if lookup not in LOOKUPS:
                raise ImproperlyConfigured(
                    f"{model.__name__} filter {path!r}: unsupported lookup {lookup!r} "
                    f"(supported: {', '.join(LOOKUPS)}); use a django-filter FilterSet for more"
                )
            argument = path if lookup == "exact" else f"{path}{LOOKUP_SEP}{lookup}"
            filters.append(Filter(argument=argument, path=resolved, lookup=lookup))
    return filters


# Search ---------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """Admin-style search: every word must match at least one of the fields."""

    lookups: tuple[str, ...]
    multivalued: bool

    @classmethod
    def declare(cls, model: type[models.Model], fields: Sequence[str]) -> Search:
        lookups = []
        multivalued = False
        for declared in fields:
            lookup = _SEARCH_PREFIXES.get(declared[:1])
            path = declared[1:] if lookup else declared
            resolved = resolve(model, path)
            multivalued = multivalued or resolved.multivalued
            lookups.append(f"{path}{LOOKUP_SEP}{lookup or 'icontains'}")
        return cls(lookups=tuple(lookups), multivalued=multivalued)

    @property
    def fields(self) -> str:
        labels = [_label(lookup.rsplit(LOOKUP_SEP, 1)[0]) for lookup in self.lookups]
        return ", ".join(labels[:-1]) + " or " + labels[-1] if len(labels) > 1 else labels[0]

    def description(self, plural: str) -> str:
        fields = self.fields
        return (
            f"Words to find in the {plural}' {fields}. Every word must match one of these "
            'fields; put a phrase in double quotes ("like this") to match it whole.'
        )

    def apply(self, queryset: models.QuerySet[Any], text: str) -> models.QuerySet[Any]:
        for bit in smart_split(text):
            if bit.startswith(('"', "'")) and bit[0] == bit[-1] and len(bit) > 1:
                bit = unescape_string_literal(bit)
            if not bit:
                continue
            any_field = Q()
            for lookup in self.lookups:
                any_field |= Q(**{lookup: bit})
            queryset = queryset.filter(any_field)
        return queryset


# Ordering and cursors ---------------------------------------------------------


@dataclass(frozen=True)
class OrderKey:
    path: Path
    descending: bool

    @property
    def name(self) -> str:
        return ("-" if self.descending else "") + self.path.path

    def expression(self, alias: str) -> Any:
        # Ordering by the selected alias keeps ``distinct()`` valid on every database.
        column = F(alias)
        if self.path.nullable:
            # One rule on every database: rows with no value come last.
            return column.desc(nulls_last=True) if self.descending else column.asc(nulls_last=True)
        return column.desc() if self.descending else column.asc()


def order_key(model: type[models.Model], name: str) -> OrderKey:
    descending = name.startswith("-")
    resolved = resolve(model, name.lstrip("-"))
    if resolved.multivalued:
        raise ImproperlyConfigured(
            f"{model.__name__}: cannot order by {name!r}, which may match several rows"
        )
    return OrderKey(path=resolved, descending=descending)


def ordering_choices(allowed: Iterable[str]) -> list[str]:
    choices = []
    for name in allowed:
        choices += [name, f"-{name}"]
    return choices


def ordering_argument(choices: list[str], default: Sequence[str]) -> tuple[Any, Any]:
    return Literal[tuple(choices)] | None, Field(
        default=None,
        description=(
            "Order of the results: a field name, or the name with a leading '-' for "
            f"descending order. Default: {', '.join(default)}."
        ),
    )


def _encode(value: Any) -> Any:
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return duration_string(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


@dataclass(frozen=True)
class Page:
    items: list[Any]
    next_cursor: str | None


class Ordering:
    """A total order (the chosen keys, then the primary key) and its keyset cursor."""

    def __init__(self, model: type[models.Model], names: Sequence[str]) -> None:
        self.keys = [order_key(model, name) for name in names]
        pk = model._meta.pk
        assert pk is not None
        if not any(key.path.field == pk and key.path.path in ("pk", pk.name) for key in self.keys):
            self.keys.append(order_key(model, pk.name))

    @property
    def names(self) -> list[str]:
        return [key.name for key in self.keys]

    def _alias(self, index: int) -> str:
        return f"mcp_cursor_{index}"

    def apply(self, queryset: models.QuerySet[Any]) -> models.QuerySet[Any]:
        annotations = {self._alias(i): F(key.path.path) for i, key in enumerate(self.keys)}
        ordered: models.QuerySet[Any] = queryset.annotate(**annotations).order_by(
            *(key.expression(self._alias(i)) for i, key in enumerate(self.keys))
        )
        return ordered

    def cursor_for(self, item: Any) -> str:
        values = [_encode(getattr(item, self._alias(i))) for i in range(len(self.keys))]
        payload = json.dumps({"o": self.names, "v": values}, separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")

    def after(self, cursor: str) -> Q:
        """Rows strictly after the row the cursor was taken from."""
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            names, raw = payload["o"], payload["v"]
            if names != self.names or not isinstance(raw, list) or len(raw) != len(self.keys):
                raise ValueError("cursor of another ordering")
            values = [
                None if value is None else _to_python(key.path.field, value)
                for key, value in zip(self.keys, raw, strict=True)
            ]
        except (ValueError, TypeError, KeyError, UnicodeError, binascii.Error, ValidationError):
            raise ToolError(
                "Invalid cursor: pass back the next_cursor of the previous page, with the "
                "same order_by."
            ) from None
        condition: Q | None = None
        for key, value in reversed(list(zip(self.keys, values, strict=True))):
            path = key.path.path
            if value is None:
                beyond = Q(pk__in=[])
                same = Q(**{f"{path}__isnull": True})
            else:
                beyond = Q(**{f"{path}__{'lt' if key.descending else 'gt'}": value})
                if key.path.nullable:
                    beyond |= Q(**{f"{path}__isnull": True})
                same = Q(**{path: value})
            condition = beyond if condition is None else beyond | (same & condition)
        assert condition is not None
        return condition

    def page(self, queryset: models.QuerySet[Any], cursor: str | None, limit: int) -> Page:
        queryset = self.apply(queryset)
        if cursor:
            queryset = queryset.filter(self.after(cursor))
        items: list[Any] = list(queryset[: limit + 1])
        if len(items) <= limit:
            return Page(items=items, next_cursor=None)
        items = items[:limit]
        return Page(items=items, next_cursor=self.cursor_for(items[-1]))
