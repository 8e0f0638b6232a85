"""tools/review on its own: the report read back from report.tex, figures only from inside the
workspace, the overview's sums over the window, the job timeline's lanes, the protections."""
from __future__ import annotations

import os
import time

import pytest

from rigorlab.core.errors import UserError


def test_the_summary_table_reads_back_what_summary_table_wrote(workspace):
    from rigorlab.tools.results.report_region import splice
    from rigorlab.tools.results.tables import booktabs
    from rigorlab.tools.review.report import report
    table = {"headers": ["ID", "Description", "acc_top-1", "vs baseline"],
             "rows": [["E001", "50% sparsity & a 2:4 mask_{x}", "0.81 ± 0.01 (n=3)", "baseline"],
                      ["E002", "lr ~ 1e-3, $cost$ #2 {a} \\ b", "NaN", "+0.05 (+6.2%)"]]}
    tex = b"\\documentclass{article}\n\\begin{document}\n% a comment & more\n\\end{document}\n"
    data, _ = splice(tex, booktabs(table))
    (workspace / "report.tex").write_bytes(data)
    got = report(workspace)["table"]
    assert got["headers"] == table["headers"] and got["rows"] == table["rows"]


def test_figures_are_found_the_way_latex_finds_them(workspace):
    from rigorlab.tools.review.report import image, report
    (workspace / "plots").mkdir()
    (workspace / "plots" / "acc.png").write_bytes(b"\x89PNG fake")
    (workspace / "plots" / "acc.pdf").write_bytes(b"%PDF fake")
    (workspace / "loss.pdf").write_bytes(b"%PDF fake")
    (workspace / "report.tex").write_text(
        "\\graphicspath{{plots/}}\n\\begin{figure}\\includegraphics[width=3cm]{acc.pdf}"
        "\\caption{Accuracy, $\\pm$ std.}\\end{figure}\n\\includegraphics{loss}\n"
        "% \\includegraphics{commented_out}\n\\includegraphics{../outside.png}\n")
    figs = report(workspace)["figures"]
    assert [(f.source, f.path) for f in figs] == [("acc.pdf", "plots/acc.png"), ("loss", "loss.pdf"),
                                                 ("../outside.png", None)]
    assert figs[0].caption == "Accuracy, ± std." and "shown as acc.png" in figs[0].note
    assert image(workspace, "plots/acc.png") == (b"\x89PNG fake", "image/png")


def test_an_image_is_served_only_if_the_report_shows_it_and_never_through_a_link(workspace, tmp_path):
    from rigorlab.tools.review.report import image
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    (workspace / "shown.png").symlink_to(secret)
    (workspace / "other.png").write_bytes(b"png")
    (workspace / "report.tex").write_text("\\includegraphics{shown.png}\n")
    for rel in ("shown.png", "other.png", "../secret.png", str(secret), "report.tex"):
        with pytest.raises((UserError, OSError)):
            image(workspace, rel)


def _jobs_conn(tmp_path):
    from rigorlab.clusters import ledger
    from rigorlab.core import state
    return ledger.ensure(state.connect(tmp_path / "db.sqlite3"))


def _job(conn, tmp_path, target: str, gpus: int, start: float | None, end: float | None,
         st: str = "COMPLETED") -> str:
    from rigorlab.clusters import ledger
    from rigorlab.clusters.model import Job, JobState
    job = ledger.insert(conn, Job(id="", uuid=os.urandom(8).hex(), target=target, backend="local",
                                  state=JobState.QUEUED, command="true", cwd="/", job_dir=tmp_path,
                                  gpus=gpus), tmp_path)
    conn.execute("UPDATE jobs SET state=?, created_at=?, submitted_at=?, started_at=?, finished_at=?"
                 " WHERE id=?", (st, (start or 1.0) - 1, start, start, end, job.id))
    return job.id


def test_gpu_hours_count_only_the_window_and_running_jobs_up_to_now(tmp_path):
    from rigorlab.tools.review.overview import _jobs
    conn = _jobs_conn(tmp_path)
    now, since = 100_000.0, 90_000.0
    _job(conn, tmp_path, "a", 2, 80_000, 91_800)           # 1800 s inside, 2 GPUs: 1 h
    _job(conn, tmp_path, "a", 1, 95_000, None, "RUNNING")  # 5000 s to now: 1.389 h
    _job(conn, tmp_path, "b", 4, 50_000, 60_000)           # before the window
    _job(conn, tmp_path, "b", 0, 95_000, 99_000)           # no GPU
    got = _jobs(conn, since, now)
    assert got["gpu_hours"] == pytest.approx({"a": 1 + 5000 / 3600})
    assert got["by_target"] == {"a": {"COMPLETED": 1, "RUNNING": 1}, "b": {"COMPLETED": 1}}
    assert got["ran"] == 3 and got["total"] == 3


def test_the_timeline_stacks_overlapping_jobs_on_lanes(tmp_path):
    from rigorlab.tools.review.overview import timeline
    conn = _jobs_conn(tmp_path)
    a = _job(conn, tmp_path, "local", 1, 100, 200)
    b = _job(conn, tmp_path, "local", 1, 150, 260)
    c = _job(conn, tmp_path, "local", 1, 210, 300)       # a's lane is free again
    d = _job(conn, tmp_path, "slurm", 1, 120, None, "RUNNING")
    _job(conn, tmp_path, "local", 1, None, None, "QUEUED")  # never ran: no bar
    got = timeline(conn, since=0, now=400)
    lanes = {j["id"]: (j["target"], j["lane"]) for j in got["jobs"]}
    assert lanes == {a: ("local", 0), b: ("local", 1), c: ("local", 0), d: ("slurm", 0)}
    assert got["lanes"] == {"local": 2, "slurm": 1} and got["total"] == 4
    assert next(j for j in got["jobs"] if j["id"] == d)["end"] == 400


def test_protection_history_tells_reprotections_apart(workspace):
    from rigorlab.core import state
    from rigorlab.rules.fingerprints import protect
    from rigorlab.rules.protections import history
    conn = state.connect(workspace.parent / "db.sqlite3")
    (workspace / "eval.py").write_text("v1")
    (workspace / "data.txt").write_text("d")
    protect(workspace, conn, "python eval.py", ["eval.py"])
    protect(workspace, conn, "python eval.py", ["eval.py", "data.txt"])     # only adds a file
    (workspace / "eval.py").write_text("v2")
    time.sleep(0.01)
    protect(workspace, conn, "python eval.py", ["eval.py", "data.txt"], reason="new split",
            by_person=True)
    first, added, changed = history(conn)
    assert not first.reprotection and first.added == ()
    assert not added.reprotection and added.added == ("data.txt",) and added.changed == ()
    assert changed.reprotection and changed.changed == ("eval.py",) and changed.reason == "new split"
    assert changed.how == "person" and first.how == "tool"


def test_a_workspace_without_a_ledger_gets_pages_that_say_so(workspace, state_home):
    from starlette.testclient import TestClient

    from rigorlab.server.ui import build_app
    client = TestClient(build_app(workspace, "t" * 20), base_url="http://127.0.0.1",
                        headers={"Authorization": "Bearer " + "t" * 20})
    for path in ("/ui/", "/ui/experiments", "/ui/jobs", "/ui/rules"):
        r = client.get(path)
        assert r.status_code == 200 and "no ledger at" in r.text, path
    assert not any(state_home.rglob("rigorlab.sqlite3"))     # nothing was created
    r = client.get("/ui/report")
    assert r.status_code == 200 and "no report.tex" in r.text
