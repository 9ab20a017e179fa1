"""Resources: data a client reads by URI, declared next to the tools.

::

    from django_mcp.registry import resource

    @resource("library://catalogue", mime_type="application/json")
    async def catalogue() -> list[dict[str, object]]: ...

    @resource("library://books/{id}", mime_type="application/json")
    async def book(id: int) -> BookOut: ...

A URI with ``{variables}`` is a template (RFC 6570, see
:mod:`django_mcp.uritemplates`); its variables are the function's parameters,
validated and converted from the URI text by their type hints. What the
function returns becomes the resource contents:

- ``str``: text, ``text/plain`` unless ``mime_type`` says otherwise;
- ``bytes``: a base64 blob, ``application/octet-stream`` by default;
- anything else JSON-serializable (dicts, lists, pydantic models,
  dataclasses): JSON text, ``application/json``;
- ``TextResourceContents``/``BlobResourceContents`` (or a list): as they are.

A ``Model.DoesNotExist`` (or :class:`ResourceNotFound`) raised by the function
answers "resource not found" (-32002). Permissions work as for tools: a
resource the caller may not see is listed to nobody else and reads as not found.

Subscribed clients learn of changes through :func:`notify_updated`, which
works from any worker; :func:`watch_model` wires it to a model's signals.
"""

from __future__ import annotations

import base64
import inspect
import mimetypes
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import pydantic_core
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from mcp_types import Annotations, BlobResourceContents, ResourceTemplate, TextResourceContents
from mcp_types import Resource as ResourceDefinition

from django_mcp import broadcast
from django_mcp.completion import Completer, automatic
from django_mcp.permissions import Permission, permits
from django_mcp.protocol.jsonrpc import ResourceNotFound
from django_mcp.schema import Signature, analyse
from django_mcp.uritemplates import TemplateError, UriTemplate

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

__all__ = [
    "Resource",
    "ResourceNotFound",
    "anotify_updated",
    "build_resource",
    "notify_updated",
    "to_contents",
    "watch_model",
]

Contents = TextResourceContents | BlobResourceContents


@dataclass
class Resource:
    """One registered resource or resource template."""

    uri: str
    name: str
    func: Callable[..., Any]
    signature: Signature
    module: str
    template: UriTemplate
    title: str | None = None
    description: str | None = None
    mime_type: str | None = None
    annotations: Annotations | None = None
    permission: Permission = None
    size: int | None = None
    complete: dict[str, Completer] = field(default_factory=dict)

    @property
    def is_template(self) -> bool:
        return self.template.is_template

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def allows(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        """Whether ``user`` may see and read this resource."""
        return permits(self.permission, user)

    def match(self, uri: str) -> dict[str, str] | None:
        """The template variables of ``uri``, or ``None`` when it is not this resource."""
        if not self.is_template:
            return {} if uri == self.uri else None
        return self.template.match(uri)

    def completer(self, argument: str) -> Completer | None:
        if argument in self.complete:
            return self.complete[argument]
        fields = self.signature.arguments_model.model_fields
        if argument in fields:
            return automatic(fields[argument].annotation)
        return None

    def definition(self) -> ResourceDefinition:
        return ResourceDefinition(
            uri=self.uri,
            name=self.name,
            title=self.title,
            description=self.description,
            mime_type=self.mime_type,
            size=self.size,
            annotations=self.annotations,
        )

    def template_definition(self) -> ResourceTemplate:
        return ResourceTemplate(
            uri_template=self.uri,
            name=self.name,
            title=self.title,
            description=self.description,
            mime_type=self.mime_type,
            annotations=self.annotations,
        )


def build_resource(
    func: Callable[..., Any],
    uri: str,
    *,
    context_type: type,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    mime_type: str | None = None,
    annotations: Annotations | Mapping[str, Any] | None = None,
    permission: Permission = None,
    size: int | None = None,
    complete: Mapping[str, Completer] | None = None,
) -> Resource:
    """Check a decorated function against its URI and describe it."""
    module = getattr(func, "__module__", "?")
    label = f"MCP resource {uri!r} in {module}"
    if not isinstance(uri, str) or ":" not in uri:
        raise ImproperlyConfigured(f"{label}: a resource URI needs a scheme, e.g. 'app://name'")
    try:
        template = UriTemplate.parse(uri)
    except TemplateError as exc:
        raise ImproperlyConfigured(f"{label}: {exc}") from exc
    resource_name = name or getattr(func, "__name__", "") or uri
    try:
        signature = analyse(
            func, name=resource_name, context_type=context_type, structured_output=False
        )
    except (TypeError, NameError, ValueError) as exc:
        raise ImproperlyConfigured(f"{label} has a signature that cannot be used: {exc}") from exc
    schema = signature.input_schema
    parameters = set(schema.get("properties", {}))
    required = set(schema.get("required", []))
    variables = set(template.variables)
    if variables - parameters:
        raise ImproperlyConfigured(
            f"{label}: the function has no parameter for {sorted(variables - parameters)}"
        )
    if required - variables:
        raise ImproperlyConfigured(
            f"{label}: parameters {sorted(required - variables)} are not in the URI, "
            "so they need defaults"
        )
    unknown = set(complete or {}) - variables
    if unknown:
        raise ImproperlyConfigured(f"{label}: cannot complete {sorted(unknown)}, not in the URI")
    if isinstance(annotations, Mapping):
        annotations = Annotations.model_validate(dict(annotations))
    if mime_type is None and not template.is_template:
        mime_type = mimetypes.guess_type(uri)[0]
    return Resource(
        uri=uri,
        name=resource_name,
        func=func,
        signature=signature,
        module=module,
        template=template,
        title=title,
        description=description or inspect.getdoc(func),
        mime_type=mime_type,
        annotations=annotations,
        permission=permission,
        size=size,
        complete=dict(complete or {}),
    )


def to_contents(value: Any, uri: str, mime_type: str | None) -> list[Contents]:
    """Resource contents for what a resource function returned."""
    if isinstance(value, TextResourceContents | BlobResourceContents):
        return [value]
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(item, TextResourceContents | BlobResourceContents) for item in value)
    ):
        return list(value)
    if isinstance(value, str):
        return [TextResourceContents(uri=uri, mime_type=mime_type or "text/plain", text=value)]
    if isinstance(value, bytes | bytearray | memoryview):
        blob = base64.b64encode(bytes(value)).decode("ascii")
        return [
            BlobResourceContents(
                uri=uri, mime_type=mime_type or "application/octet-stream", blob=blob
            )
        ]
    text = pydantic_core.to_json(value, fallback=str).decode("utf-8")
    return [TextResourceContents(uri=uri, mime_type=mime_type or "application/json", text=text)]


# Change notifications -------------------------------------------------------


def notify_updated(uri: str) -> None:
    """Tell every session subscribed to ``uri``, on any worker, that it changed.

    Callable from sync code (signal receivers, views, commands) and from the
    event loop. Errors are logged, never raised.
    """
    broadcast.publish({"event": "resource_updated", "uri": uri})


async def anotify_updated(uri: str) -> None:
    """Async :func:`notify_updated` that waits until the event is published."""
    await broadcast.apublish({"event": "resource_updated", "uri": uri})


UriSource = str | Callable[[models.Model], Iterable[str] | str | None]


def _uris_for(instance: models.Model, sources: Sequence[UriSource]) -> list[str]:
    uris: list[str] = []
    for source in sources:
        if callable(source):
            produced = source(instance)
            if produced is None:
                continue
            uris.extend([produced] if isinstance(produced, str) else produced)
            continue
        template = UriTemplate.parse(source)
        values = {name: getattr(instance, name, None) for name in template.variables}
        if any(value is None for value in values.values()):
            continue
        uris.append(template.expand(**values))
    return uris


def watch_model(
    model: type[models.Model],
    *uris: UriSource,
    on_save: bool = True,
    on_delete: bool = True,
) -> Callable[[], None]:
    """Notify subscribers of ``uris`` whenever a ``model`` instance is saved or deleted.

    Each URI is a template filled from the instance's attributes
    (``"library://books/{id}"``, ``"library://books/{book_id}"`` for a model
    with a ``book`` foreign key) or a function of the instance returning URIs.
    Notifications go out after the transaction commits. Call it from
    ``AppConfig.ready()`` or an ``mcp_tools`` module; it returns a function that
    disconnects the receivers.
    """
    if not uris:
        raise ImproperlyConfigured(f"watch_model({model.__name__}) needs at least one URI")
    for source in uris:
        if isinstance(source, str):
            try:
                template = UriTemplate.parse(source)
            except TemplateError as exc:
                raise ImproperlyConfigured(f"watch_model({model.__name__}): {exc}") from exc
            missing = [name for name in template.variables if not hasattr(model, name)]
            if missing:
                raise ImproperlyConfigured(
                    f"watch_model({model.__name__}, {source!r}): the model has no "
                    f"attribute {', '.join(missing)}"
                )
    sources = tuple(uris)

    def changed(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
        if kwargs.get("raw"):
            return
        for uri in _uris_for(instance, sources):
            transaction.on_commit(partial(notify_updated, uri), using=kwargs.get("using"))

    uid = f"django_mcp.watch_model:{model._meta.label}:{sources!r}"
    if on_save:
        post_save.connect(changed, sender=model, weak=False, dispatch_uid=uid)
    if on_delete:
        post_delete.connect(changed, sender=model, weak=False, dispatch_uid=uid)

    def disconnect() -> None:
        post_save.disconnect(sender=model, dispatch_uid=uid)
        post_delete.disconnect(sender=model, dispatch_uid=uid)

    return disconnect
