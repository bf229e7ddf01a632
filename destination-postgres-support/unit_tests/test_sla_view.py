"""SLA status is computed at read time (seed 003): ok / at_risk (≥75%) / breached (≥100%) as of now()."""

from __future__ import annotations

import datetime as dt

from destination_postgres_support.config import DestinationConfig
from destination_postgres_support.loader import PostgresBackend


def test_view_grades_open_issues_against_targets(pg_url, pg_conn):
    config = DestinationConfig.model_validate(
        {
            "database_url": pg_url,
            # every hour counts, so the expected grades do not depend on when the test runs
            "business_hours": {
                "timezone": "UTC",
                "day_start": "00:00",
                "day_end": "23:59",
                "working_days": [1, 2, 3, 4, 5, 6, 7],
            },
            "sla_targets": [
                {"priority": "urgent", "first_response_hours": 4, "resolution_hours": 100},
                {"priority": "default", "first_response_hours": 40, "resolution_hours": 400},
            ],
        }
    )
    with __import__("psycopg").connect(pg_url) as conn:
        PostgresBackend(config, conn).prepare()
    now = pg_conn.execute("SELECT (now() AT TIME ZONE 'UTC')::timestamp(3)").fetchone()[0]
    rows = [
        ("ok", "urgent", now - dt.timedelta(hours=1), None),
        ("risk", "urgent", now - dt.timedelta(hours=3, minutes=30), None),
        ("late", "urgent", now - dt.timedelta(hours=6), None),
        ("answered", "urgent", now - dt.timedelta(hours=6), now - dt.timedelta(hours=5, minutes=30)),
        ("nopriority", None, now - dt.timedelta(hours=35), None),
    ]
    for issue_id, priority, created, first in rows:
        pg_conn.execute(
            "INSERT INTO issues (id, title, state, priority, created_at, first_response_at, synced_at)"
            " VALUES (%s, '', 'new', %s, %s, %s, %s)",
            (issue_id, priority, created, first, now),
        )
    pg_conn.execute(
        "INSERT INTO issues (id, title, state, created_at, closed_at, synced_at) VALUES ('closed', '', 'closed', %s, %s, %s)",
        (now - dt.timedelta(days=30), now, now),
    )
    graded = dict(pg_conn.execute("SELECT id, first_response_status FROM issue_sla_status").fetchall())
    assert graded == {"ok": "ok", "risk": "at_risk", "late": "breached", "answered": "ok", "nopriority": "at_risk"}
    overall = dict(pg_conn.execute("SELECT id, sla_status FROM issue_sla_status").fetchall())
    assert overall["late"] == "breached" and overall["ok"] == "ok"
