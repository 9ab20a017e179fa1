"""JSON Schema from Python type hints, through pydantic.

A tool's parameters become a pydantic model (validation and ``inputSchema``);
its return annotation decides the ``outputSchema`` and ``structuredContent``.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, is_dataclass
from typing import Annotated, Any, get_args, get_origin

import typing_extensions
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model

#: Return annotations that produce plain text, never ``structuredContent``.
UNSTRUCTURED = (str, type(None), inspect.Signature.empty)


@dataclass(frozen=True, slots=True)
class Signature:
    """What the registry learns from one function's signature."""

    arguments_model: type[BaseModel]
    context_parameter: str | None
    input_schema: dict[str, Any]
    output_adapter: TypeAdapter[Any] | None
    output_schema: dict[str, Any] | None
    wrap_output: bool


def _with_descriptions(annotation: Any) -> Any:
    """Let ``Annotated[int, "text"]`` describe a parameter, as ``Field(description=...)`` does."""
    if get_origin(annotation) is not Annotated:
        return annotation
    base, *metadata = get_args(annotation)
    converted = [Field(description=item) if isinstance(item, str) else item for item in metadata]
    return Annotated[(base, *converted)]


def _is_context(annotation: Any, context_type: type) -> bool:
    """``Context``, a subclass, or ``Context | None``."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    candidates = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    return all(isinstance(c, type) and issubclass(c, context_type) for c in candidates)


def _is_structured(annotation: Any) -> bool:
    origin = get_origin(annotation) or annotation
    if isinstance(origin, type) and issubclass(origin, BaseModel):
        return True
    if is_dataclass(origin) and isinstance(origin, type):
        return True
    return typing_extensions.is_typeddict(origin) or origin is dict


def analyse(
    func: Callable[..., Any], *, name: str, context_type: type, structured_output: bool | None
) -> Signature:
    """Build the argument model and the schemas of ``func``."""
    hints = typing.get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    context_parameter: str | None = None
    for parameter in inspect.signature(func).parameters.values():
        annotation = hints.get(parameter.name, Any)
        if _is_context(annotation, context_type):
            context_parameter = parameter.name
            continue
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"*{parameter.name} parameters cannot be described by a JSON Schema")
        default: Any = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (_with_descriptions(annotation), default)
    model_name = "".join(part.title() for part in name.replace("-", "_").split("_")) + "Arguments"
    arguments_model = create_model(
        model_name,
        __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
        **fields,
    )
    input_schema = arguments_model.model_json_schema()
    input_schema.pop("title", None)
    input_schema.setdefault("properties", {})

    returns = hints.get("return", inspect.Signature.empty)
    if get_origin(returns) is Annotated:
        returns = get_args(returns)[0]
    output_adapter: TypeAdapter[Any] | None = None
    output_schema: dict[str, Any] | None = None
    wrap = False
    wants_structured = (
        structured_output if structured_output is not None else returns not in UNSTRUCTURED
    )
    if wants_structured and returns not in UNSTRUCTURED and not _is_content(returns):
        output_adapter = TypeAdapter(returns)
        if _is_structured(returns):
            output_schema = output_adapter.json_schema(mode="serialization")
            if output_schema.get("type") != "object":
                wrap = True
        else:
            wrap = True
        if wrap:
            inner = output_adapter.json_schema(mode="serialization")
            output_schema = {
                "type": "object",
                "properties": {"result": inner},
                "required": ["result"],
            }
            defs = inner.pop("$defs", None)
            if defs:
                output_schema["$defs"] = defs
        assert output_schema is not None
        output_schema.pop("title", None)
    return Signature(
        arguments_model=arguments_model,
        context_parameter=context_parameter,
        input_schema=input_schema,
        output_adapter=output_adapter,
        output_schema=output_schema,
        wrap_output=wrap,
    )


def _is_content(annotation: Any) -> bool:
    """Return annotations that are MCP content blocks, or a whole ``CallToolResult``,
    are passed through as they are."""
    from mcp_types import CallToolResult

    from django_mcp.protocol.content import CONTENT_TYPES

    if annotation is CallToolResult:
        return True
    candidates = get_args(annotation) or (annotation,)
    if get_origin(annotation) is list:
        candidates = get_args(get_args(annotation)[0]) or get_args(annotation)
    return bool(candidates) and all(
        isinstance(item, type) and issubclass(item, CONTENT_TYPES) for item in candidates
    )


def model_signature(
    arguments_model: type[BaseModel],
    *,
    output_model: type[BaseModel] | None = None,
    context_parameter: str | None = None,
) -> Signature:
    """A signature from a ready pydantic arguments model, for generated tools.

    The tool is called with one keyword argument per field of ``arguments_model``
    (plus ``context_parameter`` when given); ``output_model`` gives its
    ``outputSchema`` and validates what it returns into ``structuredContent``.
    """
    input_schema = arguments_model.model_json_schema()
    input_schema.pop("title", None)
    input_schema.setdefault("properties", {})
    output_adapter: TypeAdapter[Any] | None = None
    output_schema: dict[str, Any] | None = None
    if output_model is not None:
        output_adapter = TypeAdapter(output_model)
        output_schema = output_adapter.json_schema(mode="serialization")
        output_schema.pop("title", None)
    return Signature(
        arguments_model=arguments_model,
        context_parameter=context_parameter,
        input_schema=input_schema,
        output_adapter=output_adapter,
        output_schema=output_schema,
        wrap_output=False,
    )
