"""Tax rates the reseller defines, and which one each client pays (or that it is exempt)."""
