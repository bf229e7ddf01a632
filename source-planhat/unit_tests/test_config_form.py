"""The form's shapes (Region options, typed page sizes) and the config shapes from before the form."""

from __future__ import annotations

import logging

import pytest
from airbyte_cdk.sources.utils.schema_helpers import check_config_against_spec_or_exit
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_planhat import SourcePlanhat
from source_planhat.models import BY_STREAM
from source_planhat.source import parse_config

LOG = logging.getLogger("test")


def _parsed(config: dict):
    """What the CDK's entrypoint does before check, discover and read: the spec first, then the model."""
    check_config_against_spec_or_exit(config, SourcePlanhat().spec(LOG))
    return parse_config(config)


@pytest.mark.parametrize(
    "config, url",
    [
        ({"api_token": "t"}, "https://api.planhat.com"),
        ({"api_token": "t", "tenant_region": {"region": "api-eu3"}}, "https://api-eu3.planhat.com"),
        ({"api_token": "t", "region": "api-eu3"}, "https://api-eu3.planhat.com"),
        ({"api_token": "t", "region": "custom", "base_url": "http://x:1/"}, "http://x:1"),
        ({"api_token": "t", "tenant_region": {"region": "api-eu"}, "base_url": "http://x:1"}, "http://x:1"),
    ],
    ids=["default", "form", "older region", "older custom", "base_url wins"],
)
def test_every_region_shape_passes_the_spec_and_reaches_its_cluster(config, url):
    """What breaks if this fails: a config written before the form (a bare `region`, which every flow and .env
    file of this repository uses) is refused by the spec, or requests go to another tenant's cluster (401)."""
    assert _parsed(config).url == url


def test_a_region_given_both_ways_must_agree():
    with pytest.raises(AirbyteTracedException, match="different clusters"):
        _parsed({"api_token": "t", "tenant_region": {"region": "api-eu"}, "region": "api-us2"})


def test_page_sizes_are_typed_per_stream_with_each_models_default_and_maximum():
    spec = SourcePlanhat().spec(LOG).connectionSpecification["properties"]["page_sizes"]["properties"]
    assert set(spec) == set(BY_STREAM)
    for stream, model in BY_STREAM.items():
        assert (spec[stream]["default"], spec[stream]["maximum"]) == (model.default_page, model.max_page)
    config = _parsed({"api_token": "t", "page_sizes": {"conversations": 7}})
    assert config.page_size("conversations") == 7 and config.page_size("tickets") == BY_STREAM["tickets"].default_page
    with pytest.raises(AirbyteTracedException, match="unknown stream 'nope'"):
        _parsed({"api_token": "t", "page_sizes": {"nope": 5}})
