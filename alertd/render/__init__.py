"""Stage 4, render: alerts into emails (templates, defanging, subject, attachments)."""
