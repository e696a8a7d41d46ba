"""Write the official-layout FINESS fixtures from real rows: ``python3 tests/data/finess/make_official.py``.

No public repository holds a 2021 ``etalab-cs1100507-stock`` file (../shared/finess/SOURCES.md), so the fixture is
rebuilt in that layout from real rows: the establishments below, taken from ``finess_et_20210108_all.csv.gz`` (the
flat table derived from the FHIR conversion of the 2021-01-08 extract), their long names (``rslongue``) from the
100 rows of ``etalab_small_20201231.csv`` where those have one without a replaced accent. Written twice: Latin-1
(as the 2021 file was) and UTF-8 (as the 2025+ files are), each with its ``geolocalisation`` rows, and the FHIR
fixtures: the same establishments' Organization and Location lines, verbatim from the shared tar.gz archives, as
ndjson and as a tar.gz.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[3] / "shared" / "finess"

CHOSEN = re.findall(
    r"\S+",
    # the hospitals of issue 14, a CHU, Paris and Marseille university hospitals
    "130002827 590000758 010000024 290001015 060000544 350000741 130783293 750100125 750803447 "
    # Corsica (2A, 2B)
    "2A0000022 2A0000154 2B0000012 "
    # overseas: Guadeloupe with Saint-Martin and Saint-Barthélemy, Martinique, Guyane (a name in quotes), Réunion
    "970100442 970100400 970112470 970200036 970300026 970300083 970400024 "
    # pharmacies and EHPADs, with accents in their names
    "020002747 060011343 070001920 970103008 010780922 010781029 020000634",
)
FIRST_OF_AIN = 12  # the first rows of department 01, which the historical file gives long names for

STREET_TYPES = frozenset(
    re.findall(
        r"\S+",
        "R AV BD PL RTE CHE ALL IMP QUA CRS SQ PAS QU RPT LOT CITE RES SEN SENT TRA VOIE HAM ZA ZI ZAC ESP PROM FG "
        "PARV MTE CAR DOM VLGE LD PRV CHS CTRE RLE VLA",
    )
)
OVERSEAS = {"9701": "9A", "9702": "9B", "9703": "9C", "9704": "9D"}


def street(line: str) -> tuple[str, str, str]:
    """(numvoie, typvoie, voie) of an address line such as ``900 RTE DE PARIS``."""
    found = re.fullmatch(r"(?:([0-9]+) )?([A-Z]+) (.+)", line)
    if found and found.group(2) in STREET_TYPES:
        return found.group(1) or "", found.group(2), found.group(3)
    found = re.fullmatch(r"([0-9]+) (.+)", line)
    return (found.group(1), "", found.group(2)) if found else ("", "", line)


def unquoted(value: str) -> str:
    """A name that the FHIR conversion kept with the extract's CSV quoting (doubled quotes inside quotes), as
    the establishment's name reads."""
    if len(value) > 1 and value.startswith('"') and value.endswith('"'):
        return next(csv.reader([value]))[0]
    return value


def main() -> None:
    with gzip.open(SHARED / "finess_et_20210108_all.csv.gz", "rt", encoding="utf-8", newline="") as flat:
        rows = list(csv.DictReader(flat, delimiter=";"))
    ain = [row["nofinesset"] for row in rows if row["nofinesset"].startswith("01")][:FIRST_OF_AIN]
    wanted = list(dict.fromkeys(CHOSEN + ain))
    by_et = {row["nofinesset"]: row for row in rows if row["nofinesset"] in wanted}
    with open(SHARED / "etalab_small_20201231.csv", encoding="utf-8", newline="") as small:
        long_names = {
            row["nofinesset"]: row["rslongue"]
            for row in csv.DictReader(small, delimiter=";")
            if "\ufffd" not in row["rslongue"]
        }
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    out.write("finess;etalab;95;2021-01-08\r\n")
    for et in sorted(wanted):
        row = by_et[et]
        numvoie, typvoie, voie = street(row["address_line_1"])
        department = OVERSEAS.get(et[:4], et[:2])
        writer.writerow(
            [
                "structureet", et, row["nofinessej"], unquoted(row["rs"]), long_names.get(et, ""), "", "",
                numvoie, typvoie, voie, "", row["address_line_2"], "", department, "",
                f"{row['codepostal']} {row['ville']}", row["telephone"], "", row["categetab"], row["libcategetab"],
                row["categagretab"], row["libcategagretab"], row["siret"], row["codeape"], "", "", row["codesph"],
                row["libsph"], row["dateouv"], "", row["datemaj"], "",
            ]
        )  # fmt: skip
    for et in sorted(wanted):
        out.write(f"geolocalisation;{et};;;;{by_et[et]['datemaj']}\r\n")
    text = out.getvalue()
    (HERE / "etalab-cs1100507-sample-latin1.csv").write_bytes(text.encode("latin-1"))
    (HERE / "etalab-cs1100507-sample-utf8.csv").write_bytes(text.encode("utf-8"))

    fhir: list[bytes] = []
    ids = {f"{by_et[et]['nofinessej']}-{et}" for et in wanted}
    for archive in sorted((SHARED / "fhir_flrt_20210108").glob("*.tar.gz")):
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                inner = tar.extractfile(member)
                for line in inner or ():
                    found = re.match(rb'\{"id": "([0-9AB]{9}-[0-9AB]{9})(?:-loc)?"', line)
                    if found and found.group(1).decode() in ids:
                        fhir.append(line)
    ndjson = b"".join(fhir)
    (HERE / "fhir-sample.ndjson").write_bytes(ndjson)
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        info = tarfile.TarInfo("fhir-sample.ndjson")
        info.size, info.mtime, info.mode = len(ndjson), 1611878400, 0o644  # a fixed date: the same bytes each run
        tar.addfile(info, io.BytesIO(ndjson))
    (HERE / "fhir-sample.tar.gz").write_bytes(packed.getvalue())


if __name__ == "__main__":
    main()
