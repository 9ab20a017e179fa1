"""``ModelToolset``: a model's search, get, create, update and delete tools, declared.

A toolset is to MCP what a ``ModelAdmin`` is to the admin: a class of
declarations and hooks, registered once, that generates the tools::

    @register_toolset
    class BookTools(ModelToolset):
        model = Book
        fields = ["id", "title", "author", "genre", "published"]
        filters = {"genre": ["exact", "in"], "published": ["gte", "lte"]}
        search_fields = ["title", "author__name"]
        ordering_fields = ["title", "published"]
        actions = ["search", "get", "create", "update"]

The generated tools are ordinary :class:`django_mcp.registry.Tool` objects.
Their functions are synchronous: the protocol core runs each call in a worker
thread, so the ORM, transactions and hooks are plain Django code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

from django.apps import apps
from django.contrib.auth import get_permission_codename
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist
from django.db import models, router, transaction
from django.db.models import Prefetch, ProtectedError, RestrictedError
from django.utils.text import capfirst
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field, create_model

from django_mcp.exceptions import ToolError
from django_mcp.orm import querying
from django_mcp.orm.adapters import ModelAdapter
from django_mcp.orm.schema import UNSET, arguments_model
from django_mcp.registry import Permission, Registry, Tool
from django_mcp.schema import model_signature

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
    from django.forms import ModelForm

    User = AbstractBaseUser | AnonymousUser

T = TypeVar("T", bound="type[ModelToolset]")

ACTIONS = ("search", "get", "create", "update", "delete")
#: The Django model permission that gates each action by default.
ACTION_PERMISSIONS = {
    "search": "view",
    "get": "view",
    "create": "add",
    "update": "change",
    "delete": "delete",
}
#: Keyword under which the core passes the :class:`Context`; no field name can clash
#: with it, since pydantic field names never start with an underscore.
CONTEXT = "_context"
_RESERVED_SEARCH_ARGUMENTS = ("query", "order_by", "cursor", "limit")


class ModelToolset:
    """Declarations and hooks for the MCP tools of one model. Subclass it.

    Only ``model`` and ``fields`` are required; everything else has a safe
    default (read-only tools, no filters, no search, ordering by the model's
    default ordering).
    """

    #: The model the tools read and write.
    model: ClassVar[type[models.Model]]
    #: Field names in results, or ``"__all__"`` for every forward field.
    fields: ClassVar[Sequence[str] | str | None] = None
    #: Relations shown as nested objects instead of ids: ``{"author": ["id", "name"]}``.
    nested: ClassVar[Mapping[str, Sequence[str]]] = {}
    #: Extra result keys read from attributes, e.g. annotations added in ``get_queryset``:
    #: ``{"available": int}``.
    extra_fields: ClassVar[Mapping[str, Any]] = {}
    #: Fields that create and update may set (default: the editable ones among ``fields``).
    write_fields: ClassVar[Sequence[str] | None] = None
    #: Which tools to generate, among ``search``, ``get``, ``create``, ``update``, ``delete``.
    actions: ClassVar[Sequence[str]] = ("search", "get")
    #: Start of the tool names (default: the model's plural verbose name, as a slug).
    tool_prefix: ClassVar[str | None] = None
    #: Filter arguments: ``{"genre": ["exact", "in"]}``, or ``["genre"]`` for exact matches.
    filters: ClassVar[Mapping[str, Sequence[str]] | Sequence[str]] = ()
    #: A django-filter ``FilterSet`` whose filters become the arguments (instead of ``filters``).
    filterset_class: ClassVar[type[Any] | None] = None
    #: Fields the ``query`` argument searches, with the admin's ``^`` and ``=`` prefixes.
    search_fields: ClassVar[Sequence[str]] = ()
    #: Field paths a client may order by (each also descending with a leading ``-``).
    ordering_fields: ClassVar[Sequence[str]] = ()
    #: Default ordering (default: the model's ``Meta.ordering``, then the primary key).
    ordering: ClassVar[Sequence[str] | None] = None
    #: Added to every queryset, for related objects a hook or ``extra_fields`` needs.
    select_related: ClassVar[Sequence[str]] = ()
    prefetch_related: ClassVar[Sequence[str | Prefetch[Any]]] = ()
    #: Results per page by default, and the most a client may ask for.
    page_size: ClassVar[int] = 20
    max_page_size: ClassVar[int] = 100
    #: Per action, who may see and call the tool (see ``@tool(permission=...)``);
    #: actions not named here need the Django model permission.
    permissions: ClassVar[Mapping[str, Permission]] = {}
    #: Validate writes with this ``ModelForm`` instead of the model's ``full_clean()``.
    form_class: ClassVar[type[ModelForm[Any]] | None] = None
    #: Record writes in the admin's ``LogEntry`` (the object's admin history).
    log_entries: ClassVar[bool] = False
    #: Per action, a description replacing the generated one.
    descriptions: ClassVar[Mapping[str, str]] = {}

    def __init__(self) -> None:
        if not isinstance(getattr(type(self), "model", None), type) or not issubclass(
            self.model, models.Model
        ):
            raise ImproperlyConfigured(f"{type(self).__name__} must set `model` to a Django model")
        unknown = set(self.actions) - set(ACTIONS)
        if unknown:
            raise ImproperlyConfigured(
                f"{type(self).__name__}.actions: unknown {sorted(unknown)}; choose among "
                f"{', '.join(ACTIONS)}"
            )
        if self.log_entries and not apps.is_installed("django.contrib.admin"):
            raise ImproperlyConfigured(
                f"{type(self).__name__}.log_entries needs django.contrib.admin installed"
            )
        self.opts = self.model._meta
        self.noun = str(self.opts.verbose_name)
        self.plural = str(self.opts.verbose_name_plural)
        self.a_noun = ("an " if self.noun[:1].lower() in "aeiou" else "a ") + self.noun
        self.prefix = self.tool_prefix or re.sub(r"[^A-Za-z0-9]+", "_", self.plural).lower()
        self.adapter = self.build_adapter()
        select, prefetch = self.adapter.relations()
        self._select = select + [path for path in self.select_related if path not in select]
        self._prefetch: list[str | Prefetch[Any]] = [*prefetch]
        self._prefetch += [path for path in self.prefetch_related if path not in prefetch]
        self._setup_querying()

    def build_adapter(self) -> ModelAdapter:
        """What describes, validates and serializes instances (a DRF toolset swaps it)."""
        return ModelAdapter(self)

    # Hooks ------------------------------------------------------------------

    def get_queryset(self, user: User) -> models.QuerySet[Any]:
        """The rows ``user`` may see and change. Override to scope per user."""
        return self.model._default_manager.all()

    def has_object_permission(self, user: User, obj: models.Model, action: str) -> bool:
        """Object-level check for ``get``, ``update`` and ``delete``."""
        return True

    def prepare_object(self, user: User, obj: models.Model, *, created: bool) -> None:
        """Set what the client may not, before validation (``created`` on create)."""

    def save_object(self, user: User, obj: models.Model, *, created: bool) -> None:
        obj.save()

    def delete_object(self, user: User, obj: models.Model) -> None:
        obj.delete()

    # Tools -------------------------------------------------------------------

    def tools(self) -> list[Tool]:
        builders: dict[str, Callable[[], Tool]] = {
            "search": self._search_tool,
            "get": self._get_tool,
            "create": self._create_tool,
            "update": self._update_tool,
            "delete": self._delete_tool,
        }
        return [builders[action]() for action in ACTIONS if action in self.actions]

    def register(self, registry: Registry | None = None) -> None:
        if registry is None:
            from django_mcp.registry import registry as default_registry

            registry = default_registry
        for generated in self.tools():
            registry.add(generated)

    def tool_name(self, action: str) -> str:
        return f"{self.prefix}_{action}"

    def permission(self, action: str) -> Permission:
        if action in self.permissions:
            return self.permissions[action]
        codename = get_permission_codename(ACTION_PERMISSIONS[action], self.opts)
        return f"{self.opts.app_label}.{codename}"

    def _tool(
        self,
        action: str,
        func: Callable[..., Any],
        arguments: dict[str, Any],
        output: type[BaseModel],
        *,
        title: str,
        description: str,
        annotations: ToolAnnotations,
    ) -> Tool:
        name = self.tool_name(action)
        model_name = "".join(part.title() for part in name.split("_")) + "Arguments"
        return Tool(
            name=name,
            func=func,
            signature=model_signature(
                arguments_model(model_name, arguments),
                output_model=output,
                context_parameter=CONTEXT,
            ),
            module=type(self).__module__,
            title=title,
            description=self.descriptions.get(action, description),
            annotations=annotations,
            permission=self.permission(action),
        )

    # Reading ------------------------------------------------------------------

    def _setup_querying(self) -> None:
        name = type(self).__name__
        self.filter_arguments: list[querying.Filter] = []
        self.filterset: Any = None
        if self.filterset_class is not None:
            if self.filters:
                raise ImproperlyConfigured(f"{name}: set `filters` or `filterset_class`, not both")
            from django_mcp.orm.filtersets import FilterSetArguments

            self.filterset = FilterSetArguments(self.filterset_class, self.model)
        else:
            self.filter_arguments = querying.declared_filters(self.model, self.filters)
        self.search = (
            querying.Search.declare(self.model, self.search_fields) if self.search_fields else None
        )
        default: list[Any] = list(self.ordering or self.opts.ordering or [])
        if not all(isinstance(item, str) for item in default):
            raise ImproperlyConfigured(
                f"{name}: the default ordering must be field names; set `ordering` on the toolset"
            )
        self.default_ordering = querying.Ordering(self.model, default)
        self.orderings = {
            choice: querying.Ordering(self.model, [choice])
            for choice in querying.ordering_choices(self.ordering_fields)
        }
        names = [item.argument for item in self.filter_arguments]
        if self.filterset is not None:
            names += list(self.filterset.arguments)
        clashes = sorted(set(names) & set(_RESERVED_SEARCH_ARGUMENTS))
        if clashes:
            raise ImproperlyConfigured(
                f"{name}: filter arguments {clashes} clash with the search tool's own arguments"
            )
        if not 1 <= self.page_size <= self.max_page_size:
            raise ImproperlyConfigured(f"{name}: page_size must be between 1 and max_page_size")
        self.multivalued = bool(
            any(item.path.multivalued for item in self.filter_arguments)
            or (self.search is not None and self.search.multivalued)
            or (self.filterset is not None and self.filterset.multivalued)
        )

    def queryset(self, user: User) -> models.QuerySet[Any]:
        """``get_queryset(user)`` with the related objects the results need."""
        queryset = self.get_queryset(user)
        if self._select:
            queryset = queryset.select_related(*self._select)
        if self._prefetch:
            queryset = queryset.prefetch_related(*self._prefetch)
        return queryset

    def filter_queryset(
        self, queryset: models.QuerySet[Any], arguments: dict[str, Any]
    ) -> models.QuerySet[Any]:
        for item in self.filter_arguments:
            value = arguments.get(item.argument)
            if value is not None:
                queryset = item.apply(queryset, value)
        if self.filterset is not None:
            queryset = self.filterset.apply(queryset, arguments)
        text = arguments.get("query")
        if self.search is not None and text:
            queryset = self.search.apply(queryset, text)
        if self.multivalued:
            queryset = queryset.distinct()
        return queryset

    def _search_tool(self) -> Tool:
        item = self.adapter.item_model(self.model.__name__)
        output = create_model(
            f"{self.model.__name__}Page",
            results=(
                list[item],  # type: ignore[valid-type]
                Field(description=f"The {self.plural} of this page."),
            ),
            next_cursor=(
                str | None,
                Field(description="Pass as `cursor` to get the next page; null on the last page."),
            ),
        )
        arguments: dict[str, Any] = {}
        if self.search is not None:
            arguments["query"] = (
                str | None,
                Field(
                    default=None,
                    max_length=querying.MAX_SEARCH_LENGTH,
                    description=self.search.description(self.plural),
                ),
            )
        for argument in self.filter_arguments:
            arguments[argument.argument] = argument.schema(self.plural)
        if self.filterset is not None:
            arguments.update(self.filterset.arguments)
        if self.orderings:
            arguments["order_by"] = querying.ordering_argument(
                list(self.orderings), self.default_ordering.names
            )
        arguments["cursor"] = (
            str | None,
            Field(default=None, description="The `next_cursor` of the previous page."),
        )
        arguments["limit"] = (
            int,
            Field(
                default=self.page_size,
                ge=1,
                le=self.max_page_size,
                description=f"Most {self.plural} to return.",
            ),
        )

        def search(**kwargs: Any) -> dict[str, Any]:
            user = kwargs.pop(CONTEXT).user
            queryset = self.filter_queryset(self.queryset(user), kwargs)
            order_by = kwargs.get("order_by")
            ordering = self.orderings[order_by] if order_by else self.default_ordering
            page = ordering.page(queryset, kwargs.get("cursor"), kwargs["limit"])
            return {
                "results": [self.adapter.to_data(obj) for obj in page.items],
                "next_cursor": page.next_cursor,
            }

        return self._tool(
            "search",
            search,
            arguments,
            output,
            title=f"Search {self.plural}",
            description=self._search_description(),
            annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        )

    def _search_description(self) -> str:
        parts = [f"List {self.plural}, a page at a time."]
        if self.search is not None:
            parts.append(f"`query` matches words in their {self.search.fields}.")
        filters = [item.argument for item in self.filter_arguments]
        if self.filterset is not None:
            filters += list(self.filterset.arguments)
        if filters:
            parts.append(f"Filters: {', '.join(filters)}.")
        if self.orderings:
            parts.append(f"Order with `order_by` ({', '.join(self.ordering_fields)}).")
        parts.append("When `next_cursor` is not null, pass it as `cursor` for the next page.")
        return " ".join(parts)

    def _get_tool(self) -> Tool:
        pk_name = self.pk_argument_name

        def get(**kwargs: Any) -> dict[str, Any]:
            user = kwargs[CONTEXT].user
            obj = self.get_object(user, kwargs[pk_name], "get")
            return self.adapter.to_data(obj)

        return self._tool(
            "get",
            get,
            {pk_name: self.adapter.pk_argument()},
            self.adapter.item_model(self.model.__name__),
            title=f"Get {self.a_noun}",
            description=f"One {self.noun} by id.",
            annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        )

    @property
    def pk_argument_name(self) -> str:
        pk = self.opts.pk
        assert pk is not None
        return pk.name

    def get_object(self, user: User, pk: Any, action: str) -> models.Model:
        """The object ``pk`` as ``user`` sees it, or a tool error that says it is not there."""
        try:
            obj: models.Model = self.queryset(user).get(pk=pk)
        except ObjectDoesNotExist:
            raise ToolError(f"No {self.noun} with id {pk}.") from None
        self.check_object(user, obj, action)
        return obj

    def check_object(self, user: User, obj: models.Model, action: str) -> None:
        if not self.has_object_permission(user, obj, action):
            raise ToolError(f"Permission denied: you may not {action} this {self.noun}.")

    # Writing ------------------------------------------------------------------

    def _atomic(self) -> transaction.Atomic:
        return transaction.atomic(using=router.db_for_write(self.model))

    def _lock(self, user: User, pk: Any, action: str) -> models.Model:
        """Lock the row ``pk`` if ``user`` may see it, for the rest of the transaction."""
        visible = self.get_queryset(user).filter(pk=pk).values("pk")
        try:
            obj: models.Model = self.model._default_manager.select_for_update().get(pk__in=visible)
        except ObjectDoesNotExist:
            raise ToolError(f"No {self.noun} with id {pk}.") from None
        self.check_object(user, obj, action)
        return obj

    def _reload(self, user: User, obj: models.Model) -> dict[str, Any]:
        try:
            fresh = self.queryset(user).get(pk=obj.pk)
        except ObjectDoesNotExist:
            raise ToolError(
                f"The {self.noun} would not be visible to you after this change, so nothing "
                "was saved."
            ) from None
        return self.adapter.to_data(fresh)

    def _create_tool(self) -> Tool:
        def create(**kwargs: Any) -> dict[str, Any]:
            user = kwargs.pop(CONTEXT).user
            with self._atomic():
                obj = self.adapter.create(user, kwargs)
                data = self._reload(user, obj)
                self.log(user, obj, "added", [])
            return data

        return self._tool(
            "create",
            create,
            self.adapter.write_arguments(partial=False),
            self.adapter.item_model(self.model.__name__),
            title=f"Create {self.a_noun}",
            description=(
                f"Create {self.a_noun} and return it. Invalid data is refused with a message "
                "naming each field and its problem."
            ),
            annotations=ToolAnnotations(
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=False,
            ),
        )

    def _update_tool(self) -> Tool:
        pk_name = self.pk_argument_name
        arguments = {pk_name: self.adapter.pk_argument()}
        arguments.update(self.adapter.write_arguments(partial=True))

        def update(**kwargs: Any) -> dict[str, Any]:
            user = kwargs.pop(CONTEXT).user
            pk = kwargs.pop(pk_name)
            with self._atomic():
                obj = self._lock(user, pk, "update")
                obj = self.adapter.update(user, obj, kwargs)
                data = self._reload(user, obj)
                self.log(user, obj, "changed", self.adapter.changed_fields(kwargs))
            return data

        return self._tool(
            "update",
            update,
            arguments,
            self.adapter.item_model(self.model.__name__),
            title=f"Update {self.a_noun}",
            description=(
                f"Change {self.a_noun}: give its id and only the fields to change. Returns the "
                "updated object. Invalid data is refused with a message naming each field."
            ),
            annotations=ToolAnnotations(
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        )

    def _delete_tool(self) -> Tool:
        pk_name = self.pk_argument_name
        pk_annotation, _ = self.adapter.pk_argument()
        output = create_model(
            f"{self.model.__name__}Deleted",
            id=(pk_annotation, Field(description=f"Id of the deleted {self.noun}.")),
            deleted=(bool, Field(description="Always true: the object is gone.")),
        )

        def delete(**kwargs: Any) -> dict[str, Any]:
            user = kwargs[CONTEXT].user
            pk = kwargs[pk_name]
            with self._atomic():
                obj = self._lock(user, pk, "delete")
                self.log(user, obj, "deleted", [])
                try:
                    self.delete_object(user, obj)
                except (ProtectedError, RestrictedError) as exc:
                    raise ToolError(_still_used(self.noun, pk, exc)) from None
            return {"id": pk, "deleted": True}

        return self._tool(
            "delete",
            delete,
            {pk_name: self.adapter.pk_argument()},
            output,
            title=f"Delete {self.a_noun}",
            description=f"Delete {self.a_noun} by id. This cannot be undone.",
            annotations=ToolAnnotations(
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        )

    def log(self, user: User, obj: models.Model, action: str, fields: Sequence[str]) -> None:
        """Record the write in the admin's history of ``obj`` when ``log_entries`` is on."""
        if not self.log_entries or user.pk is None:
            return
        from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry

        flags = {"added": ADDITION, "changed": CHANGE, "deleted": DELETION}
        message: list[dict[str, Any]] = []
        if action == "added":
            message = [{"added": {}}]
        elif action == "changed" and fields:
            labels = [
                str(capfirst(getattr(self.opts.get_field(name), "verbose_name", name)))
                for name in fields
            ]
            message = [{"changed": {"fields": labels}}]
        LogEntry.objects.log_actions(
            user_id=user.pk,
            queryset=[obj],
            action_flag=flags[action],
            change_message=json.dumps(message) if message else "",
            single_object=True,
        )


def _still_used(noun: str, pk: Any, exc: ProtectedError | RestrictedError) -> str:
    counts: dict[str, int] = {}
    blocking = exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
    for obj in blocking:
        label = str(obj._meta.verbose_name_plural)
        counts[label] = counts.get(label, 0) + 1
    used = ", ".join(f"{count} {label}" for label, count in sorted(counts.items()))
    return f"Cannot delete {noun} {pk}: it is still referenced by {used}."


@overload
def register_toolset(toolset_class: T, /) -> T: ...


@overload
def register_toolset(
    toolset_class: None = None, /, *, registry: Registry | None = None
) -> Callable[[T], T]: ...


def register_toolset(
    toolset_class: T | None = None, /, *, registry: Registry | None = None
) -> T | Callable[[T], T]:
    """Register a toolset's tools, like ``@admin.register`` does a ``ModelAdmin``.

    Bare (``@register_toolset``) it fills the default registry; pass
    ``registry=`` to fill another. The toolset is instantiated once.
    """

    def register(cls: T) -> T:
        if not (isinstance(cls, type) and issubclass(cls, ModelToolset)):
            raise ImproperlyConfigured(f"{cls!r} is not a ModelToolset subclass")
        cls().register(registry)
        return cls

    if toolset_class is not None:
        return register(toolset_class)
    return register


__all__ = ["UNSET", "ModelToolset", "register_toolset"]
