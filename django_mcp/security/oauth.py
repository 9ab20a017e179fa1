"""OAuth 2.1 resource-server support (MCP authorization, 2025-06-18 and later).

The MCP server is a *resource server*: it accepts access tokens that an
authorization server issued (django-oauth-toolkit on the same site, or any
other) through whatever DRF authentication class validates them. What it adds
here is discovery:

- the Protected Resource Metadata document (RFC 9728), served by
  :func:`protected_resource_metadata` at ``/.well-known/oauth-protected-resource``
  (mount ``django_mcp.well_known``), names the authorization servers
  (``DJANGO_MCP["AUTHORIZATION_SERVERS"]``) and the scopes they issue;
- every 401 of the MCP endpoints carries
  ``WWW-Authenticate: Bearer resource_metadata="<absolute URL of that document>"``
  (:func:`with_resource_metadata`), which is how MCP clients find it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, reverse

from django_mcp.conf import mcp_settings

#: URL name of the metadata document (``django_mcp.well_known`` is its namespace).
METADATA_URL_NAME = "django_mcp_well_known:oauth-protected-resource"

_CORS_HEADERS = {
    # A public document that browser-based MCP clients fetch cross-origin.
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, OPTIONS",
    "Access-Control-Allow-Headers": "*",
}


def resource_url(request: HttpRequest) -> str:
    """The canonical URI of this MCP server: ``RESOURCE_URL``, else ``<origin>/<prefix>``."""
    configured = mcp_settings.RESOURCE_URL
    if configured:
        return configured
    return request.build_absolute_uri("/" + mcp_settings.URL_PREFIX)


def metadata_url(request: Any) -> str | None:
    """The absolute URL of the metadata document, or None when it is not mounted."""
    try:
        path = reverse(METADATA_URL_NAME)
    except NoReverseMatch:
        return None
    configured = mcp_settings.RESOURCE_URL
    if configured:
        parts = urlsplit(configured)
        return f"{parts.scheme}://{parts.netloc}{path}"
    try:
        return str(request.build_absolute_uri(path))
    except DisallowedHost:
        return None


def with_resource_metadata(challenge: str, request: Any) -> str:
    """``challenge`` (a ``WWW-Authenticate`` value) with the RFC 9728 parameters added."""
    url = metadata_url(request)
    if url is None:
        return challenge
    params = [f'resource_metadata="{url}"']
    if mcp_settings.SCOPES_SUPPORTED:
        params.append('scope="{}"'.format(" ".join(mcp_settings.SCOPES_SUPPORTED)))
    extra = ", ".join(params)
    head = challenge.strip()
    if head.lower() == "bearer":
        return f"Bearer {extra}"
    if head.lower().startswith("bearer "):
        return f"{head}, {extra}"
    # Another scheme (Basic, a custom one): add a Bearer challenge beside it.
    return f"{head}, Bearer {extra}" if head else f"Bearer {extra}"


def metadata(request: HttpRequest) -> dict[str, Any]:
    """The Protected Resource Metadata document (RFC 9728, section 2)."""
    document: dict[str, Any] = {
        "resource": resource_url(request),
        "bearer_methods_supported": ["header"],
        "resource_name": mcp_settings.SERVER_NAME,
    }
    if mcp_settings.AUTHORIZATION_SERVERS:
        document["authorization_servers"] = mcp_settings.AUTHORIZATION_SERVERS
    if mcp_settings.SCOPES_SUPPORTED:
        document["scopes_supported"] = mcp_settings.SCOPES_SUPPORTED
    if mcp_settings.RESOURCE_DOCUMENTATION:
        document["resource_documentation"] = mcp_settings.RESOURCE_DOCUMENTATION
    return document


def protected_resource_metadata(request: HttpRequest, resource_path: str = "") -> HttpResponse:
    """``GET /.well-known/oauth-protected-resource[/<resource path>]``: no authentication."""
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
    elif request.method not in ("GET", "HEAD"):
        response = JsonResponse({"error": "Method not allowed: use GET."}, status=405)
        response["Allow"] = "GET, HEAD, OPTIONS"
    elif resource_path and not _names_this_resource(request, resource_path):
        response = JsonResponse(
            {"error": f"No protected resource at /{resource_path}."}, status=404
        )
    else:
        response = JsonResponse(metadata(request))
        response["Cache-Control"] = "public, max-age=300"
    for name, value in _CORS_HEADERS.items():
        response[name] = value
    return response


def _names_this_resource(request: HttpRequest, resource_path: str) -> bool:
    """Whether a path-suffixed metadata URL (RFC 9728, section 3.1) is about this server:
    its suffix is the resource's path or lies under it (clients append the path of
    the URL they were given, such as ``/mcp/sse``)."""
    base = urlsplit(resource_url(request)).path.strip("/")
    suffix = resource_path.strip("/")
    return not base or suffix == base or suffix.startswith(base + "/")
