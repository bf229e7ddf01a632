"""The pytest11 entry point: importing a fixture here is what makes it visible to every package's tests."""

from testkit.emulators import serve_emulator
from testkit.postgres import pg_conn, pg_server_url, pg_url

__all__ = ["pg_conn", "pg_server_url", "pg_url", "serve_emulator"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes seconds rather than milliseconds; still runs by default")
    # The CDK's standard suites mark their Docker image tests so; dev.py deselects them without an engine.
    config.addinivalue_line("markers", "image_tests: needs a Docker engine")
