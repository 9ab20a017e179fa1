"""Revocation reaches open streams: a revoked, expired or deleted token, or a
deactivated user, ends the streams bound to them on every worker.

Without this, a stream's binding would keep admitting POSTs on the fast path
until its recheck interval ran out.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from django_mcp.models import ApiToken


def invalidate(*, token_ids: list[Any] | None = None, user_ids: list[Any] | None = None) -> None:
    """End the streams of these tokens or users on every worker (sync callers)."""
    from django_mcp.transports.hub import hub

    async_to_sync(hub.invalidate)(token_ids=token_ids, user_ids=user_ids)


def _token_saved(sender: Any, instance: ApiToken, **kwargs: Any) -> None:
    expired = instance.expires_at is not None and instance.expires_at <= timezone.now()
    if instance.revoked_at is not None or expired:
        invalidate(token_ids=[instance.pk])


def _token_deleted(sender: Any, instance: ApiToken, **kwargs: Any) -> None:
    invalidate(token_ids=[instance.pk])


def _user_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    if not getattr(instance, "is_active", True):
        invalidate(user_ids=[instance.pk])


def connect() -> None:
    post_save.connect(_token_saved, sender=ApiToken, dispatch_uid="django_mcp.token_saved")
    post_delete.connect(_token_deleted, sender=ApiToken, dispatch_uid="django_mcp.token_deleted")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="django_mcp.user_saved")
