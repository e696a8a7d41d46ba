"""PGP/MIME signing of rendered emails (RFC 3156), with python-gnupg over the gpg binary.

An establishment that knows the CERT's public key can check that a warning really comes from the CERT and was
not altered on the way. :class:`Signer` wraps a rendered email into ``multipart/signed``: the first part is the
original body (its ``Content-*`` headers and content, byte for byte), the second a detached, ASCII-armoured
signature over the exact CRLF bytes of that first part. The envelope headers (From, To, Subject, Date,
Message-ID, Auto-Submitted, In-Reply-To...) stay on the outer message.

The key lives in a GnuPG home folder (``state_dir/gnupg``), put there by the operator with
``gpg --homedir STATE_DIR/gnupg --import cert-signing-key.asc``.
"""

from __future__ import annotations

import hashlib
import re
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import gnupg  # type: ignore[import-untyped]

from alertd.domain.errors import PermanentDeliveryError
from alertd.domain.redaction import Redactor

MICALG = "pgp-sha256"
_SHA256 = "8"  # OpenPGP hash algorithm number (RFC 4880 §9.4), as gpg's SIG_CREATED status reports it
# The signed message is parsed back with this policy: headers are written out exactly as they were read.
_AS_READ = SMTP.clone(refold_source="none")
_HEX = re.compile(r"^(?:0[xX])?([0-9A-Fa-f]{8}|[0-9A-Fa-f]{16}|[0-9A-Fa-f]{40})$")
# gpg --with-colons validity: i invalid, d disabled, r revoked, e expired (gpg's doc/DETAILS).
_UNUSABLE = {"i": "invalid", "d": "disabled", "r": "revoked", "e": "expired"}


class SigningError(PermanentDeliveryError):
    """The email could not be signed: no usable key, a wrong passphrase, gpg missing or failing.

    The message names the GnuPG home and the key, never the passphrase.
    """


class Signer:
    """Signs emails with one secret key of a GnuPG home folder.

    ``key_id`` is a fingerprint, a long or short key id (``0x`` optional), or part of a user id such as its
    email address; when None, the home must hold exactly one secret key. ``passphrase`` unlocks the key (None:
    the key has none, or gpg-agent already holds it). Raises :class:`SigningError` when the home or the key
    cannot be used.
    """

    def __init__(
        self,
        gnupg_home: Path,
        key_id: str | None = None,
        passphrase: str | None = None,
        *,
        gpg_binary: str = "gpg",
    ) -> None:
        self.home = gnupg_home
        self._passphrase = passphrase
        if not gnupg_home.is_dir():
            raise SigningError(
                f"the GnuPG home {gnupg_home} does not exist; create it (mode 0700) and import the signing key: "
                f"gpg --homedir {gnupg_home} --import KEY.asc"
            )
        if passphrase is not None and ("\n" in passphrase or "\r" in passphrase):
            raise SigningError("the signing key's passphrase must be one line")
        try:
            self._gpg = gnupg.GPG(gpgbinary=gpg_binary, gnupghome=str(gnupg_home))
        except (OSError, ValueError) as exc:
            raise SigningError(f"cannot run {gpg_binary!r} for the GnuPG home {gnupg_home}: {exc}") from exc
        key = self._choose(self._gpg.list_keys(secret=True), key_id)
        self.fingerprint: str = key["fingerprint"]
        self.user_id: str = (key.get("uids") or [""])[0]

    def __repr__(self) -> str:
        return f"<Signer {self.fingerprint} in {self.home}>"

    def _choose(self, keys: list[dict[str, Any]], key_id: str | None) -> dict[str, Any]:
        home = self.home
        if not keys:
            raise SigningError(
                f"the GnuPG home {home} holds no secret key; "
                f"import the signing key: gpg --homedir {home} --import KEY.asc"
            )
        if key_id is None:
            if len(keys) > 1:
                listed = ", ".join(k["fingerprint"] for k in keys)
                raise SigningError(
                    f"the GnuPG home {home} holds {len(keys)} secret keys ({listed}); name the one to use"
                )
            chosen = keys[0]
        else:
            wanted = key_id.strip()
            hexa = _HEX.match(wanted)
            if hexa:
                matches = [k for k in keys if k["fingerprint"].upper().endswith(hexa.group(1).upper())]
            else:
                matches = [k for k in keys if any(wanted.lower() in uid.lower() for uid in k.get("uids", []))]
            if not matches:
                raise SigningError(f"no secret key {wanted!r} in the GnuPG home {home}")
            if len(matches) > 1:
                listed = ", ".join(k["fingerprint"] for k in matches)
                raise SigningError(
                    f"{wanted!r} names {len(matches)} secret keys in {home} ({listed}); give a fingerprint"
                )
            chosen = matches[0]
        validity = str(chosen.get("trust", ""))
        if validity in _UNUSABLE:
            raise SigningError(f"the signing key {chosen['fingerprint']} in {home} is {_UNUSABLE[validity]}")
        if "S" not in str(chosen.get("cap", "S")):
            raise SigningError(f"the key {chosen['fingerprint']} in {home} has no usable signing capability")
        return chosen

    def detached_signature(self, data: bytes) -> str:
        """An ASCII-armoured detached SHA-256 signature over ``data`` exactly (a binary, not a text, signature)."""
        extra = ["--digest-algo", "SHA256", "--personal-digest-preferences", "SHA256"]
        if self._passphrase is None:
            # Never let gpg wait for a pinentry that nobody will answer: fail at once if the key needs one.
            extra += ["--pinentry-mode", "loopback"]
        try:
            result = self._gpg.sign(
                data,
                keyid=self.fingerprint,
                passphrase=self._passphrase,
                detach=True,
                clearsign=False,
                binary=False,
                extra_args=extra,
            )
        except (OSError, ValueError) as exc:
            raise SigningError(self._redact(f"cannot sign with key {self.fingerprint} in {self.home}: {exc}")) from None
        signature = str(result)
        if not result or "-----BEGIN PGP SIGNATURE-----" not in signature:
            raise SigningError(self._redact(f"cannot sign with key {self.fingerprint} in {self.home}: {_why(result)}"))
        if result.hash_algo != _SHA256:
            raise SigningError(f"gpg signed with hash algorithm {result.hash_algo}, not SHA-256 as {MICALG} announces")
        return signature.replace("\r\n", "\n")

    def sign(self, msg: EmailMessage) -> EmailMessage:
        """``msg`` as a ``multipart/signed`` message (RFC 3156): its body first, then the signature.

        The result's ``as_bytes()`` carries the first part exactly as signed. Raises :class:`SigningError`.
        """
        raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        head, separator, body = raw.partition(b"\r\n\r\n")
        if not separator:
            head, body = raw.removesuffix(b"\r\n"), b""
        outer: list[bytes] = []
        content: list[bytes] = []
        for field in _fields(head):
            name = field.split(b":", 1)[0].strip().lower()
            if name.startswith(b"content-"):
                content.append(field)
            elif name != b"mime-version":
                outer.append(field)
        if not any(f.lower().startswith(b"content-type:") for f in content):
            content.insert(0, b'Content-Type: text/plain; charset="us-ascii"\r\n')
        part = b"".join(content) + b"\r\n" + body
        if not part.isascii():
            # RFC 3156 §3: signed data must be 7-bit, or a relay may re-encode it and break the signature.
            raise SigningError("the message has 8-bit content; render it with quoted-printable or base64 parts")
        signature = self.detached_signature(part)
        boundary = _boundary(part)
        signed = b"".join(
            [
                *outer,
                b"MIME-Version: 1.0\r\n",
                f'Content-Type: multipart/signed; micalg={MICALG};\r\n protocol="application/pgp-signature";\r\n'
                f' boundary="{boundary}"\r\n'.encode("ascii"),
                b"\r\n",
                b"This is an OpenPGP/MIME signed message (RFC 4880 and 3156).\r\n",
                f"--{boundary}\r\n".encode("ascii"),
                part,
                f"\r\n--{boundary}\r\n".encode("ascii"),
                b'Content-Type: application/pgp-signature; name="signature.asc"\r\n'
                b"Content-Description: OpenPGP digital signature\r\n"
                b'Content-Disposition: attachment; filename="signature.asc"\r\n'
                b"\r\n",
                signature.replace("\n", "\r\n").encode("ascii"),
                f"\r\n--{boundary}--\r\n".encode("ascii"),
            ]
        )
        result = message_from_bytes(signed, policy=_AS_READ)
        if not isinstance(result, EmailMessage) or result.as_bytes() != signed:
            # Never hand over a message whose transmitted bytes would differ from what was signed.
            raise SigningError("the signed message does not serialise back to the bytes that were signed")
        return result

    def _redact(self, text: str) -> str:
        # Every form of the passphrase, as for the SMTP password: gpg's output is not ours to trust.
        return Redactor(self._passphrase)(text)


def _fields(head: bytes) -> list[bytes]:
    """Header fields as raw bytes, continuation lines included, each ending with CRLF."""
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line + b"\r\n"
        else:
            fields.append(line + b"\r\n")
    return fields


def _boundary(part: bytes) -> str:
    # Derived from the content, like the renderer's: the same message signs to the same structure.
    digest = hashlib.sha256(part).hexdigest()[:32]
    boundary = f"=_alertd_s{digest}"
    counter = 0
    while boundary.encode("ascii") in part:
        counter += 1
        boundary = f"=_alertd_s{digest}_{counter}"
    return boundary


def _why(result: Any) -> str:
    """What gpg said about a failed signature, in a line: the likely cause first, then gpg's own words."""
    lines = [line.strip() for line in str(getattr(result, "stderr", "") or "").splitlines()]
    said = list(
        dict.fromkeys(line for line in lines if line.startswith("gpg:") and "as default secret key" not in line)
    )
    text = " ".join(said).lower()
    if "bad passphrase" in text:
        cause = "the passphrase is wrong"
    elif "can't get input" in text or "no passphrase given" in text:
        cause = "the key is protected by a passphrase and none was given"
    else:
        cause = str(getattr(result, "status", None) or "gpg produced no signature")
    return cause + (f" ({'; '.join(said[-3:])})" if said else "")


__all__ = ["MICALG", "Signer", "SigningError"]
