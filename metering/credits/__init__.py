"""Credit notes, payments and what is left to pay on each invoice (see docs/credit-notes-and-payments.md)."""
