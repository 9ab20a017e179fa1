"""The library's MCP tools, discovered by django_mcp like admin.py."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import re
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from mcp_types import PromptMessage, TextContent
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from django_mcp.completion import model_values
from django_mcp.exceptions import ToolError
from django_mcp.orm import ModelToolset, register_toolset
from django_mcp.prompts import user
from django_mcp.protocol import content
from django_mcp.protocol.context import Context
from django_mcp.registry import prompt, resource, tool
from django_mcp.resources import watch_model
from library.models import Author, Book, Loan

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


class Echo(TypedDict):
    echo: str
    timestamp: str
    transport: str


@tool(read_only=True, title="Echo")
def echo(message: Annotated[str, Field(description="Text to send back")], ctx: Context) -> Echo:
    """Echo a message back, with the server time and the transport it came over."""
    return {
        "echo": message,
        "timestamp": datetime.now(UTC).isoformat(),
        "transport": ctx.transport,
    }


class ServerTime(TypedDict):
    iso: str
    local: str
    unix: float
    timezone: str


@tool(read_only=True, title="Server time")
def server_time(
    timezone: Annotated[str, Field(description="IANA time zone, e.g. Europe/Paris")] = "UTC",
) -> ServerTime:
    """The current time on the server, in UTC and in the given time zone."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"Unknown time zone {timezone!r}: use an IANA name such as 'Europe/Paris'."
        ) from None
    now = datetime.now(UTC)
    return {
        "iso": now.isoformat(),
        "local": now.astimezone(zone).isoformat(),
        "unix": now.timestamp(),
        "timezone": timezone,
    }


@register_toolset
class AuthorTools(ModelToolset):
    """Authors: anyone with the Django permissions may read or edit them."""

    model = Author
    fields = ["id", "name", "born"]
    filters = {"born": ["gte", "lte", "isnull"]}
    search_fields = ["name"]
    ordering_fields = ["name", "born"]
    actions = ["search", "get", "create", "update", "delete"]
    log_entries = True


@register_toolset
class BookTools(ModelToolset):
    """The catalogue: open to every signed-in user; writes need the model permissions."""

    model = Book
    fields = ["id", "title", "author", "isbn", "genre", "published", "copies"]
    nested = {"author": ["id", "name"]}
    extra_fields = {"available": Annotated[int, Field(description="Copies on the shelf now.")]}
    filters = {"genre": ["exact", "in"], "published": ["gte", "lte"], "author": ["exact"]}
    search_fields = ["title", "author__name", "=isbn"]
    ordering_fields = ["title", "published", "author__name"]
    actions = ["search", "get", "create", "update", "delete"]
    permissions = {"search": None, "get": None}
    log_entries = True

    def get_queryset(self, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Book]:
        on_loan = Count("loans", filter=Q(loans__returned_at__isnull=True))
        return Book.objects.annotate(available=F("copies") - on_loan)


@register_toolset
class LoanTools(ModelToolset):
    """The caller's own loans, and only those: ``get_queryset`` scopes them."""

    model = Loan
    fields = ["id", "book", "lent_at", "due", "returned_at"]
    nested = {"book": ["id", "title"]}
    filters = {"returned_at": ["isnull"], "due": ["lte"]}
    ordering_fields = ["due", "lent_at"]
    actions = ["search", "get"]
    permissions = {"search": None, "get": None}

    def get_queryset(self, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Loan]:
        return Loan.objects.filter(borrower_id=user.pk)


# lend_book stays hand-written: it is a business action (check availability under
# a row lock, then create a loan for the caller), not a plain create of a model.
class LoanOut(BaseModel):
    loan_id: int
    book: str
    due: date


@tool(title="Lend a book", destructive=False, permission="library.add_loan")
def lend_book(
    ctx: Context,
    book_id: int,
    days: Annotated[int, Field(ge=1, le=60, description="Loan length in days")] = 14,
) -> LoanOut:
    """Lend one copy of a book to the calling user, if a copy is available."""
    with transaction.atomic():
        try:
            book = Book.objects.select_for_update().get(pk=book_id)
        except Book.DoesNotExist:
            raise ToolError(f"No book with id {book_id}.") from None
        if book.loans.filter(returned_at__isnull=True).count() >= book.copies:
            raise ToolError(f"No copy of {book.title!r} is available.")
        loan = Loan.objects.create(
            book=book, borrower=ctx.user, due=date.today() + timedelta(days=days)
        )
    return LoanOut(loan_id=loan.pk, book=book.title, due=loan.due)


# Resources, prompts and the request context --------------------------------------------
# docs/resources.md, docs/prompts.md, docs/completion.md and docs/context.md show these.

logger = logging.getLogger("library")


def _with_availability(books: QuerySet[Book]) -> QuerySet[Book]:
    on_loan = Count("loans", filter=Q(loans__returned_at__isnull=True))
    return books.select_related("author").annotate(available=F("copies") - on_loan)


class CatalogueEntry(TypedDict):
    id: int
    title: str
    author: str
    genre: str
    available: int


@resource("library://catalogue", title="Catalogue", mime_type="application/json")
async def catalogue() -> list[CatalogueEntry]:
    """Every book in the library, with the copies on the shelf now."""
    return [
        {
            "id": book.pk,
            "title": book.title,
            "author": book.author.name,
            "genre": book.genre,
            "available": book.available,
        }
        async for book in _with_availability(Book.objects.all())
    ]


class BookDetail(BaseModel):
    id: int
    title: str
    author: str
    isbn: str
    genre: str
    published: int
    copies: int
    available: int
    due_back: list[date] = Field(description="When the copies on loan are due back.")


@resource(
    "library://books/{id}",
    name="book",
    title="A book",
    mime_type="application/json",
    complete={"id": model_values(Book, "id")},
)
async def book_resource(id: int) -> BookDetail:
    """One book and its availability. Subscribe to hear when it is lent or edited."""
    # Book.DoesNotExist answers "resource not found" (-32002).
    book = await _with_availability(Book.objects.all()).aget(pk=id)
    on_loan = book.loans.filter(returned_at__isnull=True).order_by("due")
    return BookDetail(
        id=book.pk,
        title=book.title,
        author=book.author.name,
        isbn=book.isbn,
        genre=book.genre,
        published=book.published,
        copies=book.copies,
        available=book.available,
        due_back=[loan.due async for loan in on_loan],
    )


@resource(
    "library://authors/{name}",
    title="An author's books",
    mime_type="text/markdown",
    complete={"name": model_values(Author, "name", lookup="icontains")},
)
async def author_page(name: str) -> str:
    """An author and their books in the library, as Markdown."""
    author = await Author.objects.aget(name=name)
    lines = [f"# {author.name}", ""]
    if author.born:
        lines += [f"Born {author.born}.", ""]
    async for book in Book.objects.filter(author=author).order_by("published"):
        lines.append(f"- *{book.title}* ({book.published}), library://books/{book.pk}")
    return "\n".join(lines)


# Subscribers hear about a book when it is edited, lent or returned, whichever worker
# they are connected to; the catalogue changes with any of its books.
watch_model(Book, "library://books/{id}", "library://catalogue")
watch_model(Loan, "library://books/{book_id}", "library://catalogue")
watch_model(Author, "library://authors/{name}")


@prompt(title="Summarise loans", permission="library.view_loan")
async def summarise_loans(
    genre: Annotated[Book.Genre | None, Field(description="Only books of this genre")] = None,
    overdue_only: Annotated[bool, Field(description="Only loans past their due date")] = False,
) -> list[PromptMessage]:
    """Ask the assistant for a short report on current loans, flagging overdue ones."""
    today = date.today()
    loans = Loan.objects.filter(returned_at__isnull=True).select_related("book", "borrower")
    if genre is not None:
        loans = loans.filter(book__genre=genre)
    if overdue_only:
        loans = loans.filter(due__lt=today)
    rows = [
        {
            "book": loan.book.title,
            "borrower": loan.borrower.get_username(),
            "due": loan.due.isoformat(),
            "days_overdue": max(0, (today - loan.due).days),
        }
        async for loan in loans.order_by("due")
    ]
    scope = f" of {genre.label.lower()} books" if genre is not None else ""
    return [
        user(
            f"You help the librarian. Today is {today.isoformat()}. Summarise the "
            f"{len(rows)} current loans{scope} below in a few sentences: which books are "
            "out, who has overdue books and by how many days, and whom to remind first."
        ),
        user(
            content.embedded(
                "library://loans/current.json",
                json.dumps(rows, indent=1),
                mime_type="application/json",
            )
        ),
    ]


#: Seconds each record takes to arrive from the partner catalogue (a slow upstream API).
IMPORT_STEP_SECONDS = 0.1


class ImportReport(TypedDict):
    imported: int
    author: str
    book_ids: list[int]


@tool(title="Import from the partner catalogue", permission="library.add_book", destructive=False)
async def import_catalogue(
    ctx: Context,
    count: Annotated[int, Field(ge=1, le=500, description="How many books to import")] = 20,
    batch: Annotated[
        str, Field(min_length=1, max_length=100, description="Label of this import")
    ] = "Partner catalogue",
) -> ImportReport:
    """Import books from the partner catalogue one by one, reporting progress.

    Cancelling the call stops the import at once; the books imported so far stay.
    """
    author, _ = await Author.objects.aget_or_create(name=f"{batch} authors")
    await ctx.info(f"Importing {count} books for {batch!r}", logger="library.import")
    book_ids: list[int] = []
    for number in range(1, count + 1):
        await asyncio.sleep(IMPORT_STEP_SECONDS)  # fetching the record upstream
        book = await Book.objects.acreate(
            title=f"{batch} #{number}",
            author=author,
            isbn=f"979{secrets.randbelow(10**10):010d}",
            genre=Book.Genre.FICTION,
            published=date.today().year,
        )
        book_ids.append(book.pk)
        await ctx.report_progress(number, count, f"Imported {book.title}")
    await ctx.info(f"Imported {count} books for {batch!r}", logger="library.import")
    return {"imported": len(book_ids), "author": author.name, "book_ids": book_ids}


class Withdrawal(BaseModel):
    confirm: bool = Field(
        title="Withdraw it", description="Remove the book and its loan history for good"
    )
    reason: str = Field(default="", max_length=200, description="Why (kept in the server log)")


@tool(title="Withdraw a book", destructive=True, permission="library.delete_book")
async def withdraw_book(ctx: Context, book_id: int) -> str:
    """Remove a book from the catalogue, once the user has confirmed it in their client."""
    try:
        book = await _with_availability(Book.objects.all()).aget(pk=book_id)
    except Book.DoesNotExist:
        raise ToolError(f"No book with id {book_id}.") from None
    on_loan = book.copies - book.available
    warning = f" {on_loan} of its copies are on loan." if on_loan else ""
    answer = await ctx.elicit(
        f"Withdraw {book.title!r} by {book.author.name} from the catalogue?{warning}",
        Withdrawal,
    )
    if not answer.accepted or answer.data is None or not answer.data.confirm:
        return f"{book.title!r} stays in the catalogue ({answer.action})."
    title = book.title
    await book.adelete()
    logger.info("%s withdrew book %s (%r): %s", ctx.user, book_id, title, answer.data.reason)
    return f"Withdrew {title!r}."


class Recommendation(TypedDict):
    book_id: int | None
    title: str | None
    answer: str
    model: str


@tool(title="Recommend a book", read_only=True)
async def recommend_book(
    ctx: Context,
    interest: Annotated[str, Field(max_length=300, description="What the reader enjoys")],
) -> Recommendation:
    """Ask the client's language model to pick the catalogue book that best fits a reader."""
    books = {book.pk: book async for book in Book.objects.select_related("author")}
    listing = "\n".join(
        f"{pk}: {book.title} by {book.author.name} ({book.genre}, {book.published})"
        for pk, book in books.items()
    )
    result = await ctx.sample(
        f"A reader says: {interest}\n\nOur catalogue:\n{listing}\n\n"
        "Reply with the number of the one book that fits best, then one sentence on why.",
        system_prompt="You are a helpful librarian. Only recommend books from the catalogue.",
        max_tokens=200,
        temperature=0.3,
    )
    answer = result.content.text if isinstance(result.content, TextContent) else ""
    found = re.match(r"\s*#?(\d+)", answer)
    chosen = books.get(int(found.group(1))) if found else None
    return {
        "book_id": chosen.pk if chosen else None,
        "title": chosen.title if chosen else None,
        "answer": answer,
        "model": result.model,
    }


@tool(title="Export the catalogue as CSV", read_only=True)
async def export_catalogue(
    ctx: Context,
    filename: Annotated[str, Field(pattern=r"^[\w.-]{1,100}$")] = "catalogue.csv",
) -> content.ContentBlock:
    """The catalogue as CSV, addressed to the client's workspace when it shares its roots."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "title", "author", "genre", "published", "available"])
    async for book in _with_availability(Book.objects.order_by("id")):
        row = [book.pk, book.title, book.author.name, book.genre, book.published]
        writer.writerow([*row, book.available])
    uri = f"library://exports/{filename}"
    if ctx.client_supports("roots"):
        roots = await ctx.list_roots()
        if roots:
            uri = f"{str(roots[0].uri).rstrip('/')}/{filename}"
    return content.embedded(uri, out.getvalue(), mime_type="text/csv")
