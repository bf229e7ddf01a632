"""Everything the destination is handed, checked before it is used: config file, catalog, stdin.

One policy: a config or catalog that cannot be used is a `config_error` naming the file and what is
wrong (never its content, which may hold the API key); a stdin line that is not an Airbyte message
is a `BadInput` naming the line, raised only once everything before it was read (the writer then
commits and echoes what came before). Messages stay plain dicts: the CDK's models would drop fields
they do not know (the platform's state `id`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

SYNC_MODES = ("append", "overwrite", "append_dedup")
# Python's JSON decoder and encoder recurse once per level and share the interpreter's limit (1000
# frames): a record deeper than this could not be rendered, hashed or sent reliably. Real records
# are a few levels deep; the bound is there so a hostile one gets a message instead of a crash.
MAX_RECORD_DEPTH = 500
LONE_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class BadInput(Exception):
    """A line on stdin that is not an Airbyte message."""

    def __init__(self, line_number: int, problem: str) -> None:
        super().__init__(f"line {line_number} of the input is not an Airbyte message: {problem}")
        self.line_number = line_number


def config_error(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


# -- the config and catalog files ------------------------------------------------------------


def read_json_object(path: str, what: str) -> dict:
    """The JSON object in `path`; a config_error naming the file for anything else."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise config_error(f"Cannot read the {what} file {path}: {exc.strerror}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise config_error(f"The {what} file {path} is not UTF-8 text (byte {exc.start}).") from None
    if not text.strip():
        raise config_error(f"The {what} file {path} is empty; it must hold a JSON object.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc.msg and the position only: the text itself may hold the API key.
        raise config_error(
            f"The {what} file {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        raise config_error(f"The {what} file {path} is JSON nested too deep to read.") from None
    if not isinstance(value, dict):
        raise config_error(f"The {what} file {path} holds a JSON {json_type(value)}; it must hold a JSON object.")
    return value


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    return {dict: "object", list: "array", str: "string", type(None): "null"}.get(type(value), "number")


def check_catalog(catalog: Any, where: str = "the configured catalog") -> dict:
    """The configured catalog, with every field the writer reads checked; a config_error otherwise."""
    if not isinstance(catalog, dict):
        raise config_error(f"{where} must be a JSON object with `streams`, not a JSON {json_type(catalog)}.")
    streams = catalog.get("streams")
    if not isinstance(streams, list):
        raise config_error(f"{where} has no `streams` list.")
    for index, configured in enumerate(streams):
        at = f"{where}, streams[{index}]"
        stream = configured.get("stream") if isinstance(configured, dict) else None
        if not isinstance(stream, dict) or not isinstance(stream.get("name"), str) or not stream["name"]:
            raise config_error(f"{at}: each entry needs a `stream` object with a `name`.")
        at = f"{where}, stream {stream['name']!r}"
        if stream.get("namespace") is not None and not isinstance(stream["namespace"], str):
            raise config_error(f"{at}: `namespace` must be a string or null.")
        if stream.get("json_schema") is not None and not isinstance(stream["json_schema"], dict):
            raise config_error(f"{at}: `json_schema` must be an object.")
        mode = configured.get("destination_sync_mode")
        if mode is not None and mode not in SYNC_MODES:
            raise config_error(f"{at}: destination_sync_mode {mode!r} is not one of {', '.join(SYNC_MODES)}.")
        for name in ("primary_key", "source_defined_primary_key"):
            key = configured.get(name) if name == "primary_key" else stream.get(name)
            if key is not None and not is_key_paths(key):
                raise config_error(
                    f'{at}: `{name}` must be a list of field paths, each a list of names (e.g. [["id"]]).'
                )
        for name in ("generation_id", "minimum_generation_id", "sync_id"):
            value = configured.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise config_error(f"{at}: `{name}` must be a non-negative integer or null, not {value!r}.")
    return catalog


def is_key_paths(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(path, list) and path and all(isinstance(part, str) and part for part in path) for path in value
    )


# -- stdin -----------------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def repair_surrogates(value: Any) -> Any:
    """Lone UTF-16 surrogates (`"\\ud800"`) become U+FFFD: they are no character, and UTF-8 cannot carry them."""
    stack = [value]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in list(items):
            if isinstance(child, str):
                node[key] = LONE_SURROGATE.sub("\ufffd", child)
            elif isinstance(child, dict | list):
                stack.append(child)
            if isinstance(key, str) and LONE_SURROGATE.search(key):
                node[LONE_SURROGATE.sub("\ufffd", key)] = node.pop(key)
    return value


def depth_of(value: Any) -> tuple[int, list[str]]:
    """How deep objects and arrays nest in `value`, and the path to the deepest point; no recursion."""
    deepest, deepest_path = 0, []
    stack: list[tuple[Any, int, list[str]]] = [(value, 0, [])]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
            if depth > deepest:
                deepest, deepest_path = depth, path
            if depth > MAX_RECORD_DEPTH:
                break  # deep enough to refuse; no need to walk a hostile record to its end
            children = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((child, depth, [*path, str(key)]) for key, child in children if isinstance(child, dict | list))
    return deepest, deepest_path


def parse_line(number: int, raw: bytes | str) -> dict | None:
    """One stdin line as a checked Airbyte message (None for a blank line); BadInput otherwise."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(number, f"not UTF-8 (byte {exc.start} is {raw[exc.start]:#04x})") from None
    else:
        text = raw
    if not text.strip():
        return None
    try:
        message = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise BadInput(number, f"JSON nested deeper than this destination reads ({MAX_RECORD_DEPTH} levels)") from None
    except ValueError as exc:
        problem = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise BadInput(number, f"not JSON ({problem}): {text[:80]!r}") from None
    if LONE_SURROGATE_ESCAPE.search(text):
        repair_surrogates(message)
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadInput(number, f"no message type: {text[:80]!r}")
    kind = message["type"]
    if kind == "RECORD":
        record = message.get("record")
        if not isinstance(record, dict):
            raise BadInput(number, "a RECORD without a record object")
        if not isinstance(record.get("stream"), str) or not record["stream"]:
            raise BadInput(number, "a RECORD without a stream name")
        if record.get("namespace") is not None and not isinstance(record["namespace"], str):
            raise BadInput(number, "a RECORD whose namespace is not a string")
        if not isinstance(record.get("data"), dict):
            raise BadInput(number, "a RECORD without a data object")
    elif kind == "STATE":
        check_state(number, message.get("state"))
    elif kind == "TRACE" and not isinstance(message.get("trace"), dict):
        raise BadInput(number, "a TRACE without a trace object")
    return message


def check_state(number: int, state: Any) -> None:
    if not isinstance(state, dict):
        raise BadInput(number, "a STATE without a state object")
    kind = state.get("type")
    if kind is not None and kind not in ("STREAM", "GLOBAL", "LEGACY"):
        raise BadInput(number, f"a STATE of unknown type {kind!r}")
    if kind == "STREAM":
        stream = state.get("stream")
        descriptor = stream.get("stream_descriptor") if isinstance(stream, dict) else None
        if not isinstance(descriptor, dict) or not isinstance(descriptor.get("name"), str):
            raise BadInput(number, "a STREAM state without stream.stream_descriptor.name")
        if descriptor.get("namespace") is not None and not isinstance(descriptor["namespace"], str):
            raise BadInput(number, "a STREAM state whose namespace is not a string")
    if kind == "GLOBAL" and not isinstance(state.get("global"), dict):
        raise BadInput(number, "a GLOBAL state without a global object")
    if state.get("destinationStats") is not None and not isinstance(state["destinationStats"], dict):
        raise BadInput(number, "a STATE whose destinationStats is not an object")


class InputMessages:
    """stdin (bytes, or text in tests) as (line number, message) pairs, checked one line at a time.

    Reading bytes and decoding each line on its own means a bad byte fails its own line, not a
    read-ahead buffer holding lines before it that were never handed over.
    """

    def __init__(self, lines: Iterable[bytes | str]) -> None:
        self.lines = lines

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        for number, raw in enumerate(self.lines, 1):
            message = parse_line(number, raw)
            if message is not None:
                yield number, message
