"""Backups: ``seatmeter backup PATH`` and ``seatmeter restore PATH`` (docs/operations.md)."""
