"""Everything the source is handed, checked before it is used: the config, catalog and state files.

One policy. A config or catalog that cannot be used (unreadable, not UTF-8, empty, not JSON, not an object,
not a catalog) is an `InputError`: a config_error naming the file and what is wrong, never its content (a
config holds the API token). The CDK answered all of these with its generic "Something went wrong in the
connector" system_error (issue 16).

A state is different: Airbyte and older versions hand over many shapes (per-stream messages, a GLOBAL state,
the legacy `{stream: state}` dict, a `stream_state` serialised as a string), and no state is worth failing a
sync for. Every shape becomes the per-stream STATE messages the CDK reads where it can; anything that cannot
is dropped with one WARN line, and its stream reads from start_date. Only a state file that is not JSON at
all fails, as a config_error: it is a broken file, not an old shape. (What each stream finds inside its own
state is the stream's to check: see the `state` setters in streams.py.)

This file is the same in source-pylon and source-planhat but for SOURCE: each image is built alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from typing import Any

from airbyte_cdk.models import (
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    FailureType,
    StreamDescriptor,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

logger = logging.getLogger("airbyte")

SOURCE = "source-planhat"
READS_FROM_START = "reads from start_date"


class InputError(AirbyteTracedException):
    """A config or catalog file the user must fix; run.py emits it as one TRACE, without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(message=message, internal_message=message, failure_type=FailureType.config_error)


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", type(None): "null"}.get(type(value), "number")


def _text(path: str, what: str) -> str:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise InputError(f"Cannot read the {what} file {path}: {error.strerror or error}.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"The {what} file {path} is not UTF-8 text (byte {error.start} is not).") from None


def _parse(text: str, path: str, what: str) -> Any:
    if not text.strip():
        raise InputError(f"The {what} file {path} is empty; it must hold a JSON object.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:  # the position only: the text itself may hold the API token
        raise InputError(
            f"The {what} file {path} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except RecursionError:
        raise InputError(f"The {what} file {path} is JSON nested too deep to read.") from None


def read_config(path: str) -> dict[str, Any]:
    value = _parse(_text(path, "config"), path, "config")
    if not isinstance(value, dict):
        raise InputError(f"The config file {path} holds a JSON {json_type(value)}; it must hold a JSON object.")
    return value


def read_catalog(path: str) -> ConfiguredAirbyteCatalog:
    value = _parse(_text(path, "catalog"), path, "catalog")
    if not isinstance(value, dict) or not isinstance(value.get("streams"), list):
        found = f"a JSON {json_type(value)}" if not isinstance(value, dict) else "an object without a `streams` list"
        raise InputError(f"The catalog file {path} holds {found}; it must hold a configured catalog.")
    try:
        return ConfiguredAirbyteCatalogSerializer.load(value)
    except Exception as error:  # noqa: BLE001 - the serializer raises its own types; any is the file's fault
        problem = " ".join(str(error).split())[:300]
        raise InputError(f"The catalog file {path} is not a configured catalog: {problem}") from None


def read_state(path: str | None, offered: Collection[str]) -> list[AirbyteStateMessage]:
    """Per-stream STATE messages for the CDK, from whatever shape the state file holds (see the module doc)."""
    if not path:
        return []
    text = _text(path, "state")
    if not text.strip():
        logger.warning(f"The state file {path} is empty: every stream {READS_FROM_START}.")
        return []
    return StateMigration(path, offered).messages(_parse(text, path, "state"))


class StateMigration:
    """One pass over a state file's JSON: per-stream states kept, older shapes migrated, the rest dropped."""

    def __init__(self, path: str, offered: Collection[str]) -> None:
        self.path = path
        self.offered = set(offered)
        self.states: dict[str, dict[str, Any]] = {}
        self.foreign: list[str] = []

    def messages(self, value: Any) -> list[AirbyteStateMessage]:
        if isinstance(value, dict) and _message_type(value):
            value = [value]  # one state message, not in a list
        if isinstance(value, list):
            for index, item in enumerate(value):
                self._message(item, f"state message {index + 1}")
        elif isinstance(value, dict):
            self._legacy(value, "the legacy state object")
        elif value is not None:
            self._drop("its content", f"a JSON {json_type(value)}, not a list of state messages", "every stream")
        if self.foreign:
            names = ", ".join(sorted(set(self.foreign)))
            logger.warning(f"State file {self.path}: ignoring the state of streams {SOURCE} does not offer: {names}.")
        return [
            AirbyteStateMessage(
                type=AirbyteStateType.STREAM,
                stream=AirbyteStreamState(
                    stream_descriptor=StreamDescriptor(name=name), stream_state=AirbyteStateBlob(state)
                ),
            )
            for name, state in self.states.items()
        ]

    def _message(self, item: Any, where: str) -> None:
        kind = _message_type(item) if isinstance(item, dict) else None
        if kind == "STREAM":
            self._stream(item.get("stream"), where)
        elif kind == "GLOBAL":
            body = item.get("global")
            if not isinstance(body, dict):
                self._drop(where, "GLOBAL, without a `global` object", "every stream it held")
                return
            if body.get("shared_state"):
                logger.warning(
                    f"State file {self.path}: ignoring the shared_state of {where} (GLOBAL): {SOURCE} keeps one "
                    "state per stream, so it comes from another source or version."
                )
            streams = body.get("stream_states")
            for index, stream in enumerate(streams if isinstance(streams, list) else []):
                self._stream(stream, f"{where}, stream_states[{index}]")
        elif kind == "LEGACY":
            data = item.get("data")
            if isinstance(data, dict):
                self._legacy(data, f"{where} (LEGACY)")
            elif data is not None:
                self._drop(where, f"LEGACY, its data a JSON {json_type(data)}", "every stream it held")
        elif isinstance(item, dict):
            shape = f"of type {item['type']!r}" if item.get("type") is not None else "with no type"
            self._drop(where, shape, "the stream it was for")
        else:
            self._drop(where, f"a JSON {json_type(item)}, not a state message", "the stream it was for")

    def _stream(self, body: Any, where: str) -> None:
        descriptor = body.get("stream_descriptor") if isinstance(body, dict) else None
        name = descriptor.get("name") if isinstance(descriptor, dict) else None
        if not isinstance(name, str) or not name:
            self._drop(where, "it names no stream: no stream_descriptor.name", "the stream it was for")
            return
        if descriptor.get("namespace"):
            namespace = descriptor["namespace"]
            self._drop(where, f"stream {name} in namespace {namespace!r}: {SOURCE}'s streams have none", name)
            return
        self._keep(name, body.get("stream_state"), where)

    def _legacy(self, data: dict[str, Any], where: str) -> None:
        kept = [name for name in data if name in self.offered]
        for name, state in data.items():
            self._keep(name, state, where)
        if kept:
            logger.info(f"State file {self.path}: migrated {where} to per-stream states of {', '.join(sorted(kept))}.")

    def _keep(self, name: str, state: Any, where: str) -> None:
        if name not in self.offered:
            self.foreign.append(name)
            return
        if isinstance(state, str):  # a stream_state some tool serialised as JSON text
            try:
                decoded = json.loads(state)
            except ValueError:
                decoded = None
            if not isinstance(decoded, dict):
                self._drop(f"the state of stream {name} in {where}", "a string that is not a JSON object", name)
                return
            logger.info(f"State file {self.path}: migrated the state of stream {name}, JSON text, to an object.")
            state = decoded
        if state is None:
            return
        if not isinstance(state, dict):
            self._drop(f"the state of stream {name} in {where}", f"a JSON {json_type(state)}, not an object", name)
            return
        self.states[name] = state

    def _drop(self, what: str, why: str, streams: str) -> None:
        logger.warning(f"State file {self.path}: ignoring {what} ({why}); {streams} {READS_FROM_START}.")


def _message_type(item: dict[str, Any]) -> str | None:
    """STREAM, GLOBAL or LEGACY, from `type` or, when it is missing, from the keys that are there."""
    kind = item.get("type")
    if isinstance(kind, str) and kind.upper() in ("STREAM", "GLOBAL", "LEGACY"):
        return kind.upper()
    if kind is not None:
        return "UNKNOWN"
    for key, inferred in (("stream", "STREAM"), ("global", "GLOBAL"), ("data", "LEGACY")):
        if key in item:
            return inferred
    return None
