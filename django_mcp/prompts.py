"""Prompts: message templates a user picks in the client, declared next to the tools.

::

    from django_mcp.registry import prompt

    @prompt(title="Summarise loans")
    def summarise_loans(
        genre: Book.Genre | None = None,
        overdue_only: Annotated[bool, "Only loans past their due date"] = False,
    ) -> list[PromptMessage]: ...

Parameters become the prompt's arguments: required when they have no default,
described by ``Annotated`` text or ``Field(description=...)``. Clients send
arguments as strings; they are validated and converted by the type hints
(``"30"`` becomes ``30``), and a missing or invalid one is a -32602 error.

The function returns what the messages are made of:

- a ``str`` or a content block (text, image, audio, resource link, embedded
  resource): one message from the user;
- :func:`user` / :func:`assistant` messages (``PromptMessage``), or a list
  mixing all of the above;
- a ``GetPromptResult``, as it is.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ImproperlyConfigured
from mcp_types import GetPromptResult, PromptArgument, PromptMessage
from mcp_types import Prompt as PromptDefinition

from django_mcp.completion import Completer, automatic
from django_mcp.permissions import Permission, permits
from django_mcp.protocol import content
from django_mcp.schema import Signature, analyse

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

__all__ = ["Prompt", "assistant", "build_prompt", "to_messages", "user"]

#: Prompt names follow the tool-name rules of the specification.
PROMPT_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


@dataclass
class Prompt:
    """One registered prompt."""

    name: str
    func: Callable[..., Any]
    signature: Signature
    module: str
    title: str | None = None
    description: str | None = None
    permission: Permission = None
    complete: dict[str, Completer] = field(default_factory=dict)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def allows(self, user: AbstractBaseUser | AnonymousUser) -> bool:
        """Whether ``user`` may see and get this prompt."""
        return permits(self.permission, user)

    def arguments(self) -> list[PromptArgument]:
        schema = self.signature.input_schema
        required = set(schema.get("required", []))
        return [
            PromptArgument(
                name=name,
                description=spec.get("description"),
                required=name in required,
            )
            for name, spec in schema.get("properties", {}).items()
        ]

    def completer(self, argument: str) -> Completer | None:
        if argument in self.complete:
            return self.complete[argument]
        fields = self.signature.arguments_model.model_fields
        if argument in fields:
            return automatic(fields[argument].annotation)
        return None

    def definition(self) -> PromptDefinition:
        return PromptDefinition(
            name=self.name,
            title=self.title,
            description=self.description,
            arguments=self.arguments() or None,
        )


def build_prompt(
    func: Callable[..., Any],
    *,
    context_type: type,
    name: str | None = None,
    title: str | None = None,
    description: str | None = None,
    permission: Permission = None,
    complete: Mapping[str, Completer] | None = None,
) -> Prompt:
    module = getattr(func, "__module__", "?")
    prompt_name = func.__name__ if name is None else name
    if not PROMPT_NAME_RE.match(prompt_name):
        raise ImproperlyConfigured(
            f"Invalid MCP prompt name {prompt_name!r} in {module}: names are 1 to 128 "
            "characters among A-Z, a-z, 0-9, '_', '-' and '.'."
        )
    try:
        signature = analyse(
            func, name=prompt_name, context_type=context_type, structured_output=False
        )
    except (TypeError, NameError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"MCP prompt {prompt_name!r} in {module} has a signature that cannot be "
            f"turned into arguments: {exc}"
        ) from exc
    unknown = set(complete or {}) - set(signature.input_schema.get("properties", {}))
    if unknown:
        raise ImproperlyConfigured(
            f"MCP prompt {prompt_name!r} in {module} completes {sorted(unknown)}, which "
            "are not among its arguments."
        )
    return Prompt(
        name=prompt_name,
        func=func,
        signature=signature,
        module=module,
        title=title,
        description=description or inspect.getdoc(func),
        permission=permission,
        complete=dict(complete or {}),
    )


def _message(role: Any, value: Any) -> PromptMessage:
    if isinstance(value, str):
        value = content.text(value)
    if not isinstance(value, content.CONTENT_TYPES):
        raise TypeError(f"A prompt message holds a string or a content block, not {value!r}")
    return PromptMessage(role=role, content=cast(content.ContentBlock, value))


def user(value: Any) -> PromptMessage:
    """A message from the user: a string or a content block."""
    return _message("user", value)


def assistant(value: Any) -> PromptMessage:
    """A message from the assistant: a string or a content block."""
    return _message("assistant", value)


def to_messages(value: Any) -> list[PromptMessage]:
    """The messages of what a prompt function returned."""
    items = value if isinstance(value, list | tuple) else [value]
    messages: list[PromptMessage] = []
    for item in items:
        if isinstance(item, PromptMessage):
            messages.append(item)
        elif isinstance(item, (str, *content.CONTENT_TYPES)):
            messages.append(user(item))
        else:
            raise TypeError(
                "A prompt returns strings, content blocks or PromptMessage objects, "
                f"not {type(item).__name__}"
            )
    return messages


def to_result(value: Any, description: str | None) -> GetPromptResult:
    if isinstance(value, GetPromptResult):
        return value
    return GetPromptResult(description=description, messages=to_messages(value))
