"""``python -m alertd``: the ``alertd`` command."""

from alertd.service.launch import main

raise SystemExit(main())
