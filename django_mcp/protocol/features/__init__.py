"""MCP methods beyond tools: resources, prompts, completion and logging.

:func:`install` adds them to a :class:`~django_mcp.protocol.handlers.Handlers`
method table and returns the :class:`Features` the handlers consult for
capabilities and when a session initializes.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from mcp_types import (
    CompletionsCapability,
    LoggingCapability,
    PromptsCapability,
    ResourcesCapability,
)

from django_mcp.protocol.features.completion import CompletionMethods
from django_mcp.protocol.features.logging import set_level
from django_mcp.protocol.features.prompts import PromptMethods
from django_mcp.protocol.features.resources import ResourceMethods
from django_mcp.protocol.live import live_sessions

if TYPE_CHECKING:
    from django_mcp.protocol.handlers import Handlers
    from django_mcp.protocol.session import ServerSession


class Features:
    def __init__(self, handlers: Handlers) -> None:
        self.handlers = handlers
        self.resources = ResourceMethods(handlers)
        self.prompts = PromptMethods(handlers)
        self.completion = CompletionMethods(handlers)
        self._listening: set[asyncio.Task[None]] = set()

    def methods(self) -> dict[str, Any]:
        return {
            "resources/list": self.resources.list,
            "resources/templates/list": self.resources.templates_list,
            "resources/read": self.resources.read,
            "resources/subscribe": self.resources.subscribe,
            "resources/unsubscribe": self.resources.unsubscribe,
            "prompts/list": self.prompts.list,
            "prompts/get": self.prompts.get,
            "completion/complete": self.completion.complete,
            "logging/setLevel": set_level,
        }

    def capabilities(self) -> dict[str, Any]:
        """Server capabilities for what the registry holds, exactly as implemented.

        ``listChanged`` is true because ``registry.notify_list_changed()``
        sends the notifications; ``subscribe`` because updates reach
        subscribers through ``django_mcp.resources.notify_updated()``.
        """
        registry = self.handlers.registry
        templates = registry.resource_templates()
        prompts = registry.prompts()
        found: dict[str, Any] = {"logging": LoggingCapability()}
        if templates or registry.resources():
            found["resources"] = ResourcesCapability(subscribe=True, list_changed=True)
        if prompts:
            found["prompts"] = PromptsCapability(list_changed=True)
        if prompts or templates:
            found["completions"] = CompletionsCapability()
        return found

    def on_initialize(self, session: ServerSession) -> None:
        """Make the session reachable by notifications from any worker."""
        live_sessions.add(session)
        # Joining the relay's group can take a round trip to Redis: do it in
        # the background so initialize is not delayed (subscribe waits for it).
        task = asyncio.ensure_future(live_sessions.listen())
        self._listening.add(task)
        task.add_done_callback(self._listening.discard)


def install(handlers: Handlers) -> Features:
    features = Features(handlers)
    handlers.methods.update(features.methods())
    return features
