"""The web client in real headless Chromium against the real services behind nginx."""

import json
import time

from selenium.webdriver.common.by import By

from conftest import ACCESS_TTL_SECS, PASSWORD

# Schedules `refreshSession()` of the page's own auth module (a dynamic import returns the
# instance the page already loaded) at an absolute time, and records how it ended.
REFRESH_AT = """
const [at] = arguments;
window.__refresh = 'pending';
import('/auth.js').then((auth) => setTimeout(() => auth.refreshSession().then(
  () => { window.__refresh = 'ok'; },
  (error) => { window.__refresh = 'failed: ' + error.message; },
), at - Date.now()));
"""


def test_register_add_toggle_and_screenshot(browser):
    browser.sign_up("alice")
    browser.add_task("buy milk")
    browser.add_task("write the report")
    assert browser.task_titles() == ["write the report", "buy milk"]

    browser.task_item("buy milk").find_element(By.CSS_SELECTOR, "input[type=checkbox]").click()
    browser.wait(lambda _: "done" in browser.task_item("buy milk").get_attribute("class"))
    browser.driver.refresh()
    browser.visible("app-view")
    browser.wait(lambda _: browser.task_titles())
    done = browser.task_item("buy milk").find_element(By.CSS_SELECTOR, "input[type=checkbox]")
    assert done.is_selected(), "the toggle reached the server"
    assert browser.status() == ""
    assert browser.screenshot("tasks.png").stat().st_size > 0


def test_edit_and_delete_tasks_and_revoke_another_session(browser, stack):
    browser.sign_up("ivy")
    browser.add_task("frist draft")
    browser.add_task("throw away")

    browser.task_item("frist draft").find_element(By.XPATH, ".//button[text()='Edit']").click()
    field = browser.visible("task-list").find_element(By.CSS_SELECTOR, "form.edit input")
    field.clear()
    field.send_keys("first draft")
    browser.driver.find_element(By.CSS_SELECTOR, "form.edit button").click()
    browser.wait(lambda _: browser.task_titles() == ["throw away", "first draft"])

    browser.task_item("throw away").find_element(By.XPATH, ".//button[text()='Delete']").click()
    browser.wait(lambda _: browser.task_titles() == ["first draft"])

    # Another device logs in; this page can end that session.
    status, other = stack.post("/auth/login", {"username": "ivy", "password": PASSWORD})
    assert status == 200
    browser.driver.refresh()
    # Devices by name, the raw user agent on hover.
    devices = browser.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#session-list li .device"))
    this = next(device for device in devices if "(this browser)" in device.find_element(By.XPATH, "..").text)
    assert this.text.startswith("Chrome on Linux · "), this.text
    assert "HeadlessChrome/" in this.get_attribute("title")
    revoke = browser.wait(lambda d: d.find_element(By.XPATH, "//ul[@id='session-list']//button[text()='Revoke']"))
    revoke.click()
    browser.wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#session-list li")) == 1)
    status, body = stack.post("/auth/refresh", {"refresh_token": other["refresh_token"]})
    assert (status, body["error"]) == (401, "invalid_refresh_token")


def test_login_form_and_a_wrong_password(browser, stack):
    status, _ = stack.post("/auth/register", {"username": "bob", "password": PASSWORD})
    assert status == 201
    browser.open()
    browser.fill("login-username", "bob")
    browser.fill("login-password", "not the password")
    browser.driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    browser.wait(lambda d: "wrong username or password" in browser.status())
    assert not browser.driver.find_element(By.ID, "app-view").is_displayed()

    browser.fill("login-password", PASSWORD)
    browser.driver.find_element(By.CSS_SELECTOR, "#login-form button").click()
    browser.visible("app-view")


def test_the_page_keeps_working_across_access_token_expiry(browser):
    browser.sign_up("carol")
    browser.add_task("before expiry")
    browser.requests_to("/auth/refresh")  # forget what happened so far

    # Two lifetimes pass; the page refreshes silently on its own.
    time.sleep(2 * ACCESS_TTL_SECS + 1)
    browser.add_task("after expiry")
    assert browser.requests_to("/auth/refresh") >= 2, "silent refreshes were observed"
    assert browser.task_titles() == ["after expiry", "before expiry"]
    assert browser.status() == ""


def test_a_refused_access_token_is_refreshed_once_and_the_request_retried(browser):
    # Disarm the page's proactive refresh timer (every timeout over a second), so the token
    # really expires in the page and the next request is answered 401.
    browser.driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": "const t = setTimeout; window.setTimeout = (f, ms, ...a) => (ms > 1000 ? 0 : t(f, ms, ...a));"},
    )
    browser.sign_up("hal")
    time.sleep(ACCESS_TTL_SECS + 1)
    browser.requests_to("/auth/refresh")
    browser.add_task("after a 401")
    log = browser.driver.get_log("performance")
    sent = [json.loads(entry["message"])["message"] for entry in log]
    urls = [m["params"]["request"]["url"] for m in sent if m["method"] == "Network.requestWillBeSent"]
    statuses = [
        (m["params"]["response"]["url"], m["params"]["response"]["status"])
        for m in sent
        if m["method"] == "Network.responseReceived"
    ]
    assert [u for u in urls if u.endswith("/auth/refresh")] == [browser.stack.url + "/auth/refresh"]
    assert [s for u, s in statuses if u.endswith("/tasks")] == [401, 201], "refused, refreshed, retried"
    assert browser.status() == ""


def test_reload_restores_the_session_and_no_script_can_see_a_token(browser):
    browser.sign_up("dave")
    browser.add_task("survives a reload")
    browser.driver.refresh()
    browser.visible("app-view")
    assert browser.task_titles() == ["survives a reload"]
    browser.wait(lambda d: d.find_element(By.ID, "whoami").text == "Signed in as dave")

    exposed = browser.driver.execute_script(
        "return [document.cookie, localStorage.length, sessionStorage.length, location.href]"
    )
    assert exposed == ["", 0, 0, browser.stack.url + "/"]
    cookie = browser.refresh_cookie()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/auth"


def test_two_tabs_refreshing_at_once_both_stay_logged_in(browser):
    driver = browser.driver
    browser.sign_up("erin")
    first = driver.current_window_handle
    driver.switch_to.new_window("window")  # a window, not a tab: both stay visible
    browser.open()
    browser.visible("app-view")  # resumed from the shared cookie
    second = driver.current_window_handle

    at = driver.execute_script("return Date.now()") + 1500
    for handle in (first, second):
        driver.switch_to.window(handle)
        driver.execute_script(REFRESH_AT, at)
    for handle in (first, second):
        driver.switch_to.window(handle)
        browser.wait(lambda d: d.execute_script("return window.__refresh") != "pending")
        assert driver.execute_script("return window.__refresh") == "ok"

    for handle, title in ((first, "from the first"), (second, "from the second")):
        driver.switch_to.window(handle)
        browser.add_task(title)
    driver.refresh()
    browser.visible("app-view")
    assert browser.task_titles() == ["from the second", "from the first"]

    # Logging out everywhere in one window sends the other one to the login screen too.
    driver.switch_to.window(first)
    driver.find_element(By.ID, "logout-all").click()
    browser.visible("auth-view")
    driver.switch_to.window(second)
    browser.visible("auth-view")


def test_logout_returns_to_login_and_the_old_cookie_is_dead(browser, stack):
    browser.sign_up("fay")
    cookie = browser.refresh_cookie()["value"]
    browser.driver.find_element(By.ID, "logout").click()
    browser.visible("auth-view")
    assert "logged out" in browser.status()
    assert browser.refresh_cookie() is None, "the server deleted the cookie"

    status, body = stack.post(
        "/auth/refresh",
        {},
        {
            "X-Tessera-Client": "browser",
            "Origin": stack.url,
            "Cookie": f"tessera_refresh={cookie}",
        },
    )
    assert (status, body["error"]) == (401, "invalid_refresh_token")
    browser.driver.refresh()
    browser.visible("auth-view")


def test_a_session_revoked_elsewhere_sends_the_page_to_login_with_a_message(browser, stack):
    browser.sign_up("gus")
    status, tokens = stack.post("/auth/login", {"username": "gus", "password": PASSWORD})
    assert status == 200
    status, _ = stack.post(
        "/auth/logout-all", {}, {"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert status == 204

    # The page's next refresh (within one access-token lifetime) is refused.
    browser.visible("auth-view")
    assert "log in again" in browser.status() or "session" in browser.status()
