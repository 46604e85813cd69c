"""The review page in a real browser: Debian's chromium, driven by Selenium, against Airflow's API server started as
a process with the plugin. A reviewer logs in through Airflow's login page, accepts one label and corrects another
with the keyboard; the label store and its audit trail then hold both reviews, by that login.

Screenshots land in the test's ``tmp_path`` (and in ``$MATHLABEL_SCREENSHOTS`` when it is set).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from labeling.batch import CurriculumIndex, run_batch
from labeling.intake import claim_files
from mathlabel.airflow_ui import airflow_ui_env
from mathlabel.runs import batch_config
from mathlabel.services import free_port

pytestmark = pytest.mark.integration

READY_SECONDS = 600  # the API server starts slowly on a busy 2-core machine; this is a limit, not a budget
STEP_SECONDS = 120  # one page step (the first request opens the stores and the graph)
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
USER, PASSWORD = "reviewer", "reviewer-browser-pw"
RECORDS = [
    {"id": "b1", "text": "일차방정식 $2x+3=7$ 의 해를 구하시오."},
    {"id": "b2", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오."},
    {"id": "b3", "text": "두 수 $\\frac{1}{2}$ 와 $\\frac{1}{3}$ 의 합을 구하시오."},
    {"id": "b4", "text": "삼각형의 세 내각의 크기의 합을 구하시오."},
    {"id": "b5", "text": "정비례 관계 $y = 3x$ 의 그래프를 좌표평면 위에 그리시오."},
]


@pytest.fixture
def labeled(clean_objects, clean_labels, seeded_graph, settings):
    """The records labeled into the test label store by a batch run (run id ``run-browser``)."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS).encode()
    clean_objects.write_bytes("incoming/browser.jsonl", data)
    cfg = batch_config(settings, "run-browser")
    index = CurriculumIndex(seeded_graph, "kr-2022")
    run_batch(claim_files(clean_objects, cfg.run_id), objects=clean_objects, labels=clean_labels, index=index, cfg=cfg)
    assert clean_labels.count_labels({"run_id": "run-browser"}) == len(RECORDS)
    return clean_labels


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
            return response.status == 200
    except Exception:
        return False


@contextlib.contextmanager
def api_server(settings, folder: Path):
    """Airflow's API server with the plugins folder, on a free 127.0.0.1 port, with one login: reviewer (role user)."""
    port = free_port()
    passwords = folder / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}))
    env = {
        **os.environ,  # the conftest's Airflow home (migrated by the `stack` fixture), plugins folder and var dir
        **airflow_ui_env(settings, port=port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:user",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),  # one secret for every worker's tokens
    }
    log_path = folder / "api-server.log"
    with log_path.open("ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--workers", "1"],
            env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # stopping its group stops its workers too
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not _answers(url):
            if server.poll() is not None:
                pytest.fail(f"the API server exited with code {server.returncode}:\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"the API server did not answer within {READY_SECONDS}s:\n{_log_tail(log_path)}")
            time.sleep(0.5)
        yield url, log_path
    finally:
        for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 30)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(server.pid, sig)
            try:
                server.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, signal.SIGKILL)  # workers left behind by a leader that exited first


@contextlib.contextmanager
def chromium():
    """Headless chromium from Debian, through its own chromedriver (Selenium Manager never downloads anything)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    assert not missing, f"{', '.join(missing)} missing: `make deb` installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1300,900",
                "--lang=ko-KR", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-default-apps"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        # The viewport itself 1300x900 (the window size would count the browser's frame too).
        metrics = {"width": 1300, "height": 900, "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        yield driver
    finally:
        driver.quit()


def save_screenshot(driver, tmp_path: Path, name: str) -> Path:
    """Save the window to ``tmp_path / name``, and to ``$MATHLABEL_SCREENSHOTS`` when it is set."""
    path = tmp_path / name
    assert driver.save_screenshot(str(path)), name
    if target := os.environ.get("MATHLABEL_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def log_in(driver, wait, url: str) -> None:
    """Open the review page: Airflow sends the browser to its login page, which sends it back once logged in."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(f"{url}/mathlabel/?run_id=run-browser&status=any")
    username = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input[name='username']")))
    assert "/auth/login" in driver.current_url
    username.send_keys(USER)
    driver.find_element(By.CSS_SELECTOR, "input[name='password']").send_keys(PASSWORD)
    submit = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[type='submit']")))
    submit.click()
    wait.until(lambda d: urlsplit(d.current_url).path == "/mathlabel/")
    wait.until(lambda d: d.execute_script("return document.getElementById('user').textContent") == USER)


@pytest.mark.timeout(2 * READY_SECONDS)  # waits below are limits, not budgets
def test_a_reviewer_accepts_and_corrects_labels_with_the_keyboard_in_chromium(settings, labeled, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    with api_server(settings, tmp_path) as (url, log_path), chromium() as driver:
        wait = WebDriverWait(driver, STEP_SECONDS)
        try:
            log_in(driver, wait, url)
        except Exception:
            print(driver.current_url, driver.page_source[:4000], _log_tail(log_path), sep="\n")
            raise
        query = urlsplit(driver.current_url).query
        assert {"run_id=run-browser", "status=any"} <= set(query.split("&"))  # it survived the trip through the login

        def state() -> dict:
            return driver.execute_script("""
                const rows = [...document.querySelectorAll('#queue li.queue-row')];
                const doc = document.getElementById('doc');
                return {rows: rows.map(r => [r.dataset.docId, r.dataset.status]),
                        active: rows.findIndex(r => r.classList.contains('active')),
                        doc: doc.dataset.docId || null, version: doc.dataset.version || null,
                        candidates: [...document.querySelectorAll('#candidates li.candidate')].map(
                            c => [Number(c.dataset.rank), c.dataset.code, c.classList.contains('selected')]),
                        message: document.getElementById('message').textContent};""")  # fmt: skip

        def opened(doc_id: str | None = None) -> dict:
            """Wait until the active queue row's document is shown (``doc_id`` when given), with its candidates."""

            def ready(_):
                now = state()
                if now["active"] < 0 or not now["candidates"]:
                    return False
                shown = now["rows"][now["active"]][0]
                return now if now["doc"] == shown and (doc_id is None or shown == doc_id) else False

            return wait.until(ready)

        body = driver.find_element(By.TAG_NAME, "body")  # keys go to the page, never to a focused button
        first = opened()
        assert len(first["rows"]) == len(RECORDS) and first["active"] == 0
        first_id, second_id = first["rows"][0][0], first["rows"][1][0]
        before = {d: labeled.get_label(d) for d in (first_id, second_id)}

        # 1. Enter accepts the first label; the page moves on to the second problem.
        body.send_keys(Keys.ENTER)
        second = opened(second_id)
        wait.until(lambda _: dict(state()["rows"])[first_id] == "verified" and "Accepted" in state()["message"])

        # 2. "2" selects the second candidate, Enter corrects the label to it.
        rank2 = next(code for rank, code, _ in second["candidates"] if rank == 2)
        body.send_keys("2")
        wait.until(lambda _: [sel for rank, _, sel in state()["candidates"] if rank == 2] == [True])
        save_screenshot(driver, tmp_path, "review-selected.png")
        body.send_keys(Keys.ENTER)
        wait.until(lambda _: dict(state()["rows"])[second_id] == "verified")
        assert f"Corrected to {rank2}" in wait.until(lambda _: "Corrected" in (m := state()["message"]) and m)

        # 3. Formulas are typeset: move (j) to a problem whose text holds LaTeX.
        latex = {d["_id"] for d in labeled.find_labels({"run_id": "run-browser"}) if "$" in d["input"]["text"]}
        now = opened()
        for _ in range(len(RECORDS)):
            if now["doc"] in latex:
                break
            body.send_keys("j")
            now = wait.until(lambda _, prev=now["doc"]: (s := state())["doc"] != prev and s["candidates"] and s)
        assert now["doc"] in latex
        katex = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#doc-text .katex"))
        assert katex[0].is_displayed() and "$" not in driver.find_element(By.ID, "doc-text").text
        save_screenshot(driver, tmp_path, "review.png")

        # 4. Go back (k) to the corrected problem: its history panel shows the review.
        for _ in range(len(RECORDS)):
            if (shown := state()["doc"]) == second_id:
                break
            body.send_keys("k")
            wait.until(lambda _, prev=shown: state()["doc"] != prev)
        assert state()["doc"] == second_id
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#history li.event[data-action='correct']"))
        save_screenshot(driver, tmp_path, "review-history.png")

        # 5. Everything the page loaded came from this server: no CDN, no other host.
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        hosts = {urlsplit(name).netloc for name in resources if not name.startswith(("data:", "blob:"))}
        assert hosts <= {urlsplit(url).netloc}, hosts
        assert any("katex" in name for name in resources)

        # Nothing failed to load and no script error was logged (the login page's and the review page's).
        severe = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not severe, severe

        # 6. The Airflow UI's navigation holds the "Review" entry, which shows the page inside the UI.
        driver.get(f"{url}/")
        entry = wait.until(lambda d: d.find_elements(By.XPATH, "//a[.//*[normalize-space(text())='Review']]"))
        icon = "return [...document.images].some(i => i.src.endsWith('/mathlabel/static/icon.svg') && i.naturalWidth)"
        wait.until(lambda d: d.execute_script(icon))  # the entry's icon, served by the plugin behind the login
        save_screenshot(driver, tmp_path, "airflow-nav.png")
        entry[0].click()
        frame = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe[src*='/mathlabel/']"))
        driver.switch_to.frame(frame[0])
        wait.until(lambda d: d.find_element(By.ID, "user").text == USER and d.find_element(By.ID, "queue-summary").text)
        Select(driver.find_element(By.ID, "f-status")).select_by_value("any")  # the reviewed ones too
        opened()
        driver.switch_to.default_content()
        save_screenshot(driver, tmp_path, "airflow-review.png")

    # The label store holds both reviews, by the login, and the audit trail both events.
    accepted, corrected = labeled.get_label(first_id), labeled.get_label(second_id)
    assert accepted["decision"]["status"] == "verified" and accepted["labels"] == before[first_id]["labels"]
    assert accepted["verification"]["by"] == USER and accepted["version"] == before[first_id]["version"] + 1
    assert corrected["decision"]["status"] == "verified" and corrected["labels"] == [rank2]
    assert corrected["verification"]["by"] == USER
    assert rank2 in [c["code"] for c in before[second_id]["candidates"]]
    events = {e["doc_id"]: e for e in labeled.events_for([first_id, second_id])}
    assert len(labeled.events_for([first_id, second_id])) == 2
    assert (events[first_id]["action"], events[first_id]["by"]) == ("accept", USER)
    assert (events[second_id]["action"], events[second_id]["by"]) == ("correct", USER)
    assert events[second_id]["after"]["labels"] == [rank2]
