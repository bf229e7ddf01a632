"""Deterministic fake data: the same seed always gives the same records."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from faker import Faker

T = TypeVar("T")


class FakeData:
    """A seeded source of ids, times, people, companies and text for the emulators.

    Everything comes from one `random.Random` and one seeded Faker, so an emulator that
    builds its records in a fixed order is reproducible from (seed, size) alone.
    """

    def __init__(self, seed: int = 0, now: datetime | None = None) -> None:
        self.rng = random.Random(seed)
        self.faker = Faker()
        self.faker.seed_instance(seed)
        # A fixed "now" keeps the data independent of the day the tests run.
        self.now = now or datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
        self._object_id_counter = 0

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def object_id(self, at: datetime | None = None) -> str:
        """A MongoDB ObjectId (Planhat's `_id`): 4-byte time, then a unique tail."""
        at = at or self.now
        self._object_id_counter += 1
        return f"{int(at.timestamp()):08x}{self.rng.getrandbits(40):010x}{self._object_id_counter:06x}"

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def weighted(self, options: dict[T, float]) -> T:
        return self.rng.choices(list(options), weights=list(options.values()))[0]

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def between(self, start: datetime, end: datetime) -> datetime:
        """A time in [start, end], to the second."""
        span = max(int((end - start).total_seconds()), 0)
        return start + timedelta(seconds=self.rng.randint(0, span))

    def past(self, days: int) -> datetime:
        return self.between(self.now - timedelta(days=days), self.now)

    @staticmethod
    def iso(moment: datetime | None) -> str | None:
        """RFC 3339 in UTC with a Z, as the APIs send it."""
        if moment is None:
            return None
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def person(self, domain: str | None = None) -> dict[str, str]:
        first, last = self.faker.first_name(), self.faker.last_name()
        domain = domain or self.faker.free_email_domain()
        return {
            "first_name": first,
            "last_name": last,
            "name": f"{first} {last}",
            "email": f"{first}.{last}@{domain}".lower(),
        }

    def company(self) -> dict[str, str]:
        name = self.faker.company()
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20] or "company"
        return {"name": name, "domain": f"{slug}.{self.choice(['com', 'io', 'co', 'com.br'])}"}

    def sentence(self) -> str:
        return self.faker.sentence(nb_words=self.rng.randint(4, 12))

    def paragraphs(self, count: int) -> list[str]:
        return [self.faker.paragraph(nb_sentences=self.rng.randint(1, 4)) for _ in range(count)]

    def html(self, paragraphs: int = 2) -> str:
        return "".join(f"<p>{p}</p>" for p in self.paragraphs(paragraphs))
