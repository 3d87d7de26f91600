#!/usr/bin/python3
"""The dashboard in a real headless Chromium (python3-selenium, chromium-driver).

Started by browser_test.cpp inside the namespace of a controller it started, with
agents in namespaces and a run in flight:

  /usr/bin/python3 browser.py --url https://ADDR:PORT --operator-link URL --viewer-link URL \
             --run RUN_ID --hosts N --screenshots DIR

An operator signs in with a link, sees the fleet, watches the run's probe chart grow
live, halts the fleet through the confirmation; a viewer sees no Halt and a POST
forged with the viewer's own session and token is refused. Prints "verdict: X" (what
the page shows) for the caller to compare with the CLI's. Exit 0 only when every check
held; Chromium or its driver missing is a failure, never a skip.
"""
import argparse
import os
import shutil
import sys
import time

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:  # loud: the suite needs it
    sys.exit(f"browser.py: python3-selenium is missing ({e}); run scripts/install-deps.sh")

WAIT = 30  # seconds any one thing may take to appear on the page


def driver():
    for tool in ("chromium", "chromedriver"):
        if not shutil.which(tool):
            sys.exit(f"browser.py: {tool} is missing (Debian chromium, chromium-driver); run scripts/install-deps.sh")
    o = webdriver.ChromeOptions()
    o.binary_location = shutil.which("chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              # The controller is in this namespace: a proxy from the environment would never reach it.
              "--no-proxy-server"):
        o.add_argument(a)
    # The controller's certificate is of the test's own CA, which this profile does not hold.
    o.accept_insecure_certs = True
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=o)


def load(d, url):
    """d.get(url), again (three tries, a second apart) while Chromium shows its own
    network error page instead of the controller's.

    The test's namespace had veth pairs made a moment before (the agents'), and their
    addresses settling (IPv6 duplicate address detection) can make Chromium's network
    change notifier fail a load in flight (ERR_NETWORK_CHANGED): a blip of the test bed,
    not of the dashboard. An error that persists fails the test with every code seen.
    """
    codes = []
    for attempt in range(3):
        d.get(url)
        code = d.execute_script("""
          if (!document.body || !document.body.classList.contains('neterror')) return null;
          const e = document.querySelector('.error-code');
          return e ? e.textContent.trim() : 'a network error page';""")
        if code is None:
            return
        codes.append(code)
        print(f"browser.py: loading {url}: {code} (try {attempt + 1})", file=sys.stderr)
        time.sleep(1)
    raise AssertionError(f"loading {url}: Chromium showed its network error page: {', '.join(codes)}")


def wait(d, what, cond):
    try:
        return WebDriverWait(d, WAIT, poll_frequency=0.1).until(lambda _: cond())
    except Exception as e:
        d.save_screenshot(os.path.join(ARGS.screenshots, "failed.png"))
        raise AssertionError(f"{what}: not seen within {WAIT}s on {d.current_url}\n{d.find_element(By.TAG_NAME, 'body').text[:2000]}") from e


def text(d, css):
    """The text of the first element matching css, read in one step (the page redraws live)."""
    return d.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : null", css)


def post_from_page(d, path):
    """A POST made by script in the signed-in page: its cookie and its CSRF token."""
    return d.execute_async_script("""
      const done = arguments[arguments.length - 1];
      const csrf = document.querySelector('meta[name="fd-csrf"]').content;
      fetch(arguments[0], {method: 'POST', credentials: 'same-origin',
                           headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: '{}'})
        .then(r => done(r.status)).catch(e => done(String(e)));
    """, path)


def operator(url, link, run, hosts):
    d = driver()
    try:
        # Without credentials: the login page, nothing else.
        load(d, url + "/fleet")
        assert "firedrill web login" in d.page_source, d.page_source[:500]
        assert not d.find_elements(By.ID, "halt")
        d.save_screenshot(os.path.join(ARGS.screenshots, "login.png"))

        load(d, link)
        wait(d, "the fleet page", lambda: d.current_url.endswith("/fleet") and text(d, "#count-live") == str(hosts))
        d.find_element(By.CSS_SELECTOR, "tr.rack").click()
        wait(d, "a rack's hosts", lambda: len(d.find_elements(By.CSS_SELECTOR, "tr.host")) > 0)
        d.save_screenshot(os.path.join(ARGS.screenshots, "fleet.png"))

        load(d, f"{url}/runs/{run}")
        points = lambda: d.execute_script("const c = document.querySelector('svg.probe-chart'); return c ? +c.dataset.points : -1")
        wait(d, "the probe chart", lambda: points() >= 1)
        first = points()
        # Grows by the event stream, without a reload.
        wait(d, "the chart growing", lambda: points() >= first + 5)
        # The faults are in effect on every host (the step's common start has passed).
        wait(d, "the observe phase", lambda: text(d, "#phase") == "observe")
        applied = lambda: d.execute_script("return [...document.querySelectorAll('tr.fault-row td:nth-child(2)')]"
                                           ".filter(c => c.textContent === 'applied').length")
        wait(d, "the hosts' faults in effect", lambda: applied() >= ARGS.hosts)
        assert d.find_elements(By.CSS_SELECTOR, "line.slo-threshold"), "the SLO threshold is not drawn"
        assert d.find_elements(By.ID, "abort"), "an operator sees Abort"
        d.save_screenshot(os.path.join(ARGS.screenshots, "run.png"))

        d.find_element(By.ID, "halt").click()
        wait(d, "the halt confirmation", lambda: d.find_element(By.ID, "confirm-halt").is_displayed())
        d.save_screenshot(os.path.join(ARGS.screenshots, "halt-confirm.png"))
        d.find_element(By.ID, "halt-confirm").click()
        wait(d, "the halted banner", lambda: d.find_element(By.ID, "halted").is_displayed())
        wait(d, "the run's end", lambda: text(d, "#phase") == "done")
        verdict = text(d, "#verdict")
        d.save_screenshot(os.path.join(ARGS.screenshots, "run-halted.png"))

        load(d, url + "/runs")
        wait(d, "the runs list", lambda: d.find_elements(By.CSS_SELECTOR, f'tr[data-run="{run}"]'))
        d.save_screenshot(os.path.join(ARGS.screenshots, "runs.png"))
        load(d, f"{url}/reports/{run}")
        wait(d, "the report's verification", lambda: text(d, "#verification"))
        assert text(d, "#verification").startswith("Verified"), text(d, "#verification")
        d.save_screenshot(os.path.join(ARGS.screenshots, "report.png"))
        return verdict
    finally:
        d.quit()


def viewer(url, link):
    d = driver()
    try:
        load(d, link)
        wait(d, "the viewer's fleet page", lambda: text(d, "#count-total") is not None)
        assert not d.find_elements(By.ID, "halt"), "a viewer sees Halt"
        load(d, url + "/runs")
        wait(d, "the viewer's runs", lambda: d.find_elements(By.CSS_SELECTOR, "tr.run-row"))
        link_to_run = d.find_element(By.CSS_SELECTOR, "tr.run-row a").get_attribute("href")
        load(d, link_to_run)
        wait(d, "the viewer's run page", lambda: text(d, "#phase"))
        assert not d.find_elements(By.ID, "abort"), "a viewer sees Abort"
        assert not d.find_elements(By.ID, "halt"), "a viewer sees Halt"
        d.save_screenshot(os.path.join(ARGS.screenshots, "viewer-run.png"))
        for path in ("/api/release", "/api/halt"):
            status = post_from_page(d, path)
            assert status == 403, f"a viewer's POST {path}: {status}"
    finally:
        d.quit()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for a in ("--url", "--operator-link", "--viewer-link", "--run", "--screenshots"):
        p.add_argument(a, required=True)
    p.add_argument("--hosts", type=int, required=True)
    ARGS = p.parse_args()
    os.makedirs(ARGS.screenshots, exist_ok=True)
    verdict = operator(ARGS.url, ARGS.operator_link, ARGS.run, ARGS.hosts)
    viewer(ARGS.url, ARGS.viewer_link)
    print(f"verdict: {verdict}")
