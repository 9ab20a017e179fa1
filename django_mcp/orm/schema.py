"""Model fields as pydantic types, and the argument and result models of the tools.

The JSON Schemas that clients see are the schemas of the pydantic models built
here, so they carry what the model declares: the field types, choices as enums,
nullability, lengths and ranges, and help texts as descriptions.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from django.core import validators
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models.fields.related import ForeignObjectRel, RelatedField
from django.utils.text import capfirst
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo


class _Unset:
    """The value of an optional argument the client did not send."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: Marks arguments that were not sent, so ``null`` stays a value one may set.
UNSET: Any = _Unset()

if TYPE_CHECKING:
    from typing import TypeAlias

    ModelField: TypeAlias = models.Field[Any, Any] | ForeignObjectRel

#: Where a Django field stands in the tool's data.
Kind = Literal["value", "foreign_key", "many"]

# Integer ranges that hold on every database Django supports; the backends'
# own ranges differ (SQLite has none), and the schemas must not.
_INTEGER_RANGES = dict(BaseDatabaseOperations.integer_field_ranges)

_FORMATS: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.EmailField: {"format": "email"},
    models.URLField: {"format": "uri"},
    models.SlugField: {"pattern": r"^[-a-zA-Z0-9_]+\Z"},
}


@dataclass(frozen=True)
class Exposed:
    """One field of the model as the tools expose it."""

    name: str
    field: ModelField
    kind: Kind
    #: Field names of the related model to show instead of its id, if declared.
    nested: tuple[str, ...] | None = None

    @property
    def related_model(self) -> type[models.Model]:
        related = self.field.related_model
        assert isinstance(related, type)
        return related

    @property
    def attname(self) -> str:
        """The attribute that holds the value without touching the database."""
        if self.kind == "foreign_key" and self.nested is None:
            return str(getattr(self.field, "attname", self.name))
        return self.name


def classify(field: ModelField) -> Kind:
    if field.many_to_many or field.one_to_many:
        return "many"
    if field.is_relation:
        return "foreign_key"
    return "value"


def describe(field: ModelField, *, nested: bool = False) -> str | None:
    """The help text, or for a relation without one, what it holds (ids or objects)."""
    help_text = str(getattr(field, "help_text", "") or "")
    if help_text:
        return help_text
    if field.is_relation and field.related_model is not None:
        related = field.related_model
        assert isinstance(related, type)
        noun, plural = related._meta.verbose_name, related._meta.verbose_name_plural
        if classify(field) == "many":
            return f"The {plural}." if nested else f"Ids of the {plural}."
        return f"The {noun}." if nested else f"Id of the {noun}."
    return None


def title(field: ModelField) -> str:
    """The field's verbose name, as the admin shows it."""
    name = getattr(field, "verbose_name", None) or field.name.replace("_", " ")
    return str(capfirst(name))


def value_type(field: models.Field[Any, Any]) -> tuple[Any, dict[str, Any]]:
    """The Python type of a non-relational field, and its constraints."""
    constraints: dict[str, Any] = {}
    choices = [value for value, _label in field.flatchoices]
    if choices:
        return Literal[tuple(choices)], constraints
    internal = field.get_internal_type()
    if isinstance(field, models.BooleanField):
        return bool, constraints
    if isinstance(field, models.DecimalField):
        if field.max_digits is not None:
            constraints["max_digits"] = field.max_digits
        if field.decimal_places is not None:
            constraints["decimal_places"] = field.decimal_places
        return decimal.Decimal, constraints
    if isinstance(field, models.FloatField):
        return float, constraints
    if isinstance(field, models.IntegerField | models.AutoField):
        if not isinstance(field, models.AutoField) and internal in _INTEGER_RANGES:
            low, high = _INTEGER_RANGES[internal]
            constraints.update(ge=low, le=high)
        return int, _with_user_bounds(field, constraints)
    if isinstance(field, models.DateTimeField):
        return datetime.datetime, constraints
    if isinstance(field, models.DateField):
        return datetime.date, constraints
    if isinstance(field, models.TimeField):
        return datetime.time, constraints
    if isinstance(field, models.DurationField):
        return datetime.timedelta, constraints
    if isinstance(field, models.UUIDField):
        return uuid.UUID, constraints
    if isinstance(field, models.JSONField):
        return Any, constraints
    if isinstance(field, models.FileField):
        return str, constraints
    if isinstance(field, models.CharField | models.TextField):
        if field.max_length is not None:
            constraints["max_length"] = field.max_length
        for field_class, extra in _FORMATS.items():
            if isinstance(field, field_class):
                constraints["json_schema_extra"] = extra
        return str, constraints
    if isinstance(field, models.GenericIPAddressField):
        return str, constraints
    raise TypeError(
        f"{field.model.__name__}.{field.name} is a {type(field).__name__}, which has no JSON "
        "type here; leave it out of `fields` or write a tool for it by hand"
    )


def _with_user_bounds(field: models.Field[Any, Any], constraints: dict[str, Any]) -> dict[str, Any]:
    # Only the validators declared on the field: ``field.validators`` would add
    # the database's ranges, which differ between backends.
    for validator in getattr(field, "_validators", ()):
        if isinstance(validator, validators.MinValueValidator) and not callable(
            validator.limit_value
        ):
            constraints["ge"] = max(
                validator.limit_value, constraints.get("ge", validator.limit_value)
            )
        if isinstance(validator, validators.MaxValueValidator) and not callable(
            validator.limit_value
        ):
            constraints["le"] = min(
                validator.limit_value, constraints.get("le", validator.limit_value)
            )
    return constraints


def pk_type(model: type[models.Model]) -> Any:
    """The Python type of the model's primary key (following a one-to-one parent link)."""
    pk = model._meta.pk
    assert pk is not None
    while isinstance(pk, RelatedField):
        target = pk.target_field
        assert isinstance(target, models.Field)
        pk = target
    annotation, _ = value_type(pk)
    return annotation


def _nullable(field: ModelField) -> bool:
    return bool(getattr(field, "null", False)) and classify(field) != "many"


def _model_name(*parts: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in parts if part)


def nested_model(exposed: Exposed, owner: str) -> type[BaseModel]:
    related = exposed.related_model
    assert exposed.nested is not None
    fields: dict[str, Any] = {}
    for name in exposed.nested:
        field = related._meta.get_field(name)
        if field.is_relation:
            annotation: Any = pk_type(field.related_model)  # type: ignore[arg-type]
            if classify(field) == "many":
                annotation = list[annotation]
            constraints: dict[str, Any] = {}
        else:
            annotation, constraints = value_type(field)  # type: ignore[arg-type]
        if _nullable(field):
            annotation = annotation | None
        fields[field.name] = (
            annotation,
            Field(title=title(field), description=describe(field), **_output(constraints)),
        )
    return create_model(
        _model_name(owner, exposed.name.replace("_", " ").title().replace(" ", "")),
        **fields,
    )


def _output(constraints: dict[str, Any]) -> dict[str, Any]:
    """What a result's schema keeps of an argument's constraints: lengths and formats."""
    return {
        key: value
        for key, value in constraints.items()
        if key in ("max_length", "json_schema_extra")
    }


def item_model(
    model: type[models.Model],
    exposed: Iterable[Exposed],
    extra: dict[str, Any],
    name: str,
) -> type[BaseModel]:
    """The structured form of one instance."""
    fields: dict[str, Any] = {}
    for item in exposed:
        annotation: Any
        constraints: dict[str, Any] = {}
        if item.kind == "value":
            annotation, constraints = value_type(item.field)  # type: ignore[arg-type]
            constraints = _output(constraints)
        elif item.nested is not None:
            annotation = nested_model(item, name)
        else:
            annotation = pk_type(item.related_model)
        if item.kind == "many":
            annotation = list[annotation]
        if _nullable(item.field):
            annotation = annotation | None
        fields[item.name] = (
            annotation,
            Field(
                title=title(item.field),
                description=describe(item.field, nested=item.nested is not None),
                **constraints,
            ),
        )
    for extra_name, annotation in extra.items():
        fields[extra_name] = (annotation, ...)
    return create_model(name, **fields)


def write_argument(field: ModelField, *, partial: bool) -> tuple[Any, FieldInfo]:
    """The argument that sets ``field`` in a create (``partial=False``) or an update."""
    constraints: dict[str, Any]
    if field.is_relation:
        annotation: Any = pk_type(field.related_model)  # type: ignore[arg-type]
        constraints = {}
        if classify(field) == "many":
            annotation = list[annotation]
    else:
        annotation, constraints = value_type(field)  # type: ignore[arg-type]
    if _nullable(field):
        annotation = annotation | None
    description = describe(field)
    constraints["title"] = title(field)
    if partial:
        return annotation, Field(default_factory=_unset, description=description, **constraints)
    assert isinstance(field, models.Field)
    if not field.has_default() and not field.blank:
        return annotation, Field(description=description, **constraints)
    default = field.get_default() if field.has_default() and not callable(field.default) else UNSET
    if default is UNSET or not isinstance(default, str | int | float | bool | None):
        return annotation, Field(default_factory=_unset, description=description, **constraints)
    return annotation, Field(default=default, description=description, **constraints)


def _unset() -> Any:
    return UNSET


def arguments_model(name: str, fields: dict[str, Any]) -> type[BaseModel]:
    """A closed pydantic model: unknown arguments are refused."""
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)
