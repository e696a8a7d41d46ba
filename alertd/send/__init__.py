"""Stage 5, send: a rendered email out of the outbox, through a Maildir or an SMTP server, signed if asked."""
