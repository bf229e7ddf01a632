"""The form's options for a rejected record, and the bare string configs gave before them."""

from __future__ import annotations

import logging

import pytest
from airbyte_cdk.sources.utils.schema_helpers import check_config_against_spec_or_exit
from pydantic import ValidationError

from destination_dust import DestinationDust
from destination_dust.config import DustConfig, OnRejected

LOG = logging.getLogger("test")
IDS = {"api_key": "sk-test", "workspace_id": "w", "data_source_id": "dts_x"}


@pytest.mark.parametrize(
    "given, expected",
    [
        ({}, OnRejected.fail),
        ({"rejected_records": {"action": "skip_and_report"}}, OnRejected.skip_and_report),
        ({"on_rejected_record": "skip_and_report"}, OnRejected.skip_and_report),
        ({"rejected_records": {"action": "fail"}, "on_rejected_record": "fail"}, OnRejected.fail),
    ],
    ids=["default", "form", "older string", "both, agreeing"],
)
def test_each_shape_passes_the_spec_and_sets_the_choice_the_writer_reads(given, expected):
    """What breaks if this fails: a config written before the form (`"on_rejected_record": "skip_and_report"`)
    is refused by the spec the CDK checks before write, or the writer fails a sync the user asked to carry on."""
    config = {**IDS, **given}
    check_config_against_spec_or_exit(config, DestinationDust().spec(LOG))
    assert DustConfig.model_validate(config).on_rejected_record is expected


def test_a_choice_given_both_ways_must_agree():
    with pytest.raises(ValidationError, match="disagree"):
        DustConfig.model_validate(
            {**IDS, "rejected_records": {"action": "fail"}, "on_rejected_record": "skip_and_report"}
        )
