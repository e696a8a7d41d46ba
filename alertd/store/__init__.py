"""The state store: feed state, observations, findings, alerts and the outbox, in SQLite, with its codecs."""
