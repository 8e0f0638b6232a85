"""The review pages over HTTP: the token and the cookie, read-only, `serve --http` serving them
next to /mcp behind the same token."""
from __future__ import annotations

import hashlib
from contextlib import closing
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

PAGES = ["/ui/", "/ui/experiments", "/ui/experiments?rows=runs", "/ui/experiments/E002",
         "/ui/curves?ids=E001,E002", "/ui/jobs", "/ui/jobs/J00007", "/ui/jobs/J00007/log",
         "/ui/rules", "/ui/report", "/ui/report/image?path=images/acc_by_experiment.png",
         "/ui/static/ui.js", "/ui/static/plotly.min.js"]


def login(base: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=True)
    r = client.get(f"/ui/login?token={token}")
    assert r.status_code == 200 and str(r.url) == f"{base}/ui/", r.text
    return client


def test_no_token_no_page(ui):
    for path in PAGES:
        r = httpx.get(ui.base + path, timeout=30)
        assert r.status_code == 401 and "login link" in r.text, path
        assert "E001" not in r.text and "J0000" not in r.text
    r = httpx.get(f"{ui.base}/ui/login?token={ui.token[:-1]}x", timeout=30)
    assert r.status_code == 403 and "set-cookie" not in r.headers
    r = httpx.get(f"{ui.base}/ui/jobs", headers={"Authorization": f"Bearer {ui.token}"}, timeout=30)
    assert r.status_code == 200 and "J00007" in r.text
    r = httpx.get(f"{ui.base}/ui/jobs", cookies={"rigorlab_ui": ui.token}, timeout=30)
    assert r.status_code == 401          # the cookie is derived from the token, not the token


def test_every_page_answers_with_the_security_headers(ui):
    with closing(login(ui.base, ui.token)) as client:
        for path in PAGES:
            r = client.get(path)
            assert r.status_code == 200, (path, r.text[:500])
            csp = r.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "connect-src 'self'" in csp
            assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"


def _ledger_digest(night) -> str:
    h = hashlib.sha256()
    for path in sorted(night.state_home.rglob("rigorlab.sqlite3*")):
        if not path.name.endswith("-shm"):
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


def test_pages_are_read_only(ui, night):
    before = _ledger_digest(night)
    with closing(login(ui.base, ui.token)) as client:
        for path in PAGES:
            assert client.get(path).status_code == 200
            for method in ("POST", "PUT", "PATCH", "DELETE"):
                r = client.request(method, path, content=b"x")
                assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD", (method, path)
    assert _ledger_digest(night) == before


def test_a_readonly_connection_refuses_every_write(night):
    import sqlite3

    from rigorlab.tools.review.db import open_readonly
    conn = open_readonly(next(night.state_home.rglob("rigorlab.sqlite3")))
    for sql in ("DELETE FROM jobs", "UPDATE results_runs SET valid=1", "CREATE TABLE x(a)"):
        # A guarded table refuses even earlier: its chain trigger needs functions only rigorlab defines.
        with pytest.raises(sqlite3.OperationalError,
                           match="readonly|read-only|query_only|no such function: rl_chain"):
            conn.execute(sql)
    conn.close()


def test_bad_input_gets_a_page_that_says_what_to_do(ui):
    with closing(login(ui.base, ui.token)) as client:
        r = client.get("/ui/experiments", params={"filter": "metrics.acc >> 1"})
        assert r.status_code == 400 and "query error at column" in r.text
        r = client.get("/ui/experiments/E999")
        assert r.status_code == 404 and "unknown experiment" in r.text and "E004" in r.text
        r = client.get("/ui/jobs", params={"state": "DONE"})
        assert r.status_code == 400 and "COMPLETED" in r.text
        r = client.get("/ui/jobs/J00007/log", params={"stream": "../../etc/passwd"})
        assert r.status_code == 200 and "unknown log" in r.json()["note"]
        for params in ({"hours": "99999999999999"}, {"hours": "-3"}, {"hours": "x"}):
            assert client.get("/ui/", params=params).status_code == 200
        for page in ("99999999999999999999", "-1", "0"):
            assert client.get("/ui/experiments", params={"page": page}).status_code == 200
            assert client.get("/ui/jobs", params={"page": page}).status_code == 200
        r = client.get("/ui/jobs/J00007/log", params={"offset": "9" * 40})
        assert r.status_code == 200 and r.json()["text"] == ""
        for path in ("../night.py", "/etc/passwd", "CLAUDE.md", "images/missing.png"):
            r = client.get("/ui/report/image", params={"path": path})
            assert r.status_code == 404 and "root:" not in r.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(night):
    port, token = _free_port(), "serve-http-token-0123456789"
    env = {**night.env, "RIGORLAB_TOKEN": token}
    proc = subprocess.Popen([sys.executable, "-m", "rigorlab.server", "serve", "--workspace",
                             str(night.workspace), "--http", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines.append(proc.stderr.readline())
        if "review pages:" in lines[-1]:
            break
    for _ in range(100):
        try:
            httpx.get(base + "/ui/", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield base, token, "".join(lines)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_serve_http_serves_the_pages_behind_its_token(served):
    base, token, printed = served
    assert re.search(rf"review pages: {re.escape(base)}/ui/login\?token={token}", printed)
    assert httpx.get(base + "/ui/", timeout=30).status_code == 401
    with closing(login(base, token)) as client:
        assert "E002" in client.get("/ui/experiments").text
        mcp = client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert mcp.status_code == 401                    # the cookie does not open /mcp
    r = httpx.get(base + "/ui/rules", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 200 and "re-protection" in r.text
