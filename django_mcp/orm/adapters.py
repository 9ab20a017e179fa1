"""How a toolset describes, validates and serializes its model's instances.

:class:`ModelAdapter` reads the model's fields and validates writes with
``full_clean()``, or with a ``ModelForm`` when the toolset gives one. The DRF
counterpart lives in :mod:`django_mcp.orm.drf`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models
from django.forms.models import model_to_dict
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from django_mcp.exceptions import ToolError
from django_mcp.orm.schema import (
    UNSET,
    Exposed,
    classify,
    item_model,
    pk_type,
    title,
    write_argument,
)

if TYPE_CHECKING:
    from django.forms import ModelForm

    from django_mcp.orm.schema import ModelField
    from django_mcp.orm.toolsets import ModelToolset, User

ArgumentSpec = tuple[Any, FieldInfo]


class InvalidData(ToolError):
    """A write that validation refused, naming each field and its problems."""

    def __init__(
        self, errors: Mapping[str, Sequence[str]], noun: str, *, verb: str = "saved"
    ) -> None:
        self.errors = {field: list(messages) for field, messages in errors.items()}
        lines = [f"The {noun} was not {verb}: the data is invalid."]
        for field, messages in self.errors.items():
            label = "(whole object)" if field in ("__all__", "non_field_errors") else field
            lines += [f"- {label}: {message}" for message in messages]
        super().__init__("\n".join(lines))


def validation_messages(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {
            field: [str(message) for message in ValidationError(errors).messages]
            for field, errors in error.error_dict.items()
        }
    return {"__all__": [str(message) for message in error.messages]}


class ModelAdapter:
    """Schemas and writes straight from the model's fields."""

    def __init__(self, toolset: ModelToolset) -> None:
        self.toolset = toolset
        self.model = toolset.model
        self.noun = str(self.model._meta.verbose_name)
        self.exposed = self._exposed(toolset.fields)
        self.write_fields = self._write_fields(toolset.write_fields)

    # Fields -----------------------------------------------------------------

    def _exposed(self, declared: Sequence[str] | str | None) -> list[Exposed]:
        opts = self.model._meta
        if declared is None:
            raise ImproperlyConfigured(
                f"{type(self.toolset).__name__} must declare `fields` (a list of field names, "
                'or "__all__")'
            )
        if declared == "__all__":
            # Forward fields only; reverse relations must be asked for by name.
            names = [
                field.name
                for field in opts.get_fields()
                if getattr(field, "concrete", False)
                or (field.many_to_many and not field.auto_created)
                if not isinstance(field, models.BinaryField)
            ]
        else:
            names = list(declared)
        nested = dict(self.toolset.nested)
        unknown = set(nested) - set(names)
        if unknown:
            raise ImproperlyConfigured(
                f"{type(self.toolset).__name__}.nested names {sorted(unknown)}, which are not "
                "in `fields`"
            )
        exposed = []
        for name in names:
            try:
                field: ModelField = opts.get_field(name)
            except Exception:
                raise ImproperlyConfigured(
                    f"{type(self.toolset).__name__}: {self.model.__name__} has no field {name!r}"
                ) from None
            kind = classify(field)
            if kind == "foreign_key" and not getattr(field, "concrete", False):
                raise ImproperlyConfigured(
                    f"{type(self.toolset).__name__}: reverse one-to-one {name!r} is not supported"
                )
            if name in nested and not field.is_relation:
                raise ImproperlyConfigured(
                    f"{type(self.toolset).__name__}.nested: {name!r} is not a relation"
                )
            inner = tuple(nested[name]) if name in nested else None
            if inner is not None:
                related = field.related_model
                assert isinstance(related, type)
                for inner_name in inner:
                    try:
                        inner_field = related._meta.get_field(inner_name)
                    except Exception:
                        raise ImproperlyConfigured(
                            f"{type(self.toolset).__name__}.nested[{name!r}]: "
                            f"{related.__name__} has no field {inner_name!r}"
                        ) from None
                    if inner_field.is_relation and not getattr(inner_field, "concrete", False):
                        raise ImproperlyConfigured(
                            f"{type(self.toolset).__name__}.nested[{name!r}]: {inner_name!r} "
                            "is a reverse relation; only fields of the related model itself "
                            "can be nested"
                        )
            exposed.append(Exposed(name=name, field=field, kind=kind, nested=inner))
        return exposed

    def _write_fields(self, declared: Sequence[str] | None) -> list[ModelField]:
        opts = self.model._meta
        if declared is None:
            candidates = [item.field for item in self.exposed]
        else:
            candidates = []
            for name in declared:
                try:
                    candidates.append(opts.get_field(name))
                except Exception:
                    raise ImproperlyConfigured(
                        f"{type(self.toolset).__name__}.write_fields: {self.model.__name__} has "
                        f"no field {name!r}"
                    ) from None
        writable = []
        for field in candidates:
            is_writable = (
                isinstance(field, models.Field)
                and field.editable
                and not field.primary_key
                and (field.concrete or field.many_to_many)
                and not isinstance(field, models.FileField)
            )
            if is_writable:
                writable.append(field)
            elif declared is not None:
                raise ImproperlyConfigured(
                    f"{type(self.toolset).__name__}.write_fields: {field.name!r} cannot be "
                    "written (not editable, a primary key, a file or a reverse relation)"
                )
        return writable

    # Schemas ------------------------------------------------------------------

    def item_model(self, name: str) -> type[BaseModel]:
        return item_model(self.model, self.exposed, dict(self.toolset.extra_fields), name)

    def pk_argument(self) -> ArgumentSpec:
        pk = self.model._meta.pk
        assert pk is not None
        return pk_type(self.model), Field(title=title(pk), description=f"Id of the {self.noun}.")

    def write_arguments(self, *, partial: bool) -> dict[str, ArgumentSpec]:
        return {field.name: write_argument(field, partial=partial) for field in self.write_fields}

    def relations(self) -> tuple[list[str], list[str]]:
        """``select_related`` and ``prefetch_related`` paths the serialized form needs."""
        select: list[str] = []
        prefetch: list[str] = []
        for item in self.exposed:
            if item.kind == "foreign_key" and item.nested is not None:
                select.append(item.name)
                related = item.related_model
                prefetch += [
                    f"{item.name}__{inner}"
                    for inner in item.nested
                    if classify(related._meta.get_field(inner)) == "many"
                ]
            elif item.kind == "many":
                prefetch.append(item.name)
                if item.nested is not None:
                    related = item.related_model
                    prefetch += [
                        f"{item.name}__{inner}"
                        for inner in item.nested
                        if classify(related._meta.get_field(inner)) == "many"
                    ]
        return select, prefetch

    # Serialization ----------------------------------------------------------------

    def to_data(self, obj: models.Model) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for item in self.exposed:
            if item.kind == "value":
                data[item.name] = _value(obj, item.name)
            elif item.kind == "foreign_key":
                if item.nested is None:
                    data[item.name] = getattr(obj, item.attname)
                else:
                    related = getattr(obj, item.name)
                    data[item.name] = None if related is None else _nested(related, item.nested)
            else:
                rows = getattr(obj, item.name).all()
                if item.nested is None:
                    data[item.name] = [row.pk for row in rows]
                else:
                    data[item.name] = [_nested(row, item.nested) for row in rows]
        for name in self.toolset.extra_fields:
            data[name] = getattr(obj, name)
        return data

    # Writes -----------------------------------------------------------------

    def create(self, user: User, values: dict[str, Any]) -> models.Model:
        given = {name: value for name, value in values.items() if value is not UNSET}
        if self.toolset.form_class is not None:
            return self._form_save(user, None, given)
        obj = self.model()
        many = self._assign(obj, given)
        self.toolset.prepare_object(user, obj, created=True)
        self._clean(obj, many)
        self.toolset.save_object(user, obj, created=True)
        for field, ids in many.items():
            getattr(obj, field.name).set(ids)
        return obj

    def update(self, user: User, obj: models.Model, values: dict[str, Any]) -> models.Model:
        given = {name: value for name, value in values.items() if value is not UNSET}
        if self.toolset.form_class is not None:
            return self._form_save(user, obj, given)
        many = self._assign(obj, given)
        self.toolset.prepare_object(user, obj, created=False)
        self._clean(obj, many)
        self.toolset.save_object(user, obj, created=False)
        for field, ids in many.items():
            getattr(obj, field.name).set(ids)
        return obj

    def changed_fields(self, values: dict[str, Any]) -> list[str]:
        return [name for name, value in values.items() if value is not UNSET]

    def _assign(self, obj: models.Model, given: dict[str, Any]) -> dict[ModelField, list[Any]]:
        many: dict[ModelField, list[Any]] = {}
        for field in self.write_fields:
            if field.name not in given:
                continue
            value = given[field.name]
            if field.many_to_many:
                many[field] = list(dict.fromkeys(value))
            elif field.is_relation:
                setattr(obj, field.attname, value)  # type: ignore[union-attr]
            else:
                setattr(obj, field.name, value)
        return many

    def _clean(self, obj: models.Model, many: dict[ModelField, list[Any]]) -> None:
        errors: dict[str, list[str]] = {}
        try:
            obj.full_clean()
        except ValidationError as exc:
            errors = validation_messages(exc)
        for field, ids in many.items():
            related = field.related_model
            assert isinstance(related, type)
            found = set(related._default_manager.filter(pk__in=ids).values_list("pk", flat=True))
            missing = [str(pk) for pk in ids if pk not in found]
            if missing:
                noun = related._meta.verbose_name_plural
                errors.setdefault(field.name, []).append(f"No {noun} with id {', '.join(missing)}.")
        if errors:
            raise InvalidData(errors, self.noun)

    def _form_save(
        self, user: User, obj: models.Model | None, given: dict[str, Any]
    ) -> models.Model:
        form_class = self.toolset.form_class
        assert form_class is not None
        data: dict[str, Any] = {}
        if obj is not None:
            # A partial update: the form sees the stored values of what was not sent.
            data.update(model_to_dict(obj, fields=list(form_class.base_fields)))
            data = {
                name: ([item.pk for item in value] if isinstance(value, list) else value)
                for name, value in data.items()
            }
        data.update(given)
        form: ModelForm[Any] = form_class(data=data, instance=obj)
        if not form.is_valid():
            errors = {
                field: [str(error["message"]) for error in messages]
                for field, messages in form.errors.get_json_data().items()
            }
            raise InvalidData(errors, self.noun)
        instance: models.Model = form.save(commit=False)
        self.toolset.prepare_object(user, instance, created=obj is None)
        self.toolset.save_object(user, instance, created=obj is None)
        form.save_m2m()
        return instance


def _value(obj: models.Model, name: str) -> Any:
    value = getattr(obj, name)
    if isinstance(value, models.fields.files.FieldFile):
        return value.name or None
    return value


def _nested(obj: models.Model, names: Sequence[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in names:
        field = obj._meta.get_field(name)
        kind = classify(field)
        if kind == "many":
            data[name] = [row.pk for row in getattr(obj, name).all()]
        elif kind == "foreign_key":
            data[name] = getattr(obj, field.attname)  # type: ignore[union-attr]
        else:
            data[name] = _value(obj, name)
    return data
