"""PGP/MIME signing (RFC 3156): a throw-away key, a rendered email, and the real ``gpg --verify`` on the bytes
an SMTP server received."""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from builders import MESSAGE_ID, RECIPIENTS, many_alerts, render
from configs import alertd, write_config
from http_server import FeedServer
from paths import DATA
from smtp_server import SmtpServerFactory

from alertd.domain.errors import DeliveryError
from alertd.send.signing import MICALG, Signer, SigningError
from alertd.send.transports import SmtpTransport

GPG = shutil.which("gpg")
pytestmark = pytest.mark.skipif(GPG is None, reason="the gpg binary is not installed")
UID = "CERT Test <alertes@cert-sante.example>"
PASSPHRASE = "correct horse battery staple"


@dataclass(frozen=True)
class Key:
    home: Path
    fingerprint: str


def _gpg(home: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert GPG is not None
    return subprocess.run(
        [GPG, "--homedir", str(home), "--batch", *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def _generate(home: Path, uid: str, passphrase: str = "") -> str:
    made = _gpg(home, "--pinentry-mode", "loopback", "--passphrase", passphrase, "--quick-gen-key", uid, "ed25519")
    assert made.returncode == 0, made.stderr.decode()
    listed = _gpg(home, "--with-colons", "--list-secret-keys", uid).stdout.decode()
    return next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))


@pytest.fixture(scope="module")
def homes() -> Iterator[list[Path]]:
    """Short GnuPG home paths (gpg-agent's socket path must stay short); agents stopped at the end."""
    made: list[Path] = []
    yield made
    gpgconf = shutil.which("gpgconf")
    for home in made:
        if gpgconf:
            subprocess.run([gpgconf, "--homedir", str(home), "--kill", "gpg-agent"], timeout=30, check=False)
        shutil.rmtree(home, ignore_errors=True)


def _home(homes: list[Path]) -> Path:
    home = Path(tempfile.mkdtemp(prefix="agpg", dir="/tmp"))
    home.chmod(0o700)
    homes.append(home)
    return home


@pytest.fixture(scope="module")
def key(homes: list[Path]) -> Key:
    """A GnuPG home holding one secret key without passphrase."""
    home = _home(homes)
    return Key(home, _generate(home, UID))


@pytest.fixture(scope="module")
def two_keys(homes: list[Path]) -> tuple[Key, Key]:
    """A GnuPG home holding two secret keys: one without passphrase, one protected by PASSPHRASE."""
    home = _home(homes)
    return Key(home, _generate(home, "Plain <plain@cert-sante.example>")), Key(
        home, _generate(home, "Locked <locked@cert-sante.example>", PASSPHRASE)
    )


def _split(transmitted: bytes) -> tuple[bytes, bytes]:
    """The signed part and the signature, cut out of a multipart/signed message exactly as transmitted."""
    message = email.message_from_bytes(transmitted, policy=email.policy.default)
    boundary = message.get_boundary()
    assert boundary is not None
    delimiter = f"\r\n--{boundary}".encode()
    start = transmitted.index(delimiter[2:] + b"\r\n") + len(delimiter)
    end = transmitted.index(delimiter, start)
    part = transmitted[start:end]
    signature_part = transmitted[end + len(delimiter) + 2 : transmitted.index(delimiter + b"--", end)]
    signature = signature_part.split(b"\r\n\r\n", 1)[1]
    return part, signature


def _verify(home: Path, part: bytes, signature: bytes, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    (tmp_path / "signed-part.eml").write_bytes(part)
    (tmp_path / "sig.asc").write_bytes(signature)
    return _gpg(home, "--status-fd", "1", "--verify", str(tmp_path / "sig.asc"), str(tmp_path / "signed-part.eml"))


def _deliver(message: bytes, smtp_server: SmtpServerFactory) -> bytes:
    server = smtp_server(tls="none")
    transport = SmtpTransport(server.smtp_settings(), None)

    async def go() -> None:
        try:
            await transport.send(message, "alertes@cert-sante.example", list(RECIPIENTS))
        finally:
            await transport.close()

    asyncio.run(go())
    (received,) = server.messages
    return received.content


def test_a_signed_email_verifies_with_gpg_as_received_and_not_once_tampered(
    key: Key, tmp_path: Path, smtp_server: SmtpServerFactory
) -> None:
    original = render(many_alerts(), in_reply_to="<first@cert-sante.example>")
    signed = Signer(key.home).sign(original)
    transmitted = _deliver(signed.as_bytes(), smtp_server)
    assert transmitted == signed.as_bytes()

    part, signature = _split(transmitted)
    assert signature.startswith(b"-----BEGIN PGP SIGNATURE-----\r\n")
    good = _verify(key.home, part, signature, tmp_path)
    assert good.returncode == 0, good.stderr.decode()
    status = good.stdout.decode()
    assert f"[GNUPG:] GOODSIG {key.fingerprint[-16:]}" in status
    validsig = next(line for line in status.splitlines() if line.startswith("[GNUPG:] VALIDSIG"))
    fields = validsig.split()
    assert fields[2] == key.fingerprint
    assert fields[9] == "8"  # SHA-256, as micalg=pgp-sha256 says
    assert fields[10] == "00"  # a signature of the binary document: the CRLF bytes exactly

    # One byte changed anywhere in the signed part, and gpg refuses it.
    for offset in (0, len(part) // 2, len(part) - 3):
        tampered = bytearray(part)
        tampered[offset] = ord("X") if tampered[offset] != ord("X") else ord("Y")
        bad = _verify(key.home, bytes(tampered), signature, tmp_path)
        assert bad.returncode != 0
        assert "BADSIG" in bad.stdout.decode()


def test_the_signed_message_keeps_the_envelope_outside_and_the_body_inside(key: Key) -> None:
    original = render(many_alerts(), in_reply_to="<first@cert-sante.example>")
    signed = email.message_from_bytes(Signer(key.home).sign(original).as_bytes(), policy=email.policy.default)
    assert isinstance(signed, EmailMessage)
    assert signed.get_content_type() == "multipart/signed"
    assert signed.get_param("protocol") == "application/pgp-signature"
    assert signed.get_param("micalg") == MICALG == "pgp-sha256"
    for name in ("From", "To", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References"):
        assert signed[name] == original[name], name
    assert signed["Auto-Submitted"] == "auto-generated"
    assert signed["Message-ID"] == MESSAGE_ID
    assert signed["Content-Language"] is None  # a content header: it moved into the signed part

    body, signature = signed.iter_parts()
    assert signature.get_content_type() == "application/pgp-signature"
    assert body.get_content_type() == "multipart/mixed"
    assert body["Content-Language"] == "fr"
    assert [p.get_content_type() for p in body.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/csv",
        "application/json",
    ]
    unsigned = email.message_from_bytes(original.as_bytes(), policy=email.policy.default)
    assert isinstance(unsigned, EmailMessage) and isinstance(body, EmailMessage)
    for kind in ("plain", "html"):
        mine, theirs = body.get_body((kind,)), unsigned.get_body((kind,))
        assert mine is not None and theirs is not None
        assert mine.get_content() == theirs.get_content()


def test_a_signing_error_is_a_delivery_error(tmp_path: Path) -> None:
    with pytest.raises(DeliveryError):
        Signer(tmp_path / "absent")


def test_the_key_is_found_by_fingerprint_key_id_or_email(two_keys: tuple[Key, Key]) -> None:
    plain, locked = two_keys
    assert Signer(plain.home, plain.fingerprint).fingerprint == plain.fingerprint
    assert Signer(plain.home, "0x" + plain.fingerprint[-16:]).fingerprint == plain.fingerprint
    assert Signer(plain.home, plain.fingerprint[-8:].lower()).fingerprint == plain.fingerprint
    assert Signer(plain.home, "locked@cert-sante.example").fingerprint == locked.fingerprint


def test_key_problems_are_explained(two_keys: tuple[Key, Key], tmp_path: Path) -> None:
    plain, _locked = two_keys
    with pytest.raises(SigningError, match=r"holds 2 secret keys .*name the one to use"):
        Signer(plain.home)
    with pytest.raises(SigningError, match=r"no secret key 'nobody@example.org'"):
        Signer(plain.home, "nobody@example.org")
    with pytest.raises(SigningError, match=r"names 2 secret keys"):
        Signer(plain.home, "cert-sante.example")
    with pytest.raises(SigningError, match=r"does not exist; create it .* --import KEY.asc"):
        Signer(tmp_path / "absent")
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)
    try:
        with pytest.raises(SigningError, match=r"holds no secret key"):
            Signer(empty)
    finally:
        gpgconf = shutil.which("gpgconf")
        if gpgconf:
            subprocess.run([gpgconf, "--homedir", str(empty), "--kill", "gpg-agent"], timeout=30, check=False)


def test_a_protected_key_needs_its_passphrase_which_never_shows(two_keys: tuple[Key, Key], tmp_path: Path) -> None:
    _plain, locked = two_keys
    message = render(many_alerts()[:1])
    # Wrong and missing passphrases first: once gpg-agent has the right one, it would not ask again.
    with pytest.raises(SigningError) as wrong:
        Signer(locked.home, locked.fingerprint, "not the passphrase at all").sign(message)
    assert "not the passphrase at all" not in str(wrong.value)
    assert locked.fingerprint in str(wrong.value) and "the passphrase is wrong" in str(wrong.value)
    with pytest.raises(SigningError, match="protected by a passphrase and none was given"):
        Signer(locked.home, locked.fingerprint).sign(message)  # fails at once, no pinentry waited for

    signer = Signer(locked.home, locked.fingerprint, PASSPHRASE)
    assert PASSPHRASE not in repr(signer)
    part, signature = _split(signer.sign(message).as_bytes())
    assert _verify(locked.home, part, signature, tmp_path).returncode == 0


def test_a_multiline_passphrase_is_refused(key: Key) -> None:
    with pytest.raises(SigningError, match="one line"):
        Signer(key.home, None, "two\nlines")


def test_eight_bit_content_is_refused(key: Key) -> None:
    message = EmailMessage()
    message["Subject"] = "raw"
    message.set_content("déjà vu", cte="8bit")
    with pytest.raises(SigningError, match="8-bit"):
        Signer(key.home).sign(message)


def test_alertd_signs_every_warning_it_sends(key: Key, tmp_path: Path, smtp_server: SmtpServerFactory) -> None:
    """The real ``alertd run --once`` with ``signing:`` set: what the SMTP server receives verifies with gpg."""
    server = smtp_server(tls="starttls")
    data = DATA
    with FeedServer() as feeds:
        feeds.serve_dir("/data/", data)
        feed_url = feeds.url("/data/abusech/feodotracker_ipblocklist_2024-04-04.csv")
        config = write_config(
            tmp_path,
            f"feeds:\n  - {{id: feodo, url: '{feed_url}', format: csv, interval: 1h, columns: {{ip: dst_ip}}}}\n",
            server,
        )
        config.write_text(config.read_text() + f"signing: {{gnupg_home: '{key.home}', key: '{key.fingerprint}'}}\n")
        result = alertd(config, "run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.messages) == 2
    for received in server.messages:
        message = email.message_from_bytes(received.content, policy=email.policy.default)
        assert message.get_content_type() == "multipart/signed"
        assert message["Auto-Submitted"] == "auto-generated" and message["Message-ID"]
        part, signature = _split(received.content)
        check = _verify(key.home, part, signature, tmp_path)
        assert check.returncode == 0, check.stderr.decode()
