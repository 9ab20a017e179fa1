"""A small lending library: authors, books and loans."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=200, unique=True)
    born = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Year of birth.")

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Book(models.Model):
    class Genre(models.TextChoices):
        FICTION = "fiction", "Fiction"
        SCIENCE = "science", "Science"
        HISTORY = "history", "History"
        POETRY = "poetry", "Poetry"

    title = models.CharField(max_length=300)
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="books")
    isbn = models.CharField("ISBN", max_length=13, unique=True)
    genre = models.CharField(max_length=20, choices=Genre.choices, default=Genre.FICTION)
    published = models.PositiveSmallIntegerField(help_text="Year of publication.")
    copies = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ("title",)

    def __str__(self) -> str:
        return self.title


class Loan(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="loans")
    borrower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="loans"
    )
    lent_at = models.DateTimeField(auto_now_add=True)
    due = models.DateField()
    returned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-lent_at",)

    def __str__(self) -> str:
        return f"{self.book} → {self.borrower}"
