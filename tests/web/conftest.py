"""Fixtures for the browser tests: the real services (dev mode, in-memory stores, a
4-second access-token lifetime) behind the dev front door (nginx), and headless Chromium
driven through chromedriver. Everything listens on 127.0.0.1 and is stopped after each
test; the services' and nginx's logs land in the artifacts directory."""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import procs  # noqa: E402  (scripts/procs.py, shared with the deployment scripts)
from procs import free_port  # noqa: E402
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
ARTIFACTS = Path(os.environ.get("WEB_ARTIFACTS", TARGET / "web-artifacts"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
ACCESS_TTL_SECS = 4
WAIT_SECS = 15
PASSWORD = "correct horse battery"


def wait_for(url, deadline_secs=20):
    deadline = time.monotonic() + deadline_secs
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer")
        time.sleep(0.1)


class Stack:
    """The two services and the front door, as processes."""

    def __init__(self, name):
        self.front = f"127.0.0.1:{free_port()}"
        self.auth = f"127.0.0.1:{free_port()}"
        self.tasks = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.front}"
        self.logs = ARTIFACTS / "logs" / name
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes = []

    def start(self):
        binaries = TARGET / "debug"
        common = {"PATH": os.environ["PATH"], "NO_COLOR": "1"}
        self.spawn(
            "auth-service",
            [binaries / "auth-service"],
            {
                **common,
                "AUTH__DEV": "true",
                "AUTH__LISTEN": self.auth,
                "AUTH__WORKERS": "1",
                "AUTH__ACCESS_TTL_SECS": str(ACCESS_TTL_SECS),
                "AUTH__JWT__LEEWAY_SECS": "0",
                "AUTH__BROWSER__ALLOWED_ORIGINS": self.url,
                # Cheap hashing: password cost is not what these tests are about.
                "AUTH__PASSWORD__MEMORY_KIB": "1024",
                "AUTH__PASSWORD__ITERATIONS": "1",
            },
        )
        self.spawn(
            "tasks-service",
            [binaries / "tasks-service"],
            {
                **common,
                "TASKS__DEV": "true",
                "TASKS__LISTEN": self.tasks,
                "TASKS__WORKERS": "1",
                "TASKS__JWT__LEEWAY_SECS": "0",
            },
        )
        self.spawn(
            "frontdoor",
            [ROOT / "scripts" / "frontdoor.sh", self.front, self.auth, self.tasks],
            common,
        )
        wait_for(f"http://{self.auth}/healthz")
        wait_for(f"http://{self.tasks}/healthz")
        wait_for(f"{self.url}/")

    def spawn(self, name, argv, env):
        self.processes.append(procs.spawn(argv, env, self.logs / f"{name}.log"))

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            procs.stop(process, grace=10)

    def post(self, path, body, headers=None):
        """A request straight to the front door (not through the browser): (status, JSON)."""
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def stack(request):
    stack = Stack(request.node.name)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def browser(stack):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=420,900",  # a phone-sized screen
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_script_timeout(WAIT_SECS)
    try:
        yield Browser(driver, stack)
    finally:
        driver.quit()


class Browser:
    """The page-level actions the tests use."""

    def __init__(self, driver, stack):
        self.driver = driver
        self.stack = stack

    def open(self):
        self.driver.get(self.stack.url + "/")
        self.wait(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))

    def wait(self, condition, timeout=WAIT_SECS):
        # The task list re-renders while we look: a vanished element means "look again".
        waiter = WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,))
        return waiter.until(condition)

    def refresh_cookie(self):
        """The refresh cookie as Chromium holds it, or None. (WebDriver's own cookie
        calls only see cookies of the current path, and this one is scoped to /auth.)"""
        cookies = self.driver.execute_cdp_cmd("Network.getCookies", {"urls": [self.stack.url + "/auth/refresh"]})
        return next((c for c in cookies["cookies"] if c["name"] == "tessera_refresh"), None)

    def visible(self, element_id):
        return self.wait(ec.visibility_of_element_located((By.ID, element_id)))

    def fill(self, element_id, text):
        field = self.visible(element_id)
        field.clear()
        field.send_keys(text)

    def sign_up(self, username):
        self.open()
        self.fill("register-username", username)
        self.fill("register-password", PASSWORD)
        self.driver.find_element(By.CSS_SELECTOR, "#register-form button").click()
        self.visible("app-view")

    def add_task(self, title):
        self.fill("new-title", title)
        self.driver.find_element(By.CSS_SELECTOR, "#add-form button").click()
        self.wait(lambda _: title in self.task_titles())

    def task_item(self, title):
        """The list item of the task titled `title` (the list re-renders: look it up anew)."""
        for item in self.driver.find_elements(By.CSS_SELECTOR, "#task-list li"):
            if item.find_element(By.CLASS_NAME, "title").text == title:
                return item
        raise AssertionError(f"no task {title!r} in {self.task_titles()}")

    def task_titles(self):
        return [
            element.text for element in self.driver.find_elements(By.CSS_SELECTOR, "#task-list .title")
        ]

    def status(self):
        return self.driver.find_element(By.ID, "status").text

    def requests_to(self, path):
        """How many requests the page sent to `path` since the last call (from Chromium's
        performance log, which is drained by reading it)."""
        count = 0
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                if message["params"]["request"]["url"].endswith(path):
                    count += 1
        return count

    def screenshot(self, name):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.driver.save_screenshot(str(path))
        return path
