"""The address column read as arrays (``csvbulk``): a row it calls plain is read by ``csv`` to the same address,
whatever the quoting around it; the rows it cannot vouch for are handed back; bodies it cannot cut as the row path
does are refused whole. (tests/match/test_batch.py checks the findings against the row path.)"""

from __future__ import annotations

import csv
import random
import socket

import pytest

from alertd.intake.formats import csvbulk


def inet(text: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):
        return None


def read(lines: list[str], column: int = 1, width: int = 3, delimiter: str = ",") -> csvbulk.PlainRows:
    rows = csvbulk.plain_rows(
        "\n".join(lines).encode(), 0, delimiter=delimiter, column=column, width=width, marks=b"#", limit=1000, cap=10**9
    )
    assert rows is not None
    return rows


def plain_of(rows: csvbulk.PlainRows) -> dict[int, int]:
    """Data row -> address, of the rows called plain."""
    order = range(len(rows.addresses)) if rows.rows_of is None else rows.rows_of.tolist()
    return dict(zip(order, rows.addresses.tolist(), strict=True))


CELLS = [
    "1.2.3.4",
    "0.0.0.0",
    "255.255.255.255",
    "147.210.8.0",
    "01.2.3.4",
    "1.2.3.04",
    "1.2.3.256",
    "1..2.3",
    "1.2.3.",
    ".1.2.3",
    "1.2.3",
    "1.2.3.4.5",
    "1234.1.1.1",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.4:80",
    "0.0.0.00",
    "1.2.3.4a",
    "2001:db8::1",
    "",
]


def test_a_cell_is_plain_exactly_when_inet_pton_reads_it() -> None:
    rnd = random.Random(3)
    cells = [*CELLS, *("".join(rnd.choice("0123456789..") for _ in range(rnd.randrange(5, 17))) for _ in range(5000))]
    cells += [".".join(str(rnd.randrange(300)) for _ in range(4)) for _ in range(3000)]
    cells = [c for c in cells if c.strip() == c and c]  # (a line starting with a space is refused whole: below)
    rows = read([f"x,{cell},y" for cell in cells])
    found = plain_of(rows)
    assert {n: inet(cell) for n, cell in enumerate(cells) if inet(cell) is not None} == found
    assert sorted(rows.irregular) == [n for n, cell in enumerate(cells) if inet(cell) is None]


QUOTED = [
    '"a","1.2.3.4","b"',  # every cell quoted
    'a,"1.2.3.4",b',
    '"a,b","1.2.3.4",c',  # a delimiter in a quoted cell before the address: csv's column 1 is the address
    '"a,b",1.2.3.4,c',
    'a,1.2.3.4,"b,c"',
    '"a""b","1.2.3.4",c',  # an escaped quote
    'a"b,1.2.3.4,c',  # a quote inside a bare cell
    '"a"b,1.2.3.4,c',  # text after a closing quote
    'a ,"1.2.3.4",c',
    'a, "1.2.3.4",c',  # a space before the quote: csv skips it (skipinitialspace)
    'a,"1.2.3.4" ,c',
    '"",1.2.3.4,""',
    '"","1.2.3.4",""',
    '",1.2.3.4,"',  # one quoted cell holding both delimiters: csv reads two cells
    '"a,1.2.3.4",b,c',
    'a,"1.2.3.4,b",c',
    'a,",",1.2.3.4',
    "a,1.2.3.4",  # too few cells for width 3
    'a,"1.2.3.4"',
    '"a,"1.2.3.4",b',
    'a,1.2.3.4,"b',  # an unclosed quote at the end
    '"""","1.2.3.4","x"',
    "a,1.2.3.4,b,c,d",
]


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_quoting_never_makes_a_row_plain_that_csv_reads_otherwise(delimiter: str) -> None:
    rnd = random.Random(7)
    lines = [line.replace(",", delimiter) for line in QUOTED]
    for _ in range(3000):  # random lines of quotes, delimiters and addresses
        parts = [rnd.choice(['"', delimiter, "a", "1.2.3.4", "9.9.9.9", " ", '""']) for _ in range(rnd.randrange(1, 9))]
        line = "".join(parts)
        if line.strip() == line and line and not line.startswith("#"):
            lines.append(line)
    rows = read(lines, delimiter=delimiter)
    found = plain_of(rows)
    assert sorted([*found, *rows.irregular]) == list(range(len(lines)))
    for n, address in found.items():
        [cells] = list(csv.reader([lines[n]], delimiter=delimiter, skipinitialspace=True))
        assert len(cells) >= 3 and inet(cells[1]) == address, lines[n]
    # The plain shapes are read as arrays: every cell quoted, none, or some, none holding a delimiter.
    for n in (0, 1, 11, 12, 22):
        assert n in found, lines[n]


def test_rows_are_found_across_steps_as_in_one(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(11)
    lines = ["# banner"]
    for n in range(600):
        shape = rnd.random()
        ip = f"{rnd.randrange(1, 224)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
        lines.append("" if shape < 0.05 else "# comment" if shape < 0.1 else f'"{n}","{ip}","x"')
    body = "\n".join(lines).encode()
    whole = csvbulk.plain_rows(body, 0, delimiter=",", column=1, width=3, marks=b"#", limit=1000, cap=10**9)
    monkeypatch.setattr(csvbulk, "STEP", 37)
    stepped = csvbulk.plain_rows(body, 0, delimiter=",", column=1, width=3, marks=b"#", limit=1000, cap=10**9)
    assert whole is not None and stepped is not None
    assert stepped.addresses.tolist() == whole.addresses.tolist() and stepped.irregular == whole.irregular
    assert stepped.starts.tolist() == whole.starts.tolist() and stepped.ends.tolist() == whole.ends.tolist()
    data = [line for line in lines if line and not line.startswith("#")]
    assert [body[s:e].decode() for s, e in zip(whole.starts.tolist(), whole.ends.tolist(), strict=True)] == data


@pytest.mark.parametrize(
    "body",
    [
        "a,1.2.3.4,b\nc,5.6.7.8,é\n".encode(),  # not ASCII: the row path decodes the body
        b"a,1.2.3.4,b\nc,5.6.7.8\0,d\n",
        b"a,1.2.3.4,b\rc,5.6.7.8,d\n",  # a bare CR
        b"a,1.2.3.4,b\n  # an indented comment\n",
        b"a,1.2.3.4,b\n" + b"c," * 600 + b"\n",  # an over-long line
    ],
)
def test_bodies_not_cut_as_the_row_path_cuts_them_are_refused(body: bytes) -> None:
    assert csvbulk.plain_rows(body, 0, delimiter=",", column=1, width=3, marks=b"#", limit=1000, cap=10**9) is None


def test_crlf_lines_end_before_the_carriage_return() -> None:
    body = b'"a","1.2.3.4","b"\r\nc,5.6.7.8,d\r\n\r\n# x\r\ne,9.9.9.9,f'
    rows = csvbulk.plain_rows(body, 0, delimiter=",", column=1, width=3, marks=b"#", limit=1000, cap=10**9)
    assert rows is not None and rows.addresses.tolist() == [0x01020304, 0x05060708, 0x09090909]
    assert [body[s:e] for s, e in zip(rows.starts.tolist(), rows.ends.tolist(), strict=True)][-1] == b"e,9.9.9.9,f"


def test_a_body_of_more_rows_than_max_entries_is_given_up_after_one_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostile list of millions of short lines that are no address (``x``) would keep one Python int per row
    before any count were checked: the read stops at the first step that ends past the cap."""
    steps: list[int] = []
    real_step = csvbulk._step

    def counted(*args: object, **kwargs: object) -> object:
        steps.append(1)
        return real_step(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(csvbulk, "_step", counted)
    monkeypatch.setattr(csvbulk, "STEP", 1000)
    body = b"x\n" * 50_000  # 100 KB: a hundred steps of 1,000 bytes
    with pytest.raises(csvbulk.TooManyRows):
        csvbulk.plain_rows(body, 0, delimiter=",", column=0, width=1, marks=b"#", limit=1000, cap=600)
    assert len(steps) == 2  # 500 rows a step: the second ends past 600
    steps.clear()
    rows = csvbulk.plain_rows(body, 0, delimiter=",", column=0, width=1, marks=b"#", limit=1000, cap=50_000)
    assert rows is not None and len(rows.irregular) == 50_000 and len(steps) == 100
