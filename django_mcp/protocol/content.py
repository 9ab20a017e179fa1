"""Turning what a tool returns into MCP content blocks."""

from __future__ import annotations

import base64
import json
from typing import Any

from mcp_types import (
    AudioContent,
    BlobResourceContents,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError, to_jsonable_python

ContentBlock = TextContent | ImageContent | AudioContent | ResourceLink | EmbeddedResource
CONTENT_TYPES: tuple[type[BaseModel], ...] = (
    TextContent,
    ImageContent,
    AudioContent,
    ResourceLink,
    EmbeddedResource,
)


def text(value: str) -> TextContent:
    return TextContent(type="text", text=value)


def to_content(value: Any) -> list[ContentBlock]:
    """Content blocks for a tool's unstructured return value."""
    if value is None:
        return []
    if isinstance(value, CONTENT_TYPES):
        return [value]  # type: ignore[list-item]
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(item, CONTENT_TYPES) for item in value)
    ):
        return list(value)
    if isinstance(value, str):
        return [text(value)]
    return [text(json.dumps(value, default=_jsonable, ensure_ascii=False))]


def _jsonable(value: Any) -> Any:
    # Models, dataclasses, dates and the like as their JSON form, not their repr;
    # anything pydantic cannot serialize falls back to its string.
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError:
        return str(value)


# Builders for the other content types -------------------------------------


def image(data: bytes, mime_type: str) -> ImageContent:
    """An image block from raw bytes (base64-encoded here), e.g. ``"image/png"``."""
    return ImageContent(
        type="image", data=base64.b64encode(data).decode("ascii"), mime_type=mime_type
    )


def audio(data: bytes, mime_type: str) -> AudioContent:
    """An audio block from raw bytes (base64-encoded here), e.g. ``"audio/wav"``."""
    return AudioContent(
        type="audio", data=base64.b64encode(data).decode("ascii"), mime_type=mime_type
    )


def resource_link(
    uri: str,
    name: str,
    *,
    title: str | None = None,
    description: str | None = None,
    mime_type: str | None = None,
) -> ResourceLink:
    """A link to a resource the client may read (or subscribe to) later."""
    return ResourceLink(
        type="resource_link",
        uri=uri,
        name=name,
        title=title,
        description=description,
        mime_type=mime_type,
    )


def embedded(uri: str, value: str | bytes, *, mime_type: str | None = None) -> EmbeddedResource:
    """A resource's contents inside the message: text for ``str``, a blob for ``bytes``."""
    resource: TextResourceContents | BlobResourceContents
    if isinstance(value, str):
        resource = TextResourceContents(uri=uri, mime_type=mime_type or "text/plain", text=value)
    else:
        resource = BlobResourceContents(
            uri=uri,
            mime_type=mime_type or "application/octet-stream",
            blob=base64.b64encode(value).decode("ascii"),
        )
    return EmbeddedResource(type="resource", resource=resource)
