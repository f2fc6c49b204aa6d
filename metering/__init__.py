"""Metering engine: licence ledger, SPLA-style counting, rating, month close and invoicing."""
