"""Suggestions for prompt arguments and resource-template variables.

A prompt or a resource template declares, per argument, where suggestions come
from (``complete={"genre": ..., "author": ...}``). A completer is one of:

- a list of strings, or an ``Enum``/``TextChoices`` class: the values that start
  with what the user typed (case-insensitive);
- :func:`model_values`: the distinct values of a model field, from the database;
- a function ``(value)`` or ``(value, arguments)``, sync or async, returning
  strings (or a ``mcp_types.Completion``). ``arguments`` holds the values the
  user already chose for the other arguments.

Arguments annotated with an ``Enum``, a ``Literal`` of strings or ``bool`` get a
completer automatically. At most 100 values are returned, as the
specification requires, with ``hasMore`` when there were more.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.db.models import Model, QuerySet
from mcp_types import Completion

#: The most values one ``completion/complete`` answer may hold.
MAX_VALUES = 100

Completer = Sequence[str] | type[enum.Enum] | Callable[..., Any]


class ModelValues:
    """Distinct values of one model field that match what the user typed."""

    def __init__(
        self, source: type[Model] | QuerySet[Any], field: str, *, lookup: str = "istartswith"
    ) -> None:
        self.source = source
        self.field = field
        self.lookup = lookup

    def __repr__(self) -> str:
        return f"model_values({self.source!r}, {self.field!r}, lookup={self.lookup!r})"

    def queryset(self) -> QuerySet[Any]:
        if isinstance(self.source, QuerySet):
            return self.source.all()
        return self.source._default_manager.all()

    def __call__(self, value: str) -> Completion:
        rows = self.queryset()
        if value:
            rows = rows.filter(**{f"{self.field}__{self.lookup}": value})
        found = list(
            rows.order_by(self.field)
            .values_list(self.field, flat=True)
            .distinct()[: MAX_VALUES + 1]
        )
        values = [str(item) for item in found if item is not None]
        return Completion(values=values[:MAX_VALUES], has_more=len(values) > MAX_VALUES)


def model_values(
    source: type[Model] | QuerySet[Any], field: str, *, lookup: str = "istartswith"
) -> ModelValues:
    """Complete from the distinct values of ``field`` in a model or queryset.

    ``lookup`` is the Django lookup applied to what the user typed
    (``"istartswith"`` by default, ``"icontains"`` for a looser match). Pass a
    queryset to restrict the rows that may be suggested.
    """
    return ModelValues(source, field, lookup=lookup)


def automatic(annotation: Any) -> Completer | None:
    """The completer an argument's type implies, if any."""
    if get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        options = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(options) != 1:
            return None
        annotation = options[0]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    if get_origin(annotation) is Literal:
        return [str(value) for value in get_args(annotation)]
    if annotation is bool:
        return ["true", "false"]
    return None


def _prefix_matches(candidates: Iterable[Any], value: str) -> list[str]:
    typed = value.casefold()
    return [str(item) for item in candidates if str(item).casefold().startswith(typed)]


def _positional_arity(func: Callable[..., Any]) -> int:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return 2
    arity = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return 2
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            arity += 1
    return arity


def _call_sync(func: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    close_old_connections()
    try:
        return func(*args)
    finally:
        close_old_connections()


async def complete(completer: Completer, value: str, arguments: Mapping[str, str]) -> Completion:
    """Run ``completer`` for ``value``; the answer holds at most 100 values."""
    if isinstance(completer, type) and issubclass(completer, enum.Enum):
        found: Any = _prefix_matches((member.value for member in completer), value)
    elif isinstance(completer, Sequence) and not isinstance(completer, str):
        found = _prefix_matches(completer, value)
    elif callable(completer):
        args: tuple[Any, ...] = (value, dict(arguments))
        args = args[: max(1, min(2, _positional_arity(completer)))]
        if inspect.iscoroutinefunction(completer):
            found = await completer(*args)
        else:
            found = await sync_to_async(_call_sync, thread_sensitive=False)(completer, args)
            if inspect.isawaitable(found):
                found = await found
    else:
        raise TypeError(f"Not a completer: {completer!r}")
    if isinstance(found, Completion):
        values = found.values[:MAX_VALUES]
        more = bool(found.has_more) or len(found.values) > MAX_VALUES
        return Completion(values=values, total=found.total, has_more=more)
    unique = list(dict.fromkeys(str(item) for item in found))
    return Completion(
        values=unique[:MAX_VALUES], total=len(unique), has_more=len(unique) > MAX_VALUES
    )
