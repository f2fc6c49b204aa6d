"""The licence ledger: who held which product, from when to when."""
