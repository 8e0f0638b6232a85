"""summary_table: booktabs structure checked by a parser, Markdown, and report.tex in place."""
from __future__ import annotations

import re

import pytest

from rigorlab.core.errors import UserError
from rigorlab.tools.results import report_region, tables

SPECIAL = re.compile(r"(?<!\\)[&%$#_{}~^]")


def check_booktabs(tex: str) -> list[list[str]]:
    """A LaTeX-free check of a booktabs tabular: rules in order, one cell per column on every
    row, rows ended by \\\\, braces balanced, no unescaped special character in a cell."""
    lines = tex.strip().splitlines()
    m = re.fullmatch(r"\\begin\{tabular\}\{([lcr]+)\}", lines[0])
    assert m, lines[0]
    cols = len(m.group(1))
    assert lines[-1] == r"\end{tabular}"
    body = lines[1:-1]
    assert body[0] == r"\toprule" and body[2] == r"\midrule" and body[-1] == r"\bottomrule"
    assert sum(line in (r"\toprule", r"\midrule", r"\bottomrule") for line in body) == 3
    rows = []
    for line in [body[1]] + body[3:-1]:
        assert line.endswith(r" \\"), line
        cells = re.split(r"(?<!\\)&", line[:-3])
        assert len(cells) == cols, line
        for cell in cells:
            stripped = re.sub(r"\\[a-zA-Z]+\{\}|\\[&%$#_{}]|\$\\pm\$", "", cell)
            assert not SPECIAL.search(stripped), cell
            depth = 0
            for ch in re.sub(r"\\[{}]", "", cell):
                depth += {"{": 1, "}": -1}.get(ch, 0)
                assert depth >= 0
            assert depth == 0
        rows.append([c.strip() for c in cells])
    return rows


def test_summary_rows(populated):
    table = tables.rows(populated, "acc", min_scale=None)
    assert table["baseline"] == "E001" and table["headers"][4] == "acc"
    by_id = {r[0]: r for r in table["rows"]}
    assert by_id["E001"][5] == "baseline"
    assert by_id["E002"][4] == "0.87 ± 0.01 (n=3)"
    assert by_id["E002"][5] == "+0.06 (+7.4%)"
    assert by_id["E003"][4] == "0.7 (n=1), 1 NaN"
    # rule VII: the tier-1 experiment is not presented as a conclusion
    assert by_id["E003"][6] == "running; preliminary" and by_id["E002"][6] == "running"
    assert table["notes"] == ["E003: a tier-1 result (run (seconds: does it execute?)) is not a conclusion"]


def test_below_minimum_scale_is_preliminary(populated):
    populated.execute("UPDATE results_experiments SET scale=100 WHERE id='E002'")
    table = tables.rows(populated, "acc", min_scale=1000, filter="tier = 3")
    assert [r[6] for r in table["rows"]] == ["running; preliminary", "running; preliminary"]
    assert "below the minimum decision scale 1000" in table["notes"][1]


def test_booktabs_parses_and_escapes(populated):
    populated.execute("UPDATE results_experiments SET goal='lr_50% & {more} $x# ~^ \\ done' WHERE id='E002'")
    rows = check_booktabs(tables.booktabs(tables.rows(populated, "acc")))
    assert rows[0] == ["ID", "Date", "Description", "Commit", "acc", "vs baseline", "Status"]
    assert len(rows) == 4
    assert rows[2][2] == (r"lr\_50\% \& \{more\} \$x\# \textasciitilde{}\textasciicircum{} "
                          r"\textbackslash{} done")
    assert rows[2][4] == r"0.87 $\pm$ 0.01 (n=3)"


def test_markdown(populated):
    md = tables.markdown(tables.rows(populated, "acc")).splitlines()
    assert md[0] == "| ID | Date | Description | Commit | acc | vs baseline | Status |"
    assert md[1] == "|---|---|---|---|---|---|---|" and len(md) == 5
    assert all(line.count("|") == 8 for line in md)


REPORT = (b"\\documentclass{article}\n\\usepackage{booktabs}\n% caf\xc3\xa9 \xff raw bytes stay\n"
          b"\\begin{document}\nText before.   \n\n% rigorlab:summary-table begin\nold table\nmore\n"
          b"% rigorlab:summary-table end\nText after\ttabs.\n\\end{document}\n")


def test_region_update_leaves_other_bytes_identical(tmp_path):
    path = tmp_path / "report.tex"
    path.write_bytes(REPORT)
    assert report_region.update(path, "NEW\nTABLE\n", root=tmp_path) == "replaced"
    data = path.read_bytes()
    head, tail = REPORT.split(b"old table\nmore\n")
    assert data == head + b"NEW\nTABLE\n" + tail
    assert report_region.update(path, "NEW\nTABLE\n", root=tmp_path) == "unchanged"
    assert report_region.update(path, "shorter", root=tmp_path) == "replaced"
    assert path.read_bytes() == head + b"shorter\n" + tail


def test_region_crlf_file_keeps_crlf(tmp_path):
    path = tmp_path / "report.tex"
    original = REPORT.replace(b"\n", b"\r\n")
    path.write_bytes(original)
    report_region.update(path, "A\nB", root=tmp_path)
    head, tail = original.split(b"old table\r\nmore\r\n")
    assert path.read_bytes() == head + b"A\r\nB\r\n" + tail


def test_region_inserted_before_end_document(tmp_path):
    path = tmp_path / "report.tex"
    original = b"\\begin{document}\nBody.\n\\end{document}\n"
    path.write_bytes(original)
    assert report_region.update(path, "T", root=tmp_path) == "inserted"
    assert path.read_bytes() == (b"\\begin{document}\nBody.\n% rigorlab:summary-table begin (written by "
                                 b"summary_table; edits here are replaced)\nT\n"
                                 b"% rigorlab:summary-table end\n\\end{document}\n")
    assert report_region.lacks_booktabs(path, root=tmp_path)
    path.write_bytes(b"\\usepackage{booktabs}\n" + path.read_bytes())
    assert not report_region.lacks_booktabs(path, root=tmp_path)
    assert report_region.update(path, "T", root=tmp_path) == "unchanged"


@pytest.mark.parametrize("content, message", [
    (b"% rigorlab:summary-table begin\nx\n\\end{document}\n", "only one of the markers"),
    (b"% rigorlab:summary-table end\nx\n% rigorlab:summary-table begin\n", "only one of the markers"),
    (b"no document end here\n", "add the lines"),
])
def test_region_refuses_broken_markers_and_writes_nothing(tmp_path, content, message):
    path = tmp_path / "report.tex"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        report_region.update(path, "T", root=tmp_path)
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["report.tex"]


def test_missing_report_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        report_region.update(tmp_path / "report.tex", "T", root=tmp_path)


def test_minimum_scale_comes_from_the_project_instructions(populated, workspace):
    from rigorlab.rules.render import init_workspace
    init_workspace(workspace, "claude")
    claude = workspace / "CLAUDE.md"
    claude.write_text(claude.read_text().replace("- minimum decision scale:",
                                                 "- minimum decision scale: 5000 samples"))
    populated.execute("UPDATE results_experiments SET scale=10000 WHERE id='E001'")
    table = tables.rows(populated, "acc", filter="tier = 3", workspace=workspace)
    assert [r[6] for r in table["rows"]] == ["running", "running; preliminary"]
    assert "no scale given, below the minimum decision scale 5000" in table["notes"][0]


def test_unknown_metric_gets_the_closest_names(populated):
    with pytest.raises(UserError, match="did you mean metrics.acc"):
        tables.rows(populated, "accuracy")
