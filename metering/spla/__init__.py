"""The SPLA report the reseller files with its distributor every month, and its per-core hosts."""
