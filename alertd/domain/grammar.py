"""Host names, email addresses and CVE ids: the patterns every stage checks them against, in one place.

They differ on purpose, and each name says for what:

- what an operator writes (registry domains, warninglist entries) is a lower-case ASCII host name, A-labels for
  an IDN (:data:`ASCII_DOMAIN`);
- what the matcher compares is a host already lower-cased and IDNA-encoded, checked label by label
  (:data:`ASCII_LABEL`, :data:`ASCII_TLD`);
- what a feed writes in prose may be Unicode and in any case (:data:`DOMAIN_IN_TEXT`, :data:`EMAIL_IN_TEXT`);
- what an email shows may be Unicode too, and a version number such as ``13.1.49`` is no host
  (:data:`DISPLAYED_HOST`);
- a CVE id is checked whole where a feed gives one in a field of its own (:data:`CVE_ID`), and found where
  prose writes it, with the dashes word processors put in its place (:data:`CVE_IN_TEXT`).
"""

from __future__ import annotations

import re

# -- ASCII host names -----------------------------------------------------------------------------------------

#: A registry or warninglist domain: lower-case ASCII labels ("_" allowed, as DNS service names use it), a
#: top-level label of two or more characters, 253 characters at most.
ASCII_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
#: One label of a host the matcher compares (lower-case, IDNA-encoded): no hyphen at either end.
ASCII_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
#: Its top-level label: letters, or an IDNA A-label.
ASCII_TLD = re.compile(r"^(?:[a-z]{2,24}|xn--[a-z0-9-]{1,59})$")

# -- hosts and addresses written in prose -------------------------------------------------------------------------

# One label as feeds write it: letters or digits of any script at both ends, hyphens and underscores inside.
_TEXT_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
#: A domain in free text (group 1): labels, then a top-level label of letters or an A-label; not part of an
#: email address, a longer name or a file path.
DOMAIN_IN_TEXT = re.compile(
    rf"(?<![\w.@-])((?:{_TEXT_LABEL}\.)+(?:[^\W\d_]{{2,24}}|xn--[a-z0-9-]{{1,59}}))(?![\w-]|\.[\w-])",
    re.IGNORECASE,
)
#: An email address in free text.
EMAIL_IN_TEXT = re.compile(rf"(?<![\w.+%-])[\w.+%-]{{1,64}}@(?:{_TEXT_LABEL}\.)+[^\W\d_]{{2,24}}(?![\w-])")

# -- whole values ---------------------------------------------------------------------------------------------

#: A host name as an email shows it: dot-separated labels of any script, the last one starting with a letter
#: ("13.1.49" is a version, not a host); a trailing dot allowed.
DISPLAYED_HOST = re.compile(r"^(?:[\w-]+\.)+[^\W\d_][\w-]*\.?$")
#: An email address as an email shows it: something, "@", a dotted host.
DISPLAYED_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: A contact address in the registry: the same shape, without the angle brackets that would break out of a
#: mail header's address.
CONTACT_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
#: An email address in a feed's cell: the local part (64 characters at most), "@", the host (group 1).
EMAIL_CELL = re.compile(r"^[^@\s]{1,64}@([^@\s]+)$")

# -- CVE ids --------------------------------------------------------------------------------------------------

# CVE's sequence numbers have four digits or more; the bound keeps a hostile "CVE-2024-" followed by a
# megabyte of digits out of the store (the longest ids assigned so far have seven).
#: A CVE id, upper-case, as a feed's own field gives it and the store keeps it.
CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,12}$")
#: A CVE id in free text, any case, hyphens or Unicode dashes: the year (group 1) and sequence number (group 2).
CVE_IN_TEXT = re.compile(r"\bCVE[-\u2010\u2011\u2013](\d{4})[-\u2010\u2011\u2013](\d{4,12})\b", re.IGNORECASE)

__all__ = [
    "ASCII_DOMAIN",
    "ASCII_LABEL",
    "ASCII_TLD",
    "CONTACT_EMAIL",
    "CVE_ID",
    "CVE_IN_TEXT",
    "DISPLAYED_EMAIL",
    "DISPLAYED_HOST",
    "DOMAIN_IN_TEXT",
    "EMAIL_CELL",
    "EMAIL_IN_TEXT",
]
