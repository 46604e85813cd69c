"""The Health page in a real browser (Debian's chromium through Selenium) against Airflow's API server with the
plugin: first with no run at all (the empty states), then with real data, the shipped sample labeled by four batch
runs (one with a damaged record) and one review. Every plot is inline SVG with a point per run, each linking to that
run's report, and nothing is fetched from another host.

Screenshots land in the test's ``tmp_path`` (and in ``$MATHLABEL_SCREENSHOTS`` when it is set); ``airflow-health.png``
(the page inside Airflow's UI) is the README's ``docs/health-page.png``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from labeling.batch import CurriculumIndex, run_batch
from labeling.intake import claim_files
from mathlabel.runs import batch_config
from review.workspace import ReviewWorkspace
from tests.integration.test_review_browser import (
    PASSWORD,
    READY_SECONDS,
    STEP_SECONDS,
    USER,
    _log_tail,
    api_server,
    chromium,
    save_screenshot,
)

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "labeling" / "samples" / "kr2022_sample.jsonl"
RUNS = ("health-1", "health-2", "health-3", "health-4")
RUN_CHARTS = ("chart-rates", "chart-throughput", "chart-errors", "chart-queue")


def _label_the_sample(settings, objects, labels, graph) -> None:
    """Four batch runs of the sample (the later ones forced to label it again; the third with a damaged record,
    which is quarantined), and one accepted label."""
    index = CurriculumIndex(graph, "kr-2022")
    for run_id in RUNS:
        damaged = b"{not json\n" if run_id == "health-3" else b""
        objects.write_bytes("incoming/kr2022_sample.jsonl", SAMPLE.read_bytes() + damaged)
        cfg = batch_config(settings, run_id, force=run_id != RUNS[0])
        run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)
    doc = labels.find_labels({"decision.status": "needs_review"}, sort=[("_id", 1)], limit=1)[0]
    ReviewWorkspace(labels, graph, objects).accept(doc["_id"], version=doc["version"], reviewer=USER)


@pytest.mark.timeout(2 * READY_SECONDS)  # waits below are limits, not budgets
def test_the_health_page_plots_each_run_from_real_sample_runs_in_chromium(
    settings, clean_objects, clean_labels, seeded_graph, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with api_server(settings, tmp_path) as (url, log_path), chromium() as driver:
        wait = WebDriverWait(driver, STEP_SECONDS)

        def loaded() -> None:
            wait.until(lambda d: d.execute_script("return document.body.dataset.loaded === 'true'"))

        # The page sends the browser to Airflow's login, which sends it back.
        driver.get(f"{url}/mathlabel/health")
        try:
            username = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input[name='username']")))
            username.send_keys(USER)
            driver.find_element(By.CSS_SELECTOR, "input[name='password']").send_keys(PASSWORD)
            driver.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
            wait.until(lambda d: urlsplit(d.current_url).path == "/mathlabel/health")
            loaded()
        except Exception:
            print(driver.current_url, driver.page_source[:4000], _log_tail(log_path), sep="\n")
            raise

        # 1. No run yet: a note says so, and every plot says why it is empty instead of drawing empty axes.
        assert driver.find_element(By.ID, "empty-runs").is_displayed()
        empty = driver.execute_script(
            "return [...document.querySelectorAll('figure.chart')].map(f => [f.id, f.dataset.empty || '', "
            "f.querySelector('.chart-empty')?.textContent || ''])"
        )
        assert all(flag == "true" and text for _, flag, text in empty), empty
        assert "0" in driver.find_element(By.ID, "overview").text  # the queue tile: empty
        save_screenshot(driver, tmp_path, "health-empty.png")

        # 2. The sample labeled four times, one label reviewed: the page plots them.
        _label_the_sample(settings, clean_objects, clean_labels, seeded_graph)
        driver.refresh()
        loaded()
        assert not driver.find_element(By.ID, "empty-runs").is_displayed()
        points = driver.execute_script("""
            const out = {};
            for (const f of document.querySelectorAll('figure.chart')) {
              out[f.id] = [...f.querySelectorAll('svg .point')].map(p => [p.dataset.series || p.dataset.model || '',
                p.dataset.run || '', p.closest('a') ? p.closest('a').getAttribute('href') : '']);
            }
            return out;""")  # fmt: skip
        rates = points["chart-rates"]
        for series in ("needs_review_rate", "auto_accept_rate"):  # a point for each run, oldest first
            assert [run for s, run, _ in rates if s == series] == list(RUNS), rates
        for chart in ("chart-errors", "chart-queue"):
            assert sorted({run for _, run, _ in points[chart]}) == list(RUNS), points[chart]
        assert [run for _, run, _ in points["chart-throughput"]] == list(RUNS)
        quarantined = driver.execute_script(
            "return [...document.querySelectorAll('#chart-errors rect[data-series=quarantined]:not(.zero)')]"
            ".map(r => r.dataset.run)"
        )
        assert quarantined == ["health-3"]  # the damaged record's run, and only it
        assert len(points["chart-agreement"]) == 1  # one model version, one review
        assert driver.execute_script("return document.querySelector('#chart-ocr .chart-empty').textContent")
        for chart in RUN_CHARTS:
            for _, run, href in points[chart]:
                assert href == f"api/v1/runs/{run}/report", (chart, run, href)
        overview = driver.find_element(By.ID, "overview").text
        assert "health-4" in overview and "1 review" in overview.splitlines()
        # The last run's report opens from its point and compares it with the baseline of the three before it.
        report = driver.execute_script(
            "const a = document.querySelector('#chart-rates a[href$=\"health-4/report\"]');"
            "return fetch(a.getAttribute('href')).then(r => r.text().then(t => [r.status, t]));"
        )
        assert report[0] == 200 and "Against the baseline" in report[1] and "health-3" in report[1]

        # A full-page screenshot for the README.
        height = driver.execute_script("return document.documentElement.scrollHeight")
        metrics = {"width": 1300, "height": min(max(height, 900), 2400), "deviceScaleFactor": 1, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        save_screenshot(driver, tmp_path, "health.png")

        # 3. Everything the page loaded came from this server, and nothing failed or logged an error.
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        hosts = {urlsplit(name).netloc for name in resources if not name.startswith(("data:", "blob:"))}
        assert hosts <= {urlsplit(url).netloc}, hosts
        assert any(name.endswith("/static/health.js") for name in resources)
        severe = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not severe, severe

        # 4. The review page's header links here, and so does Airflow's navigation.
        driver.get(f"{url}/mathlabel/")
        wait.until(ec.element_to_be_clickable((By.ID, "health-link"))).click()
        wait.until(lambda d: urlsplit(d.current_url).path == "/mathlabel/health")
        loaded()
        driver.get(f"{url}/")
        entry = wait.until(lambda d: d.find_elements(By.XPATH, "//a[.//*[normalize-space(text())='Health']]"))
        assert driver.find_elements(By.XPATH, "//a[.//*[normalize-space(text())='Review']]")  # still beside it
        entry[0].click()
        frame = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe[src*='/mathlabel/health']"))
        driver.switch_to.frame(frame[0])
        loaded()
        driver.switch_to.default_content()
        save_screenshot(driver, tmp_path, "airflow-health.png")
