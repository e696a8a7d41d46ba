"""The later attacks of issue #13 (links, reach, secrets, mass events), against the real daemon (see ``siege.py``).

The light ones share one module fixture (a daemon each, a few at a time); the mass ones (8,000 C2 rows, 1.1 M leak
posts) run alone and are marked slow.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from paths import DATA
from siege import NORMAL_CONTACT, Attack, Besieged, Siege, besieged, every_part, parse, text_of
from smtp_server import SmtpTestServer

MESSAGE_LIMIT = 10_000_000  # bytes of a whole message: what relays accept (delivery.max_message_bytes' default)
CLINIC = "security@clinic-test.example"  # e-clinic, 154.12.224.0/19
HOMOGLYPH_HOST = "\u0441ert-sante.example"  # a Cyrillic "с" for the Latin "c" of cert-sante.example
SMTP_USER = "alertd"
SMTP_PASSWORD = "Tr0ub4dor&3-hostile"  # the test relay's own


def polled(feed: str = "hostile") -> Callable[[Siege], bool]:
    """A ``done`` condition: the hostile feed's poll ended at least once (in success or failure)."""

    def done(siege: Siege) -> bool:
        state = siege.feed_health(feed)
        return bool(state.get("last_success") or state.get("consecutive_failures"))

    return done


def polled_and_sent(needle: str, feed: str = "hostile") -> Callable[[Siege], bool]:
    """A ``done`` condition: :func:`polled`, and an email to the normal contact holds ``needle`` (the warning
    the poll's findings make is sent after the poll ends: stopping at the poll's end would race it)."""
    ended = polled(feed)

    def done(siege: Siege) -> bool:
        return ended(siege) and any(
            NORMAL_CONTACT in m.rcpt_tos and needle in text_of(parse(m.content)).lower() for m in siege.smtp.messages
        )

    return done


# -- defang: a leak post's link to a homoglyph host -------------------------------------------------------------


def homoglyph_post(siege: Siege) -> str:
    posts = [
        {
            "post_title": "CHU de Test",
            "group_name": "lockbit3",
            "discovered": "2026-11-30 10:00:00",
            "published": "2026-11-30 09:00:00",
            "post_url": f"https://{HOMOGLYPH_HOST}/leaks/chu-de-test",
            "website": "",
            "description": f"Files of CHU de Test, proof at https://{HOMOGLYPH_HOST}/proof",
        }
    ]
    siege.server.route("/posts.json", json.dumps(posts).encode(), headers={"Content-Type": "application/json"})
    return f"- {{id: hostile, url: '{siege.url('/posts.json')}', format: leak-victims, interval: 5s}}\n"


def hosts_linked(html: str) -> set[str]:
    """The hosts every ``href`` of an HTML part points to (percent-decoded, IDNA decoded)."""
    hosts = set()
    for href in re.findall(r"""href\s*=\s*["']([^"']*)["']""", html, flags=re.IGNORECASE):
        host = urllib.parse.urlsplit(urllib.parse.unquote(href)).hostname or ""
        with contextlib.suppress(UnicodeError, ValueError):
            host = host.encode("ascii").decode("idna")
        hosts.add(host)
    return hosts


# -- reach: a CSAF index listing a document on another origin ---------------------------------------------------


def csaf_other_origin(siege: Siege) -> str:
    other = siege.other_server()  # 127.0.0.1 too, on another port: another origin all the same
    siege.notes["other"] = other
    siege.server.serve_dir("/csaf/2024/", DATA / "csaf")
    other.serve_dir("/csaf/2024/", DATA / "csaf")
    index = f"2024/icsa-24-074-09.json\n{other.url('/csaf/2024/icsma-24-200-01.json')}\n"
    siege.server.route("/csaf/index.txt", index.encode(), headers={"Content-Type": "text/plain"})
    return (
        f"- {{id: hostile, url: '{siege.url('/csaf/index.txt')}', format: csaf, kind: vulnerability, interval: 5s}}\n"
    )


# -- small: a relay whose 535 reply echoes the credentials, base64-encoded -----------------------------------


class EchoingRelay(SmtpTestServer):
    """A relay that refuses every login with a 535 quoting what it was given, base64-encoded (some do)."""

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        plain = b"\0" + auth_data.login + b"\0" + auth_data.password
        echoed = f"{b64(auth_data.password)} {b64(plain)} {b64(auth_data.login + b':' + auth_data.password)}"
        return AuthResult(success=False, handled=False, message=f"535 5.7.8 authentication failed for {echoed}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def secret_forms() -> list[str]:
    """The relay password as it could leak: plain, base64 (alone, AUTH PLAIN, user:password), percent, hex."""
    password, user = SMTP_PASSWORD.encode(), SMTP_USER.encode()
    return [
        SMTP_PASSWORD,
        b64(password),
        b64(b"\0" + user + b"\0" + password),
        b64(user + b":" + password),
        urllib.parse.quote(SMTP_PASSWORD, safe=""),
        binascii.hexlify(password).decode(),
    ]


def echoing_relay(siege: Siege) -> str:
    password_file = siege.tmp / "smtp.password"
    password_file.write_text(SMTP_PASSWORD + "\n")
    password_file.chmod(0o600)
    siege.smtp_extra = f", username: {SMTP_USER}, password_file: smtp.password"
    return ""  # the normal feed alone: the attack is the relay's reply to every delivery


def logged_in(siege: Siege) -> bool:
    """The daemon tried to deliver (and was refused) at least once."""
    return siege.smtp.connections > 0


LIGHT = {
    "homoglyph": Attack(homoglyph_post, polled()),
    "csaf-origin": Attack(csaf_other_origin, polled()),
    "smtp-535": Attack(
        echoing_relay,
        logged_in,
        warned=False,
        smtp=lambda: EchoingRelay(tls="starttls", auth={SMTP_USER: SMTP_PASSWORD}),
    ),
}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Besieged]]:
    with besieged(LIGHT, tmp_path_factory.mktemp("pending")) as worlds:
        yield worlds


def test_a_leak_post_link_to_a_homoglyph_host_is_no_live_link_and_is_flagged(attacked: dict[str, Besieged]) -> None:
    outcome = attacked["homoglyph"].outcome
    outcome.assert_withstood()
    warned = [m for m in outcome.emails(NORMAL_CONTACT) if "lockbit3" in text_of(m).lower()]
    assert warned, [m["Subject"] for m in outcome.emails(NORMAL_CONTACT)]
    for msg in warned:
        html_part = msg.get_body(("html",))
        html = str(html_part.get_content()) if html_part is not None else ""
        assert not any("sante.example" in host for host in hosts_linked(html)), hosts_linked(html)
        text = text_of(msg)
        assert f"https://{HOMOGLYPH_HOST}" not in text and HOMOGLYPH_HOST not in re.sub(r"<[^>]*>", "", html)
        assert "\u0441ert-sante[.]example" in text  # shown, defanged
        assert "plusieurs alphabets" in text  # flagged, in the establishment's French
        assert "\u0441ert-sante[.]example" in every_part(msg).split(text, 1)[-1]  # in the attachments too


def test_a_csaf_index_listing_a_document_on_another_origin(attacked: dict[str, Besieged]) -> None:
    world = attacked["csaf-origin"]
    outcome = world.outcome
    outcome.assert_withstood()
    assert world.siege.server.count("/csaf/2024/icsa-24-074-09.json") >= 1  # the index's own: fetched
    assert world.siege.notes["other"].requests_under("/") == []  # another origin: never asked
    state = outcome.last_health()["feeds"]["hostile"]
    assert state["last_success"]  # the refused document does not sink the rest
    # Logged with its host (the document itself is named in run --once's report, tested in tests/intake).
    assert "index documents refused" in outcome.log


def test_a_relay_535_echoing_the_password_in_base64(attacked: dict[str, Besieged]) -> None:
    world = attacked["smtp-535"]
    outcome = world.outcome
    outcome.assert_alive()
    assert world.siege.smtp.connections > 0 and world.siege.smtp.messages == []
    outbox = outcome.last_health()["outbox"]
    assert outbox.get("sent", 0) == 0 and sum(outbox.values()) > 0  # kept in the outbox, not lost
    shown = [outcome.log, *(json.dumps(h.body) for h in outcome.health)]
    stored = b"".join(p.read_bytes() for p in outcome.state_db.parent.iterdir() if p.is_file())
    for form in secret_forms():
        assert not any(form in text for text in shown), form
        assert form.encode() not in stored, form


# -- bound: mass events, one at a time --------------------------------------------------------------------------


def c2_rows_in_one_slash_19(siege: Siege) -> str:
    rows = [f"154.12.{224 + i // 256}.{i % 256},443,QakBot" for i in range(8000)]
    siege.server.route("/hostile.csv", ("ip,port,malware\n" + "\n".join(rows) + "\n").encode())
    return f"""\
        - id: hostile
          url: '{siege.url("/hostile.csv")}'
          format: csv
          kind: compromise
          interval: 1h
          columns: {{ip: ip, port: port, malware: malware}}
        """


def clinic_warned(siege: Siege) -> bool:
    return any(CLINIC in m.rcpt_tos and b"154.12.224" in m.content for m in siege.smtp.messages) or any(
        CLINIC in m.rcpt_tos and len(m.content) > 1_000_000 for m in siege.smtp.messages
    )


@pytest.mark.slow
def test_8000_c2_rows_in_one_slash_19(tmp_path: Path) -> None:
    attack = Attack(c2_rows_in_one_slash_19, clinic_warned, at_least=12.0, at_most=120.0)
    with besieged({"c2-rows": attack}, tmp_path) as worlds:
        outcome = worlds["c2-rows"].outcome
    outcome.assert_withstood()
    assert all(len(m.content) < MESSAGE_LIMIT for m in outcome.messages), [len(m.content) for m in outcome.messages]
    mass = [m for m in outcome.emails(CLINIC) if "154.12.224" in every_part(m) or "154[.]12[.]224" in every_part(m)]
    assert len(mass) == 1  # one summary email for the establishment
    (summary,) = mass
    attachments = list(summary.iter_attachments())
    assert attachments, "the full list goes as an attachment"
    listed = {
        m.group(1, 2)
        for m in re.finditer(r"154(?:\.|\[\.\])12(?:\.|\[\.\])(\d+)(?:\.|\[\.\])(\d+)", every_part(summary))
    }
    assert {(str(224 + i // 256), str(i % 256)) for i in range(8000)} <= listed


def leak_posts(count: int) -> bytes:
    """``count`` leak-site posts in ransomware.live's shape, one of them, early in the list, naming an establishment
    (e-chu): the feed's max_entries (default 200,000) reads the list's start and leaves the rest unread."""
    posts = [
        {"post_title": f"Victim {i:07d} SA", "group_name": "lockbit3", "discovered": "2026-11-30"} for i in range(count)
    ]
    posts[1000] = {"post_title": "CHU de Test", "group_name": "hostilegroup", "discovered": "2026-11-30"}
    return json.dumps(posts, separators=(",", ":")).encode()


def a_million_leak_posts(siege: Siege) -> str:
    siege.server.route("/posts.json", leak_posts(1_100_000), headers={"Content-Type": "application/json"})
    return (
        f"- {{id: hostile, url: '{siege.url('/posts.json')}', format: leak-victims, interval: 1h, "
        "max_bytes: 400000000, timeout: 300}\n"
    )


@pytest.mark.slow
# max_entries bounds the parse (streamed: peak ~540 MiB, polled in under 30 s); the 200,000 entries read are encoded
# in a worker and written by the store's writer thread, one step at a time, so the loop and the normal feed go on.
def test_1_1_million_leak_posts(tmp_path: Path) -> None:
    attack = Attack(a_million_leak_posts, polled_and_sent("hostilegroup"), at_least=12.0, at_most=360.0)
    with besieged({"leak-posts": attack}, tmp_path) as worlds:
        outcome = worlds["leak-posts"].outcome
    outcome.assert_withstood()
    assert outcome.last_health()["feeds"]["hostile"]["last_success"]
    # The one post naming an establishment among 1.1 M reached it; the poll was cut at the default max_entries.
    assert outcome.events("cut at 200000 entries (max_entries)"), outcome.log[-3000:]
    assert any("hostilegroup" in text_of(m).lower() for m in outcome.emails(NORMAL_CONTACT))
