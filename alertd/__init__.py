"""alertd: poll threat feeds, match them against a registry of health establishments, warn each one by email."""

from __future__ import annotations

__version__ = "0.1.0"
