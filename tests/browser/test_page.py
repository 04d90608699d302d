"""The page at ``/`` in a real headless browser (Debian's chromium through selenium), against
``bigru-ner serve`` with the bundled models on loopback.

The screenshots are written to ``test-artifacts/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import make_sentences, tiny_config, write_conll
from tests.deploy.support import ROOT, bigru_ner_serve, tool

ARTIFACTS = ROOT / "test-artifacts"
SENTENCE = "Jordan Henderson flew to Berlin on Monday ."
MODELS = ("forward", "bidirectional")


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


#: The synthetic corpus's entity types, renamed into a label set of a user's own.
RENAMED = {"PER": "DRUG", "LOC": "DOSE", "ORG": "ROUTE"}


@pytest.fixture(scope="module")
def service_of_other_types(
    corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A tiny model trained here on the synthetic corpus with its types renamed, served alone."""
    from model.training.train import train

    root = tmp_path_factory.mktemp("other-types")
    files = dict(corpus)  # its GloVe file
    for name, count, seed in (("train", 120, 1), ("dev", 30, 2)):
        sentences = [
            [(token, tag[:2] + RENAMED[tag[2:]] if tag != "O" else tag) for token, tag in s]
            for s in make_sentences(count, seed)
        ]
        files[name] = write_conll(root / f"{name}.txt", sentences)
    config = tiny_config(files, root / "model", epochs=20)
    train(config, log=lambda _: None)  # type: ignore[arg-type]
    yield from _start(tmp_path_factory, NER_MODEL=str(root / "model"), NER_FORWARD_MODEL="none")


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
    # The bundled model's types keep their colours: PER's is page.js's first.
    person = browser.find_element(By.CSS_SELECTOR, '#labels mark.entity[data-label="PER"]')
    assert person.value_of_css_property("background-color") == "rgba(253, 230, 138, 1)"
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
        tags = row.find_elements(By.CSS_SELECTOR, "td .tag")
        assert len(tags) == 2 and tags[0].text != tags[1].text
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


def test_entity_types_of_a_users_own_each_get_a_colour_and_a_place_in_the_legend(
    browser: WebDriver, service_of_other_types: str
) -> None:
    (served,) = httpx.get(service_of_other_types + "/v1/models").json()["models"]
    assert sorted(served["labels"]) == sorted(RENAMED.values())
    text = " ".join(token for token, _ in make_sentences(3, seed=5)[0])
    _submit(browser, service_of_other_types, text + " Then " + text)
    legend = {
        mark.text: mark.value_of_css_property("background-color")
        for mark in browser.find_elements(By.CSS_SELECTOR, "#labels mark.entity")
    }
    assert list(legend) == served["labels"]
    assert len(set(legend.values())) == len(legend)  # a colour of its own each
    marks = browser.find_elements(By.CSS_SELECTOR, "#bidirectional mark.entity")
    assert {mark.get_attribute("data-label") for mark in marks} & set(RENAMED.values())
    for mark in marks:
        label = mark.get_attribute("data-label") or ""
        assert mark.value_of_css_property("background-color") == legend[label]
    _screenshot(browser, "page-other-types.png")


#: The colours of the arrow (and the deciding word's outline) and of the curve, in page.css.
ARROW, CURVE = (0xC2, 0x41, 0x0C), (0x25, 0x63, 0xEB)


def _picture(element: WebElement) -> Image.Image:
    """What the browser shows of ``element``, as RGB pixels."""
    return Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 60) -> bool:
    return sum(abs(a - b) for a, b in zip(pixel[:3], colour, strict=True)) <= tolerance


def _count(picture: Image.Image, colour: tuple[int, int, int], box: tuple[int, ...]) -> int:
    """Pixels of ``colour`` inside ``box`` (left, top, right, bottom) of ``picture``."""
    left, top, right, bottom = box
    pixels = picture.load()
    assert pixels is not None
    return sum(_near(pixels[x, y], colour) for x in range(left, right) for y in range(top, bottom))


def _rect(browser: WebDriver, element: WebElement) -> dict[str, float]:
    rect: dict[str, float] = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {left: r.left, top: r.top, width: r.width, height: r.height};",
        element,
    )
    return rect


def _check_arrow(browser: WebDriver) -> None:
    """The chosen token's arrow is drawn, in the band above the text between the two words."""
    text = browser.find_element(By.ID, "bidirectional")
    chosen = text.find_element(By.CSS_SELECTOR, "button.token[aria-pressed='true']")
    decider = text.find_element(By.CSS_SELECTOR, ".decider")
    box, a, b = _rect(browser, text), _rect(browser, chosen), _rect(browser, decider)
    picture = _picture(text)
    scale = picture.width / box["width"]
    left = min(a["left"], b["left"]) + min(a["width"], b["width"]) / 2 - box["left"]
    right = max(a["left"] + a["width"], b["left"] + b["width"]) - box["left"]
    # Only the arrow is drawn above the words (the outline sits 4 px around the word).
    bottom = min(a["top"], b["top"]) - box["top"] - 6
    band = tuple(round(v * scale) for v in (left, 0, right, bottom))
    assert bottom > 10 and _count(picture, ARROW, band) > 20, "no arrow above the words"


def _check_curve(browser: WebDriver, probabilities: list[float]) -> None:
    """A dot per prefix, higher where the probability is, joined by a line drawn between them."""
    chart = browser.find_element(By.ID, "curve")
    dots = chart.find_elements(By.CSS_SELECTOR, "circle.dot")
    assert len(dots) == len(probabilities)
    centres = [(float(d.get_attribute("cx") or 0), float(d.get_attribute("cy") or 0)) for d in dots]
    for (_, y1), (_, y2), p1, p2 in zip(
        centres, centres[1:], probabilities, probabilities[1:], strict=False
    ):
        assert (y1 - y2) * (p2 - p1) >= 0  # up where the probability grows
    picture = _picture(chart)
    scale = picture.width / float((chart.get_dom_attribute("viewBox") or "").split()[2])
    for (x1, y1), (x2, y2) in zip(centres, centres[1:], strict=False):
        x, y = (x1 + x2) / 2 * scale, (y1 + y2) / 2 * scale  # halfway: only the line is there
        box = (round(x) - 2, round(y - 6 * scale), round(x) + 3, round(y + 6 * scale) + 1)
        assert _count(picture, CURVE, box) > 3, f"no line between the dots at x={x:.0f}"


def test_the_deciding_word_has_an_arrow_a_curve_and_both_confidences(
    browser: WebDriver, service: str
) -> None:
    expected = httpx.post(
        service + "/v1/compare", json={"text": SENTENCE, "deciding_words": True}, timeout=60
    ).json()["results"][0]["tokens"]
    changed = [i for i, t in enumerate(expected) if t["changed"]]
    browser.set_window_size(1100, 900)
    _submit(browser, service, SENTENCE)
    # The first changed token is chosen at once: its deciding word is outlined, and explained.
    first = expected[changed[0]]
    why = browser.find_element(By.ID, "why")
    assert why.is_displayed()
    assert browser.find_element(By.ID, "why-token").text == first["text"]
    assert browser.find_element(By.ID, "why-tag").text == first["bidirectional"]["tag"]
    decider = browser.find_element(By.CSS_SELECTOR, "#bidirectional .decider")
    assert decider.get_attribute("data-index") == str(first["deciding"]["index"])
    assert first["deciding"]["index"] > changed[0], "the bundled models' story: a later word"
    assert browser.find_elements(By.CSS_SELECTOR, "#bidirectional svg.arrows path.arrow")
    _check_arrow(browser)
    _check_curve(browser, [s["probability"] for s in first["deciding"]["prefixes"]])
    caption = browser.find_element(By.ID, "curve-title").text
    assert first["text"] in caption and first["deciding"]["text"] in caption
    # Both models' confidence in every token, in words as well as in bars.
    rows = browser.find_elements(By.CSS_SELECTOR, "#tokens tbody tr")
    assert len(rows) == len(expected)
    for row, token in zip(rows, expected, strict=True):
        scores = [s.text for s in row.find_elements(By.CSS_SELECTOR, "td .score")]
        assert scores == [f"{round(100 * token[m]['score'])}%" for m in MODELS]
    _screenshot(browser, "page-deciding.png")
    # Each changed token can be chosen from the keyboard, and then is the one explained.
    for index in changed:
        button = browser.find_element(
            By.CSS_SELECTOR, f"#bidirectional button.token[data-index='{index}']"
        )
        button.send_keys(Keys.ENTER)
        assert browser.switch_to.active_element == button
        assert button.get_attribute("aria-pressed") == "true"
        assert browser.find_element(By.ID, "why-token").text == expected[index]["text"]


def test_the_deciding_word_reads_on_a_phone(browser: WebDriver, service: str) -> None:
    browser.set_window_size(390, 844)
    try:
        _submit(browser, service, SENTENCE)
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= browser.execute_script("return window.innerWidth")
        _check_arrow(browser)
        tokens = httpx.post(
            service + "/v1/compare", json={"text": SENTENCE, "deciding_words": True}, timeout=60
        ).json()["results"][0]["tokens"]
        first = next(t for t in tokens if t["changed"])
        _check_curve(browser, [s["probability"] for s in first["deciding"]["prefixes"]])
        chart = browser.find_element(By.ID, "curve")
        assert chart.rect["width"] <= 390 and chart.get_attribute("role") == "img"
        _screenshot(browser, "page-deciding-phone.png")
    finally:
        browser.set_window_size(1100, 900)


def test_past_the_deciding_limits_the_page_still_compares_and_says_why(
    browser: WebDriver, service: str
) -> None:
    long = " ".join(["Jordan", "Henderson", "flew", "to", "Berlin"] * 21) + " ."  # 106 tokens
    _submit(browser, service, long)
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "compared"
    status = browser.find_element(By.ID, "status").text
    assert "Deciding words are not shown" in status and "at most 100" in status
    assert not browser.find_element(By.ID, "why").is_displayed()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tokens tbody tr")) == 106
