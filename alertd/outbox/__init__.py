"""Stage 5, outbox: the state store, the transports (Maildir, SMTP) and signing."""
