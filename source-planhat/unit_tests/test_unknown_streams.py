"""A configured catalog naming a stream the source does not offer, through a real `main.py read`."""

from __future__ import annotations

from source_planhat import SourcePlanhat
from source_planhat.source import STREAM_NAMES

from .conftest import Read, catalog_of, config_for


def test_an_unknown_stream_in_the_catalog_fails_as_a_config_error_before_any_request(planhat, tmp_path):
    """A typo in a raw catalog exited 0 with only STREAM_STATUS INCOMPLETE: the sync looked fine, read nothing."""
    server = planhat()
    read = Read(tmp_path, config_for(server), catalog_of(["companies", "company_document", "nope"]))
    assert read.wait() != 0
    errors = [m["trace"]["error"] for _, m in read.of_type("TRACE") if m["trace"]["type"] == "ERROR"]
    assert len(errors) == 1 and errors[0]["failure_type"] == "config_error"
    message = errors[0]["message"]
    assert "'company_document' (did you mean 'company_documents'?)" in message and "'nope'" in message
    assert all(name in message for name in STREAM_NAMES)
    assert not read.of_type("RECORD") and not read.of_type("STATE")
    assert server.log.count() == 0  # failed before the first request, not after reading `companies`


def test_the_offered_streams_are_the_streams_the_source_builds(planhat):
    """The unknown-stream check and read() must agree on what exists, or a real stream would be refused."""
    streams = SourcePlanhat().streams(config_for(planhat()))
    assert sorted(s.name for s in streams) == sorted(STREAM_NAMES)
