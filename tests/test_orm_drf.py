"""SerializerToolset: a DRF serializer as the schema, validation and result of the tools."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from rest_framework import permissions, serializers

from django_mcp.orm import register_toolset
from django_mcp.orm.drf import SerializerToolset
from django_mcp.registry import Registry
from tests.ormapp.models import Novel, Writer
from tests.test_orm_toolsets import call


class NovelSerializer(serializers.ModelSerializer[Novel]):
    writer_name = serializers.CharField(source="writer.name", read_only=True)

    class Meta:
        model = Novel
        fields = ["id", "title", "writer", "writer_name", "status", "pages"]

    def validate_title(self, value: str) -> str:
        if value.isupper():
            raise serializers.ValidationError("Do not shout.")
        return value


class StaffWritesOnly(permissions.BasePermission):
    def has_permission(self, request: Any, view: Any) -> bool:
        return request.method in permissions.SAFE_METHODS or bool(request.user.is_staff)

    def has_object_permission(self, request: Any, view: Any, obj: Any) -> bool:
        return view.action != "destroy" or obj.status == "draft"


class NovelTools(SerializerToolset):
    model = Novel
    serializer_class = NovelSerializer
    permission_classes = [StaffWritesOnly]
    permissions = {action: None for action in ("search", "get", "create", "update", "delete")}
    select_related = ["writer"]
    actions = ["search", "get", "create", "update", "delete"]
    ordering = ["title"]


registry = Registry()
register_toolset(registry=registry)(NovelTools)


@pytest.fixture
def staff(db: None) -> User:
    return User.objects.create_user("staff", is_staff=True)


def test_schemas_come_from_the_serializer() -> None:
    create = registry.get("novels_create")
    get = registry.get("novels_get")
    assert create is not None and get is not None
    assert sorted(create.signature.input_schema["properties"]) == [
        "pages",
        "status",
        "title",
        "writer",
    ]
    assert create.signature.input_schema["required"] == ["title", "writer"]
    assert get.signature.output_schema is not None
    output = get.signature.output_schema["properties"]
    assert output["writer_name"]["type"] == "string"
    assert output["status"]["enum"] == ["draft", "published"]


def test_serializer_validates_and_saves(staff: User) -> None:
    writer = Writer.objects.create(name="Ann Leckie")
    bad = call(registry, "novels_create", staff, title="ANCILLARY", writer=writer.pk)
    assert bad["isError"] is True
    assert "- title: Do not shout." in bad["content"][0]["text"]
    made = call(registry, "novels_create", staff, title="Ancillary Justice", writer=writer.pk)
    assert made["structuredContent"]["writer_name"] == "Ann Leckie"
    pk = made["structuredContent"]["id"]
    updated = call(registry, "novels_update", staff, id=pk, status="published")
    assert updated["structuredContent"]["title"] == "Ancillary Justice"
    refused = call(registry, "novels_delete", staff, id=pk)
    assert refused["isError"] is True  # the object permission: only drafts may go
    assert Novel.objects.filter(pk=pk).exists()


def test_permission_classes_hide_tools(db: None) -> None:
    reader = User.objects.create_user("reader")
    assert [t.name for t in registry.tools_for(reader)] == ["novels_search", "novels_get"]
    assert len(registry.tools_for(User.objects.create_user("boss", is_staff=True))) == 5
    assert [t.name for t in registry.tools_for(AnonymousUser())] == ["novels_search", "novels_get"]
