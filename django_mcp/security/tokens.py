"""API tokens as a product: issuing, revoking and describing them.

The admin (:class:`~django_mcp.admin.ApiTokenAdmin`) and the management
commands (``mcp_create_token``, ``mcp_revoke_token``, ``mcp_list_tokens``) share
these helpers, so both validate scopes and revoke the same way. Revoking goes
through :meth:`ApiToken.revoke`, whose ``post_save`` ends the token's open
streams on every worker (:mod:`django_mcp.invalidation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_mcp.models import ApiToken
from django_mcp.security.scopes import scope_choices, unknown_scopes

ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"


def status(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return REVOKED
    if token.expires_at is not None and token.expires_at <= timezone.now():
        return EXPIRED
    return ACTIVE


def with_status(queryset: QuerySet[ApiToken], wanted: str) -> QuerySet[ApiToken]:
    now = timezone.now()
    if wanted == ACTIVE:
        return queryset.active()  # type: ignore[attr-defined, no-any-return]
    if wanted == EXPIRED:
        return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
    if wanted == REVOKED:
        return queryset.filter(revoked_at__isnull=False)
    return queryset


def check_scopes(scopes: Sequence[str]) -> None:
    """Refuse scopes that are neither ``read-only`` nor a registered tool's name."""
    unknown = unknown_scopes(scopes)
    if unknown:
        raise ValidationError(
            _("Unknown scope(s) %(scopes)s: use a tool name or 'read-only'."),
            params={"scopes": ", ".join(repr(scope) for scope in unknown)},
            code="unknown_scope",
        )


def issue(
    user: Any,
    *,
    name: str = "",
    scopes: Sequence[str] = (),
    expires_in_days: float | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it with its raw value, shown once."""
    check_scopes(scopes)
    if expires_in_days is not None and expires_in_days < 0:
        raise ValidationError(_("The expiry must be a positive number of days."))
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    return ApiToken.create(user, name=name, scopes=list(scopes), expires_at=expires_at)


def revoke(tokens: Iterable[ApiToken]) -> int:
    """Revoke each token still unrevoked; its open streams end on every worker."""
    count = 0
    for token in tokens:
        if token.revoked_at is None:
            token.revoke()
            count += 1
    return count


# Admin --------------------------------------------------------------------------


class TokenStatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(ACTIVE, _("active")), (EXPIRED, _("expired")), (REVOKED, _("revoked"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return with_status(queryset, value) if value else queryset


class ApiTokenForm(forms.ModelForm):  # type: ignore[type-arg]
    """Scopes as checkboxes of ``read-only`` and every registered tool."""

    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Limit the token to these tools ('read-only': every tool marked read-only). "
            "None checked: every tool its user may use."
        ),
    )

    class Meta:
        model = ApiToken
        fields = ("user", "name", "scopes", "expires_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = scope_choices()
        known = {value for value, _label in choices}
        # Keep a scope whose tool is gone visible, so saving does not drop it silently.
        current = self.instance.scopes if self.instance.pk else []
        stale = [(value, f"{value} (no such tool)") for value in current if value not in known]
        field = self.fields["scopes"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [*choices, *stale]

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and not self.instance.pk and expires_at <= timezone.now():
            raise ValidationError(_("A new token must expire in the future."))
        return expires_at
