"""Committed-seat contracts: a client pays for at least N seats of a product each month."""
