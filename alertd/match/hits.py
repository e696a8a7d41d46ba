"""What a lookup in the match index yields, shared by the address, domain and ASN lookups.

An outcome is decided when the index is built, so that matching an indicator is one lookup: the label of the
list that holds it back (a suppression), the establishments it hits, or nothing.
"""

from __future__ import annotations

Hit = tuple[str, str]  # (establishment id, the asset hit, as shown to the establishment)
Outcome = str | tuple[Hit, ...] | None  # a suppression label, the hits, or nothing

__all__ = ["Hit", "Outcome"]
