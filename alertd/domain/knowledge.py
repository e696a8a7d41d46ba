"""What the sources have said about each vulnerability: the knowledge a vulnerability finding is judged by.

Every feed entry that cites a CVE says something about it: NVD and CSAF which products and versions it affects
(and which are fixed), KEV that it is exploited in the wild, NVD and CSAF its CVSS score, EPSS how likely its
exploitation is. The store keeps each source's last word per CVE (:class:`Statement`), across feeds and polls,
even after a feed stops listing the entry: a KEV entry polled today is judged with the ranges NVD published last
month. The matcher reads them as a :data:`Knowledge` mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from alertd.domain.values import Observation, Product

EPSS = "epss"  # the extra facts an EPSS feed gives (the probability of exploitation in the next 30 days)
EPSS_PERCENTILE = "epss_percentile"


@dataclass(frozen=True, slots=True)
class Statement:
    """What one source (a feed's entry) says of one CVE."""

    feed: str
    entry: str
    products: tuple[Product, ...] = ()  # the products it names, each with what it says of their versions
    exploited: bool = False  # it says the vulnerability is exploited in the wild
    cvss: str | None = None  # the CVSS base score as the source wrote it
    epss: str | None = None  # the EPSS probability as the source wrote it

    @classmethod
    def of(cls, obs: Observation) -> Statement:
        """What an observation says of the CVEs it cites."""
        return cls(
            obs.feed,
            obs.entry,
            obs.products,
            obs.exploited,
            obs.facts.cvss,
            obs.facts.extra.get(EPSS),
        )

    @property
    def source(self) -> str:
        """The source as a finding names it: the feed, and the advisory when the entry is not the CVE itself."""
        if self.entry.upper().startswith("CVE-"):
            return self.feed
        return f"{self.feed}, {self.entry.partition('#')[0]}"  # a CSAF entry is "<advisory>#<CVE>"

    @property
    def says_something(self) -> bool:
        """Whether it tells more than the CVE's id: products, exploitation, a score."""
        return bool(self.products) or self.exploited or self.cvss is not None or self.epss is not None


# CVE id → what each source says of it, in no particular order.
Knowledge = Mapping[str, Sequence[Statement]]
NO_KNOWLEDGE: Knowledge = {}
