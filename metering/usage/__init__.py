"""Usage events from outside systems (an RMM, a PSA, an import): licence starts/stops and metered usage."""
