"""Business hours: the Python rules and the SQL function must agree, or the SLA view and the stored
first_response_hours/resolution_hours would disagree on the dashboard."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from psycopg import sql

from destination_postgres_support.business_hours import Calendar
from destination_postgres_support.config import BusinessHours, DestinationConfig
from destination_postgres_support.loader import PostgresBackend

UTC = dt.timezone.utc


def utc(*args):
    return dt.datetime(*args)


def test_seed_example_friday_17_to_monday_09_is_two_hours():
    cal = Calendar.from_config(BusinessHours())
    # 17:00/09:00 BRT (UTC-3, no DST since 2019)
    assert cal.hours_between(utc(2024, 3, 8, 20), utc(2024, 3, 11, 12)) == 2.0


def test_dst_free_zone_counts_ten_hours_per_day_all_year():
    cal = Calendar.from_config(BusinessHours())
    for month in (1, 4, 7, 10, 11):  # around Brazil's former DST dates
        start = dt.datetime(2024, month, 1, tzinfo=UTC)
        monday = start + dt.timedelta(days=(7 - start.weekday()) % 7)
        assert (
            cal.hours_between(monday.replace(tzinfo=None), (monday + dt.timedelta(days=7)).replace(tzinfo=None)) == 50.0
        )


def test_holidays_weekends_and_custom_days():
    cal = Calendar.from_config(BusinessHours(holidays=[dt.date(2024, 2, 13)]))
    assert cal.hours_between(utc(2024, 2, 12, 20), utc(2024, 2, 14, 12)) == 2.0
    saturday_team = Calendar.from_config(BusinessHours(working_days=[6], day_start="09:00", day_end="12:00"))
    assert saturday_team.hours_between(utc(2024, 3, 1), utc(2024, 3, 15)) == 6.0
    assert cal.hours_between(utc(2024, 3, 11, 12), utc(2024, 3, 8, 20)) == 0.0


@pytest.mark.parametrize(
    "hours",
    [
        BusinessHours(
            holidays=[dt.date(2024, 2, 12), dt.date(2024, 2, 13), dt.date(2024, 12, 25), dt.date(2025, 1, 1)]
        ),
        BusinessHours(timezone="America/New_York", day_start="09:30", day_end="17:15", working_days=[1, 2, 3, 4, 6]),
        BusinessHours(timezone="Asia/Kolkata", day_start="00:00", day_end="23:59", working_days=[7]),
    ],
    ids=["sao-paulo-holidays", "new-york-dst", "kolkata-sundays"],
)
def test_sql_agrees_with_python_on_random_intervals(pg_url, pg_conn, hours):
    config = DestinationConfig.model_validate({"database_url": pg_url, "business_hours": hours.model_dump()})
    with __import__("psycopg").connect(pg_url) as conn:
        PostgresBackend(config, conn).prepare()
    cal = Calendar.from_config(hours)
    rng = random.Random(3)
    base = dt.datetime(2023, 12, 1)
    pairs = []
    for _ in range(600):
        a = base + dt.timedelta(seconds=rng.randrange(0, 500 * 86400), milliseconds=rng.randrange(1000))
        b = a + dt.timedelta(seconds=rng.choice([rng.randrange(0, 86400), rng.randrange(0, 40 * 86400)]))
        pairs.append((a, b))
    pg_conn.execute("CREATE TEMP TABLE pairs (n int, a timestamp(3), b timestamp(3))")
    with pg_conn.cursor().copy("COPY pairs FROM STDIN") as copy:
        for n, (a, b) in enumerate(pairs):
            copy.write_row((n, a, b))
    sql_hours = dict(pg_conn.execute("SELECT n, business_hours_between(a, b) FROM pairs").fetchall())
    # the loader's form: each end converted to local time once, then business_hours_between_local
    backend = PostgresBackend(config, pg_conn)
    loader_form = sql.SQL("SELECT n, {} FROM pairs, LATERAL (SELECT {} AS la, {} AS lb OFFSET 0) l").format(
        backend._bh_local("l.la", "l.lb"), backend._local("a"), backend._local("b")
    )
    loader_hours = dict(pg_conn.execute(loader_form).fetchall())
    for n, (a, b) in enumerate(pairs):
        assert sql_hours[n] == pytest.approx(cal.hours_between(a, b), abs=1e-6), (a, b)
        assert loader_hours[n] == pytest.approx(sql_hours[n], abs=1e-9), (a, b)
    assert pg_conn.execute(sql.SQL("SELECT {}").format(backend._bh_local("NULL", "now()::timestamp"))).fetchone() == (
        None,
    )
