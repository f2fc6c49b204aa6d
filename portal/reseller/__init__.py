"""The reseller console: the business at a glance, monthly bill review, exports to the books."""
