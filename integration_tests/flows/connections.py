"""The three named flows, and how their configs come from files or the seed scripts' environment variables.

Users of the Pylon→Dust and Planhat→Dust scripts already have a `.env` with PYLON_API_KEY, DUST_API_KEY,
DUST_WORKSPACE_ID, …; the same variables configure these flows, so switching takes minutes. Every variable
those scripts read is either honoured here or named in one warning that says why it is not needed.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from dotenv import dotenv_values

from .pipeline import Connector

REPO = Path(__file__).resolve().parents[2]


def connector(name: str) -> Connector:
    return Connector(name, (sys.executable, str(REPO / name / "main.py")))


# environment variable -> (config field, type); the first group of each connector is required
ENV = {
    "source-pylon": {
        "required": {"PYLON_API_KEY": "api_token"},
        "optional": {
            "PYLON_START_DATE": "start_date",
            "PYLON_END_DATE": "end_date",
            "PYLON_BASE_URL": "base_url",
            # only for emulators that run a rate-limit minute faster (docker-compose, the demo)
            "PYLON_RATE_LIMIT_WINDOW_SECONDS": "rate_limit_window_seconds",
        },
    },
    "source-planhat": {
        "required": {"PLANHAT_API_TOKEN": "api_token"},
        "optional": {"PLANHAT_REGION": "region", "PLANHAT_BASE_URL": "base_url", "PLANHAT_START_DATE": "start_date"},
    },
    "destination-dust": {
        "required": {
            "DUST_API_KEY": "api_key",
            "DUST_WORKSPACE_ID": "workspace_id",
            "DUST_DATASOURCE_ID": "data_source_id",
        },
        # seed 000's .env has no space id (its script predates spaces): the destination finds the space
        "optional": {
            "DUST_SPACE_ID": "space_id",
            "DUST_REGION": "region",
            "DUST_BASE_URL": "base_url",
            "DUST_RATE_LIMIT": "upserts_per_minute",
        },
    },
    "destination-postgres-support": {
        "required": {"DATABASE_URL": "database_url"},
        "optional": {},
    },
}
FIELD_TYPES = {"upserts_per_minute": int, "rate_limit_window_seconds": float}
# The seed 001 script's region was implicit in its host; "custom" is what a base URL implies.
IMPLIED = {"source-planhat": ("base_url", {"region": "custom"})}
# Seed variables with no config field of their own, and why.
NOT_NEEDED = {
    "PYLON_MAX_CONCURRENT": "source-pylon paces its requests at Pylon's documented limits by itself",
    "THREADS_NUMBER": "destination-dust paces upserts at DUST_RATE_LIMIT per minute by itself",
}
# seed 001: "companies updated within the last LOOKBACK_DAYS days". With a saved state only changes are read
# anyway, so it sets where a first sync starts, unless PLANHAT_START_DATE does.
LOOKBACK_DAYS = "LOOKBACK_DAYS"
DOTENV = ".env"


@dataclass(frozen=True)
class Flow:
    name: str
    source: str
    destination: str
    streams: tuple[str, ...]  # what the flow syncs unless told otherwise
    description: str


FLOWS = {
    flow.name: flow
    for flow in (
        Flow(
            "pylon-to-dust",
            "source-pylon",
            "destination-dust",
            ("issue_documents",),
            "one Dust document per Pylon issue, with its conversation",
        ),
        Flow(
            "planhat-to-dust",
            "source-planhat",
            "destination-dust",
            ("company_documents",),
            "one Dust document per Planhat company, with its conversations, endusers, NPS, projects, assets",
        ),
        Flow(
            "pylon-to-postgres",
            "source-pylon",
            "destination-postgres-support",
            ("issues", "issue_messages", "accounts", "users"),
            "the support dashboard's tables in Postgres (Neon)",
        ),
    )
}


class ConfigMissing(ValueError):
    pass


def config_from_env(connector_name: str, environ: dict[str, str] | None = None) -> dict:
    environ = dict(os.environ if environ is None else environ)
    spec = ENV[connector_name]
    missing = [var for var in spec["required"] if not environ.get(var)]
    if missing:
        raise ConfigMissing(
            f"{connector_name}: set {', '.join(missing)} or pass a config file "
            f"(--{'source' if connector_name.startswith('source') else 'destination'}-config)"
        )
    config = {}
    for group in ("required", "optional"):
        for var, field in spec[group].items():
            if environ.get(var):
                value = environ[var]
                config[field] = FIELD_TYPES.get(field, str)(value)
    implied = IMPLIED.get(connector_name)
    if implied and implied[0] in config:
        config = {**implied[1], **config}
    if connector_name == "source-planhat" and "start_date" not in config and environ.get(LOOKBACK_DAYS):
        try:
            days = int(environ[LOOKBACK_DAYS].split("#")[0].strip())
        except ValueError:
            raise ConfigMissing(f"LOOKBACK_DAYS must be a number of days, not {environ[LOOKBACK_DAYS]!r}") from None
        start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=days)
        config["start_date"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    return config


def not_needed(environ: dict[str, str]) -> list[str]:
    """One line per seed variable that is set but has nothing to configure here."""
    return [f"{var} is not needed: {why}" for var, why in NOT_NEEDED.items() if environ.get(var)]


def environment(env_file: str | None = None) -> dict[str, str]:
    """The process environment over `env_file` (default: ./.env when it exists), as the seed scripts'
    python-dotenv did: a variable exported in the shell wins over the file."""
    path = Path(env_file or DOTENV)
    if env_file and not path.is_file():
        raise ConfigMissing(f"--env-file {env_file}: no such file")
    values = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.is_file() else {}
    return {**values, **os.environ}


def load_config(connector_name: str, path: str | None, environ: dict[str, str] | None = None) -> dict:
    if path:
        return json.loads(Path(path).read_text())
    return config_from_env(connector_name, environ)
