"""Benchmark: from the answer key to the next image on screen, measured in the browser.

Prints the figures (run with ``-s`` to see them); it asserts only that they were taken,
never a time, so a busy machine cannot make it fail. docs/benchmarks.md has the results.
"""

import statistics

import pytest
from playwright.sync_api import expect

from tests.frontend.conftest import login, member, predict

pytestmark = pytest.mark.browser

ANSWERS = 20


# Milliseconds between seeing an image and pressing the key: a fast person, and no pause
# at all (the prefetch is then racing the key presses).
@pytest.mark.parametrize("pause_ms", [150, 0])
def test_labeling_latency_benchmark(page, cifar, capsys, pause_ms):
    project = cifar(ANSWERS + 5)
    predict(project, project.items.all(), leaf="animal/cat", mode="verify", confidence=0.95)
    annotator = member(project)
    login(page, annotator)
    page.goto(f"/projects/{project.pk}/label/")
    page.wait_for_selector("#image-box img")
    # Give the prefetch a moment to fill, as a person reading the first image would.
    page.wait_for_function("() => document.querySelector('#image-box img').complete")
    page.wait_for_timeout(500)

    for answered in range(1, ANSWERS + 1):
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => window.arbor.latencies.length >= {answered}")
        page.wait_for_timeout(pause_ms)

    latencies = page.evaluate("() => window.arbor.latencies")
    expect(page.locator("#unsaved")).to_have_text("All answers saved")
    assert len(latencies) == ANSWERS
    ordered = sorted(latencies)
    median = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    with capsys.disabled():
        print(
            f"\nlabeling latency, {ANSWERS} answers {pause_ms} ms apart "
            "(keydown -> next image painted): "
            f"median {median:.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms"
        )
