"""Airbyte's rules for a connector's form (spec.json) and its metadata.yaml, as checks that list problems.

The form rules come from Airbyte's connector specification reference
(docs.airbyte.com/platform/connector-development/connector-specification-reference) and what the UI's form
renderer needs: `order` unique per object, `group` only on top-level fields and declared in `groups`, a
`oneOf` field of `type: object` whose options are objects told apart by one `const` string field. The secret
rules reuse the CDK's own lint. Metadata is validated against Airbyte's published JSON schema (vendored in
`data/`, see its README) and against how the platform fills `allowedHosts` (airbyte-platform's
ConfigReplacer: `${a.b}` is the config value at a.b, reduced to its host; an entry naming a field the config
does not have is dropped).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from airbyte_cdk.test.standard_tests._spec_lint import find_secret_marking_errors

METADATA_SCHEMA = Path(__file__).with_name("data") / "ConnectorMetadataDefinitionV0.json"
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
# Keywords the form cannot render (anyOf/allOf: and the CDK's secret filter does not look through them).
UNRENDERED = ("$ref", "$defs", "definitions", "anyOf", "allOf")
CLASS_NAME = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+$")  # BusinessHours, SlaTarget
# Fields a user copies from somewhere else: the form shows an example of what to paste.
NEEDS_EXAMPLES = re.compile(r"(^|_)(id|url|host)$")
HOST = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def _properties(node: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = node.get("properties")
    return properties if isinstance(properties, Mapping) else {}


def _objects(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every object schema with properties, as (dotted path, schema): the root, nested objects, `oneOf`
    options (their fields answer to the property's own path, as in the CDK and ConfigReplacer) and the
    objects of arrays (`path[]`)."""
    if _properties(node):
        yield path, node
    for name, child in _properties(node).items():
        if isinstance(child, Mapping):
            yield from _objects(child, f"{path}.{name}" if path else name)
    for option in node.get("oneOf") or []:
        if isinstance(option, Mapping):
            yield from _objects(option, path)
    items = node.get("items")
    if isinstance(items, Mapping):
        yield from _objects(items, f"{path}[]")


def _field_paths(spec: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every field by dotted path: `connection.host` whichever `oneOf` option of `connection` declares it."""
    return {
        f"{path}.{name}" if path else name: child
        for path, node in _objects(spec)
        for name, child in _properties(node).items()
    }


def _walk(node: Any, pointer: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(node, Mapping):
        yield pointer, node
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{index}")


def _label(title: Any, where: str) -> list[str]:
    if not isinstance(title, str) or not title.strip():
        return [f"{where} has no title"]
    if CLASS_NAME.match(title):
        return [f"{where} is titled {title!r}, a class name: give it a plain title"]
    return []


def _described(description: Any, where: str) -> list[str]:
    if not isinstance(description, str) or not description.strip():
        return [f"{where} has no description"]
    if "\n" in description:
        return [f"{where}: the description spans lines; the form shows one line"]
    return []


def _valid(value: Any, schema: Mapping[str, Any]) -> bool:
    return jsonschema.Draft7Validator(schema).is_valid(value)


def _field_problems(where: str, name: str, field: Mapping[str, Any]) -> list[str]:
    problems = [*_label(field.get("title"), where), *_described(field.get("description"), where)]
    if "properties" in field and field.get("type") != "object":
        problems.append(f"{where} has properties but not `type: object`")
    if "pattern" in field and not field.get("pattern_descriptor"):
        problems.append(f"{where} has a pattern but no pattern_descriptor: the form would show the regex")
    enum = field.get("enum")
    if isinstance(enum, list) and len({json.dumps(v, sort_keys=True) for v in enum}) != len(enum):
        problems.append(f"{where}: enum values repeat")
    if "default" in field and not _valid(field["default"], field):
        problems.append(f"{where}: the default does not satisfy the field's own schema")
    examples = field.get("examples")
    if examples is not None:
        if not isinstance(examples, list) or not examples:
            problems.append(f"{where}: examples must be a non-empty list")
        elif not all(_valid(example, field) for example in examples):
            problems.append(f"{where}: an example does not satisfy the field's own schema")
    elif field.get("type") == "string" and NEEDS_EXAMPLES.search(name) and not field.get("airbyte_hidden"):
        problems.append(f"{where} holds an id, URL or host but gives no examples")
    if field.get("airbyte_secret") is True and field.get("type") != "string":
        problems.append(f"{where} is a secret but not a string")
    problems += _one_of_problems(where, field)
    return problems


def _one_of_problems(where: str, field: Mapping[str, Any]) -> list[str]:
    options = field.get("oneOf")
    if options is None:
        return []
    problems = [] if field.get("type") == "object" else [f"{where} has oneOf but not `type: object`"]
    if not isinstance(options, list) or len(options) < 2:
        return [*problems, f"{where}: oneOf needs at least two options"]
    titles = [option.get("title") for option in options]
    for index, option in enumerate(options):
        here = f"{where} option {index} ({option.get('title')!r})"
        if option.get("type") != "object":
            problems.append(f"{here} is not `type: object`")
        problems += [*_label(option.get("title"), here), *_described(option.get("description"), here)]
    if len(set(titles)) != len(titles):
        problems.append(f"{where}: option titles repeat")
    # The discriminator: a string field every option has, each with its own `const`, each required.
    shared = set.intersection(*(set(_properties(option)) for option in options))
    keys = [
        key
        for key in sorted(shared)
        if all("const" in _properties(option)[key] and key in option.get("required", []) for option in options)
    ]
    if len(keys) != 1:
        problems.append(f"{where}: the options need exactly one required `const` field they share, found {keys}")
    else:
        consts = [_properties(option)[keys[0]]["const"] for option in options]
        if len(set(map(str, consts))) != len(consts) or not all(isinstance(c, str) for c in consts):
            problems.append(f"{where}: the options' `{keys[0]}` consts must be distinct strings")
    return problems


def spec_problems(spec: Mapping[str, Any], secrets: set[str]) -> list[str]:
    """What Airbyte's form would render badly or wrongly in `spec` (a SPEC's `spec`, as in spec.json).

    `secrets` is the dotted path of every field that holds a secret: those, and only those, are
    `airbyte_secret`.
    """
    root = spec.get("connectionSpecification")
    if not isinstance(root, Mapping):
        return ["no connectionSpecification"]
    problems: list[str] = []
    if root.get("$schema") != DRAFT_07:
        problems.append(f"$schema is {root.get('$schema')!r}, not draft-07")
    if root.get("type") != "object" or not root.get("title"):
        problems.append("the connectionSpecification is not a titled `type: object`")
    try:
        jsonschema.Draft7Validator.check_schema(root)
    except jsonschema.SchemaError as error:
        problems.append(f"not a valid JSON schema: {error.message}")
    for pointer, node in _walk(root):
        problems += [
            f"{pointer or '/'} uses {key}, which the form does not render" for key in UNRENDERED if key in node
        ]

    for path, node in _objects(root):
        fields = _properties(node)
        orders = [field.get("order") for field in fields.values()]
        for name, field in fields.items():
            where = f"{path}.{name}" if path else name
            problems += _field_problems(where, name, field)
            if not isinstance(field.get("order"), int):
                problems.append(f"{where} has no integer order")
            if "group" in field and path:
                problems.append(f"{where} sets group, which only top-level fields may")
        duplicated = sorted({o for o in orders if isinstance(o, int) and orders.count(o) > 1})
        if duplicated:
            problems.append(f"{path or 'the top level'}: order {duplicated} used more than once")
        for name in node.get("required", []):
            if name not in fields:
                problems.append(f"{path or 'the top level'} requires {name!r}, which it does not declare")
            elif fields[name].get("airbyte_hidden"):
                problems.append(f"{path}.{name} is required but hidden: the user cannot fill it")
        items = node.get("items")
        if isinstance(items, Mapping) and items.get("type") == "object":
            problems += _label(items.get("title"), f"{path}[]")

    problems += _group_problems(root)
    problems += find_secret_marking_errors(root)
    marked = {path for path, field in _field_paths(root).items() if field.get("airbyte_secret") is True}
    problems += [f"{path} is marked airbyte_secret but holds no secret" for path in sorted(marked - secrets)]
    problems += [f"{path} holds a secret but is not airbyte_secret" for path in sorted(secrets - marked)]
    return problems


def _group_problems(root: Mapping[str, Any]) -> list[str]:
    groups = root.get("groups")
    fields = _properties(root)
    if not groups:
        return ["the spec declares no groups: the form shows every field in one card"]
    ids = [group.get("id") for group in groups]
    problems = [] if len(set(ids)) == len(ids) else [f"group ids repeat: {ids}"]
    problems += [f"group {group.get('id')!r} has no title" for group in groups if not group.get("title")]
    used = set()
    for name, field in fields.items():
        if field.get("group") in ids:
            used.add(field["group"])
        elif "group" in field:
            problems.append(f"{name} is in group {field['group']!r}, which groups does not declare")
        elif not field.get("airbyte_hidden"):
            problems.append(f"{name} is in no group: the form gives it a card of its own")
    visible = {f.get("group") for f in fields.values() if not f.get("airbyte_hidden")}
    problems += [f"group {gid!r} holds no visible field" for gid in ids if gid not in visible]
    return problems


@cache
def metadata_schema() -> dict[str, Any]:
    return json.loads(METADATA_SCHEMA.read_text())


def metadata_problems(metadata: Mapping[str, Any], spec: Mapping[str, Any], folder: str) -> list[str]:
    """What Airbyte's metadata schema and registry would refuse in `metadata` (a parsed metadata.yaml), and
    what does not agree with the connector's folder name or its spec."""
    validator = jsonschema.Draft7Validator(metadata_schema())
    problems = [
        f"{'.'.join(map(str, error.absolute_path)) or 'metadata'}: {error.message}"
        for error in validator.iter_errors(metadata)
    ]
    data = metadata.get("data")
    if not isinstance(data, Mapping):
        return problems
    # Formats the draft-07 checker does not verify without optional packages (uuid, uri).
    try:
        uuid.UUID(str(data.get("definitionId")))
    except ValueError:
        problems.append("definitionId is not a UUID")
    url = urlsplit(str(data.get("documentationUrl")))
    if url.scheme != "https" or not url.netloc:
        problems.append("documentationUrl is not an https URL")
    if data.get("documentationUrl") != spec.get("documentationUrl"):
        problems.append("documentationUrl differs from the spec's")
    if data.get("githubIssueLabel") != folder:
        problems.append(f"githubIssueLabel is {data.get('githubIssueLabel')!r}, not the folder name {folder!r}")
    if not str(data.get("dockerRepository", "")).endswith(f"/{folder}"):
        problems.append(f"dockerRepository does not end with /{folder}")
    if data.get("connectorType") != folder.split("-", 1)[0]:
        problems.append(f"connectorType {data.get('connectorType')!r} does not match the folder {folder!r}")
    if data.get("connectorType") == "source" and not isinstance(data.get("maxSecondsBetweenMessages"), int):
        problems.append("a source needs maxSecondsBetweenMessages: the platform times a silent source out")
    fields = _field_paths(spec.get("connectionSpecification", {}))
    for entry in (data.get("allowedHosts") or {}).get("hosts") or []:
        problems += _allowed_host_problems(str(entry), fields)
    return problems


def _allowed_host_problems(entry: str, fields: Mapping[str, Mapping[str, Any]]) -> list[str]:
    problems = [f"allowedHosts {entry!r} names {path!r}, no field of the spec" for path in PLACEHOLDER.findall(entry)
                if path not in fields]  # fmt: skip
    literal = PLACEHOLDER.sub("placeholder", entry)
    if not HOST.match(literal):
        problems.append(f"allowedHosts {entry!r} is not a host name (no scheme, port or path)")
    return problems
