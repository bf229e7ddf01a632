"""Stateful fakes of the Pylon, Planhat and Dust APIs, served over real HTTP.

`kit` holds what every emulator shares (server, rate limits, faults, request log, fake data);
each API lives in its own module and is started in-process by a pytest fixture or as
`python -m emulators <name> --port N` for the demo and docker-compose.
"""
