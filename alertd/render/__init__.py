"""Stage 4, render: alerts into emails, in the establishment's language.

``email`` builds the message from ``context`` (the template values), ``catalog`` (the words, from the gettext
catalogs in ``locale/``), ``environment`` (Jinja2 and the CSS inliner), ``defang``, ``headers`` and
``attachments``; ``notices`` are the operators' plain emails.
"""
