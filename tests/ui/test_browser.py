"""The review pages in a real headless chromium: login, every page over a realistic night, the
filter, the live log of a running job; screenshots of each page; no request off loopback."""
from __future__ import annotations


import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.ui.browser import chromium, off_loopback, requested_urls

PAGES = ("overview", "experiments", "experiment", "curves", "jobs", "job", "rules", "report")


@pytest.fixture(scope="module")
def shots():
    """.run/ui-screenshots/ (ignored by git; pytest's own temporary folders are pruned)."""
    from tests.conftest import REPO
    folder = REPO / ".run" / "ui-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    print(f"\nscreenshots of the review pages: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(ui):
    driver = chromium()
    driver.get(ui.login)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def seen_urls():
    return []


def visit(driver, url: str, seen: list[str], shots=None, name: str | None = None):
    driver.get(url)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
    charts = driver.find_elements(By.CSS_SELECTOR, "[data-chart]")
    if charts:
        WebDriverWait(driver, 20).until(lambda d: all(
            c.get_attribute("data-drawn") == "yes" for c in d.find_elements(By.CSS_SELECTOR, "[data-chart]")))
        loaded, drawn = driver.execute_script(
            "return [performance.getEntriesByType('navigation')[0].loadEventEnd,"
            " performance.getEntriesByName('charts-drawn')[0].startTime]")
        assert 0 < loaded <= drawn, "the page shows without waiting for the chart library"
    seen += requested_urls(driver)
    seen += driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat(performance.getEntriesByType('navigation').map(e => e.name))")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"{url}: browser console errors: {errors}"
    if shots is not None:
        driver.save_screenshot(str(shots / f"{name}.png"))
    return driver.find_element(By.TAG_NAME, "main").text


def test_login_is_required_and_enforced(ui, night):
    driver = chromium()
    try:
        driver.get(f"{ui.base}/ui/jobs")
        assert "login link" in driver.find_element(By.ID, "denied").text
        assert "J0000" not in driver.page_source
        driver.get(f"{ui.base}/ui/login?token=not-the-token-{ui.token[:4]}")
        assert "wrong token" in driver.find_element(By.ID, "denied").text
        assert driver.get_cookies() == []
        driver.get(ui.login)
        assert driver.current_url == f"{ui.base}/ui/" and "token" not in driver.current_url
        (cookie,) = driver.get_cookies()
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and ui.token not in cookie["value"]
        driver.get(f"{ui.base}/ui/jobs")              # no token in the address any more
        assert night.ids["failed"]["id"] in driver.find_element(By.ID, "jobs").text
    finally:
        driver.quit()
    fresh = chromium()
    try:
        fresh.get(f"{ui.base}/ui/experiments")
        assert fresh.find_elements(By.ID, "denied") and "E001" not in fresh.page_source
    finally:
        fresh.quit()


def test_every_page_renders_the_night(ui, night, browser, shots, seen_urls):
    ids = night.ids
    e1, e2, e3, e4 = ids["experiments"]
    base = f"{ui.base}/ui"
    import httpx      # the rules page waits for the first rule check, which the overview does not
    assert httpx.get(f"{base}/rules", headers={"Authorization": f"Bearer {ui.token}"},
                     timeout=60).status_code == 200

    text = visit(browser, f"{base}/", seen_urls, shots, "overview")
    card = browser.find_element(By.ID, "card-experiments").text
    assert "4 started" in card and "abandoned 1" in card and "1 invalid" in card
    best = browser.find_element(By.ID, "card-best").text
    assert f"{e2} acc" in best and f"vs baseline {e1}" in best and "significantly better" in best
    jobs = browser.find_element(By.ID, "card-jobs").text
    for state in ("COMPLETED 7", "FAILED 1", "TIMEOUT 1", "CANCELLED 1"):
        assert state in jobs
    assert "V × 1" in browser.find_element(By.ID, "card-rules").text
    assert "local" in browser.find_element(By.ID, "card-gpu").text
    bars = browser.find_elements(By.CSS_SELECTOR, "#timeline .barlayer .point")
    assert len(bars) == 10 and all(f"{e} " in text for e in (e1, e2, e3, e4))

    text = visit(browser, f"{base}/experiments", seen_urls, shots, "experiments")
    rows = browser.find_elements(By.CSS_SELECTOR, "#ledger tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == [e4, e3, e2, e1]

    text = visit(browser, f"{base}/experiments/{e2}", seen_urls, shots, "experiment")
    diff = browser.find_element(By.CSS_SELECTOR, "#diff table.diff").text
    assert "lr changed 0.1 0.3" in diff and "opt" not in diff
    seeds = browser.find_element(By.ID, "seeds").text
    assert "Runs and seeds (4)" in seeds and "evaluation changed since protected: eval.py" in seeds
    compare = browser.find_element(By.ID, "compare").text
    assert f"parent {e1}" in compare and "significantly better" in compare
    traces = browser.find_elements(By.CSS_SELECTOR, "#curves .scatterlayer .trace")
    # acc and loss: E002's 3 seeds and its invalid run, and the 3 seeds of its parent E001
    assert len(traces) == 2 * 7

    text = visit(browser, f"{base}/curves?ids={e1}&ids={e3}", seen_urls, shots, "curves")
    # E001: 3 seeds; E003: its failed and its timed-out run, both wrote metrics
    assert "loss" in text and len(browser.find_elements(By.CSS_SELECTOR, ".scatterlayer .trace")) == 2 * 5

    text = visit(browser, f"{base}/jobs", seen_urls, shots, "jobs")
    table = browser.find_element(By.ID, "jobs").text
    for kind in ("failed", "timeout", "cancelled", "plain"):
        assert ids[kind]["id"] in table
    assert "TIMEOUT" in table and "its time limit ran out" in table

    failed = ids["failed"]["id"]
    visit(browser, f"{base}/jobs/{failed}", seen_urls)
    WebDriverWait(browser, 10).until(lambda d: "loss diverged" in d.find_element(By.ID, "log-stderr").text)
    visit(browser, f"{base}/jobs/{failed}", seen_urls)
    WebDriverWait(browser, 10).until(lambda d: "loss diverged" in d.find_element(By.ID, "log-stderr").text)
    assert browser.find_element(By.ID, "job-exit").text == "3"
    assert "trained lr=0.1 seed=0" in browser.find_element(By.ID, "log-stdout").text
    browser.save_screenshot(str(shots / "job.png"))

    text = visit(browser, f"{base}/rules", seen_urls, shots, "rules")
    violations = browser.find_element(By.ID, "violation-table").text
    assert "abandoned although all 2 of its runs failed" in violations and e3 in violations
    protections = browser.find_element(By.ID, "protections").text
    assert "re-protection" in protections and "researcher approved the new test split" in protections
    invalid = browser.find_element(By.ID, "invalid-table").text
    assert e2 in invalid and "evaluation changed since protected" in invalid

    text = visit(browser, f"{base}/report", seen_urls, shots, "report")
    summary = browser.find_element(By.ID, "summary-table").text
    assert all(e in summary for e in (e1, e2, e3, e4)) and "baseline" in summary
    img = browser.find_element(By.CSS_SELECTOR, "#figures img")
    assert browser.execute_script("return arguments[0].naturalWidth", img) > 100
    assert "Accuracy of each experiment (mean ± std over seeds)." in text

    assert {p for p in PAGES} <= {f.stem for f in shots.glob("*.png")}


def test_a_filter_narrows_the_table(ui, night, browser, seen_urls):
    e1, e2, e3, e4 = night.ids["experiments"]
    visit(browser, f"{ui.base}/ui/experiments", seen_urls)
    box = browser.find_element(By.ID, "filter")
    box.send_keys("params.lr > 0.2 AND tier >= 2")
    box.submit()
    WebDriverWait(browser, 10).until(lambda d: "filter=" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#ledger tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == [e4, e2]
    assert browser.find_element(By.ID, "total").text.startswith("2 experiments match")
    browser.find_element(By.LINK_TEXT, "tier").click()     # sort on the filtered rows
    WebDriverWait(browser, 10).until(lambda d: "order=" in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "#ledger tbody tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == [e2, e4]
    box = browser.find_element(By.ID, "filter")
    box.clear()
    box.send_keys("params.lr >")
    box.submit()
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "problem"))
    assert "query error at column" in browser.find_element(By.ID, "problem").text
    logged = browser.get_log("browser")          # the page came with 400 Bad Request
    assert logged and all("400 (Bad Request)" in e["message"] for e in logged)


def test_no_request_leaves_loopback(ui, seen_urls):
    assert len(seen_urls) > 20 and any(u.endswith(".js") or "plotly" in u for u in seen_urls)
    assert off_loopback(seen_urls) == []


def test_a_running_jobs_log_tail_updates_while_the_page_is_open(ui, night, browser, shots,
                                                               monkeypatch, seen_urls):
    from rigorlab.tools.jobs import api
    monkeypatch.setenv("RIGORLAB_STATE_HOME", str(night.state_home))
    job_id = api.submit("for i in $(seq 1 40); do echo tick $i; sleep 0.25; done",
                        workspace=night.workspace, gpus=0, name="live tail")
    try:
        visit(browser, f"{ui.base}/ui/jobs/{job_id}", seen_urls)
        browser.execute_script("window.stillThisPage = true")
        log = browser.find_element(By.ID, "log-stdout")
        WebDriverWait(browser, 30).until(lambda d: "tick 3\n" in log.text + "\n")
        first = log.text
        WebDriverWait(browser, 30).until(lambda d: "tick 12" in log.text)
        assert log.text.startswith(first) and len(log.text) > len(first)
        assert browser.execute_script("return window.stillThisPage === true")
        browser.save_screenshot(str(shots / "job-live.png"))
        assert api.wait(job_id, workspace=night.workspace, timeout_s=40).state.value == "COMPLETED"
        WebDriverWait(browser, 30).until(
            lambda d: d.find_element(By.ID, "job-state").text == "COMPLETED")
        WebDriverWait(browser, 10).until(lambda d: "tick 40" in log.text)
        assert log.text.count("tick 1\n") == 1 and browser.execute_script("return window.stillThisPage")
    finally:
        api.forget(night.workspace)
    assert off_loopback(requested_urls(browser)) == []
