"""A DRF serializer as the source of a toolset's schemas, validation and results.

``SerializerToolset`` keeps the querying of :class:`ModelToolset` (``get_queryset``,
filters, search, ordering, cursors) and hands the rest to the serializer:

- results are ``serializer(obj).data``; their schema is read from the serializer's
  readable fields;
- create and update arguments are its writable fields; ``is_valid()`` validates
  them (update is ``partial=True``) and ``save()`` writes, inside the transaction;
- ``permission_classes`` are DRF permission classes, asked with a request whose
  ``user`` is the caller and whose method matches the action (GET, POST, PATCH,
  DELETE), and a view whose ``action`` is ``list``, ``retrieve``, ``create``,
  ``partial_update`` or ``destroy``.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.http import HttpRequest
from pydantic import BaseModel, Field, create_model
from rest_framework import fields as drf_fields
from rest_framework import relations, serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from django_mcp.orm.adapters import ArgumentSpec, InvalidData, ModelAdapter
from django_mcp.orm.schema import UNSET, _unset, pk_type
from django_mcp.orm.toolsets import ModelToolset

if TYPE_CHECKING:
    from django_mcp.orm.toolsets import User
    from django_mcp.registry import Permission

METHODS = {"search": "GET", "get": "GET", "create": "POST", "update": "PATCH", "delete": "DELETE"}
VIEW_ACTIONS = {
    "search": "list",
    "get": "retrieve",
    "create": "create",
    "update": "partial_update",
    "delete": "destroy",
}


class ToolView:
    """What DRF permission classes read from a view."""

    def __init__(self, toolset: SerializerToolset, user: User, action: str) -> None:
        self.toolset = toolset
        self.action = VIEW_ACTIONS[action]
        self.request = drf_request(user, action)
        self.kwargs: dict[str, Any] = {}
        self.user = user

    def get_queryset(self) -> models.QuerySet[Any]:
        return self.toolset.get_queryset(self.user)


def drf_request(user: User, action: str) -> Request:
    http = HttpRequest()
    http.method = METHODS[action]
    request = Request(http)
    request.user = user  # type: ignore[assignment]
    return request


def field_type(field: drf_fields.Field[Any, Any, Any, Any], name: str) -> Any:
    """The Python type of a serializer field's data."""
    if isinstance(field, relations.ManyRelatedField):
        return list[field_type(field.child_relation, name)]  # type: ignore[misc]
    if isinstance(field, serializers.ListSerializer):
        return list[field_type(field.child, name)]  # type: ignore[arg-type, misc]
    if isinstance(field, serializers.Serializer):
        return serializer_model(field, f"{name.title().replace('_', '')}")
    if isinstance(field, relations.PrimaryKeyRelatedField):
        queryset = getattr(field, "queryset", None)
        return pk_type(queryset.model) if queryset is not None else int | str
    if isinstance(field, relations.RelatedField):
        return str
    if isinstance(field, drf_fields.BooleanField):
        return bool
    if isinstance(field, drf_fields.MultipleChoiceField):
        return list[Literal[tuple(field.choices)]]  # type: ignore[misc]
    if isinstance(field, drf_fields.ChoiceField):
        return Literal[tuple(field.choices)] if field.choices else str
    if isinstance(field, drf_fields.IntegerField):
        return int
    if isinstance(field, drf_fields.FloatField):
        return float
    if isinstance(field, drf_fields.DecimalField):
        return decimal.Decimal
    if isinstance(field, drf_fields.DateTimeField):
        return datetime.datetime
    if isinstance(field, drf_fields.DateField):
        return datetime.date
    if isinstance(field, drf_fields.TimeField):
        return datetime.time
    if isinstance(field, drf_fields.UUIDField):
        return uuid.UUID
    if isinstance(field, drf_fields.ListField):
        return list[field_type(field.child, name)]  # type: ignore[misc]
    if isinstance(field, drf_fields.CharField):
        return str
    return Any


def _constraints(field: drf_fields.Field[Any, Any, Any, Any]) -> dict[str, Any]:
    constraints: dict[str, Any] = {}
    for source, target in (
        ("max_length", "max_length"),
        ("min_length", "min_length"),
        ("max_value", "le"),
        ("min_value", "ge"),
    ):
        value = getattr(field, source, None)
        if value is not None and not isinstance(field, drf_fields.DecimalField | float):
            constraints[target] = value
    if field.label:
        constraints["title"] = str(field.label)
    if field.help_text:
        constraints["description"] = str(field.help_text)
    return constraints


def serializer_model(serializer: serializers.Serializer[Any], name: str) -> type[BaseModel]:
    """The model of what ``serializer.data`` holds (its readable fields)."""
    fields: dict[str, Any] = {}
    for field_name, field in serializer.fields.items():
        if field.write_only:
            continue
        annotation = field_type(field, field_name)
        if field.allow_null:
            annotation = annotation | None
        constraints = {
            key: value
            for key, value in _constraints(field).items()
            if key in ("title", "description", "max_length")
        }
        fields[field_name] = (annotation, Field(**constraints))
    return create_model(name, **fields)


class SerializerAdapter(ModelAdapter):
    """Schemas, validation and results from the toolset's ``serializer_class``."""

    toolset: SerializerToolset

    def __init__(self, toolset: ModelToolset) -> None:
        assert isinstance(toolset, SerializerToolset)
        self.toolset = toolset
        self.model = toolset.model
        self.noun = str(self.model._meta.verbose_name)
        self.exposed = []
        self.write_fields = []
        serializer_class = getattr(toolset, "serializer_class", None)
        if not (
            isinstance(serializer_class, type)
            and issubclass(serializer_class, serializers.Serializer)
        ):
            raise ImproperlyConfigured(
                f"{type(toolset).__name__} must set `serializer_class` to a DRF serializer"
            )
        self.serializer_class = serializer_class
        self.fields = serializer_class().fields

    def item_model(self, name: str) -> type[BaseModel]:
        return serializer_model(self.serializer_class(), name)

    def write_arguments(self, *, partial: bool) -> dict[str, ArgumentSpec]:
        arguments: dict[str, ArgumentSpec] = {}
        for name, field in self.fields.items():
            if field.read_only or isinstance(field, drf_fields.HiddenField):
                continue
            annotation = field_type(field, name)
            if field.allow_null:
                annotation = annotation | None
            constraints = _constraints(field)
            if field.required and not partial:
                arguments[name] = (annotation, Field(**constraints))
            else:
                arguments[name] = (annotation, Field(default_factory=_unset, **constraints))
        return arguments

    def relations(self) -> tuple[list[str], list[str]]:
        # A serializer's needs are not introspectable: declare ``select_related``
        # and ``prefetch_related`` on the toolset.
        return [], []

    def context(self, user: User, action: str) -> dict[str, Any]:
        view = ToolView(self.toolset, user, action)
        return {"request": view.request, "view": view}

    def to_data(self, obj: models.Model, user: User | None = None) -> dict[str, Any]:
        context = self.context(user, "get") if user is not None else {}
        return dict(self.serializer_class(obj, context=context).data)

    def create(self, user: User, values: dict[str, Any]) -> models.Model:
        return self._save(user, None, values)

    def update(self, user: User, obj: models.Model, values: dict[str, Any]) -> models.Model:
        return self._save(user, obj, values)

    def _save(self, user: User, obj: models.Model | None, values: dict[str, Any]) -> models.Model:
        given = {name: value for name, value in values.items() if value is not UNSET}
        action = "create" if obj is None else "update"
        serializer = self.serializer_class(
            instance=obj,
            data=given,
            partial=obj is not None,
            context=self.context(user, action),
        )
        if not serializer.is_valid():
            raise InvalidData(flatten(serializer.errors), self.noun)
        saved: models.Model = self.toolset.perform_save(serializer, user, created=obj is None)
        return saved


def flatten(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as ``{"field.sub": [messages]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten(value, name).items():
                flat.setdefault(field, []).extend(messages)
    elif isinstance(errors, list | tuple) and errors and not isinstance(errors[0], str):
        for index, value in enumerate(errors):
            if value:
                flat.update(flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        items = errors if isinstance(errors, list | tuple) else [errors]
        flat[prefix or "non_field_errors"] = [str(item) for item in items]
    return flat


class SerializerToolset(ModelToolset):
    """A toolset whose schemas, validation and results come from a DRF serializer."""

    #: The ``ModelSerializer`` (or ``Serializer`` with ``create``/``update``) to use.
    serializer_class: ClassVar[type[serializers.Serializer[Any]]]
    #: DRF permission classes, checked in addition to ``permissions``.
    permission_classes: ClassVar[Sequence[type[BasePermission]]] = ()
    fields = "__serializer__"

    def build_adapter(self) -> ModelAdapter:
        return SerializerAdapter(self)

    def perform_save(
        self, serializer: serializers.BaseSerializer[Any], user: User, *, created: bool
    ) -> models.Model:
        """Save a valid serializer; override to pass extra attributes, like ``owner=user``."""
        saved: models.Model = serializer.save()
        return saved

    def permission(self, action: str) -> Permission:
        base = super().permission(action)
        if not self.permission_classes:
            return base
        checks = list(self.permission_classes)

        def allowed(user: User) -> bool:
            if base is not None:
                if callable(base):
                    if not base(user):
                        return False
                else:
                    perms = [base] if isinstance(base, str) else list(base)
                    has_perms = getattr(user, "has_perms", None)
                    if has_perms is None or not has_perms(perms):
                        return False
            view = ToolView(self, user, action)
            return all(check().has_permission(view.request, view) for check in checks)  # type: ignore[arg-type]

        return allowed

    def has_object_permission(self, user: User, obj: models.Model, action: str) -> bool:
        view = ToolView(self, user, action)
        return all(
            check().has_object_permission(view.request, view, obj)  # type: ignore[arg-type]
            for check in self.permission_classes
        )
