"""ModelToolset: schemas, querying, writes, permissions and query counts (in-process).

Tools are called in the test's own thread, through the same argument model and
result conversion as the protocol core, so pytest-django's transaction and
``CaptureQueriesContext`` see every query. The end-to-end tests in
``tests/e2e/test_orm_tools.py`` run the same tools through daphne.
"""

from __future__ import annotations

import datetime
import json
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import AnonymousUser, Permission, User
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Count, QuerySet
from django.test.utils import CaptureQueriesContext
from pydantic import ValidationError

from django_mcp.exceptions import ToolError
from django_mcp.orm import ModelToolset, register_toolset
from django_mcp.orm.toolsets import CONTEXT
from django_mcp.protocol.handlers import Handlers, dump
from django_mcp.registry import Registry, Tool
from tests.ormapp.models import Novel, Publisher, Tag, Writer

registry = Registry()


@register_toolset(registry=registry)
class NovelTools(ModelToolset):
    model = Novel
    fields = [
        "id",
        "title",
        "writer",
        "publisher",
        "tags",
        "status",
        "format",
        "rating",
        "pages",
        "released",
        "slug",
        "created",
    ]
    nested = {"writer": ["id", "name", "email"]}
    filters = {
        "status": ["exact", "in"],
        "pages": ["gte", "lte"],
        "released": ["isnull", "range"],
        "writer__name": ["icontains"],
        "tags": ["exact"],
    }
    search_fields = ["title", "writer__name", "=slug"]
    ordering_fields = ["title", "released", "rating", "writer__name"]
    ordering = ["title"]
    actions = ["search", "get", "create", "update", "delete"]
    log_entries = True
    page_size = 5
    max_page_size = 50


class OwnNovels(ModelToolset):
    """Scoped to the caller's rows, with an object-level check on writes."""

    model = Novel
    tool_prefix = "my_novels"
    fields = ["id", "title", "owner"]
    write_fields = ["title"]
    actions = ["search", "get", "create", "update", "delete"]
    permissions = {action: None for action in ("search", "get", "create", "update", "delete")}

    def get_queryset(self, user: Any) -> QuerySet[Novel]:
        return Novel.objects.filter(owner_id=user.pk)

    def has_object_permission(self, user: Any, obj: Any, action: str) -> bool:
        return action != "delete" or not obj.title.startswith("Keep")

    def prepare_object(self, user: Any, obj: Any, *, created: bool) -> None:
        if created:
            obj.owner = user
            obj.writer = Writer.objects.get_or_create(name="Anonymous")[0]


own_registry = Registry()
register_toolset(registry=own_registry)(OwnNovels)


class WriterTools(ModelToolset):
    model = Writer
    fields = ["id", "name", "novels"]
    nested = {"novels": ["id", "title", "tags"]}
    extra_fields = {"novel_count": int}
    ordering_fields = ["born"]

    def get_queryset(self, user: Any) -> QuerySet[Writer]:
        return Writer.objects.annotate(novel_count=Count("novels"))


writer_registry = Registry()
register_toolset(registry=writer_registry)(WriterTools)


def call(reg: Registry, name: str, user: Any, **arguments: Any) -> dict[str, Any]:
    """Call a tool like the core does, in this thread; return the wire result."""
    found = reg.get(name)
    assert isinstance(found, Tool), name
    validated = found.signature.arguments_model.model_validate(arguments)
    kwargs = {key: getattr(validated, key) for key in type(validated).model_fields}
    kwargs[CONTEXT] = SimpleNamespace(user=user)
    try:
        value = found.func(**kwargs)
    except ToolError as exc:
        return {"isError": True, "content": [{"type": "text", "text": str(exc)}]}
    result = dump(Handlers(reg).tool_result(found, value))
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return result


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_superuser("root", "root@example.com", "x")


@pytest.fixture
def library(db: None) -> dict[str, Any]:
    le_guin = Writer.objects.create(name="Ursula K. Le Guin", email="ursula@example.com", born=1929)
    banks = Writer.objects.create(name="Iain Banks", born=None)
    orbit = Publisher.objects.create(name="Orbit")
    scifi, classic = Tag.objects.create(name="sf"), Tag.objects.create(name="classic")
    books = [
        ("The Dispossessed", le_guin, None, "published", datetime.date(1974, 5, 1), "9.5", 387),
        ("The Lathe of Heaven", le_guin, None, "published", datetime.date(1971, 1, 1), None, 184),
        ("Consider Phlebas", banks, orbit, "published", datetime.date(1987, 4, 23), "8.0", 471),
        ("The Player of Games", banks, orbit, "draft", None, "8.9", 307),
        ("Excession", banks, orbit, "draft", None, None, 451),
    ]
    novels = {}
    for title, writer, publisher, status, released, rating, pages in books:
        novels[title] = Novel.objects.create(
            title=title,
            writer=writer,
            publisher=publisher,
            status=status,
            released=released,
            rating=rating,
            pages=pages,
            slug=title.lower().replace(" ", "-"),
        )
    novels["The Dispossessed"].tags.set([scifi, classic])
    novels["Consider Phlebas"].tags.set([scifi])
    return {"le_guin": le_guin, "banks": banks, "orbit": orbit, "sf": scifi, "novels": novels}


def titles(result: dict[str, Any]) -> list[str]:
    assert not result.get("isError"), result
    return [item["title"] for item in result["structuredContent"]["results"]]


# Tools and schemas -------------------------------------------------------------


def test_generated_tools_names_and_annotations() -> None:
    names = [item.name for item in registry.tools()]
    assert names == [
        "novels_search",
        "novels_get",
        "novels_create",
        "novels_update",
        "novels_delete",
    ]
    hints = {item.name: dump(item.annotations) for item in registry.tools() if item.annotations}
    assert hints["novels_search"] == {"readOnlyHint": True, "openWorldHint": False}
    assert hints["novels_get"]["readOnlyHint"] is True
    assert hints["novels_create"]["destructiveHint"] is False
    assert hints["novels_create"]["idempotentHint"] is False
    assert hints["novels_update"]["idempotentHint"] is True
    assert hints["novels_delete"]["destructiveHint"] is True
    assert hints["novels_delete"]["idempotentHint"] is True
    assert next(iter(own_registry.tools())).name == "my_novels_search"


def test_item_schema_follows_the_model_fields() -> None:
    tool = registry.get("novels_get")
    assert tool is not None and tool.signature.output_schema is not None
    schema = tool.signature.output_schema
    props = schema["properties"]
    assert props["title"] == {
        "description": "Title on the cover.",
        "maxLength": 120,
        "title": "Title",
        "type": "string",
    }
    assert props["tags"]["description"] == "Ids of the tags."
    assert props["status"]["enum"] == ["draft", "published"]
    assert props["format"]["enum"] == [1, 2]
    assert props["publisher"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "integer"}
    assert props["released"]["anyOf"][0] == {"format": "date", "type": "string"}
    assert props["writer"] == {
        "$ref": "#/$defs/NovelWriter",
        "description": "The writer.",
        "title": "Writer",
    }
    nested = schema["$defs"]["NovelWriter"]["properties"]
    assert nested["email"]["format"] == "email"
    assert nested["name"]["description"] == "Full name."
    assert set(schema["required"]) == set(NovelTools.fields)  # type: ignore[arg-type]


def test_create_schema_requires_what_the_model_requires() -> None:
    tool = registry.get("novels_create")
    assert tool is not None
    schema = tool.signature.input_schema
    assert sorted(schema["required"]) == ["title", "writer"]
    assert "id" not in schema["properties"] and "created" not in schema["properties"]
    pages = schema["properties"]["pages"]
    assert (pages["minimum"], pages["maximum"], pages["default"]) == (1, 5000, 100)
    assert schema["properties"]["status"]["default"] == "draft"
    assert schema["properties"]["slug"]["pattern"] == r"^[-a-zA-Z0-9_]+\Z"
    assert schema["additionalProperties"] is False
    update = registry.get("novels_update")
    assert update is not None
    assert update.signature.input_schema["required"] == ["id"]
    assert "default" not in update.signature.input_schema["properties"]["title"]


def test_search_schema_lists_filters_ordering_and_pagination() -> None:
    tool = registry.get("novels_search")
    assert tool is not None
    props = tool.signature.input_schema["properties"]
    assert set(props) == {
        "query",
        "status",
        "status__in",
        "pages__gte",
        "pages__lte",
        "released__isnull",
        "released__range",
        "writer__name__icontains",
        "tags",
        "order_by",
        "cursor",
        "limit",
    }
    assert props["limit"]["maximum"] == 50 and props["limit"]["default"] == 5
    assert props["order_by"]["anyOf"][0]["enum"][:2] == ["title", "-title"]
    assert props["status__in"]["anyOf"][0]["items"]["enum"] == ["draft", "published"]
    assert props["released__isnull"]["anyOf"][0] == {"type": "boolean"}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"fields": None}, "must declare `fields`"),
        ({"fields": ["nope"], "nested": {}}, "has no field 'nope'"),
        ({"filters": {"title": ["regex"]}}, "unsupported lookup 'regex'"),
        ({"filters": {"writer__nope": ["exact"]}}, "has no field 'nope'"),
        ({"ordering_fields": ["tags__name"]}, "may match several rows"),
        ({"actions": ["search", "list"]}, "unknown ['list']"),
        ({"write_fields": ["created"]}, "cannot be written"),
        ({"nested": {"title": ["x"]}}, "not a relation"),
        ({"filters": {"title": ["exact"]}, "search_fields": [], "page_size": 500}, "page_size"),
    ],
)
def test_misconfiguration_is_caught_at_registration(
    attributes: dict[str, Any], message: str
) -> None:
    broken = type("Broken", (NovelTools,), attributes)
    with pytest.raises(ImproperlyConfigured, match=message.replace("[", r"\[")):
        register_toolset(registry=Registry())(broken)


# Reading ---------------------------------------------------------------------------


def test_search_filters(admin: User, library: dict[str, Any]) -> None:
    assert titles(call(registry, "novels_search", admin, status="draft")) == [
        "Excession",
        "The Player of Games",
    ]
    assert titles(call(registry, "novels_search", admin, pages__gte=400, pages__lte=460)) == [
        "Excession"
    ]
    assert titles(call(registry, "novels_search", admin, released__isnull=True)) == [
        "Excession",
        "The Player of Games",
    ]
    assert titles(
        call(registry, "novels_search", admin, released__range=["1970-01-01", "1975-01-01"])
    ) == ["The Dispossessed", "The Lathe of Heaven"]
    assert titles(call(registry, "novels_search", admin, writer__name__icontains="GUIN")) == [
        "The Dispossessed",
        "The Lathe of Heaven",
    ]
    assert titles(call(registry, "novels_search", admin, tags=library["sf"].pk)) == [
        "Consider Phlebas",
        "The Dispossessed",
    ]
    assert titles(call(registry, "novels_search", admin, status__in=["draft", "published"])) == [
        "Consider Phlebas",
        "Excession",
        "The Dispossessed",
        "The Lathe of Heaven",
        "The Player of Games",
    ]


def test_search_words_must_all_match(admin: User, library: dict[str, Any]) -> None:
    assert titles(call(registry, "novels_search", admin, query="banks player")) == [
        "The Player of Games"
    ]
    assert titles(call(registry, "novels_search", admin, query='"of heaven"')) == [
        "The Lathe of Heaven"
    ]
    # ``=slug`` matches whole slugs only.
    assert titles(call(registry, "novels_search", admin, query="excession")) == ["Excession"]
    assert titles(call(registry, "novels_search", admin, query="nothing-like-this")) == []


def test_search_result_shape(admin: User, library: dict[str, Any]) -> None:
    result = call(registry, "novels_search", admin, query="dispossessed")
    (item,) = result["structuredContent"]["results"]
    le_guin = library["le_guin"]
    assert item["writer"] == {"id": le_guin.pk, "name": le_guin.name, "email": le_guin.email}
    assert item["publisher"] is None
    assert sorted(item["tags"]) == sorted(tag.pk for tag in Tag.objects.all())
    assert item["rating"] == "9.5"
    assert item["released"] == "1974-05-01"
    assert result["structuredContent"]["next_cursor"] is None


def _all_pages(user: User, limit: int, **arguments: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        result = call(registry, "novels_search", user, limit=limit, cursor=cursor, **arguments)
        seen += titles(result)
        cursor = result["structuredContent"]["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("order_by", ["title", "-title", "released", "-released", "-rating"])
def test_cursor_pagination_walks_every_row_once(
    admin: User, library: dict[str, Any], order_by: str
) -> None:
    everything = titles(call(registry, "novels_search", admin, order_by=order_by, limit=50))
    assert len(everything) == 5
    for limit in (1, 2, 3):
        assert _all_pages(admin, limit, order_by=order_by) == everything


def test_nulls_come_last_in_both_directions(admin: User, library: dict[str, Any]) -> None:
    ascending = titles(call(registry, "novels_search", admin, order_by="released"))
    descending = titles(call(registry, "novels_search", admin, order_by="-released"))
    assert ascending[:3] == ["The Lathe of Heaven", "The Dispossessed", "Consider Phlebas"]
    assert descending[:3] == ["Consider Phlebas", "The Dispossessed", "The Lathe of Heaven"]
    assert set(ascending[3:]) == set(descending[3:]) == {"Excession", "The Player of Games"}


def test_a_cursor_is_bound_to_its_ordering(admin: User, library: dict[str, Any]) -> None:
    first = call(registry, "novels_search", admin, limit=2, order_by="title")
    cursor = first["structuredContent"]["next_cursor"]
    assert cursor
    other = call(registry, "novels_search", admin, limit=2, order_by="-title", cursor=cursor)
    assert other["isError"] is True
    assert "Invalid cursor" in other["content"][0]["text"]
    junk = call(registry, "novels_search", admin, cursor="%%%not-base64")
    assert junk["isError"] is True


def test_page_limit_is_enforced(admin: User) -> None:
    with pytest.raises(ValidationError):
        call(registry, "novels_search", admin, limit=51)
    with pytest.raises(ValidationError):
        call(registry, "novels_search", admin, limit=0)


def test_get_and_missing(admin: User, library: dict[str, Any]) -> None:
    novel = library["novels"]["Excession"]
    result = call(registry, "novels_get", admin, id=novel.pk)
    assert result["structuredContent"]["title"] == "Excession"
    assert result["structuredContent"]["publisher"] == library["orbit"].pk
    missing = call(registry, "novels_get", admin, id=999_999)
    assert missing["isError"] is True
    assert missing["content"][0]["text"] == "No novel with id 999999."


def test_reverse_relations_nested_and_extra_fields(admin: User, library: dict[str, Any]) -> None:
    result = call(writer_registry, "writers_search", admin, order_by="born")
    rows = result["structuredContent"]["results"]
    assert [row["name"] for row in rows] == ["Ursula K. Le Guin", "Iain Banks"]  # null born last
    le_guin = rows[0]
    assert le_guin["novel_count"] == 2
    assert sorted(novel["title"] for novel in le_guin["novels"]) == [
        "The Dispossessed",
        "The Lathe of Heaven",
    ]
    dispossessed = next(n for n in le_guin["novels"] if n["title"] == "The Dispossessed")
    assert len(dispossessed["tags"]) == 2


# No N+1 ------------------------------------------------------------------------------


def _make_novels(count: int) -> None:
    tags = [Tag.objects.get_or_create(name=f"tag{i}")[0] for i in range(3)]
    publisher = Publisher.objects.create(name="Big House")
    for i in range(count):
        writer = Writer.objects.create(name=f"Writer {i}", email=f"w{i}@example.com")
        novel = Novel.objects.create(
            title=f"Novel {i:03}", writer=writer, publisher=publisher, pages=100 + i
        )
        novel.tags.set(tags[: i % 4])


def _search_queries(user: User, reg: Registry, name: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        result = call(reg, name, user, limit=50)
    return len(result["structuredContent"]["results"]), len(queries)


def test_search_of_50_objects_with_relations_makes_a_constant_number_of_queries(
    admin: User,
) -> None:
    _make_novels(5)
    few_rows, few_queries = _search_queries(admin, registry, "novels_search")
    Novel.objects.all().delete()
    _make_novels(50)
    rows, queries = _search_queries(admin, registry, "novels_search")
    assert (few_rows, rows) == (5, 50)
    # One query for the page (writers joined in), one for all the pages' tags.
    assert queries == few_queries == 2


def test_nested_reverse_relations_make_a_constant_number_of_queries(admin: User) -> None:
    _make_novels(50)
    rows, queries = _search_queries(admin, writer_registry, "writers_search")
    assert rows == 50
    # Writers (with their count), their novels, the novels' tags.
    assert queries == 3


# Writing ------------------------------------------------------------------------------


def test_create_validates_and_names_each_field(admin: User, library: dict[str, Any]) -> None:
    result = call(
        registry,
        "novels_create",
        admin,
        title="",
        writer=999,
        slug="",
        tags=[library["sf"].pk, 4242],
    )
    assert result["isError"] is True
    text = result["content"][0]["text"]
    assert text.splitlines()[0] == "The novel was not saved: the data is invalid."
    assert "- title: This field cannot be blank." in text
    assert "- writer: writer instance with id 999 is not a valid choice." in text
    assert "- tags: No tags with id 4242." in text
    assert Novel.objects.count() == 5


def test_create_update_delete_roundtrip(admin: User, library: dict[str, Any]) -> None:
    created = call(
        registry,
        "novels_create",
        admin,
        title="Look to Windward",
        writer=library["banks"].pk,
        tags=[library["sf"].pk],
        rating="7.5",
        released="2000-06-01",
    )
    data = created["structuredContent"]
    assert data["writer"]["name"] == "Iain Banks"
    assert data["tags"] == [library["sf"].pk]
    assert data["status"] == "draft" and data["pages"] == 100
    novel = Novel.objects.get(pk=data["id"])
    assert novel.rating is not None and str(novel.rating) == "7.5"

    updated = call(registry, "novels_update", admin, id=novel.pk, rating=None, tags=[])
    assert updated["structuredContent"]["rating"] is None
    assert updated["structuredContent"]["tags"] == []
    assert updated["structuredContent"]["title"] == "Look to Windward"  # untouched

    bad = call(registry, "novels_update", admin, id=novel.pk, title="")
    assert (
        bad["isError"] is True
        and "- title: This field cannot be blank." in bad["content"][0]["text"]
    )
    assert Novel.objects.get(pk=novel.pk).title == "Look to Windward"

    deleted = call(registry, "novels_delete", admin, id=novel.pk)
    assert deleted["structuredContent"] == {"id": novel.pk, "deleted": True}
    assert not Novel.objects.filter(pk=novel.pk).exists()
    again = call(registry, "novels_delete", admin, id=novel.pk)
    assert again["isError"] is True


def test_writes_are_recorded_in_the_admin_history(admin: User, library: dict[str, Any]) -> None:
    created = call(registry, "novels_create", admin, title="Inversions", writer=library["banks"].pk)
    pk = created["structuredContent"]["id"]
    call(registry, "novels_update", admin, id=pk, title="Inversions!", pages=350)
    call(registry, "novels_delete", admin, id=pk)
    entries = list(LogEntry.objects.filter(object_id=str(pk)).order_by("id"))
    assert [entry.action_flag for entry in entries] == [ADDITION, CHANGE, DELETION]
    assert all(entry.user_id == admin.pk for entry in entries)
    assert entries[1].get_change_message() == "Changed Title and Pages."


def test_protected_delete_is_a_tool_error(admin: User, library: dict[str, Any]) -> None:
    class Writers(ModelToolset):
        model = Writer
        fields = ["id", "name"]
        actions = ["delete"]

    reg = Registry()
    register_toolset(registry=reg)(Writers)
    result = call(reg, "writers_delete", admin, id=library["banks"].pk)
    assert result["isError"] is True
    assert result["content"][0]["text"] == (
        f"Cannot delete writer {library['banks'].pk}: it is still referenced by 3 novels."
    )


def test_model_form_validates_writes(admin: User, library: dict[str, Any]) -> None:
    from django import forms

    class NovelForm(forms.ModelForm):  # type: ignore[type-arg]
        class Meta:
            model = Novel
            fields = ["title", "writer", "pages"]

        def clean_title(self) -> str:
            title = str(self.cleaned_data["title"])
            if title.islower():
                raise forms.ValidationError("Capitalise the title.")
            return title

    class FormNovels(ModelToolset):
        model = Novel
        fields = ["id", "title", "writer", "pages"]
        actions = ["create", "update"]
        form_class = NovelForm

    reg = Registry()
    register_toolset(registry=reg)(FormNovels)
    bad = call(reg, "novels_create", admin, title="lowercase", writer=library["banks"].pk)
    assert bad["isError"] is True
    assert "- title: Capitalise the title." in bad["content"][0]["text"]
    good = call(reg, "novels_create", admin, title="Matter", writer=library["banks"].pk)
    pk = good["structuredContent"]["id"]
    # A partial update keeps the stored values of the fields not sent.
    updated = call(reg, "novels_update", admin, id=pk, pages=593)
    assert updated["structuredContent"] == {
        "id": pk,
        "title": "Matter",
        "writer": library["banks"].pk,
        "pages": 593,
    }


# Permissions and scoping -------------------------------------------------------------


def test_model_permissions_gate_each_tool(db: None) -> None:
    reader = User.objects.create_user("reader")
    reader.user_permissions.add(Permission.objects.get(codename="view_novel"))
    editor = User.objects.create_user("editor")
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_novel", "change_novel"])
    )
    reader = User.objects.get(pk=reader.pk)  # fresh permission cache
    editor = User.objects.get(pk=editor.pk)
    assert [t.name for t in registry.tools_for(reader)] == ["novels_search", "novels_get"]
    assert [t.name for t in registry.tools_for(editor)] == [
        "novels_search",
        "novels_get",
        "novels_update",
    ]
    assert registry.tools_for(AnonymousUser()) == []


def test_get_queryset_scopes_every_tool(db: None) -> None:
    alice = User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    mine = call(own_registry, "my_novels_create", alice, title="Alice's")["structuredContent"]
    assert mine["owner"] == alice.pk
    call(own_registry, "my_novels_create", bob, title="Bob's")
    assert titles(call(own_registry, "my_novels_search", alice)) == ["Alice's"]
    assert titles(call(own_registry, "my_novels_search", bob)) == ["Bob's"]
    for action, extra in (("get", {}), ("update", {"title": "Mine now"}), ("delete", {})):
        result = call(own_registry, f"my_novels_{action}", bob, id=mine["id"], **extra)
        assert result["isError"] is True, action
        assert result["content"][0]["text"] == f"No novel with id {mine['id']}."
    assert Novel.objects.get(pk=mine["id"]).title == "Alice's"


def test_object_permission_hook(db: None) -> None:
    alice = User.objects.create_user("alice")
    kept = call(own_registry, "my_novels_create", alice, title="Keep me")["structuredContent"]
    refused = call(own_registry, "my_novels_delete", alice, id=kept["id"])
    assert refused["isError"] is True
    assert refused["content"][0]["text"] == "Permission denied: you may not delete this novel."
    assert Novel.objects.filter(pk=kept["id"]).exists()
    assert not call(own_registry, "my_novels_update", alice, id=kept["id"], title="Keep it").get(
        "isError"
    )


# django-filter ---------------------------------------------------------------------------


def test_filterset_class_gives_the_filter_arguments(admin: User, library: dict[str, Any]) -> None:
    django_filters = pytest.importorskip("django_filters")

    class NovelFilter(django_filters.FilterSet):  # type: ignore[misc]
        title = django_filters.CharFilter(lookup_expr="icontains", label="Title contains")
        pages = django_filters.RangeFilter()
        status = django_filters.ChoiceFilter(choices=Novel.Status.choices)
        writer = django_filters.ModelChoiceFilter(queryset=Writer.objects.all())
        rating__in = django_filters.BaseInFilter(field_name="rating")

        class Meta:
            model = Novel
            fields: list[str] = []

    class FilteredNovels(ModelToolset):
        model = Novel
        fields = ["id", "title"]
        filterset_class = NovelFilter
        ordering = ["title"]

    reg = Registry()
    register_toolset(registry=reg)(FilteredNovels)
    tool = reg.get("novels_search")
    assert tool is not None
    props = tool.signature.input_schema["properties"]
    assert set(props) == {
        "title",
        "pages_min",
        "pages_max",
        "status",
        "writer",
        "rating__in",
        "cursor",
        "limit",
    }
    assert props["status"]["anyOf"][0]["enum"] == ["draft", "published"]
    assert props["title"]["description"] == "Title contains"
    assert titles(call(reg, "novels_search", admin, title="the", pages_min=300)) == [
        "The Dispossessed",
        "The Player of Games",
    ]
    banks = library["banks"].pk
    assert titles(call(reg, "novels_search", admin, writer=banks, status="draft")) == [
        "Excession",
        "The Player of Games",
    ]
    invalid = call(reg, "novels_search", admin, writer=424242)
    assert invalid["isError"] is True
    assert invalid["content"][0]["text"].startswith("The filter was not applied")
    assert "- writer: Select a valid choice." in invalid["content"][0]["text"]
