"""The report in headless Chromium (Selenium + chromium-driver) at 1280 and 800 px: it loads
offline without errors, nothing scrolls sideways, the contents come first with each figure's
verdict badges, the compact claims table keeps the full statements behind each row, every
sweep's section shows its own claims, and figures are as wide as their column allows.

Set ``ICLAB_REPORT_SCREENSHOTS=<folder>`` to keep the screenshots.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from report_browser import browser, browser_missing, check_page

from iclab import run_experiment
from iclab.engine import Store
from iclab.report import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTHS = (1280, 800)
PROBES = {
    "contents_first": "document.querySelector('nav.toc').getBoundingClientRect().top"
                      " < document.getElementById('claims').getBoundingClientRect().top",
    "badges": "document.querySelectorAll('nav.toc li .verdicts span').length",
    "rows": "document.querySelectorAll('#claims ~ table.claims tbody tr').length",
    "details": "document.querySelectorAll('#claims ~ table.claims tbody tr details').length",
    "statement": "document.querySelector('#claims ~ table.claims details p.statement')"
                 ".textContent",
    "table_fits": "Array.from(document.querySelectorAll('table.claims')).every(t =>"
                  " t.getBoundingClientRect().right <= window.innerWidth)",
    "sweep_claims": "document.querySelectorAll('.sweep table.claims').length",
    "colours": "Array.from(document.querySelectorAll('table.claims td.verdict span'))"
               ".map(e => [e.textContent, getComputedStyle(e).backgroundColor])",
    "figures": "Array.from(document.querySelectorAll('figure')).map(f => {"
               "const img = f.querySelector('img');"
               "return {shown: img.getBoundingClientRect().width, natural: img.naturalWidth,"
               "complete: img.complete, column: f.parentElement.getBoundingClientRect().width};"
               "})",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = Store(tmp_path_factory.mktemp("store") / "iclab.sqlite")
    run_experiment("toyreport.line", "quick", store=db)
    run_experiment("toyreport.bare", "quick", store=db)
    return write_report(db, tmp_path_factory.mktemp("report"))


@pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
def test_report_in_headless_chromium_at_1280_and_800_px(report: Path, tmp_path: Path) -> None:
    keep = os.environ.get("ICLAB_REPORT_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path
    with browser() as driver:
        for width in WIDTHS:
            shot = folder / f"report_{width}.png"
            page = check_page(driver, report, width, shot, PROBES)
            assert page.title == "iclab report"
            assert page.errors == []
            assert all(url.startswith("file://") for url in page.requested)
            assert page.inner_width == width
            assert page.scroll_width <= page.inner_width, f"scrolls sideways at {width} px"
            p = page.probes
            assert p["contents_first"] and p["badges"] >= 1
            assert p["rows"] >= 1 and p["details"] == p["rows"] and p["statement"].strip()
            assert p["table_fits"]
            assert p["sweep_claims"] >= 1
            colours = dict(p["colours"])
            assert "holds" in colours
            assert colours["holds"] not in ("rgba(0, 0, 0, 0)", "transparent")
            assert p["figures"]
            for fig in p["figures"]:
                assert fig["complete"] and fig["natural"] > 0
                assert fig["shown"] >= 0.95 * min(fig["natural"], fig["column"])
            assert shot.read_bytes()[:8] == PNG_SIGNATURE
            pixels = matplotlib.image.imread(shot)
            assert pixels.shape[1] >= width * 0.95
            assert float(np.std(pixels[..., :3])) > 0.02  # not a blank page


def test_the_page_is_rendered_from_templates_with_escaping(tmp_path: Path) -> None:
    """Text from the store reaches the page escaped (autoescaping), and statements use the
    papers' symbols."""
    from iclab.report.symbols import paper_symbols
    from iclab.report.templating import ENV

    html = ENV.get_template("sweep_claims.html.j2").render(claims=[{
        "anchor": "a", "experiment": "x", "variant": "quick", "claim": "<b>id</b>",
        "statement": paper_symbols("e^ICL peaks at tau = 1"), "source": "ours", "detail": "",
        "verdict": "holds", "statistic": "1", "threshold": "1", "point": "", "differ": "",
        "note": "", "extra": [("ledger revision", "2")]}])
    assert "&lt;b&gt;id&lt;/b&gt;" in html and "<b>id</b>" not in html
    assert "eᴵᶜᴸ peaks at τ = 1" in html and "ledger revision: 2" in html
