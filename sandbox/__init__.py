"""Sandbox platforms for `make run` and the tests: stand-ins of AWS WorkSpaces, WorkMail, Stripe and the
colo's Kamailio on 127.0.0.1 (:mod:`sandbox.platforms`), the supervisor that runs the Procfile
(:mod:`sandbox.supervisor`) and the `make run` entry point (:mod:`sandbox.run`).

Not part of a production installation's code path: the portal only sees the settings they produce.
"""
