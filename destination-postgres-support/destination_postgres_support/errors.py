"""Classify database failures by who can fix them (style.md #3).

Wrong password, no TLS where the server demands it, a missing database or privilege: the user fixes the
config → config_error. Dropped connections, serialization failures, deadlocks, a server shutting down:
retry later → transient_error. Anything else is a bug → system_error.
"""

from __future__ import annotations

import psycopg

CONFIG_ERROR = "config_error"
TRANSIENT_ERROR = "transient_error"
SYSTEM_ERROR = "system_error"

# SQLSTATE classes/codes (PostgreSQL manual, Appendix A)
INVALID_PASSWORD = "28P01"
INVALID_AUTHORIZATION = "28000"
INVALID_CATALOG_NAME = "3D000"
INSUFFICIENT_PRIVILEGE = "42501"
INVALID_SCHEMA_NAME = "3F000"
TRANSIENT_CODES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "53400"}
CONNECTION_CLASS = "08"

_TLS_HINTS = ("sslmode", "ssl", "insecure", "tls", "encryption")


def _classify(err: BaseException) -> tuple[str, str]:
    code = getattr(getattr(err, "diag", None), "sqlstate", None) or getattr(err, "sqlstate", None) or ""
    text = str(err).strip()
    lowered = text.lower()
    if code == INVALID_PASSWORD or "password authentication failed" in lowered:
        return (
            CONFIG_ERROR,
            "Postgres rejected the user or password: fix them in the connection string or the user and password fields.",
        )
    if "does not support ssl" in lowered:
        return (
            CONFIG_ERROR,
            "The server does not accept encrypted (TLS) connections, but the config requires them (sslmode "
            "`require` or stricter): use a server with TLS, or set SSL mode (`ssl`) to Prefer or Disable.",
        )
    if isinstance(err, psycopg.ProgrammingError) and "connection info string" in lowered:
        # libpq quotes the string it could not parse: the URL, password included. Never repeat it.
        return CONFIG_ERROR, (
            "The database URL is not a PostgreSQL connection string: expected "
            "postgresql://user:password@host:port/database."
        )
    if any(hint in lowered for hint in _TLS_HINTS) and (
        code in (INVALID_AUTHORIZATION, "") or "ssl" in lowered or "insecure" in lowered
    ):
        return (
            CONFIG_ERROR,
            "The server requires an encrypted (TLS) connection: set SSL mode (`ssl`) to Require "
            "or add `?sslmode=require` to the database URL.",
        )
    if (
        code == INVALID_AUTHORIZATION
        or "no pg_hba.conf entry" in lowered
        or ("role" in lowered and "does not exist" in lowered)
    ):
        return (
            CONFIG_ERROR,
            f"Postgres refused the login ({text}): check the user in the connection string or the user field.",
        )
    if code == INVALID_CATALOG_NAME or ("database" in lowered and "does not exist" in lowered):
        return CONFIG_ERROR, f"The database in the URL does not exist ({text})."
    if code == INSUFFICIENT_PRIVILEGE or "permission denied" in lowered:
        return (
            CONFIG_ERROR,
            f"The database user lacks a privilege ({text}): grant it CREATE and USAGE on the schema "
            "and ownership (or INSERT/UPDATE/DELETE/SELECT) of the tables.",
        )
    if code in TRANSIENT_CODES or code.startswith(CONNECTION_CLASS):
        return TRANSIENT_ERROR, f"The database connection failed; the sync can be retried ({text})."
    if isinstance(err, psycopg.OperationalError):
        if "could not translate host name" in lowered or "name or service not known" in lowered:
            return CONFIG_ERROR, f"The database host cannot be resolved ({text}): check the URL."
        if "connection refused" in lowered:
            return CONFIG_ERROR, f"Nothing accepts connections at that host/port ({text}): check the URL."
        return TRANSIENT_ERROR, f"The database connection failed; the sync can be retried ({text})."
    return SYSTEM_ERROR, f"Unexpected database error: {text}"


def classify(err: BaseException) -> tuple[str, str]:
    """(failure_type, a message saying what to fix) for a database error."""
    return _classify(err)


class DestinationError(Exception):
    """A failure with its Airbyte failure_type and a message the user can act on.

    Kept free of the CDK so `write` does not pay the CDK's ~1 s import; destination.py turns it into an
    AirbyteTracedException.
    """

    def __init__(self, message: str, failure_type: str = SYSTEM_ERROR, internal: str | None = None):
        super().__init__(message)
        self.message = message
        self.failure_type = failure_type
        self.internal = internal or message


def from_database(err: BaseException, doing: str) -> DestinationError:
    failure_type, message = _classify(err)
    return DestinationError(f"{message} (while {doing})", failure_type, repr(err))
