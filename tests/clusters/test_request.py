"""The job request: one strict model, checked once at the boundary; runtimes named once."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rigorlab.clusters.request import JobRequest
from rigorlab.core.errors import UserError
from rigorlab.core.runtimes import NAMES, RUNTIMES
from rigorlab.tools.jobs import dispatch

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("server", "tools", "rules", "sandbox", "clusters", "core")


def test_the_schema_carries_every_bound_and_forbids_unknown_fields():
    schema = JobRequest.model_json_schema()
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert list(props) == ["command", "cwd", "target", "gpus", "cpus", "mem_mb", "time_limit_s",
                           "env", "experiment_id", "runtime", "image", "depends_on", "name"]
    assert props["command"]["maxLength"] == 65536 and props["cwd"]["maxLength"] == 4096
    assert props["cpus"]["maximum"] == 1024 and props["env"]["maxProperties"] == 256
    numeric = {k: v for k, v in props.items() if k in ("gpus", "mem_mb", "time_limit_s")}
    for k, v in numeric.items():
        assert any("maximum" in alt for alt in v["anyOf"]), k
    runtime = next(alt for alt in props["runtime"]["anyOf"] if "enum" in alt)
    assert runtime["enum"] == list(NAMES)
    assert all(p.get("description") or p.get("anyOf") for p in props.values())


def test_no_coercion():
    for kw in (dict(gpus="1"), dict(gpus=1.0), dict(gpus=True), dict(cpus="2"), dict(env={"A": 1}),
               dict(cwd=3), dict(time_limit_s=1.5)):
        with pytest.raises(UserError, match="job request field"):
            JobRequest.of(command="true", **kw)


def test_submit_takes_only_an_admitted_request(make_dispatcher, workspace):
    d = make_dispatcher()
    with pytest.raises(TypeError, match="admit"):
        d.submit(JobRequest.of(command="true", cwd=str(workspace)))
    assert d.conn().execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_a_dispatch_is_checked_exactly_once(make_dispatcher, workspace, monkeypatch):
    from rigorlab.clusters import dispatcher as dmod
    d = make_dispatcher()
    calls = []
    real = dmod.admit
    monkeypatch.setattr(dmod, "admit", lambda *a, **k: calls.append(1) or real(*a, **k))
    job = dispatch(d, JobRequest.of(command="true", cwd=str(workspace), gpus=0))
    assert calls == [1] and d.wait(job.id, 20).state.value == "COMPLETED"


def test_unknown_runtime_lists_the_valid_names_and_writes_nothing(make_dispatcher, workspace):
    d = make_dispatcher()
    with pytest.raises(UserError) as e:
        dispatch(d, JobRequest.of(command="true", cwd=str(workspace), runtime="dokcer"))
    assert all(f"'{n}'" in str(e.value) for n in NAMES)
    assert d.conn().execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0


def test_each_runtime_is_named_once_in_the_product_code():
    pattern = re.compile(r"""["'](%s)["']""" % "|".join(NAMES))
    found = {}
    for pkg in PRODUCT:
        for path in (REPO / pkg).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line) and "# not a runtime" not in line:
                    found.setdefault(path.relative_to(REPO).as_posix(), []).append(n)
    assert list(found) == ["core/runtimes.py"], found
    text = (REPO / "core/runtimes.py").read_text()
    assert all(len(re.findall(rf'"{n}"', text)) == 1 for n in RUNTIMES)
