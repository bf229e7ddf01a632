"""Fixtures shared by every package's tests, loaded through the `support_testkit` pytest plugin."""
