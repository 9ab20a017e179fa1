"""Models for the ORM toolset unit tests: every field kind a toolset maps."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=40, unique=True)

    def __str__(self) -> str:
        return self.name


class Publisher(models.Model):
    name = models.CharField(max_length=100)
    website = models.URLField(blank=True)

    def __str__(self) -> str:
        return self.name


class Writer(models.Model):
    name = models.CharField(max_length=100, help_text="Full name.")
    email = models.EmailField(blank=True)
    born = models.PositiveSmallIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name


class Novel(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    class Format(models.IntegerChoices):
        HARDCOVER = 1
        PAPERBACK = 2

    title = models.CharField(max_length=120, help_text="Title on the cover.")
    writer = models.ForeignKey(Writer, on_delete=models.PROTECT, related_name="novels")
    publisher = models.ForeignKey(Publisher, null=True, blank=True, on_delete=models.SET_NULL)
    tags = models.ManyToManyField(Tag, blank=True, related_name="novels")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    format = models.PositiveSmallIntegerField(choices=Format.choices, default=Format.PAPERBACK)
    rating = models.DecimalField(max_digits=3, decimal_places=1, null=True, blank=True)
    pages = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1), MaxValueValidator(5000)]
    )
    released = models.DateField(null=True, blank=True)
    slug = models.SlugField(max_length=60, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )

    def __str__(self) -> str:
        return self.title
