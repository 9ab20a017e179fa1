from __future__ import annotations

from django.contrib import admin

from library.models import Author, Book, Loan


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "born")
    search_fields = ("name",)


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("title", "author", "genre", "published", "copies")
    list_filter = ("genre",)
    search_fields = ("title", "isbn", "author__name")
    list_select_related = ("author",)


@admin.register(Loan)
class LoanAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("book", "borrower", "lent_at", "due", "returned_at")
    list_filter = ("returned_at",)
    raw_id_fields = ("book", "borrower")
