"""``manage.py demo_setup``: demo data, a demo user and a fresh API token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand

from django_mcp.models import ApiToken
from library.models import Author, Book

CATALOGUE = [
    (
        "Ursula K. Le Guin",
        1929,
        [
            ("A Wizard of Earthsea", "9780547773742", "fiction", 1968, 2),
            ("The Left Hand of Darkness", "9780441478125", "fiction", 1969, 1),
            ("The Dispossessed", "9780061054884", "fiction", 1974, 1),
        ],
    ),
    (
        "Carl Sagan",
        1934,
        [
            ("Cosmos", "9780345539434", "science", 1980, 3),
            ("Pale Blue Dot", "9780345376596", "science", 1994, 1),
        ],
    ),
    ("Mary Beard", 1955, [("SPQR", "9781631492228", "history", 2015, 2)]),
    (
        "Wisława Szymborska",
        1923,
        [("View with a Grain of Sand", "9780156002165", "poetry", 1995, 1)],
    ),
    ("Stephen Hawking", 1942, [("A Brief History of Time", "9780553380163", "science", 1988, 2)]),
]


class Command(BaseCommand):
    help = "Load demo data, create users demo/demo and admin/admin, and print a token for demo."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, born, books in CATALOGUE:
            author, _ = Author.objects.get_or_create(name=name, defaults={"born": born})
            for title, isbn, genre, published, copies in books:
                Book.objects.get_or_create(
                    isbn=isbn,
                    defaults={
                        "title": title,
                        "author": author,
                        "genre": genre,
                        "published": published,
                        "copies": copies,
                    },
                )
        users = get_user_model()
        demo, created = users.objects.get_or_create(username="demo")
        if created:
            demo.set_password("demo")
            demo.save()
        demo.user_permissions.add(Permission.objects.get(codename="add_loan"))
        if not users.objects.filter(username="admin").exists():
            users.objects.create_superuser("admin", "admin@example.com", "admin")
        self.stderr.write(
            f"{Book.objects.count()} books ready. Users: demo/demo, admin/admin (staff)."
        )
        _, raw = ApiToken.create(demo, name="demo")
        self.stderr.write("API token for demo (shown once):")
        self.stdout.write(raw)
