"""Provisioning engine: seat lifecycle state machine, Celery tasks and platform adapters (issue 4)."""
