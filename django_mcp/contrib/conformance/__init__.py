"""The fixtures of the official MCP conformance suite (``@modelcontextprotocol/conformance``).

Add ``"django_mcp.contrib.conformance"`` to ``INSTALLED_APPS`` (after
``django_mcp``) to expose the tools, resources and prompts the suite expects by
name: ``test_simple_text``, ``test_tool_with_progress``, ``test://static-text``,
``test_prompt_with_arguments`` and the rest. Never enable it on a real site: its
tools are open to every authenticated user.
"""

from __future__ import annotations
