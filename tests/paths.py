"""Where the tests find the checkout and the feed samples."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
# The project's shared data beside the checkout (CI lays it there too): the full FINESS extract, more feed samples.
SHARED = ROOT.parent / "shared"
