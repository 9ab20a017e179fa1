"""Who may see and use a resource or a prompt: the same rules as for tools.

A ``permission`` is ``None`` (everyone), a Django permission name such as
``"library.view_book"``, a list of them (all required), or a callable that
takes the user and returns a bool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    User = AbstractBaseUser | AnonymousUser

Permission = str | Sequence[str] | Callable[["User"], bool] | None


def permits(permission: Permission, user: Any) -> bool:
    """Whether ``user`` passes ``permission`` (``Tool.allows`` applies the same rule)."""
    if permission is None:
        return True
    if callable(permission):
        return bool(permission(user))
    perms = [permission] if isinstance(permission, str) else list(permission)
    has_perms = getattr(user, "has_perms", None)
    return has_perms is not None and bool(has_perms(perms))
