"""A configured catalog naming a stream the source does not offer, through a real `main.py read`."""

from __future__ import annotations

from airbyte_cdk.models import SyncMode

from source_pylon import SourcePylon
from source_pylon.source import STREAM_NAMES

from .conftest import Read, catalog, make_config


def test_an_unknown_stream_in_the_catalog_fails_as_a_config_error_before_any_request(pylon, tmp_path):
    """A typo in a raw catalog exited 0 with only STREAM_STATUS INCOMPLETE: the sync looked fine, read nothing."""
    server = pylon(size=5)
    read = Read(tmp_path, make_config(server), catalog("issues", "issue_document", mode=SyncMode.incremental))
    assert read.wait() != 0
    errors = [m["trace"]["error"] for _, m in read.of_type("TRACE") if m["trace"]["type"] == "ERROR"]
    assert len(errors) == 1 and errors[0]["failure_type"] == "config_error"
    message = errors[0]["message"]
    assert "'issue_document'" in message and "issue_documents" in message and "survey_responses" in message
    assert not read.of_type("RECORD") and not read.of_type("STATE")
    assert server.log.count() == 0  # failed before the first request, not after reading `issues`


def test_the_offered_streams_are_the_streams_the_source_builds(pylon):
    """The unknown-stream check and read() must agree on what exists, or a real stream would be refused."""
    source = SourcePylon()
    assert sorted(s.name for s in source.streams(make_config(pylon(size=1)))) == sorted(STREAM_NAMES)
