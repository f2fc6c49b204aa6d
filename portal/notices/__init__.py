"""E-mail notices: what the outbox of events (portal.webhooks_out) means to people, sent by a task.

Each change's owner already records an event in its own transaction
(:func:`portal.webhooks_out.services.emit`); that is where notices start, so no owner sends mail
itself. See docs/notices.md.
"""
