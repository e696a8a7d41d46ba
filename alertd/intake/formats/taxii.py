"""TAXII 2.1 collections (format ``taxii``): the STIX objects of a collection's pages, read as one bundle.

The pages are fetched by :mod:`alertd.intake.taxii` (the protocol, over ``taxii2-client``); here each page's
envelope is checked and its objects gathered into one STIX bundle, which the ``stix`` parser reads as it reads a
bundle served whole: TLP markings, indicators, malware names and reports work the same. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedSpec
from alertd.domain.values import Observation
from alertd.intake.formats import stix


def envelope_objects(feed_id: str, envelope: Any) -> list[dict[str, Any]]:
    """The STIX objects of one TAXII envelope (a page of ``Get Objects``); ParseError when it is no envelope.

    An empty envelope (``{}``, what a server answers when nothing matches) holds no objects; items of
    ``objects`` that are not JSON objects are left out, as the STIX parser leaves them out of a bundle.
    """
    if not isinstance(envelope, dict):
        raise ParseError(
            f"feed {feed_id!r}: the server's answer is not a TAXII envelope (a JSON object); check that the url "
            "is a TAXII 2.1 collection's"
        )
    objects = envelope.get("objects", [])
    if not isinstance(objects, list):
        raise ParseError(f"feed {feed_id!r}: the TAXII envelope's 'objects' is not a list")
    return [obj for obj in objects if isinstance(obj, dict)]


def bundle(objects: list[dict[str, Any]]) -> bytes:
    """The objects read from a collection as one STIX bundle, the body the poll stores and parses."""
    # No id: the bundle is alertd's wrapping of the pages, not a document of the source.
    return json.dumps({"type": "bundle", "objects": objects}, ensure_ascii=False, separators=(",", ":")).encode()


def parse(feed: FeedSpec, body: bytes) -> list[Observation]:
    """One observation per indicator of the collection's objects (see :func:`alertd.intake.formats.stix.read`)."""
    return stix.parse(feed, body)
