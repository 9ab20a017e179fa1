"""Admin pages for API tokens and MCP sessions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from django_mcp import store
from django_mcp.conf import mcp_settings
from django_mcp.models import TOKEN_PREFIX as _PREFIX
from django_mcp.models import ApiToken, McpSession, ToolCall, digest
from django_mcp.security import tokens


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Create, find and revoke API tokens; the raw value shows once, after creation."""

    form = tokens.ApiTokenForm
    list_display = (
        "name",
        "user",
        "prefix",
        "scope_list",
        "created_at",
        "last_used_at",
        "expires_at",
        "status",
    )
    list_filter = (tokens.TokenStatusFilter, "created_at", "expires_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username", "user__email")
    raw_id_fields = ("user",)
    date_hierarchy = "created_at"
    actions = ("revoke",)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        if obj is None:
            return ("user", "name", "scopes", "expires_at")
        return (
            "user",
            "name",
            "prefix",
            "scopes",
            "expires_at",
            "created_at",
            "last_used_at",
            "revoked_at",
        )

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> Any:
        if obj is None:
            return ()
        # A token never changes hands, and a revoked token stays revoked.
        return ("user", "prefix", "created_at", "last_used_at", "revoked_at")

    @admin.display(description=_("status"))
    def status(self, obj: ApiToken) -> str:
        return tokens.status(obj)

    @admin.display(description=_("scopes"))
    def scope_list(self, obj: ApiToken) -> str:
        return ", ".join(str(scope) for scope in obj.scopes) or str(_("all tools"))

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if not change:
            import secrets

            raw = _PREFIX + secrets.token_urlsafe(32)
            obj.digest = digest(raw)
            obj.prefix = raw[:12]
            super().save_model(request, obj, form, change)
            messages.warning(
                request,
                _("The new token is %(raw)s — copy it now, it will not be shown again.")
                % {"raw": raw},
            )
            return
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Revoke selected tokens"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        # One save per token, so each token's open streams end on every worker.
        count = tokens.revoke(queryset.filter(revoked_at__isnull=True))
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": count})


class SessionStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            ("live", _("live")),
            ("stale", _("live, worker silent")),
            ("closed", _("closed")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "live":
            return queryset.filter(closed_at__isnull=True)
        if value == "stale":
            return queryset.filter(pk__in=store.stale_sessions().values("pk"))
        if value == "closed":
            return queryset.filter(closed_at__isnull=False)
        return queryset


class ReadOnlyMixin:
    """Every field read-only: these rows are written by the server, not by hand."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        model = self.model  # type: ignore[attr-defined]
        extra = getattr(self, "extra_readonly_fields", ())
        return [*(field.name for field in model._meta.fields), *extra]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _username_lookup() -> str:
    return f"user__{get_user_model().USERNAME_FIELD}"


@admin.register(McpSession)
class McpSessionAdmin(ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "short_id",
        "user",
        "client",
        "protocol_version",
        "transport",
        "state",
        "opened_at",
        "last_active_at",
        "request_count",
        "error_count",
        "calls",
    )
    list_filter = (
        SessionStateFilter,
        "transport",
        "protocol_version",
        ("user", admin.RelatedOnlyFieldListFilter),
        "close_reason",
    )
    list_select_related = ("user",)
    date_hierarchy = "opened_at"
    actions = ("terminate_sessions",)
    extra_readonly_fields = ("state", "recent_tool_calls")
    fieldsets = (
        (None, {"fields": ("id", "state", "user", "token")}),
        (
            _("Client"),
            {
                "fields": (
                    "client_name",
                    "client_version",
                    "protocol_version",
                    "transport",
                    "client_capabilities",
                    "remote_addr",
                    "user_agent",
                )
            },
        ),
        (
            _("Activity"),
            {
                "fields": (
                    "opened_at",
                    "last_active_at",
                    "closed_at",
                    "close_reason",
                    "request_count",
                    "error_count",
                )
            },
        ),
        (_("Worker"), {"fields": ("worker", "heartbeat_at", "channel_name")}),
        (_("Recent tool calls"), {"fields": ("recent_tool_calls",)}),
    )

    #: Rows shown in the change page's recent tool calls.
    recent_calls = 20

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return ["=id", _username_lookup(), "client_name"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A live row is the only record of a stream still open: terminate it first.
        if obj is not None and obj.is_live:
            return False
        return super().has_delete_permission(request, obj)

    def get_urls(self) -> list[URLPattern]:
        info = (self.opts.app_label, self.opts.model_name)
        return [
            path(
                "<path:object_id>/terminate/",
                self.admin_site.admin_view(self.terminate_view),
                name="{}_{}_terminate".format(*info),
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        context.update(
            show_save=False,
            show_save_and_continue=False,
            show_save_and_add_another=False,
            can_terminate=obj is not None
            and obj.is_live
            and self.has_change_permission(request, obj),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Columns ----------------------------------------------------------------

    @admin.display(description=_("session"), ordering="id")
    def short_id(self, obj: McpSession) -> str:
        return f"{obj.id[:10]}…"

    @admin.display(description=_("client"), ordering="client_name")
    def client(self, obj: McpSession) -> str:
        name = f"{obj.client_name} {obj.client_version}".strip() or "—"
        return format_html('<span style="white-space:nowrap">{}</span>', name)

    @admin.display(description=_("state"), ordering="closed_at")
    def state(self, obj: McpSession) -> str:
        if obj.is_live:
            stale_after = timedelta(seconds=mcp_settings.SESSION_STALE_AFTER)
            seen = obj.heartbeat_at or obj.opened_at
            if seen is not None and timezone.now() - seen > stale_after:
                return format_html(
                    '<span class="mcp-state mcp-stale" style="color:#b26b00;font-weight:bold">'
                    "● {}</span>",
                    _("live, worker silent"),
                )
            return format_html(
                '<span class="mcp-state mcp-live" style="color:#1a7f37;font-weight:bold">'
                "● {}</span>",
                _("live"),
            )
        return format_html(
            '<span class="mcp-state mcp-closed" style="color:#6e7781" title="{}">○ {}</span>',
            _("closed"),
            obj.get_close_reason_display() or _("closed"),
        )

    @admin.display(description=_("tool calls"))
    def calls(self, obj: McpSession) -> str:
        url = reverse("admin:django_mcp_toolcall_changelist")
        return format_html('<a href="{}?session__id__exact={}">{}</a>', url, obj.pk, _("calls"))

    @admin.display(description=_("recent tool calls"))
    def recent_tool_calls(self, obj: McpSession) -> str:
        calls = list(ToolCall.objects.filter(session_id=obj.pk)[: self.recent_calls])
        if not calls:
            return str(_("No tool calls."))
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:django_mcp_toolcall_change", args=[call.pk]),
                    date_format(timezone.localtime(call.started_at), "DATETIME_FORMAT"),
                    call.tool,
                    _outcome_badge(call),
                    f"{call.duration_ms:.1f} ms",
                    Truncator(call.error).chars(120),
                )
                for call in calls
            ),
        )
        everything = reverse("admin:django_mcp_toolcall_changelist")
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>"
            "</thead><tbody>{}</tbody></table>"
            '<p><a href="{}?session__id__exact={}">{}</a></p>',
            _("started"),
            _("tool"),
            _("outcome"),
            _("duration"),
            _("error message"),
            rows,
            everything,
            obj.pk,
            _("All tool calls of this session"),
        )

    # Terminate --------------------------------------------------------------

    @admin.action(description=_("Terminate selected live sessions"), permissions=["change"])
    def terminate_sessions(self, request: HttpRequest, queryset: QuerySet[McpSession]) -> None:
        ids = store.terminate(queryset.filter(closed_at__isnull=True).values_list("pk", flat=True))
        for obj in McpSession.objects.filter(pk__in=ids):
            self.log_change(request, obj, "Terminated")
        self.message_user(
            request,
            ngettext("%(count)d session terminated.", "%(count)d sessions terminated.", len(ids))
            % {"count": len(ids)},
            messages.SUCCESS if ids else messages.WARNING,
        )

    def terminate_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(_("No such MCP session."))
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(
                reverse("admin:django_mcp_mcpsession_change", args=[quote(obj.pk)])
            )
        if store.terminate([obj.pk]):
            self.log_change(request, obj, "Terminated")
            self.message_user(request, _("The session was terminated."), messages.SUCCESS)
        else:
            self.message_user(request, _("The session was already closed."), messages.WARNING)
        return HttpResponseRedirect(
            reverse("admin:django_mcp_mcpsession_change", args=[quote(obj.pk)])
        )


_OUTCOME_COLOURS = {
    ToolCall.Outcome.OK: "#1a7f37",
    ToolCall.Outcome.TOOL_ERROR: "#b26b00",
    ToolCall.Outcome.PROTOCOL_ERROR: "#cf222e",
    ToolCall.Outcome.CANCELLED: "#6e7781",
}


def _outcome_badge(call: ToolCall) -> str:
    return format_html(
        '<span style="color:{};font-weight:bold">{}</span>',
        _OUTCOME_COLOURS.get(call.outcome, "inherit"),  # type: ignore[call-overload]
        call.get_outcome_display(),
    )


@admin.register(ToolCall)
class ToolCallAdmin(ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("started_at", "tool", "outcome_badge", "user", "session_link", "duration")
    list_filter = ("outcome", "tool", ("user", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("user",)
    date_hierarchy = "started_at"
    extra_readonly_fields = ("session_link", "arguments_json")
    fields = (
        "started_at",
        "tool",
        "outcome",
        "error",
        "duration_ms",
        "user",
        "session_link",
        "arguments_json",
    )

    def get_search_fields(self, request: HttpRequest) -> list[str]:
        return ["tool", "=session__id", _username_lookup(), "error"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_badge(self, obj: ToolCall) -> str:
        return _outcome_badge(obj)

    @admin.display(description=_("duration"), ordering="duration_ms")
    def duration(self, obj: ToolCall) -> str:
        return f"{obj.duration_ms:.1f} ms"

    @admin.display(description=_("session"))
    def session_link(self, obj: ToolCall) -> str:
        if not obj.session_id:
            return "—"
        url = reverse("admin:django_mcp_mcpsession_change", args=[quote(obj.session_id)])
        return format_html('<a href="{}">{}…</a>', url, obj.session_id[:10])

    @admin.display(description=_("arguments"))
    def arguments_json(self, obj: ToolCall) -> str:
        if obj.arguments is None:
            return str(_("Not logged: the tool asked for its arguments to be left out."))
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.arguments, indent=2, ensure_ascii=False, default=str)
        )
