"""Cyberattacks reported in the press (format ``press-reports``): one observation per attack an article reported.

ransomware.live's ``allcyberattacks`` lists them as ``{date, victim, domain, country, summary, title, url,
added}``: the victim as the journalist named it ("Centre hospitalier d'Armentières"), its website's domain, the
article's title, link and a summary of it. The victim's name is the observation's text, scanned for
establishment names as a leak post's is; its domain is an indicator. The article's title and summary are kept as
the ``summary`` fact and left out of the scan: they name other organisations too (suppliers, customers, police).

The default kind is ``advisory``, not ``leak``: a press report says that an organisation was attacked, mostly
after the organisation said so itself; it is no criminal's claim to hold its data, which is what a ``leak``
finding tells (imminent, "check for theft"). An operator who wants press reports told otherwise sets the feed's
``kind`` or ``severity``. The same attack told by several articles (same victim, date and domain) is one entry.
"""

from __future__ import annotations

import hashlib
from typing import Any

from alertd.domain.errors import ParseError
from alertd.domain.facts import Fact, Facts
from alertd.domain.feeds import FeedSpec
from alertd.domain.values import Observation
from alertd.intake.formats import fields
from alertd.intake.formats.entries import Entries, bounded_entries
from alertd.intake.formats.jsondoc import Shape, list_items, utc_timestamp
from alertd.intake.formats.leaks import clean_title, country_code, website

MAX_NAME = 300  # characters of a victim's name: a name, not a document
MAX_ARTICLE_TITLE = 300
MAX_ATTR = 64  # a country code, a date


def parse(feed: FeedSpec, body: bytes) -> Entries:
    """One observation per reported attack with a victim name; reports without one, and repeats, are skipped. The
    list is read one report at a time, up to the feed's ``max_entries`` (``cut`` then).

    Raises :class:`ParseError` when the body is not JSON, not a list, or a list none of whose items is a press
    report (leak-site posts among them: format ``leak-victims`` reads those).
    """
    items = list_items(
        feed,
        body,
        "the press-report list",
        f"feed {feed.id!r}: the document is not a JSON list of press reports; format 'press-reports' reads "
        "ransomware.live allcyberattacks",
    )
    shape = Shape("victim", "post_title")
    observations = bounded_entries(feed, (_observation(feed, report) for report in shape.objects(items)))
    if shape.items and not shape.found:
        # Not an empty list, yet no report in it: a shape this format does not read must not pass for "no attacks".
        hint = (
            "the list holds leak-site posts: use format 'leak-victims' for this feed"
            if shape.other
            else "format 'press-reports' reads ransomware.live allcyberattacks"
        )
        raise ParseError(f"feed {feed.id!r}: no item of the list is a press report (an object with 'victim'); {hint}")
    return observations


def _observation(feed: FeedSpec, report: dict[str, Any]) -> Observation | None:
    raw = report.get("victim")
    name = clean_title(raw)[:MAX_NAME] if isinstance(raw, str) else ""
    if not name:
        return None
    domain = website(report.get("domain"))
    date = fields.clean(report.get("date"), MAX_ATTR, invisible=True)
    added = fields.clean(report.get("added"), MAX_ATTR, invisible=True)
    article = fields.clean(report.get("title"), MAX_ARTICLE_TITLE, invisible=True)
    told = fields.clean(report.get("summary"), fields.MAX_SUMMARY * 4, invisible=True)
    facts: dict[Fact | str, str] = {
        Fact.SUMMARY: fields.summary(" — ".join(part for part in (article, told) if part)),
        "country": fields.clean(report.get("country"), MAX_ATTR, invisible=True),
        "date": date,
        "added": added,
    }
    code = country_code(facts["country"])
    if code:
        facts[Fact.COUNTRY_CODE] = code
    key = "\x1f".join((name.casefold(), date, domain.value if domain is not None else ""))
    return Observation(
        feed=feed.id,
        entry=hashlib.sha256(key.encode()).hexdigest()[:32],
        kind=feed.kind,
        title=name,
        indicators=(domain,) if domain is not None else (),
        text=name,
        link=fields.web_link(fields.text(report.get("url"))),
        published=utc_timestamp(date) or utc_timestamp(added),
        facts=Facts.of(facts),
    )
