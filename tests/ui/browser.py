"""Debian's chromium driven through chromedriver by selenium; nothing is downloaded (the
binaries come from tests/services/browser.sh, selenium's own driver manager stays offline)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import require_service

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")


def chromium():
    """A fresh headless chromium with an empty profile and its network and console logs."""
    env = require_service("browser")
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = env["CHROMIUM"]
    profile = tempfile.mkdtemp(prefix="rl-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=env["CHROMEDRIVER"]), options=options)
    driver.set_page_load_timeout(60)
    driver.profile_dir = Path(profile)
    requested_urls(driver)           # drop what the start page of an empty profile asked for
    return driver


def requested_urls(driver) -> list[str]:
    """Every URL the browser asked for since the last call (the DevTools network log)."""
    import json
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


INTERNAL = ("data", "blob", "about", "chrome", "chrome-untrusted", "devtools")


def off_loopback(urls: list[str]) -> list[str]:
    """The URLs that went to another host than 127.0.0.1 (the browser's own pages aside)."""
    return [u for u in urls if urlsplit(u).scheme not in INTERNAL
            and urlsplit(u).hostname != "127.0.0.1"]
