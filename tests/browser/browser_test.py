#!/usr/bin/env python3
"""Browser test of the waiting room (/wait/{event}) and the dashboard (/admin/).

Starts a private Redis and two ticketq-server instances sharing it (and one
token key), then drives headless Chromium through a rush: a visitor joins on
instance A and follows the line by the event stream, an operator on instance
B raises the capacity, the visitor is admitted live and hands over an
admission token that verifies; a setting changed on B shows on A. Then the
first paint of an unknown, closed, paused and sold-out event, the way to the
front the same in two tabs, and both pages in a Chromium with JavaScript
off. Any SEVERE entry in a browser console fails the test.

    /usr/bin/python3 tests/browser/browser_test.py --server build/ticketq-server [--artifacts DIR]

Exit status: 0 passed, 1 failed, 77 skipped (no Chromium, chromedriver or
selenium).
"""

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SKIP = 77
EVENT = "rush"
ADMIN_TOKEN = "browser-test-admin-token"
BOOKING_URL = "http://127.0.0.1:9/book"
WAIT_S = 10  # the bound of every wait
PHONE = (390, 844)
NARROW_PHONE = (360, 740)
DESKTOP = (1280, 800)


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:
    skip("selenium is not installed (Debian: apt-get install python3-selenium)")


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def log(message):
    print(message, flush=True)


# --- processes ---------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Redis and the ticketq-server instances, with their logs; stop() ends them all."""

    def __init__(self, server, tmp):
        self.server = server
        self.tmp = tmp
        self.procs = []  # (name, Popen, log path)

    def spawn(self, name, argv):
        path = os.path.join(self.tmp, f"{name}.log")
        out = open(path, "wb")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        out.close()
        self.procs.append((name, proc, path))
        return proc

    def start_redis(self):
        port = free_port()
        self.spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", self.tmp])
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return port
            except OSError:
                pass
            time.sleep(0.05)
        raise Failure("redis-server did not answer PING within 10 s")

    def start_server(self, name, redis_port, key, extra=()):
        port = free_port()
        argv = [self.server, "--port", str(port), "--bind", "127.0.0.1",
                "--redis", f"redis://127.0.0.1:{redis_port}", "--admin-token", ADMIN_TOKEN,
                "--token-keys", key, "--threads", "1", "--admission-tick-ms", "100",
                "--admission-discover-ms", "500", "--access-log", "1", *extra]
        proc = self.spawn(name, argv)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise Failure(f"{name} exited with {proc.returncode} at start")
            try:
                with urllib.request.urlopen(base + "/ready", timeout=1) as r:
                    if r.status == 200:
                        return base
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise Failure(f"{name} was not ready within 10 s")

    def print_logs(self, lines=40):
        for name, _, path in self.procs:
            try:
                with open(path, "rb") as f:
                    tail = f.read().decode(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            log(f"--- last {len(tail)} lines of {name}'s log ---")
            for line in tail:
                log(f"  {line}")

    def stop(self):
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 5
        for _, proc, _ in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs = []


# --- HTTP --------------------------------------------------------------------


def join_cookie(base, event):
    """Joins the waiting room of `event` as a new visitor; returns (answer, the tq_{event} cookie's value)."""
    req = urllib.request.Request(f"{base}/wait/{event}/join", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        body = json.loads(r.read())
        cookie = r.headers.get("Set-Cookie", "")
    prefix = f"tq_{event}="
    check(cookie.startswith(prefix), f"join {event}: no cookie in {cookie!r}")
    return body, cookie[len(prefix):cookie.index(";")]


def http(method, url, body=None, headers=None):
    """One request; returns (status, parsed JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def admin(method, base, path, body=None):
    return http(method, base + path, body, {"X-Token": ADMIN_TOKEN})


def event_counts_of(base, event):
    status, info = admin("GET", base, f"/v1/events/{event}")
    check(status == 200, f"GET /v1/events/{event}: {status} {info}")
    return info


def event_counts(base):
    return event_counts_of(base, EVENT)


# --- browsers ------------------------------------------------------------------


def find_binary(*candidates):
    for c in candidates:
        path = shutil.which(c) or (c if os.path.isabs(c) and os.access(c, os.X_OK) else None)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium; keeps every console entry it logged."""

    def __init__(self, name, chromium, chromedriver, javascript=True):
        self.name = name
        self.console = []
        options = Options()
        if not javascript:
            options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--no-first-run",
                    "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                    "--disable-background-networking", "--disable-component-update",
                    "--password-store=basic", "--lang=en-US"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
        self.driver.set_window_size(*DESKTOP)
        self.driver.set_page_load_timeout(WAIT_S)
        self.driver.set_script_timeout(WAIT_S)

    def drain_console(self):
        try:
            entries = self.driver.get_log("browser")
        except WebDriverException:
            return
        for e in entries:
            self.console.append(e)
            log(f"  [{self.name} console {e.get('level')}] {e.get('message')}")

    def check_console(self, expected=None):
        """Fails on any SEVERE console entry but those containing `expected` (a URL made to fail)."""
        self.drain_console()
        severe = [e for e in self.console if e.get("level") == "SEVERE"
                  and not (expected and expected in e.get("message", ""))]
        check(not severe, f"{self.name}: console errors: {[e.get('message') for e in severe]}")
        self.console = []

    def get(self, url):
        self.driver.get(url)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self, css):
        return self.find(css).text.strip()

    def shown(self, css):
        return self.find(css).is_displayed()

    def wait(self, what, predicate, timeout=WAIT_S, poll=0.02):
        """Waits for predicate(driver) to be truthy; returns (value, seconds waited)."""
        start = time.monotonic()
        try:
            value = WebDriverWait(self.driver, timeout, poll_frequency=poll).until(
                lambda d: predicate(d))
        except TimeoutException:
            self.drain_console()
            raise Failure(f"{self.name}: timed out after {timeout} s waiting for {what}")
        return value, time.monotonic() - start

    def wait_js(self, what, script, timeout=WAIT_S):
        return self.wait(what, lambda d: d.execute_script(script), timeout)

    def fill(self, css, value):
        field = self.find(css)
        field.clear()
        field.send_keys(str(value))

    def select(self, css, value):
        Select(self.find(css)).select_by_value(value)

    def screenshot(self, directory, name, size, mobile):
        """Saves a screenshot at this viewport size; checks that nothing overflows sideways."""
        width, height = size
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        try:
            overflow = self.js("return document.documentElement.scrollWidth - window.innerWidth")
            check(overflow <= 0, f"{self.name}: {name} overflows a {width}px viewport by {overflow}px")
            path = os.path.join(directory, f"{name}.png")
            check(self.driver.save_screenshot(path), f"could not save {path}")
            log(f"  screenshot {path}")
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def quit(self):
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001 - the browser may be gone already
            pass


# --- the test ------------------------------------------------------------------


class Steps:
    def __init__(self):
        self.start = time.monotonic()
        self.timings = []

    def __call__(self, title):
        log(f"\n== {title}  (t = {time.monotonic() - self.start:.2f} s)")

    def timing(self, what, seconds):
        self.timings.append((what, seconds))
        log(f"  timing: {what}: {seconds * 1000:.0f} ms")


def strings(browser, expr):
    """A value of window.TQ_STRINGS in the waiting room (the test reads the page's own words)."""
    return browser.js(f"return window.TQ_STRINGS.{expr};")


def wait_for_state(browser, state, timeout=WAIT_S):
    return browser.wait_js(f"#state data-state={state}",
                           f"return document.getElementById('state').dataset.state === '{state}';",
                           timeout)


def status_calls(browser):
    """How many /wait/{event}/status requests this page has made since it loaded."""
    return browser.js(
        "return performance.getEntriesByType('resource')"
        f".filter(e => new URL(e.name).pathname === '/wait/{EVENT}/status').length;")


def admin_login(browser, base, steps):
    browser.get(base + "/admin/")
    check(browser.find("#token").get_attribute("type") == "password", "#token is not a password input")
    browser.fill("#token", ADMIN_TOKEN)
    browser.find("#login").click()
    _, took = browser.wait(f"event {EVENT} in #events",
                           lambda d: d.find_elements(By.CSS_SELECTOR, f'#events button[data-event="{EVENT}"]'))
    steps.timing(f"login and event list on {base}", took)
    check(browser.find("#token").get_attribute("value") == "", "the token stays in the login field")
    check(ADMIN_TOKEN not in browser.driver.current_url, "the admin token is in the URL")
    browser.find(f'#events button[data-event="{EVENT}"]').click()
    browser.wait("the event's counts", lambda d: d.find_element(By.ID, "count-waiting").text.strip() not in ("", "–"))
    # The event has had activity: the chart starts with its past, from the server.
    browser.wait_js("the chart's past", "return Number(document.getElementById('chart').dataset.history) > 0;")
    points = browser.js("return document.querySelector('#chart .line-waiting').points.numberOfItems;")
    check(points >= 2, f"the chart right after login has {points} point(s) of the waiting line")


def progress(browser):
    """[value, max] of the way-to-the-front bar."""
    return browser.js("const p = document.getElementById('progress'); return [p.value, p.max];")


# Events in each state a newcomer can find; first_paint and without_javascript
# check the page says it at once.
STATE_EVENTS = {
    "shut": ({"capacity": 5, "queue_limit": 5, "state": "closed"}, "closed", "states.closed", ""),
    "hold": ({"capacity": 5, "queue_limit": 5, "state": "paused"}, "none", "states.none", "notices.pausedJoin"),
    "full": ({"capacity": 0, "queue_limit": 0}, "sold_out", "states.sold_out", ""),
    "nosuchevent": (None, "unknown", "states.unknown", "notices.unknown"),
}


def make_state_events(base):
    for name, (settings, *_rest) in STATE_EVENTS.items():
        if settings is not None:
            status, body = admin("PUT", base, f"/v1/events/{name}", settings)
            check(status in (200, 201), f"PUT {name}: {status} {body}")


def check_painted(browser, base, words, js_on):
    """Loads each state event's page and checks what it says (words: path -> text)."""
    for name, (_settings, state, heading, notice) in STATE_EVENTS.items():
        browser.get(f"{base}/wait/{name}")
        check(browser.find("#state").get_attribute("data-state") == state,
              f"{browser.name}: /wait/{name} shows state {browser.find('#state').get_attribute('data-state')!r}, expected {state}")
        check(browser.text("#state") == words[heading], f"{browser.name}: /wait/{name} says {browser.text('#state')!r}")
        if notice:
            check(browser.text("#notice") == words[notice], f"{browser.name}: /wait/{name} notice {browser.text('#notice')!r}")
        else:
            check(not browser.shown("#notice"), f"{browser.name}: /wait/{name} shows a second message {browser.text('#notice')!r}")
        joinable = state == "none"
        check(browser.shown("#join") == (joinable and js_on),
              f"{browser.name}: /wait/{name}: join button shown {browser.shown('#join')}")
        check(browser.driver.title != "…" and name in browser.driver.title, f"title {browser.driver.title!r}")
        # The state came with the page (painted by the server, not asked).
        painted = browser.find("body").get_attribute("data-view") or ""
        check(f'"state":"{state}"' in painted, f"{browser.name}: /wait/{name} painted {painted!r}")
        if js_on:
            # A newcomer's page asks once more, with the cookie the browser
            # holds back on a link from another site (none here).
            calls = browser.js("return performance.getEntriesByType('resource')"
                               f".filter(e => new URL(e.name).pathname === '/wait/{name}/status').length;")
            check(calls <= (0 if state == "unknown" else 1), f"/wait/{name} asked /status {calls} times")
        browser.check_console(expected="/wait/nosuchevent")


def page_words(browser, base):
    """The page's own words (web/strings.js), read with JavaScript on."""
    browser.get(f"{base}/wait/{EVENT}")
    paths = [v[2] for v in STATE_EVENTS.values()] + [v[3] for v in STATE_EVENTS.values() if v[3]]
    paths += ["states.waiting", "states.admitted", "states.none", "noScript", "refresh", "admittedNoLink"]
    return {p: strings(browser, p) for p in paths}


def first_paint(visitor, a, b, artifacts, steps):
    steps("first paint with JavaScript: unknown, closed, paused and sold-out events say so at once")
    make_state_events(b)
    words = page_words(visitor, a)
    visitor.driver.delete_all_cookies()
    check_painted(visitor, a, words, js_on=True)
    visitor.get(f"{a}/wait/shut")
    visitor.screenshot(artifacts, "wait-closed-phone", PHONE, True)


def same_in_every_tab(visitor, a, steps):
    steps("the way to the front is the server's: the same in a fresh tab, right at place 1")
    status, body = admin("PUT", a, "/v1/events/tabs", {"capacity": 0, "queue_limit": 10})
    check(status in (200, 201), f"PUT tabs: {status} {body}")
    for user in ("t1", "t2"):
        status, body = http("POST", f"{a}/v1/events/tabs/reserve", {"user_id": user})
        check(status == 200 and body.get("status") == "queued", f"reserve {user}: {status} {body}")
    visitor.driver.delete_all_cookies()
    visitor.get(f"{a}/wait/tabs")
    visitor.find("#join").click()
    wait_for_state(visitor, "waiting")
    check(visitor.text("#position") == "3" and progress(visitor) == [0, 2], f"joined: {progress(visitor)}")
    status, body = admin("POST", a, "/v1/events/tabs/leave", {"user_id": "t1"})
    check(status == 200, f"leave t1: {status} {body}")
    visitor.wait_js("#position 2", "return document.getElementById('position').textContent === '2';")
    check(progress(visitor) == [1, 2], f"tab 1 at place 2: {progress(visitor)}, expected [1, 2]")
    first = visitor.driver.current_window_handle
    visitor.driver.switch_to.new_window("tab")
    second = visitor.driver.current_window_handle
    visitor.get(f"{a}/wait/tabs")
    wait_for_state(visitor, "waiting")
    check(visitor.text("#position") == "2" and progress(visitor) == [1, 2],
          f"a fresh tab at place 2: {visitor.text('#position')} {progress(visitor)}, expected [1, 2]")
    status, body = admin("POST", a, "/v1/events/tabs/leave", {"user_id": "t2"})
    check(status == 200, f"leave t2: {status} {body}")
    for handle in (second, first):
        visitor.driver.switch_to.window(handle)
        visitor.wait_js("#position 1", "return document.getElementById('position').textContent === '1';")
        check(progress(visitor) == [2, 2], f"at place 1: {progress(visitor)}, expected [2, 2]")
    visitor.driver.switch_to.window(second)
    visitor.driver.close()
    visitor.driver.switch_to.window(first)
    visitor.check_console()


def without_javascript(a, b, artifacts, browsers, chromium, chromedriver, steps):
    steps("JavaScript off: the waiting room paints the state, the place and a refresh link; the dashboard says it needs JavaScript")
    words_browser = browsers[0]
    words = page_words(words_browser, a)
    nojs = Browser("no-js", chromium, chromedriver, javascript=False)
    browsers.append(nojs)
    nojs.get(f"{a}/wait/{EVENT}")
    check(nojs.shown("#no-script") and nojs.text("#no-script").startswith(words["noScript"]),
          f"no <noscript> note: {nojs.text('#no-script')!r}")
    check_painted(nojs, a, words, js_on=False)

    status, body = admin("PUT", a, "/v1/events/nojs", {"capacity": 1, "queue_limit": 10})
    check(status in (200, 201), f"PUT nojs: {status} {body}")
    for user in ("n0", "n1", "n2"):
        status, body = http("POST", f"{a}/v1/events/nojs/reserve", {"user_id": user})
        check(status == 200, f"reserve {user}: {status} {body}")
    joined, cookie = join_cookie(a, "nojs")
    check(joined.get("position") == 3, f"joined nojs: {joined}")
    nojs.get(f"{a}/wait/nojs")
    nojs.driver.add_cookie({"name": "tq_nojs", "value": cookie, "path": "/wait/nojs", "httpOnly": True})
    nojs.get(f"{a}/wait/nojs")
    check(nojs.text("#state") == words["states.waiting"], f"#state {nojs.text('#state')!r}")
    check(nojs.text("#position") == "3" and progress(nojs) == [0, 2], f"place {nojs.text('#position')} {progress(nojs)}")
    check(not nojs.shown("#join") and not nojs.shown("#leave"), "buttons that need JavaScript show")
    check(not nojs.shown("#eta-box"), "an estimate shows without the script that writes it")
    nojs.screenshot(artifacts, "wait-nojs-phone", PHONE, True)
    status, body = admin("POST", a, "/v1/events/nojs/leave", {"user_id": "n1"})
    check(status == 200, f"leave n1: {status} {body}")
    refresh = nojs.find("#refresh")
    check(refresh.text == words["refresh"], f"refresh link {refresh.text!r}")
    refresh.click()
    nojs.wait("place 2 after the refresh link", lambda d: d.find_element(By.ID, "position").text == "2")
    check(progress(nojs) == [1, 2], f"after the refresh: {progress(nojs)}, expected [1, 2]")

    status, body = admin("PUT", b, "/v1/events/nojs", {"capacity": 3})
    check(status == 200, f"PUT capacity 3: {status} {body}")
    status, body = admin("POST", b, "/v1/events/nojs/process_queue?limit=10", None)
    check(status == 200 and body.get("promoted_count") == 2, f"promote: {status} {body}")
    nojs.get(f"{b}/wait/nojs")  # B has no booking_url
    check(nojs.text("#state") == words["states.admitted"], f"admitted: #state {nojs.text('#state')!r}")
    check(nojs.text("#next-step") == words["admittedNoLink"], f"#next-step {nojs.text('#next-step')!r}")
    check(not nojs.shown("#admission-token") and not nojs.shown("#copy"), "the code shows unasked, or a dead copy button")
    nojs.find("#code-details summary").click()
    nojs.wait("the admission code", lambda d: d.find_element(By.ID, "admission-token").is_displayed())
    code = nojs.find("#admission-token").get_attribute("value")
    status, body = http("POST", f"{a}/v1/events/nojs/verify", {"token": code})
    check(status == 200 and body.get("valid") is True, f"verify of the painted code: {status} {body}")
    nojs.screenshot(artifacts, "wait-nojs-admitted-phone", PHONE, True)

    nojs.driver.add_cookie({"name": "tq_nojs", "value": cookie[:-4] + "AAAA", "path": "/wait/nojs"})
    nojs.get(f"{a}/wait/nojs")
    check(nojs.find("#state").get_attribute("data-state") == "none" and nojs.text("#state") == words["states.none"],
          f"a forged cookie: {nojs.text('#state')!r}")

    nojs.get(f"{a}/admin/")
    check(nojs.shown("#no-script") and "JavaScript" in nojs.text("#no-script"),
          f"the dashboard without JavaScript: {nojs.text('#no-script')!r}")
    check(not nojs.shown("#login-section") and not nojs.shown("#token"), "a login form that cannot work shows")
    nojs.screenshot(artifacts, "admin-nojs-desktop", DESKTOP, False)
    nojs.check_console(expected="/wait/nosuchevent")


def run(args, tmp, artifacts, browsers):
    steps = Steps()
    chromium = find_binary("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")
    chromedriver = find_binary("chromedriver", "/usr/bin/chromedriver")
    if not chromium:
        skip("Chromium is not installed (Debian: apt-get install chromium)")
    if not chromedriver:
        skip("chromedriver is not installed (Debian: apt-get install chromium-driver)")
    for tool in ("redis-server", "openssl"):
        if not shutil.which(tool):
            raise Failure(f"{tool} is not installed")

    help_text = subprocess.run([args.server, "--help"], capture_output=True, text=True, timeout=10).stdout
    for flag in ("--token-keys", "--admin-token", "--admission-tick-ms", "--booking-url"):
        check(flag in help_text, f"{args.server} has no {flag} flag")

    steps("start Redis and two ticketq-server instances")
    cluster = Cluster(args.server, tmp)
    args.cluster = cluster
    key = os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True,
                   capture_output=True, timeout=10)
    redis_port = cluster.start_redis()
    a = cluster.start_server("server-A", redis_port, key, ["--booking-url", BOOKING_URL])
    b = cluster.start_server("server-B", redis_port, key)
    log(f"  redis :{redis_port}, A {a} (booking_url {BOOKING_URL}), B {b}")

    steps("create the event; one seat taken by API, one API waiter ahead of the browser")
    status, body = admin("PUT", a, f"/v1/events/{EVENT}", {"capacity": 1, "queue_limit": 100, "admit_rate": 100})
    check(status == 201, f"PUT /v1/events/{EVENT}: {status} {body}")
    status, body = http("POST", f"{a}/v1/events/{EVENT}/reserve", {"user_id": "someone"})
    check(status == 200 and body.get("status") == "reserved", f"reserve someone: {status} {body}")
    status, body = http("POST", f"{a}/v1/events/{EVENT}/reserve", {"user_id": "early"})
    check(status == 200 and body.get("status") == "queued" and body.get("position") == 1,
          f"reserve early: {status} {body}")
    early_token = body["token"]

    steps("visitor on A joins: position 2, live")
    visitor = Browser("visitor", chromium, chromedriver)
    browsers.append(visitor)
    visitor.get(f"{a}/wait/{EVENT}")
    visitor.wait("the join button", lambda d: d.find_element(By.ID, "join").is_displayed())
    check(visitor.find("#state").get_attribute("data-state") == "none", "a new visitor's state is not none")
    check(not visitor.find("#leave").is_displayed(), "#leave shows before joining")
    visitor.find("#join").click()
    _, took = wait_for_state(visitor, "waiting")
    steps.timing("join click to waiting", took)
    check(visitor.text("#position") == "2", f"position {visitor.text('#position')!r}, expected 2")
    check(visitor.text("#eta") == strings(visitor, "etaUnknown"), f"ETA {visitor.text('#eta')!r}, expected unknown")
    check(visitor.js("const p = document.getElementById('progress'); return [p.value, p.max];") == [0, 1],
          "the progress bar of a new place is not empty")
    _, took = visitor.wait_js("#mode live", "return document.getElementById('mode').textContent === 'live';")
    steps.timing("waiting to stream live", took)
    check(visitor.find("#leave").is_displayed() and not visitor.find("#join").is_displayed(),
          "a waiting visitor sees join, or no leave")
    check(event_counts(b)["waiting"] == 2, "waiting is not 2 after the browser joined")
    visitor.screenshot(artifacts, "wait-waiting-desktop", DESKTOP, False)
    visitor.screenshot(artifacts, "wait-waiting-phone", PHONE, True)
    visitor.screenshot(artifacts, "wait-waiting-phone-360", NARROW_PHONE, True)
    visitor.check_console()

    steps("reload: the same place, no new join")
    visitor.driver.refresh()
    wait_for_state(visitor, "waiting")
    check(visitor.text("#position") == "2", f"after reload: position {visitor.text('#position')!r}, expected 2")
    visitor.wait_js("#mode live after reload", "return document.getElementById('mode').textContent === 'live';")
    info = event_counts(a)
    check(info["waiting"] == 2, f"waiting {info['waiting']} after the reload, expected 2 (a second join?)")
    check(status_calls(visitor) == 0,
          f"{status_calls(visitor)} status calls after the reload, expected none (the page comes painted)")

    steps("by a link from another site (the SameSite=Strict cookie held back): the same place")
    visitor.driver.get(f"data:text/html,<a id=go href='{a}/wait/{EVENT}'>to the waiting room</a>")
    visitor.find("#go").click()
    wait_for_state(visitor, "waiting")
    painted = visitor.find("body").get_attribute("data-view") or ""
    check('"state":"none"' in painted, f"the page came painted {painted!r}: the cookie was sent")
    check(visitor.text("#position") == "2", f"by a link: position {visitor.text('#position')!r}, expected 2")
    check(event_counts(a)["waiting"] == 2, "waiting is not 2 after arriving by a link (a second join?)")

    steps("the waiter ahead leaves (API): the page moves to position 1 live")
    status, body = http("POST", f"{a}/v1/events/{EVENT}/leave", headers={"Authorization": f"Bearer {early_token}"})
    check(status == 200 and body.get("status") == "left", f"leave early: {status} {body}")
    _, took = visitor.wait_js("#position 1", "return document.getElementById('position').textContent === '1';")
    steps.timing("API leave to position 1 on the page", took)
    check(visitor.js("const p = document.getElementById('progress'); return p.value === p.max;"),
          "the progress bar is not full at the head of the line")
    check(progress(visitor) == [1, 1], f"progress at place 1: {progress(visitor)}, expected [1, 1]")
    announcement = strings(visitor, "announcePosition(1)")
    check(visitor.text("#live") == announcement, f"#live says {visitor.text('#live')!r}, expected {announcement!r}")
    check(visitor.find("#live").get_attribute("aria-live") == "polite", "#live is not aria-live=polite")
    visitor.check_console()

    steps("operator on B raises the capacity to 2: the visitor on A is admitted live")
    operator = Browser("operator", chromium, chromedriver)
    browsers.append(operator)
    admin_login(operator, b, steps)
    check(operator.text("#count-waiting") == "1", f"#count-waiting {operator.text('#count-waiting')!r}, expected 1")
    check(operator.find("#set-capacity").get_attribute("value") == "1", "#set-capacity is not prefilled with 1")
    operator.screenshot(artifacts, "admin-desktop", DESKTOP, False)
    operator.screenshot(artifacts, "admin-phone", PHONE, True)
    operator.screenshot(artifacts, "admin-phone-360", NARROW_PHONE, True)
    calls_before = status_calls(visitor)
    visitor.js("""
        window.__admittedAt = 0;
        const state = document.getElementById('state');
        new MutationObserver(() => {
          if (!window.__admittedAt && state.dataset.state === 'admitted') window.__admittedAt = Date.now();
        }).observe(state, {attributes: true, attributeFilter: ['data-state']});""")
    operator.js("""
        window.__savedAt = 0;
        const message = document.getElementById('message');
        new MutationObserver(() => {
          if (!window.__savedAt && /saved/i.test(message.textContent)) window.__savedAt = Date.now();
        }).observe(message, {childList: true, characterData: true, subtree: true});""")
    operator.fill("#set-capacity", 2)
    operator.find("#save").click()
    operator.wait_js("the save's answer", "return window.__savedAt > 0;")
    wait_for_state(visitor, "admitted")
    saved_at, admitted_at = operator.js("return window.__savedAt;"), visitor.js("return window.__admittedAt;")
    latency = (admitted_at - saved_at) / 1000
    steps.timing("save answered on B to admitted on A's page", latency)
    check(latency < 1.5, f"the admission took {latency:.3f} s to show, expected < 1.5 s")
    check(visitor.text("#mode") == "live", f"#mode is {visitor.text('#mode')!r} after admission, expected live")
    check(status_calls(visitor) == calls_before, "the page polled /status while the stream was live")
    visitor.check_console()
    operator.check_console()

    steps("the hand-over: the booking form's admission token verifies on A and B")
    visitor.wait("the continue form", lambda d: d.find_element(By.ID, "continue").is_displayed())
    form = visitor.find("#continue")
    check(form.tag_name == "form" and form.get_attribute("method") == "post",
          f"#continue is not a POST form: {form.tag_name} {form.get_attribute('method')}")
    check(form.get_attribute("action") == BOOKING_URL, f"booking form action {form.get_attribute('action')!r}")
    fields = {f.get_attribute("name"): f.get_attribute("value")
              for f in form.find_elements(By.CSS_SELECTOR, "input[type=hidden]")}
    check(fields.get("event") == EVENT, f"booking form fields {fields!r}")
    token = fields.get("token", "")
    check("token=" not in visitor.driver.page_source.replace('name="token"', ""),
          "the admission token is in a URL of the page")
    for base in (a, b):
        status, body = http("POST", f"{base}/v1/events/{EVENT}/verify", {"token": token})
        check(status == 200 and body.get("valid") is True and body.get("event") == EVENT,
              f"verify on {base}: {status} {body}")
    log(f"  verified: user_id {body.get('user_id')}, hold_expires_at {body.get('hold_expires_at')}")
    visitor.screenshot(artifacts, "wait-admitted-desktop", DESKTOP, False)
    visitor.screenshot(artifacts, "wait-admitted-phone", PHONE, True)

    steps("a second visitor on A (a new cookie) joins; the operator on B pauses the event and sets queue_limit 77")
    visitor.driver.delete_all_cookies()
    visitor.js("sessionStorage.clear();")
    visitor.get(f"{a}/wait/{EVENT}")
    visitor.wait("the join button", lambda d: d.find_element(By.ID, "join").is_displayed())
    visitor.find("#join").click()
    wait_for_state(visitor, "waiting")
    check(visitor.text("#position") == "1", f"second visitor: position {visitor.text('#position')!r}, expected 1")
    check(not visitor.shown("#progress-box"), "a visitor who joined at the front sees a bar (nobody was ahead)")
    visitor.wait_js("#mode live", "return document.getElementById('mode').textContent === 'live';")
    operator.fill("#set-queue-limit", 77)
    operator.select("#set-state", "paused")
    operator.find("#save").click()
    operator.wait_js("the save's answer", "return /saved/i.test(document.getElementById('message').textContent);")
    _, took = visitor.wait_js("the paused notice on A",
                              "return document.getElementById('notice').dataset.notice === 'paused';")
    steps.timing("pause saved on B to paused on A's page", took)
    check(visitor.text("#state") == strings(visitor, "states.paused"), f"#state says {visitor.text('#state')!r}")
    check(visitor.find("#notice").is_displayed(), "the paused notice is hidden")
    visitor.screenshot(artifacts, "wait-paused-desktop", DESKTOP, False)
    visitor.screenshot(artifacts, "wait-paused-phone", PHONE, True)
    operator.check_console()
    visitor.check_console()

    steps("the dashboard on A shows the settings saved on B")
    operator.get("about:blank")
    admin_login(operator, a, steps)
    check(operator.find("#set-queue-limit").get_attribute("value") == "77", "queue_limit on A is not 77")
    check(operator.find("#set-state").get_attribute("value") == "paused", "state on A is not paused")
    check(operator.find("#set-capacity").get_attribute("value") == "2", "capacity on A is not 2")
    check(operator.text("#count-waiting") == "1" and operator.text("#count-admitted") == "2",
          f"counts on A: waiting {operator.text('#count-waiting')}, admitted {operator.text('#count-admitted')}")
    chart_lines = operator.js("return document.querySelectorAll('#chart polyline').length;")
    check(chart_lines == 2, f"the chart has {chart_lines} lines, expected 2")

    steps("the dashboard on A creates an event, changes its capacity and promotes by hand")
    operator.fill("#event-name", "spare")
    operator.fill("#event-capacity", 0)
    operator.fill("#event-queue-limit", 5)
    operator.find("#create").click()
    operator.wait("spare in #events", lambda d: d.find_elements(By.CSS_SELECTOR, '#events button[data-event="spare"]'))
    operator.wait_js("spare shown", "return document.getElementById('detail-title').textContent === 'spare'"
                     " && document.getElementById('set-capacity').value === '0';")
    status, body = http("POST", f"{a}/v1/events/spare/reserve", {"user_id": "x"})
    check(status == 200 and body.get("status") == "queued", f"reserve x on spare: {status} {body}")
    operator.wait_js("spare's waiting 1", "return document.getElementById('count-waiting').textContent === '1';")
    operator.fill("#set-capacity", 1)
    operator.find("#save").click()
    operator.wait_js("the save's answer", "return /saved/i.test(document.getElementById('message').textContent);")
    operator.fill("#promote-n", 1)
    operator.find("#promote").click()
    operator.wait_js("spare's admitted 1", "return document.getElementById('count-admitted').textContent === '1';")
    check(event_counts_of(a, "spare")["promoted"] == 1, "spare: promoted is not 1")
    operator.find(f'#events button[data-event="{EVENT}"]').click()
    operator.wait_js(f"{EVENT} shown again", f"return document.getElementById('detail-title').textContent === '{EVENT}'"
                     " && document.getElementById('set-queue-limit').value === '77';")
    operator.check_console()

    steps("the visitor leaves with the button; the operator on A resets with confirmation")
    visitor.find("#leave").click()
    wait_for_state(visitor, "left")
    check(visitor.find("#join").is_displayed(), "no join button after leaving")
    check(visitor.text("#notice") == strings(visitor, "notices.left"), f"after leaving: {visitor.text('#notice')!r}")
    operator.wait_js("waiting 0 on the dashboard", "return document.getElementById('count-waiting').textContent === '0';")
    operator.find("#reset").click()
    operator.wait("the reset confirmation", lambda d: d.find_element(By.ID, "reset-confirm").is_displayed())
    check(event_counts(a)["reserved"] == 2, "the reset happened before it was confirmed")
    operator.find("#reset-confirm").click()
    operator.wait_js("admitted 0 after the reset",
                     "return document.getElementById('count-admitted').textContent === '0';")
    info = event_counts(b)
    check(info["reserved"] == 0 and info["waiting"] == 0, f"after the reset: {info}")

    steps("logout forgets the token")
    operator.find("#logout").click()
    operator.wait("the login form", lambda d: d.find_element(By.ID, "token").is_displayed())
    check(operator.js("return sessionStorage.length;") == 0, "sessionStorage is not empty after logout")

    steps("streams unavailable (blocked): a visitor on B polls, is admitted, gets the code to copy")
    status, body = admin("PUT", b, f"/v1/events/{EVENT}", {"state": "open", "capacity": 0})
    check(status == 200, f"PUT state open, capacity 0: {status} {body}")
    stream_path = f"/wait/{EVENT}/stream"
    visitor.driver.delete_all_cookies()
    visitor.js("sessionStorage.clear();")
    visitor.driver.execute_cdp_cmd("Network.enable", {})
    visitor.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": [f"*{stream_path}*"]})
    visitor.get(f"{b}/wait/{EVENT}")
    visitor.wait("the join button", lambda d: d.find_element(By.ID, "join").is_displayed())
    visitor.find("#join").click()
    wait_for_state(visitor, "waiting")
    _, took = visitor.wait_js("#mode polling", "return document.getElementById('mode').textContent === 'polling';")
    steps.timing("waiting to polling (stream blocked)", took)
    status, body = admin("PUT", b, f"/v1/events/{EVENT}", {"capacity": 1})
    check(status == 200, f"PUT capacity 1: {status} {body}")
    _, took = wait_for_state(visitor, "admitted")
    steps.timing("capacity 1 to admitted on the polling page", took)
    check(status_calls(visitor) >= 2, "the page was admitted without polling /status")
    visitor.wait("what to do next", lambda d: d.find_element(By.ID, "next-step").is_displayed())
    check(visitor.text("#next-step") == strings(visitor, "admittedNoLink"), f"#next-step {visitor.text('#next-step')!r}")
    check(not visitor.find("#continue").is_displayed(), "a booking form shows without a booking_url")
    check(not visitor.shown("#admission-token"), "the admission code shows before its disclosure is opened")
    visitor.find("#code-details summary").click()
    visitor.wait("the admission code", lambda d: d.find_element(By.ID, "admission-token").is_displayed())
    code = visitor.find("#admission-token").get_attribute("value")
    check(visitor.find("#admission-token").get_attribute("readonly") is not None, "the code is editable")
    status, body = http("POST", f"{a}/v1/events/{EVENT}/verify", {"token": code})
    check(status == 200 and body.get("valid") is True, f"verify of the copied code: {status} {body}")
    visitor.find("#copy").click()
    copied = (strings(visitor, "copied"), strings(visitor, "copyFailed"))
    visitor.wait_js("the copy's answer in #live",
                    f"return {json.dumps(copied)}.includes(document.getElementById('live').textContent);")
    visitor.screenshot(artifacts, "wait-code-phone", PHONE, True)

    steps("the admitted visitor gives the seat up: told so, not that they left the line")
    visitor.find("#leave").click()
    wait_for_state(visitor, "left")
    check(visitor.text("#state") == strings(visitor, "states.seat_given_up"), f"#state {visitor.text('#state')!r}")
    check(visitor.text("#notice") == strings(visitor, "notices.seat_given_up"), f"#notice {visitor.text('#notice')!r}")
    check(event_counts(a)["cancelled"] >= 1, "the seat was not given back")
    visitor.check_console(expected=stream_path)
    visitor.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})

    first_paint(visitor, a, b, artifacts, steps)
    same_in_every_tab(visitor, a, steps)
    without_javascript(a, b, artifacts, browsers, chromium, chromedriver, steps)

    for browser in browsers:
        browser.check_console()
    log("\nTimings:")
    for what, seconds in steps.timings:
        log(f"  {what}: {seconds * 1000:.0f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="path to ticketq-server")
    parser.add_argument("--artifacts", help="where screenshots go "
                        "(default: $TMPDIR/ticketq-browser-artifacts)")
    args = parser.parse_args()
    args.server = os.path.abspath(args.server)
    if not os.access(args.server, os.X_OK):
        log(f"FAIL: {args.server} is not an executable")
        return 1
    artifacts = os.path.abspath(args.artifacts or os.path.join(tempfile.gettempdir(), "ticketq-browser-artifacts"))
    os.makedirs(artifacts, exist_ok=True)
    log(f"artifacts: {artifacts}")

    tmp = tempfile.mkdtemp(prefix="ticketq-browser-")
    browsers = []
    args.cluster = None

    def cleanup():
        for browser in browsers:
            browser.quit()
        browsers.clear()
        if args.cluster:
            args.cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    atexit.register(cleanup)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))

    try:
        run(args, tmp, artifacts, browsers)
    except Failure as e:
        log(f"\nFAIL: {e}")
        if args.cluster:
            args.cluster.print_logs()
        return 1
    except WebDriverException as e:
        log(f"\nFAIL: WebDriver: {e.msg or e}")
        if args.cluster:
            args.cluster.print_logs()
        return 1
    finally:
        cleanup()
    log("\nPASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
