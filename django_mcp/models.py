"""API tokens and the record of MCP sessions."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

#: Raw tokens start with this, so secret scanners and humans recognise them.
TOKEN_PREFIX = "mcp_"
#: ``last_used_at`` is written at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def digest(raw: str) -> str:
    """The stored form of a raw token: its SHA-256, hex encoded."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def active(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token for MCP clients. Only a digest of the secret is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="mcp_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)
    digest = models.CharField(_("digest"), max_length=64, unique=True, editable=False)
    prefix = models.CharField(
        _("prefix"),
        max_length=12,
        editable=False,
        help_text=_("The first characters of the token, to recognise it."),
    )
    scopes = models.JSONField(
        _("scopes"),
        default=list,
        blank=True,
        help_text=_("Tool names or scope labels this token is limited to; empty means all."),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects: ClassVar[ApiTokenQuerySet] = ApiTokenQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name or 'token'} ({self.prefix}…)"

    @classmethod
    def create(cls, user: Any, name: str = "", **fields: Any) -> tuple[ApiToken, str]:
        """Create a token for ``user``; return it with the raw secret (shown once)."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user, name=name, digest=digest(raw), prefix=raw[:12], **fields
        )
        return token, raw

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (
            self.expires_at is None or self.expires_at > timezone.now()
        )

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def touch(self) -> None:
        """Record use, at most once per :data:`LAST_USED_RESOLUTION`."""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


class McpSession(models.Model):
    """The record of one MCP session, live or closed."""

    class Transport(models.TextChoices):
        SSE = "sse", _("HTTP+SSE")
        STREAMABLE_HTTP = "streamable-http", _("Streamable HTTP")

    class CloseReason(models.TextChoices):
        CLIENT_DISCONNECT = "client-disconnect", _("client disconnected")
        TERMINATED = "terminated", _("terminated by admin")
        SERVER_SHUTDOWN = "server-shutdown", _("server shutdown")
        IDLE_TIMEOUT = "idle-timeout", _("idle timeout")
        WORKER_LOST = "worker-lost", _("worker lost")

    id = models.CharField(_("session id"), max_length=64, primary_key=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="mcp_sessions",
        verbose_name=_("user"),
    )
    token = models.ForeignKey(
        ApiToken,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name=_("API token"),
    )
    transport = models.CharField(
        _("transport"), max_length=20, choices=Transport.choices, default=Transport.SSE
    )
    protocol_version = models.CharField(_("protocol version"), max_length=20, blank=True)
    client_name = models.CharField(_("client name"), max_length=200, blank=True)
    client_version = models.CharField(_("client version"), max_length=100, blank=True)
    client_capabilities = models.JSONField(_("client capabilities"), default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(_("remote address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    channel_name = models.CharField(
        _("channel name"),
        max_length=200,
        blank=True,
        help_text=_("Channel-layer address of the worker that holds the stream."),
    )
    opened_at = models.DateTimeField(_("opened"), default=timezone.now, db_index=True)
    last_active_at = models.DateTimeField(_("last active"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, db_index=True)
    close_reason = models.CharField(
        _("close reason"), max_length=20, choices=CloseReason.choices, blank=True
    )
    request_count = models.PositiveIntegerField(_("requests"), default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    worker = models.CharField(
        _("worker"),
        max_length=100,
        blank=True,
        db_index=True,
        help_text=_("The worker process that holds the stream."),
    )
    heartbeat_at = models.DateTimeField(
        _("worker heartbeat"),
        null=True,
        blank=True,
        help_text=_(
            "Refreshed periodically while the worker holding the stream is alive; a live "
            "session whose heartbeat is too old lost its worker."
        ),
    )

    class Meta:
        verbose_name = _("MCP session")
        verbose_name_plural = _("MCP sessions")
        ordering = ("-opened_at",)
        indexes = [
            # The open-sessions limit counts a user's live rows at every stream
            # open: from this index alone, however many closed rows there are.
            models.Index(
                fields=["user"],
                condition=models.Q(closed_at__isnull=True),
                name="django_mcp_live_by_user",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client_name or 'MCP client'} · {self.id[:8]}…"

    @property
    def is_live(self) -> bool:
        return self.closed_at is None


class ToolCall(models.Model):
    """One ``tools/call``: who called which tool, with what, and how it went."""

    class Outcome(models.TextChoices):
        OK = "ok", _("ok")
        TOOL_ERROR = "tool-error", _("tool error")
        PROTOCOL_ERROR = "protocol-error", _("protocol error")
        CANCELLED = "cancelled", _("cancelled")

    # No database constraint: rows are written in batches off the stream, and a
    # session deleted by the retention cleanup leaves its calls behind.
    session = models.ForeignKey(
        McpSession,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="tool_calls",
        verbose_name=_("session"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_constraint=False,
        related_name="mcp_tool_calls",
        verbose_name=_("user"),
    )
    tool = models.CharField(_("tool"), max_length=128, db_index=True)
    arguments = models.JSONField(
        _("arguments"),
        null=True,
        blank=True,
        help_text=_("As received, with the fields the tool asked to redact masked."),
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    duration_ms = models.FloatField(_("duration (ms)"), default=0.0)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices)
    error = models.TextField(_("error message"), blank=True)

    class Meta:
        verbose_name = _("tool call")
        verbose_name_plural = _("tool calls")
        ordering = ("-started_at",)
        indexes = [models.Index(fields=["session", "-started_at"], name="django_mcp_call_session")]

    def __str__(self) -> str:
        return f"{self.tool} · {self.get_outcome_display()}"
