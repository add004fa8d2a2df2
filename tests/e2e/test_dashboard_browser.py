"""The dashboard in a real headless Chromium (Debian's ``chromium`` through ``chromedriver``, driven by Selenium):
the page loads, a transition appears after a command without a reload, and a screenshot is kept under
``test-artifacts/``."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import ARTIFACTS, TOKEN_OF, LiveStack

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:  # `make test` installs them (tests/e2e/browser/ensure-chromium.sh)
        pytest.fail("chromium and chromedriver are needed: run tests/e2e/browser/ensure-chromium.sh")
    profile = tempfile.mkdtemp(prefix="mentorflow-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1400",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _rows_text(driver: object, box: str) -> str:
    from selenium.webdriver.common.by import By

    return "\n".join(el.text for el in driver.find_elements(By.CSS_SELECTOR, f"#{box} tr"))  # type: ignore[attr-defined]


def test_dashboard_shows_a_transition_after_a_command(live: LiveStack, browser: object) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    program = f"e2e-dash-{uuid.uuid4().hex[:6]}"
    rid = f"{program}-r1"
    quiet = f"{program}-r2"
    manager = live.client("e2e-manager")

    def propose(relationship_id: str, policy: str) -> None:
        response = manager.post(
            "/relationships?wait=true",
            json={
                "relationship_id": relationship_id,
                "program_id": program,
                "mentor_id": "e2e-mona",
                "mentee_id": "e2e-eli",
                "policy": policy,
            },
        )
        assert response.status_code == 201, response.text
        assert response.json()["projected"] is True

    # in real time (no timer of mentoring-12m fires in this test): however slow the machine, it waits for its accepts
    propose(rid, "mentoring-12m")

    # the program is also an aggregate with its people enrolled: the matching panels draw its report
    response = manager.post("/programs", json={"program_id": program, "name": "e2e dashboard", "policy": "demo"})
    assert response.status_code == 201, response.text
    people = [
        {"person_id": "e2e-mona", "role": "mentor", "capacity": 4, "profile": {"languages": ["en"]}},
        {"person_id": "e2e-eli", "role": "mentee", "profile": {"languages": ["en"]}},
    ]
    response = manager.post(f"/programs/{program}/enrollments", json={"participants": people})
    assert response.status_code == 201, response.text

    driver = browser
    # a read-only token, as the demo's link carries: the page keeps it and takes it out of the address bar
    driver.get(f"{live.base_url}/dashboard?program={program}#token={TOKEN_OF['e2e-auditor']}")  # type: ignore[attr-defined]
    # the page redraws its tables: an element found in one poll may be gone by the next read
    wait = WebDriverWait(driver, 60, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda d: "token" not in d.current_url)
    assert f"program={program}" in driver.current_url  # type: ignore[attr-defined]
    # the page loads: charts drawn from the data, one relationship in initiation
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#svg-stages svg g.bar[data-label='initiation']"))
    initiation = "#svg-stages g.bar[data-label='initiation']"
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, initiation).get_attribute("data-value") == "1")
    assert "kickoff_pending" not in _rows_text(driver, "by-command")
    enrolled = "#svg-matching-funnel g.bar[data-label='enrolled']"
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, enrolled))
    assert driver.find_element(By.CSS_SELECTOR, enrolled).get_attribute("data-value") == "1"  # type: ignore[attr-defined]
    assert driver.find_elements(By.CSS_SELECTOR, "#svg-capacity-use g.bar[data-label^='e2e-mona ']")  # type: ignore[attr-defined]
    loaded_at = driver.find_element(By.TAG_NAME, "body").get_attribute("data-updated")  # type: ignore[attr-defined]

    # proposed only now, on the demo policy: never accepted, it expires by the timer 3.5 s later (below)
    propose(quiet, "demo")
    # a command: both accept -> initiation/proposed -> initiation/kickoff_pending (trigger: command)
    for token in ("e2e-mentor", "e2e-mentee"):
        response = live.client(token).post(f"/relationships/{rid}/commands/accept-match?wait=true")
        assert response.status_code == 200, response.text
    assert response.json()["substate"] == "kickoff_pending"

    # ...shows up without a reload
    wait.until(lambda d: rid in _rows_text(d, "by-command") and "kickoff_pending" in _rows_text(d, "by-command"))
    # and the other one, never accepted, expires by the timer (3.5 s in the demo policy): an automatic transition
    wait.until(lambda d: quiet in _rows_text(d, "automatic") and "timer" in _rows_text(d, "automatic"))
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-updated") != loaded_at  # type: ignore[attr-defined]
    assert driver.execute_script("return performance.getEntriesByType('navigation').length") == 1  # type: ignore[attr-defined]

    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "dashboard.png"
    assert driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    assert path.stat().st_size > 10_000
