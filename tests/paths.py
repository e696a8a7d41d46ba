"""Where the tests find the checkout and the feed samples."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared"  # the project's shared data, beside the checkout (CI lays a copy there too)
