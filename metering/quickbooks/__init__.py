"""QuickBooks Online sync: the connection, the records of what was sent, the sync run (docs/quickbooks.md)."""
