"""The page at ``/`` in a real headless browser (Debian's chromium through selenium), against
``bigru-ner serve`` with the bundled models on loopback.

The screenshots are written to ``test-artifacts/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.deploy.support import ROOT, bigru_ner_serve, tool

ARTIFACTS = ROOT / "test-artifacts"
SENTENCE = "Jordan Henderson flew to Berlin on Monday ."


def _start(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[str]:
    log = tmp_path_factory.mktemp("page-service") / "service.log"
    with bigru_ner_serve({"NER_DEVICE": "cpu", "NER_MAX_WAIT_MS": "1", **env}, log) as url:
        yield url


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bundled BiGRU, compared with the bundled forward-only GRU."""
    yield from _start(tmp_path_factory)


@pytest.fixture(scope="module")
def service_without_compare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bundled BiGRU alone (``NER_FORWARD_MODEL=none``)."""
    yield from _start(tmp_path_factory, NER_FORWARD_MODEL="none")


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless chromium driven by chromedriver, both from Debian (nothing is downloaded)."""
    options = webdriver.ChromeOptions()
    options.binary_location = tool("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1100,900")
    driver = webdriver.Chrome(options=options, service=ChromeService(tool("chromedriver")))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _submit(browser: WebDriver, url: str, text: str) -> None:
    """Open the page, replace the text, press the button and wait for the answer."""
    browser.get(url + "/")
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 60).until(
        lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-state")
    )


def _entities(browser: WebDriver, side: str) -> list[tuple[str, str]]:
    marks = browser.find_elements(By.CSS_SELECTOR, f"#{side} mark.entity")
    return [(m.text, m.get_attribute("data-label") or "") for m in marks]


def _screenshot(browser: WebDriver, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    assert browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000  # a real picture of the page, not an empty file
    return path


def test_typed_text_shows_entities_and_what_backward_context_changed(
    browser: WebDriver, service: str
) -> None:
    _submit(browser, service, SENTENCE)
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "compared"
    both = _entities(browser, "bidirectional")
    assert ("Jordan Henderson", "PER") in both
    assert ("Berlin", "LOC") in both
    forward = _entities(browser, "forward")
    assert ("Berlin", "LOC") in forward
    assert ("Jordan Henderson", "PER") not in forward
    # The tokens whose label changed are marked in the text and in the table, and counted.
    changed = browser.find_elements(By.CSS_SELECTOR, "#bidirectional .token.changed")
    rows = browser.find_elements(By.CSS_SELECTOR, "#tokens tbody tr.changed")
    assert "Jordan" in [c.text for c in changed]
    assert len(rows) == len(changed) == int(browser.find_element(By.ID, "changed-count").text)
    for row in rows:
        _, forward_tag, both_tag = (cell.text for cell in row.find_elements(By.TAG_NAME, "td"))
        assert forward_tag != both_tag
    _screenshot(browser, "page-compare.png")


def test_without_compare_the_page_says_so_and_still_tags(
    browser: WebDriver, service_without_compare: str
) -> None:
    _submit(browser, service_without_compare, SENTENCE)
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "tagged"
    assert "turned off" in browser.find_element(By.ID, "status").text
    assert ("Jordan Henderson", "PER") in _entities(browser, "bidirectional")
    assert not browser.find_element(By.ID, "forward-side").is_displayed()
    _screenshot(browser, "page-tag-only.png")
