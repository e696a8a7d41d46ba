"""A leak post whose link imitates the CERT's own domain (issue #13 point 4), through the real engine and store.

A real ransomware.live post (Indigo ENT Group, health care, 2024-05-30) with its ``post_url`` rewritten in memory
to ``https://сert-sante.example/…``, a Cyrillic "с" in place of the CERT's "c": the email read from the outbox
shows it defanged and flagged in the text and HTML, links nowhere outside the allowed domains, and the
attachments carry it defanged, raw beside it, with the warning's code.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from textwrap import dedent
from typing import Any

from paths import DATA

from alertd.config.files import load_config
from alertd.intake.fetch import Fetcher
from alertd.render.links import allowed_domains, allowed_host
from alertd.service.engine import Engine
from alertd.store.sqlite import Store

NOW = datetime(2024, 5, 31, 12, 0, tzinfo=UTC)
POSTS = DATA / "leaks" / "ransomware-live_recentvictims_2024-05-31.json"
LOOKALIKE = "https://\u0441ert-sante.example/fuites/indigoent?p=173"
SHOWN = "hxxps://\u0441ert-sante[.]example/fuites/indigoent?p=173"
HOST = "\u0441ert-sante[.]example"
HREF = re.compile(r'<a\b[^>]*\bhref="([^"]*)"', re.IGNORECASE)


def _write_config(tmp: Path) -> Path:
    posts: list[dict[str, Any]] = json.loads(POSTS.read_bytes())
    post = next(p for p in posts if p["post_title"] == "www.indigoent.ca")
    post["post_url"] = LOOKALIKE
    (tmp / "leaks.json").write_text(json.dumps(posts, ensure_ascii=False), encoding="utf-8")
    (tmp / "establishments.yaml").write_text(
        dedent(
            """\
            establishments:
              - id: e-indigo
                name: Indigo ENT Group
                language: fr
                contacts: [{email: rssi@indigoent.example}]
                domains: [indigoent.ca]
            """
        )
    )
    (tmp / "subscriptions.yaml").write_text(
        "subscriptions:\n  - {name: all, establishments: all, min_severity: info, delivery: immediate}\n"
    )
    (tmp / "feeds.yaml").write_text(
        f"feeds:\n  - {{id: leaks, url: 'file://{tmp / 'leaks.json'}', format: leak-victims, kind: leak, "
        "interval: 1h, backlog_after: never}\n"
    )
    config = tmp / "alertd.yaml"
    config.write_text(
        dedent(
            """\
            state_dir: state
            feeds: feeds.yaml
            registry: establishments.yaml
            subscriptions: subscriptions.yaml
            operators: [soc@cert-sante.example]
            sender: {from: "CERT Santé <alertes@cert-sante.example>"}
            delivery: {method: maildir, maildir: maildir}
            """
        )
    )
    return config


def _poll(config_file: Path) -> tuple[list[EmailMessage], Engine]:
    config = load_config(config_file)
    store = Store.in_state_dir(config.settings.state_dir)
    engine = Engine(config, store)

    async def run() -> None:
        async with Fetcher(trust_env=False) as fetcher:
            report = await engine.poll(config.feeds[0], fetcher, NOW)
            assert report.ok and report.alerts == 1

    asyncio.run(run())
    emails = []
    for delivery in engine.dispatch(NOW):
        msg = message_from_bytes(store.message(delivery), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        emails.append(msg)
    return emails, engine


def test_a_lookalike_link_in_a_leak_post_is_defanged_flagged_and_never_a_link(tmp_path: Path) -> None:
    emails, engine = _poll(_write_config(tmp_path))
    assert len(emails) == 1
    msg = emails[0]
    text_part, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = str(text_part.get_content()), str(html_part.get_content())
    assert "[IMMINENT]" in msg["Subject"]

    for body in (text, html):
        assert "\u0441ert-sante.example" not in body and "xn--ert-sante" not in body
        assert "trompeur" in body and "plusieurs alphabets" in body and "\u26a0" in body
        assert HOST in body
    assert SHOWN in text and SHOWN in html.replace("<wbr>", "")
    # No link leaves the allowed domains; this one is none.
    allowed = allowed_domains(engine.config.settings.render)
    hrefs = HREF.findall(html)
    assert all(allowed_host(re.sub(r"^https?://([^/?#]+).*$", r"\1", href), allowed) for href in hrefs)
    assert not any("ert-sante" in href and "cert-sante.example" not in href for href in hrefs)

    parts = {part.get_filename(): part.get_content() for part in msg.iter_attachments()}
    table = parts["findings.csv"]
    assert isinstance(table, str)
    (row,) = csv.DictReader(io.StringIO(table.removeprefix("\ufeff")))
    assert row["link"] == SHOWN and row["link_raw"] == LOOKALIKE
    assert row["warnings"] == "mixed-script-host"
    assert row["indicator"] == "www[.]indigoent[.]ca" and row["indicator_raw"] == "www.indigoent.ca"
    document = parts["findings.json"]
    assert isinstance(document, bytes)
    (finding,) = json.loads(document)["findings"]
    assert finding["link"] == SHOWN and finding["link_raw"] == LOOKALIKE
    assert finding["warnings"] == ["mixed-script-host"]
