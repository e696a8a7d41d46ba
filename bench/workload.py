"""The contract §7 matching workload, seeded and deterministic, built as objects (no YAML).

- a registry of 100,000 establishments with 200,000 networks (150,000 IPv4, 50,000 IPv6; some nested, some
  declared hosts inside cloud ranges), 150,000 domains, 1,000,000 software items, and a name for each
  establishment plus aliases for a fifth of them;
- 1,000,000 mixed indicators in observations of one to three: IPv4 and IPv6 addresses, CIDRs, domains, URLs,
  email addresses, ASNs and bare CVEs, about one address or domain in twenty hitting the registry and a
  few on benign lists;
- advisory and leak-site text for the name scanner.

    from bench.workload import build_registry, build_indicators, build_texts
"""

from __future__ import annotations

import ipaddress
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from alertd.domain.establishments import Establishment, Network, Registry, Software  # noqa: E402
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation, Product, VersionRange  # noqa: E402
from alertd.match.benign import default_benign  # noqa: E402

T = IndicatorType

# First octets of public IPv4 space (no 0, 10, 100, 127, 169, 172, 192, 198, 203, 224+).
_PUBLIC_V4_FIRST = [o for o in range(1, 224) if o not in (10, 100, 127, 169, 172, 192, 198, 203)]
# Mostly hosts and small blocks from access providers; a few /16s of university hospitals. Together about
# 0.2% of the IPv4 space, so that random addresses seldom hit by chance and the designed hits dominate.
_V4_LENGTHS = ((32, 250), (29, 150), (28, 150), (27, 100), (24, 300), (22, 40), (20, 9), (16, 1))
_V6_LENGTHS = ((48, 60), (56, 20), (64, 10), (128, 10))

_VENDORS = {
    "Citrix": ["NetScaler ADC", "NetScaler Gateway", "ShareFile", "StoreFront Server", "Workspace"],
    "Fortinet": ["FortiOS", "FortiProxy", "FortiManager", "FortiWeb", "FortiClient EMS"],
    "Microsoft": ["Exchange Server", "Windows Server", "SharePoint Server", "SQL Server", "Office", "Windows"],
    "Cisco": ["IOS XE", "Adaptive Security Appliance", "Identity Services Engine", "NX-OS", "IOS XR"],
    "Ivanti": ["Connect Secure", "Policy Secure", "Endpoint Manager Mobile", "Sentry"],
    "Palo Alto Networks": ["PAN-OS", "Expedition", "GlobalProtect"],
    "VMware": ["ESXi", "vCenter Server", "Workspace ONE Access"],
    "F5": ["BIG-IP", "BIG-IQ"],
    "Atlassian": ["Confluence Server", "Jira Server", "Bitbucket Server"],
    "SonicWall": ["SMA 100", "SonicOS"],
}
_SYLLABLES_TEXT = """
val mont bel ro che ville lan mar sau bour gne ta ris lo ven dre cour bri vi neu cha teau fon tai ne sa bl gra mi ra
vau pla ge bo is ber nay gi sors lu nel pe ri gu eux tou lon ar les ai x al bi cas tres
"""
_SYLLABLES = _SYLLABLES_TEXT.split()
_SAINTS = ("Saint-Joseph", "Sainte-Marie", "Saint-Martin", "Saint-Louis", "Sainte-Anne", "Saint-Vincent", "Notre-Dame")
_SITES = ("du Parc", "des Cèdres", "les Tilleuls", "de la Roseraie", "du Lac", "des Alpes", "de l'Espérance", "Pasteur")
_KINDS = (
    ("CH", "Centre Hospitalier de {place}", "CH {place}"),
    ("CHU", "Centre Hospitalier Universitaire de {place}", "CHU {place}"),
    ("clinique", "Clinique {saint} {place}", "Clinique {saint} de {place}"),
    ("EHPAD", "EHPAD {site} {place}", "Résidence {site} de {place}"),
    ("laboratoire", "Laboratoire {site} {place}", "Labo {site} {place}"),
    ("pharmacie", "Pharmacie {site} {place}", "Grande Pharmacie de {place}"),
)


def _place(rng: random.Random) -> str:
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
    place = word.capitalize()
    roll = rng.random()
    if roll < 0.15:
        place = f"Saint-{place}"
    elif roll < 0.25:
        place = f"{place}-sur-{''.join(rng.choice(_SYLLABLES) for _ in range(2)).capitalize()}"
    return place


def _catalogue(rng: random.Random, size: int = 3000) -> list[tuple[str, str]]:
    """(vendor, product) pairs: the real families above and synthetic vendors."""
    pairs = [(vendor, product) for vendor, products in _VENDORS.items() for product in products]
    while len(pairs) < size:
        vendor = "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize() + rng.choice(
            (" Software", " Systems", " Inc.", "", " Medical", " Networks")
        )
        for _ in range(rng.randint(1, 6)):
            product = rng.choice(("Dx", "Care", "Lab", "Imaging", "PACS", "RIS", "Gateway", "Portal", "Server"))
            pairs.append((vendor, f"{''.join(rng.choice(_SYLLABLES) for _ in range(2)).capitalize()} {product}"))
    return pairs[:size]


def _version(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.2:
        return None
    if roll < 0.3:
        return f"{rng.randint(10, 14)}.{rng.randint(0, 1)}-{rng.randint(40, 60)}.{rng.randint(1, 40)}"
    if roll < 0.4:
        return f"{rng.choice((2016, 2019))} CU{rng.randint(1, 23)}"
    if roll < 0.5:
        return f"10.0.{rng.randint(14393, 20348)}.{rng.randint(100, 5000)}"
    return f"{rng.randint(1, 9)}.{rng.randint(0, 4)}.{rng.randint(0, 20)}"


def _v4_network(rng: random.Random) -> Network:
    length = rng.choices([n for n, _ in _V4_LENGTHS], [w for _, w in _V4_LENGTHS])[0]
    address = (rng.choice(_PUBLIC_V4_FIRST) << 24) | rng.getrandbits(24)
    return ipaddress.IPv4Network((address >> (32 - length) << (32 - length), length))


def _v6_network(rng: random.Random) -> Network:
    length = rng.choices([n for n, _ in _V6_LENGTHS], [w for _, w in _V6_LENGTHS])[0]
    address = (0x2A00 << 112) | (rng.getrandbits(12) << 100) | rng.getrandbits(100)
    return ipaddress.IPv6Network((address >> (128 - length) << (128 - length), length))


def _cloud_hosts(rng: random.Random, count: int) -> list[Network]:
    """Declared hosts (/32) inside cloud ranges of the warninglists, as establishments renting a server."""
    cloud = [b for b in default_benign().networks if b[0] == 4 and b[3] == "warninglist:amazon-aws"]
    return [ipaddress.IPv4Network((rng.randint(b[1], b[2]), 32)) for b in rng.sample(cloud, min(count, len(cloud)))]


@dataclass(frozen=True)
class RegistryFigures:
    establishments: int
    networks_v4: int
    networks_v6: int
    domains: int
    software_items: int
    names_and_aliases: int


def build_registry(
    seed: int = 7,
    establishments: int = 100_000,
    networks: int = 200_000,
    domains: int = 150_000,
    software: int = 1_000_000,
) -> tuple[Registry, RegistryFigures]:
    """The registry of the workload, and what it holds."""
    rng = random.Random(seed)
    n_v4 = networks * 3 // 4
    nested = n_v4 // 100
    nets: list[Network] = [_v4_network(rng) for _ in range(n_v4 - 2 * nested)]
    nets += _cloud_hosts(rng, nested)
    # Nested networks of two establishments: a /26 inside another's block, as a GHT hosts its members.
    outers = [n for n in nets if n.prefixlen <= 24]
    for _ in range(n_v4 - len(nets)):
        outer = rng.choice(outers)
        inner: Network = ipaddress.IPv4Network(
            (int(outer.network_address) + rng.randrange(outer.num_addresses), 26), strict=False
        )
        nets.append(inner)
    nets += [_v6_network(rng) for _ in range(networks - len(nets))]
    rng.shuffle(nets)
    catalogue = _catalogue(rng)
    seen_names: set[str] = set()
    ests: dict[str, Establishment] = {}
    net_i = dom_i = sw_i = 0
    for n in range(establishments):
        est_id = f"{n:09d}"
        kind, name_pattern, alias_pattern = _KINDS[n % len(_KINDS)]
        while True:
            fields = {"place": _place(rng), "saint": rng.choice(_SAINTS), "site": rng.choice(_SITES)}
            name = name_pattern.format(**fields)
            if name not in seen_names:
                break
        seen_names.add(name)
        aliases = (alias_pattern.format(**fields),) if n % 5 == 0 else ()
        # Spread the totals evenly: each establishment takes its share, the last ones take the rest.
        take_nets = (n + 1) * len(nets) // establishments - net_i
        take_doms = (n + 1) * domains // establishments - dom_i
        take_sw = (n + 1) * software // establishments - sw_i
        own_domains = tuple(f"{kind.lower()}-{fields['place'].lower()}-{dom_i + k}.fr" for k in range(take_doms))
        items = []
        for _ in range(take_sw):
            # A few products (Windows, Exchange, FortiOS...) run almost everywhere; the rest is a long tail.
            if rng.random() < 0.3:
                vendor, product = catalogue[rng.randrange(40)]
            else:
                vendor, product = catalogue[rng.randrange(len(catalogue))]
            version = _version(rng)
            if version is not None and rng.random() < 0.1:
                cpe_vendor, cpe_product = vendor.lower().replace(" ", "_"), product.lower().replace(" ", "_")
                items.append(Software(vendor, product, version, f"cpe:2.3:a:{cpe_vendor}:{cpe_product}:{version}"))
            else:
                items.append(Software(vendor, product, version))
        ests[est_id] = Establishment(
            id=est_id,
            name=name,
            aliases=aliases,
            kind=kind,
            region="R" + str(n % 18),
            networks=tuple(nets[net_i : net_i + take_nets]),
            asns=(64512 + n,) if n % 3 == 0 else (),
            domains=own_domains,
            software=tuple(items),
        )
        net_i, dom_i, sw_i = net_i + take_nets, dom_i + take_doms, sw_i + take_sw
    registry = Registry(MappingProxyType(ests), ())
    figures = RegistryFigures(
        establishments=len(ests),
        networks_v4=sum(1 for e in ests.values() for x in e.networks if x.version == 4),
        networks_v6=sum(1 for e in ests.values() for x in e.networks if x.version == 6),
        domains=sum(len(e.domains) for e in ests.values()),
        software_items=sum(len(e.software) for e in ests.values()),
        names_and_aliases=sum(1 + len(e.aliases) for e in ests.values()),
    )
    return registry, figures


# The share of addresses and domains drawn from the registry. Real feeds hit a national health registry far
# more rarely (2,000 warnings a year); 5% keeps the finding path well exercised.
HIT_RATE = 0.05
# Shares of each indicator type in the mixed workload, in percent: abuse feeds are addresses, hosts and URLs;
# bare CVEs are rare in them, but each hits hundreds of software items.
_MIX = (
    ("ipv4", 40),
    ("ipv6", 8),
    ("cidr", 4),
    ("domain", 25),
    ("url", 14),
    ("email", 5),
    ("asn", 2.98),
    ("cve", 0.02),
)


def build_indicators(
    registry: Registry, seed: int = 11, count: int = 1_000_000
) -> tuple[list[Observation], dict[str, list[Product]]]:
    """``count`` mixed indicators in observations of one to three, and the catalogue for the bare CVEs."""
    rng = random.Random(seed)
    ests = list(registry.establishments.values())
    v4 = [n for e in ests for n in e.networks if n.version == 4]
    v6 = [n for e in ests for n in e.networks if n.version == 6]
    domains = [d for e in ests for d in e.domains]
    benign = default_benign()
    popular = [d for d, label in benign.domains.items() if label == "warninglist:tranco10k"]
    cloud = [b for b in benign.networks if b[0] == 4]
    catalogue = sorted({(sw.vendor, sw.product) for e in ests for sw in e.software})
    cve_products: dict[str, list[Product]] = {}
    for k in range(2000):
        vendor, product = rng.choice(catalogue)
        ranges = (VersionRange(start_including="1.0", end_excluding=f"{rng.randint(2, 9)}.{rng.randint(0, 4)}"),)
        cve_products[f"CVE-2024-{10000 + k}"] = [Product(vendor, f"{product} and Other Thing", ranges)]
    cves = list(cve_products)

    def host() -> str:
        roll = rng.random()
        if roll < HIT_RATE:
            return f"{rng.choice(('vpn', 'mail', 'www', 'portail'))}.{rng.choice(domains)}"
        if roll < HIT_RATE + 0.05:
            return rng.choice(popular)
        word = "".join(rng.choice(_SYLLABLES) for _ in range(3))
        return f"{word}{rng.randint(0, 999)}.{rng.choice(('com', 'ru', 'xyz', 'top', 'fr'))}"

    def address_v4() -> str:
        roll = rng.random()
        if roll < HIT_RATE:
            net = rng.choice(v4)
            return str(ipaddress.IPv4Address(int(net.network_address) + rng.randrange(net.num_addresses)))
        if roll < HIT_RATE + 0.04:
            block = rng.choice(cloud)
            return str(ipaddress.IPv4Address(rng.randint(block[1], block[2])))
        if roll < HIT_RATE + 0.06:
            return f"192.168.{rng.randrange(256)}.{rng.randrange(256)}"
        return str(ipaddress.IPv4Address((rng.choice(_PUBLIC_V4_FIRST) << 24) | rng.getrandbits(24)))

    def indicator(kind: str) -> Indicator:
        if kind == "ipv4":
            return Indicator(T.IPV4, address_v4())
        if kind == "ipv6":
            if rng.random() < HIT_RATE:
                net = rng.choice(v6)
                return Indicator(T.IPV6, str(net.network_address + rng.randrange(min(net.num_addresses, 2**64))))
            return Indicator(T.IPV6, str(ipaddress.IPv6Address((0x2A00 << 112) | rng.getrandbits(112))))
        if kind == "cidr":
            base = ipaddress.IPv4Address(address_v4())
            length = rng.choice((24, 26, 28, 29, 30))
            return Indicator(T.CIDR, str(ipaddress.IPv4Network((int(base) >> (32 - length) << (32 - length), length))))
        if kind == "domain":
            return Indicator(T.DOMAIN, host())
        if kind == "url":
            where = address_v4() if rng.random() < 0.2 else host()
            return Indicator(T.URL, f"http://{where}/{rng.choice(('bin.sh', 'login.php', 'x/y.exe', ''))}")
        if kind == "email":
            return Indicator(T.EMAIL, f"{rng.choice(('rh', 'admin', 'finance'))}@{host()}")
        if kind == "asn":
            return Indicator(T.ASN, str(64512 + rng.randrange(1_000_000)))
        return Indicator(T.CVE, rng.choice(cves))

    kinds = [k for k, _ in _MIX]
    weights = [w for _, w in _MIX]
    observations: list[Observation] = []
    made = 0
    while made < count:
        size = min(rng.randint(1, 3), count - made)
        inds = tuple(indicator(k) for k in rng.choices(kinds, weights, k=size))
        observations.append(
            Observation(
                feed="bench",
                entry=f"e{len(observations)}",
                kind=FeedKind.COMPROMISE,
                title="bench observation",
                indicators=inds,
            )
        )
        made += size
    return observations, cve_products


_PROSE_FR_TEXT = (
    "le groupe revendique une attaque contre plusieurs établissements de santé et publie des données "
    "volées sur son site de fuite ; les fichiers contiennent des dossiers patients, des factures et des "
    "courriels internes. une vulnérabilité critique permet l'exécution de code à distance sur les "
    "équipements exposés, le CERT recommande d'appliquer les correctifs sans délai et de rechercher des "
    "traces de compromission dans les journaux. hôpital clinique pharmacie laboratoire réseau sécurité "
    "rançongiciel exfiltration chiffrement sauvegarde messagerie"
)
_PROSE_FR = _PROSE_FR_TEXT.split()
_PROSE_EN_TEXT = (
    "the ransomware group claims an attack on several healthcare organisations and posted stolen data on "
    "its leak site; the archive holds patient records, invoices and internal email. a critical "
    "vulnerability allows remote code execution on exposed appliances and administrators should patch "
    "immediately and hunt for signs of compromise in their logs. hospital clinic pharmacy laboratory "
    "network security exfiltration encryption backup"
)
_PROSE_EN = _PROSE_EN_TEXT.split()


def build_texts(registry: Registry, seed: int = 13, megabytes: float = 30.0) -> Iterator[str]:
    """Advisories and leak-site posts of 1 to 4 KB: prose with place names, and in a quarter of them an
    establishment's name or alias written as people write it (upper case, accents dropped, no hyphens)."""
    rng = random.Random(seed)
    ests = list(registry.establishments.values())
    places = [e.name.rsplit(" ", 1)[-1] for e in ests[:5000]]  # the place closes every generated name
    total = int(megabytes * 1_000_000)
    made = 0
    while made < total:
        words: list[str] = []
        target = rng.randint(1000, 4000)
        length = 0
        while length < target:
            word = (
                rng.choice(places)
                if rng.random() < 0.005
                else rng.choice(_PROSE_FR if rng.random() < 0.6 else _PROSE_EN)
            )
            words.append(word)
            length += len(word) + 1
        # A leak-site post names its victim, once or twice; most advisories name no establishment.
        if rng.random() < 0.25:
            est = rng.choice(ests)
            name = rng.choice((est.name, *est.aliases))
            for _ in range(rng.randint(1, 2)):
                written = rng.choice((name, name.upper(), name.replace("é", "e").replace("-", " ")))
                words.insert(rng.randrange(len(words) + 1), written)
        text = " ".join(words)
        made += len(text.encode())
        yield text
