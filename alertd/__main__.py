"""``python -m alertd``: the ``alertd`` command."""

from alertd.service.cli import main

raise SystemExit(main())
