"""Reading a feed's JSON body, the same way for every JSON format: UTF-8 (a BOM tolerated), one clear error."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import ParseError

if TYPE_CHECKING:
    from ..config import FeedConfig


def load_json(feed: FeedConfig, body: bytes, what: str, hint: str = "") -> Any:
    """The decoded JSON of ``body``; ParseError naming the feed and ``what`` (e.g. "the KEV catalog") otherwise.

    ``hint`` is appended to the invalid-JSON message: what the operator should check. A document nested too
    deeply for the decoder (a hostile feed) is refused the same way.
    """
    try:
        return json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"feed {feed.id!r}: {what} is not UTF-8 ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"feed {feed.id!r}: {what} is not valid JSON ({exc}){'; ' + hint if hint else ''}") from None
    except RecursionError:
        raise ParseError(f"feed {feed.id!r}: {what} nests JSON too deeply to be read") from None
