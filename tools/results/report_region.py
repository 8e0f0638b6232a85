"""Replace the marked summary region of report.tex in place; every other byte stays as it was."""
from __future__ import annotations

import re
from pathlib import Path

from rigorlab.core import safefs
from rigorlab.core.errors import UserError
from rigorlab.rules.markers import SUMMARY_BEGIN, SUMMARY_BEGIN_PREFIX, SUMMARY_END

BEGIN, END = SUMMARY_BEGIN_PREFIX.encode(), SUMMARY_END.encode()
END_DOCUMENT = b"\\end{document}"
BOOKTABS = re.compile(rb"^[^%\n]*\\usepackage(\[[^]]*\])?\{[^}]*\bbooktabs\b", re.MULTILINE)


def _line_start(data: bytes, at: int) -> int:
    return data.rfind(b"\n", 0, at) + 1


def _line_end(data: bytes, at: int) -> int:
    nl = data.find(b"\n", at)
    return len(data) if nl < 0 else nl + 1


def splice(data: bytes, body: str) -> tuple[bytes, str]:
    """(new bytes, 'replaced' or 'inserted'): `body` placed between the markers."""
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    text = newline.join(body.rstrip("\n").encode().split(b"\n")) + newline
    begin, end = data.find(BEGIN), data.find(END)
    if begin >= 0 and end > begin:
        start, stop = _line_end(data, begin), _line_start(data, end)
        return data[:start] + text + data[stop:], "replaced"
    if begin >= 0 or end >= 0:
        raise UserError(f"report.tex has only one of the markers {BEGIN.decode()!r} / "
                        f"{END.decode()!r} (or they are out of order): fix or remove them")
    doc_end = data.rfind(END_DOCUMENT)
    if doc_end < 0:
        raise UserError("report.tex has no summary markers and no \\end{document}: add the lines "
                        f"'{BEGIN.decode()}' and '{END.decode()}' where the table belongs")
    at = _line_start(data, doc_end)
    block = SUMMARY_BEGIN.encode() + newline + text + END + newline
    return data[:at] + block + data[at:], "inserted"


def update(path: Path, body: str, *, root: Path) -> str:
    """Write `body` into the region of `path` through the safe writer (below `root`);
    'replaced', 'inserted' or 'unchanged'."""
    data = _read(path, root)
    new, how = splice(data, body)
    if new == data:
        return "unchanged"
    safefs.write_bytes(path, new, root=root)
    return how


def lacks_booktabs(path: Path, *, root: Path) -> bool:
    return BOOKTABS.search(_read(path, root)) is None


def _read(path: Path, root: Path) -> bytes:
    try:
        return safefs.read_bytes(path, root=root)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise UserError(f"{path.name} does not exist: create report.tex first (setup_research_plan "
                        "writes one) or leave report unset") from None
