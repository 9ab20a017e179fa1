"""The registry of tools, and the ``@tool`` decorator that fills it.

``mcp_tools.py`` modules of installed apps register into the default
:data:`registry` when :func:`autodiscover` runs (from ``AppConfig.ready()``).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, overload

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules
from mcp_types import Annotations, ToolAnnotations
from mcp_types import Tool as ToolDefinition

from django_mcp.completion import Completer
from django_mcp.prompts import Prompt, build_prompt
from django_mcp.protocol.context import Context
from django_mcp.resources import Resource, build_resource
from django_mcp.schema import Signature, analyse

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from django_mcp.security.scopes import ToolScopes

    User = AbstractBaseUser | AnonymousUser

F = TypeVar("F", bound=Callable[..., Any])

#: Tool names allowed by the MCP specification (2025-11-25, "Tool names").
TOOL_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")

Permission = str | Sequence[str] | Callable[["User"], bool] | None


@dataclass
class Tool:
    """One registered tool: the function, its schemas and its metadata."""

    name: str
    func: Callable[..., Any]
    signature: Signature
    module: str
    title: str | None = None
    description: str | None = None
    annotations: ToolAnnotations | None = None
    permission: Permission = None
    #: Only staff users (``is_staff``), or only superusers, may see and call it.
    staff_only: bool = False
    superuser_only: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
    #: Whether the tool-call log keeps this tool's arguments at all.
    log_arguments: bool = True
    #: Arguments the tool-call log masks.
    redact: tuple[str, ...] = ()

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def allows(self, user: User, scopes: ToolScopes | None = None) -> bool:
        """Whether ``user`` may see and call this tool (through a credential limited
        to ``scopes``, when given)."""
        if scopes is not None and not scopes.permits(self):
            return False
        if self.superuser_only and not getattr(user, "is_superuser", False):
            return False
        if self.staff_only and not getattr(user, "is_staff", False):
            return False
        check = self.permission
        if check is None:
            return True
        if callable(check):
            return bool(check(user))
        perms = [check] if isinstance(check, str) else list(check)
        has_perms = getattr(user, "has_perms", None)
        return has_perms is not None and bool(has_perms(perms))

    def definition(self) -> ToolDefinition:
        return ToolDefinition(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.signature.input_schema,
            output_schema=self.signature.output_schema,
            annotations=self.annotations,
        )


class Registry:
    """Tools by name. Sites may build their own; most use :data:`registry`."""

    def __init__(self) -> None:
        self._registry: dict[str, Tool] = {}
        #: Resources and resource templates by URI (template) string.
        self._resources: dict[str, Resource] = {}
        self._prompts: dict[str, Prompt] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._registry

    def add(self, tool: Tool) -> Tool:
        if not TOOL_NAME_RE.match(tool.name):
            raise ImproperlyConfigured(
                f"Invalid MCP tool name {tool.name!r} in {tool.module}: names are 1 to 128 "
                "characters among A-Z, a-z, 0-9, '_', '-' and '.'."
            )
        existing = self._registry.get(tool.name)
        if existing is not None:
            raise ImproperlyConfigured(
                f"MCP tool {tool.name!r} in {tool.module} is already registered by "
                f"{existing.module}. Give one of them another name with @tool(name=...)."
            )
        self._registry[tool.name] = tool
        return tool

    def remove(self, name: str) -> None:
        self._registry.pop(name, None)

    def get(self, name: str) -> Tool | None:
        return self._registry.get(name)

    def tools(self) -> Iterable[Tool]:
        return self._registry.values()

    def tools_for(self, user: User, scopes: ToolScopes | None = None) -> list[Tool]:
        return [tool for tool in self._registry.values() if tool.allows(user, scopes)]

    @property
    def has_callable_checks(self) -> bool:
        """Whether some tool's permission is a function, which may query the database."""
        return any(callable(tool.permission) for tool in self._registry.values())

    def clear(self) -> None:
        self._registry.clear()
        self._resources.clear()
        self._prompts.clear()

    @overload
    def tool(self, func: F, /) -> F: ...

    @overload
    def tool(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | dict[str, Any] | None = None,
        read_only: bool | None = None,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool | None = None,
        permission: Permission = None,
        staff_only: bool = False,
        superuser_only: bool = False,
        structured_output: bool | None = None,
        log_arguments: bool = True,
        redact: Sequence[str] = (),
    ) -> Callable[[F], F]: ...

    def tool(
        self,
        func: F | None = None,
        /,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        annotations: ToolAnnotations | dict[str, Any] | None = None,
        read_only: bool | None = None,
        destructive: bool | None = None,
        idempotent: bool | None = None,
        open_world: bool | None = None,
        permission: Permission = None,
        staff_only: bool = False,
        superuser_only: bool = False,
        structured_output: bool | None = None,
        log_arguments: bool = True,
        redact: Sequence[str] = (),
    ) -> F | Callable[[F], F]:
        """Register a function as an MCP tool. Works bare (``@tool``) or with arguments.

        ``permission`` (a permission name, a list of them, or a function of the
        user), ``staff_only`` and ``superuser_only`` decide who may see and call
        it; everyone else gets the same "Unknown tool" as for a missing one.

        ``log_arguments=False`` keeps the tool's arguments out of the tool-call
        log; ``redact=["password"]`` masks the named arguments there.
        """

        def register(function: F) -> F:
            tool_name = function.__name__ if name is None else name
            module = getattr(function, "__module__", "?")
            try:
                signature = analyse(
                    function,
                    name=tool_name,
                    context_type=Context,
                    structured_output=structured_output,
                )
            except (TypeError, NameError, ValueError) as exc:
                raise ImproperlyConfigured(
                    f"MCP tool {tool_name!r} in {module} has a signature that cannot be "
                    f"turned into a JSON Schema: {exc}"
                ) from exc
            redacted = (redact,) if isinstance(redact, str) else tuple(redact)
            unknown = set(redacted) - set(signature.input_schema.get("properties", {}))
            if unknown:
                raise ImproperlyConfigured(
                    f"MCP tool {tool_name!r} in {module} redacts {sorted(unknown)}, which "
                    "are not among its arguments."
                )
            self.add(
                Tool(
                    name=tool_name,
                    func=function,
                    signature=signature,
                    module=module,
                    title=title,
                    description=description or inspect.getdoc(function),
                    annotations=_annotations(
                        annotations, read_only, destructive, idempotent, open_world
                    ),
                    permission=permission,
                    staff_only=staff_only,
                    superuser_only=superuser_only,
                    log_arguments=log_arguments,
                    redact=redacted,
                )
            )
            return function

        if func is not None:
            return register(func)
        return register

    # Resources, prompts and change notifications (django_mcp.resources,
    # django_mcp.prompts) ------------------------------------------------

    def resource(
        self,
        uri: str,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
        annotations: Annotations | dict[str, Any] | None = None,
        permission: Permission = None,
        size: int | None = None,
        complete: dict[str, Completer] | None = None,
    ) -> Callable[[F], F]:
        """Register a function as the resource at ``uri``, or a template if it has ``{vars}``."""

        def register(function: F) -> F:
            self.add_resource(
                build_resource(
                    function,
                    uri,
                    context_type=Context,
                    name=name,
                    title=title,
                    description=description,
                    mime_type=mime_type,
                    annotations=annotations,
                    permission=permission,
                    size=size,
                    complete=complete,
                )
            )
            return function

        return register

    def add_resource(self, resource: Resource) -> Resource:
        existing = self._resources.get(resource.uri)
        if existing is not None:
            raise ImproperlyConfigured(
                f"MCP resource {resource.uri!r} in {resource.module} is already registered "
                f"by {existing.module}."
            )
        self._resources[resource.uri] = resource
        return resource

    def remove_resource(self, uri: str) -> None:
        self._resources.pop(uri, None)

    def resources(self) -> list[Resource]:
        """Fixed-URI resources, in registration order."""
        return [item for item in self._resources.values() if not item.is_template]

    def resource_templates(self) -> list[Resource]:
        return [item for item in self._resources.values() if item.is_template]

    def find_resource(self, uri: str) -> tuple[Resource, dict[str, str]] | None:
        """The resource serving ``uri`` and its template variables: exact URIs first."""
        exact = self._resources.get(uri)
        if exact is not None and not exact.is_template:
            return exact, {}
        for item in self.resource_templates():
            variables = item.match(uri)
            if variables is not None:
                return item, variables
        return None

    def get_resource_template(self, uri_template: str) -> Resource | None:
        item = self._resources.get(uri_template)
        return item if item is not None and item.is_template else None

    @overload
    def prompt(self, func: F, /) -> F: ...

    @overload
    def prompt(
        self,
        func: None = None,
        /,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        permission: Permission = None,
        complete: dict[str, Completer] | None = None,
    ) -> Callable[[F], F]: ...

    def prompt(
        self,
        func: F | None = None,
        /,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        permission: Permission = None,
        complete: dict[str, Completer] | None = None,
    ) -> F | Callable[[F], F]:
        """Register a function as an MCP prompt. Works bare (``@prompt``) or with arguments."""

        def register(function: F) -> F:
            self.add_prompt(
                build_prompt(
                    function,
                    context_type=Context,
                    name=name,
                    title=title,
                    description=description,
                    permission=permission,
                    complete=complete,
                )
            )
            return function

        if func is not None:
            return register(func)
        return register

    def add_prompt(self, prompt: Prompt) -> Prompt:
        existing = self._prompts.get(prompt.name)
        if existing is not None:
            raise ImproperlyConfigured(
                f"MCP prompt {prompt.name!r} in {prompt.module} is already registered by "
                f"{existing.module}. Give one of them another name with @prompt(name=...)."
            )
        self._prompts[prompt.name] = prompt
        return prompt

    def remove_prompt(self, name: str) -> None:
        self._prompts.pop(name, None)

    def get_prompt(self, name: str) -> Prompt | None:
        return self._prompts.get(name)

    def prompts(self) -> list[Prompt]:
        return list(self._prompts.values())

    def notify_list_changed(self, kind: str = "tools", *, user: Any = None) -> None:
        """Send ``notifications/<kind>/list_changed`` to live sessions on every worker.

        Call it when what a ``tools/list`` (or ``resources/list``,
        ``prompts/list``) would show has changed at runtime: a tool added or
        removed, a user given a permission. ``user`` (a user or its pk) limits
        it to that user's sessions. Callable from sync and async code.
        """
        from django_mcp import broadcast
        from django_mcp.protocol.live import LIST_NAMES

        if kind not in LIST_NAMES:
            raise ValueError(f"kind must be one of {', '.join(LIST_NAMES)}, not {kind!r}")
        pk = getattr(user, "pk", user)
        broadcast.publish(
            {"event": "list_changed", "list": kind, "user": None if pk is None else str(pk)}
        )


def _annotations(
    given: ToolAnnotations | dict[str, Any] | None,
    read_only: bool | None,
    destructive: bool | None,
    idempotent: bool | None,
    open_world: bool | None,
) -> ToolAnnotations | None:
    if isinstance(given, dict):
        given = ToolAnnotations.model_validate(given)
    hints = {
        "read_only_hint": read_only,
        "destructive_hint": destructive,
        "idempotent_hint": idempotent,
        "open_world_hint": open_world,
    }
    chosen = {key: value for key, value in hints.items() if value is not None}
    if given is None and not chosen:
        return None
    base = given or ToolAnnotations()
    return base.model_copy(update=chosen)


#: The default registry, filled from ``mcp_tools.py`` modules.
registry = Registry()
tool = registry.tool
resource = registry.resource
prompt = registry.prompt
notify_list_changed = registry.notify_list_changed

AsyncTool = Callable[..., Awaitable[Any]]


def autodiscover() -> None:
    """Import the ``mcp_tools`` module of every installed app, as the admin does."""
    autodiscover_modules("mcp_tools", register_to=registry)
