"""PSA sync: a client's agreement additions in the PSA follow the month's billed quantities."""
