"""Write the GraphQL schema (SDL) to schema.graphql, or check that the committed file is current."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from graph.schema import schema


class Command(BaseCommand):
    help = "Write the GraphQL schema to schema.graphql at the repository root (--check: fail if it is stale)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--path", default=str(Path(settings.BASE_DIR) / "schema.graphql"),
                            help="Where to write the schema (default: schema.graphql at the repository root).")
        parser.add_argument("--check", action="store_true",
                            help="Write nothing; exit with an error when the file differs from the schema.")

    def handle(self, *args: Any, path: str, check: bool, **options: Any) -> None:
        sdl = schema.as_str().rstrip() + "\n"
        target = Path(path)
        if check:
            current = target.read_text(encoding="utf-8") if target.exists() else ""
            if current != sdl:
                raise CommandError(f"{target.name} is stale: run 'manage.py export_schema' and commit it.")
            self.stdout.write(f"{target.name} is up to date.")
            return
        target.write_text(sdl, encoding="utf-8")
        self.stdout.write(f"Wrote {target}.")
