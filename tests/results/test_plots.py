"""plot_results writes non-empty PNG and PDF files into images/."""
from __future__ import annotations

import pytest

from rigorlab.core.errors import UserError
from rigorlab.tools.results.plots import plot


@pytest.mark.parametrize("x, points", [("experiment", 3), ("params.lr", 2), ("params.opt", 2)])
def test_plot_written(populated, tmp_path, x, points):
    out = plot(populated, tmp_path / "images", "acc", x=x, root=tmp_path)
    png, pdf = out["paths"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert out["points"] == points
    # E003's NaN seed is left out of the error bars; 3 + 3 + 1 finite runs remain
    assert out["runs"] == 7
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == sorted([png.name, pdf.name])


def test_plot_filter_value_and_name(populated, tmp_path):
    out = plot(populated, tmp_path / "images", "loss", filter="tier = 3", value="min", name="loss_t3",
               root=tmp_path)
    assert [p.name for p in out["paths"]] == ["loss_t3.png", "loss_t3.pdf"] and out["points"] == 2


@pytest.mark.parametrize("kwargs, message", [
    ({"metric": "nope"}, "unknown field .metrics.nope."),
    ({"metric": "acc", "filter": "tier = 2"}, "no experiment matching the filter has a finite .acc."),
    ({"metric": "acc", "name": "../escape"}, "no folders"),
    ({"metric": "acc", "x": "params.nope"}, "unknown field"),
])
def test_plot_bad_input(populated, tmp_path, kwargs, message):
    with pytest.raises(UserError, match=message):
        plot(populated, tmp_path / "images", root=tmp_path, **kwargs)
    assert not (tmp_path / "images").exists() or not any((tmp_path / "images").iterdir())
