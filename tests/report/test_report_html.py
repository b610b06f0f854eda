"""The static HTML report: content, figures, robustness, and a real headless browser load."""

from __future__ import annotations

import html
import os
from collections.abc import Iterator, Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest

import iclab.errors
from iclab import run_experiment
from iclab.engine import LocalExecutor, Store
from iclab.engine.executors import UnitJob
from iclab.engine.runner import code_version, load_results
from iclab.engine.store import UnitRecord
from iclab.errors import ICLabError
from iclab.experiments import get_experiment
from iclab.report import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Tables (as lists of rows of cell texts), image sources and element ids of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.images: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self._cell: list[str] | None = None
        self._depth = 0
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in {"td", "th"}:
            self._cell = []
        elif tag == "img":
            self.images.append(a["src"])
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def table_after(self, header: Sequence[str]) -> list[list[str]]:
        """The first table whose header row starts with ``header``."""
        for table in self.tables:
            if table and table[0][: len(header)] == list(header):
                return table
        raise AssertionError(f"no table with header {header}")


class _StopAfter:
    """A local executor that stops the sweep after ``n`` units (a partial sweep)."""

    name = "local"

    def __init__(self, n: int) -> None:
        self.n = n

    def map(self, jobs: Sequence[UnitJob]) -> Iterator[tuple[UnitJob, list[dict], float]]:
        for i, item in enumerate(LocalExecutor().map(jobs)):
            if i == self.n:
                raise KeyboardInterrupt
            yield item


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Two toy experiments: line quick (complete) and full (2 of 6 units), bare quick; plus
    units of an experiment that this code version no longer registers."""
    db = Store(tmp_path_factory.mktemp("store") / "iclab.sqlite")
    run_experiment("toyreport.line", "quick", store=db)
    # An interrupted run: KeyboardInterrupt, reported as RunInterrupted where that exists.
    stopped = (KeyboardInterrupt, getattr(iclab.errors, "RunInterrupted", KeyboardInterrupt))
    with pytest.raises(stopped):
        run_experiment("toyreport.line", "full", store=db, executor=_StopAfter(2))
    run_experiment("toyreport.bare", "quick", store=db)
    db.register_settings("ghost.gone", "quick", "1", "f" * 64, {"seed": 0})
    db.put(UnitRecord("ghost-key", "ghost.gone", "f" * 64, {"d": 1}, 0, [{"risk": 1.0}], 0.1,
                      "cpu"))
    return db


@pytest.fixture(scope="module")
def report(store: Store, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, _Page]:
    path = write_report(store, tmp_path_factory.mktemp("report"))
    return path, _Page(path.read_text(encoding="utf-8"))


def test_summary_lists_every_stored_sweep(report: tuple[Path, _Page]) -> None:
    _, page = report
    summary = page.table_after(["experiment", "variant", "units stored / planned"])
    rows = {(r[0], r[1]): r for r in summary[1:]}
    assert set(rows) == {("toyreport.line", "quick"), ("toyreport.line", "full"),
                         ("toyreport.bare", "quick"), ("ghost.gone", "quick")}
    assert rows["toyreport.line", "quick"][2] == "6 / 6"
    assert rows["toyreport.line", "full"][2] == "2 / 6"  # a partial sweep shows as such
    assert rows["toyreport.bare", "quick"][2] == "2 / 2"
    assert rows["toyreport.line", "quick"][3] == "12"  # rows: 3 points x 2 trials x 2 slopes
    assert "not a registered experiment" in rows["ghost.gone", "quick"][6]
    assert rows["toyreport.line", "quick"][8] == code_version()
    assert rows["toyreport.line", "full"][6].startswith("interrupted")
    assert all(r[4].endswith(" s") and r[5].endswith(" s") for r in summary[1:])
    # Every in-page link points to a block of the page; every other link to a figure file.
    inner = {link[1:] for link in page.links if link.startswith("#")}
    assert inner <= page.ids
    files = [link for link in page.links if not link.startswith("#")]
    assert files and all(link.startswith("figures/") for link in files)


def test_parameters_time_and_code_version_per_sweep(report: tuple[Path, _Page]) -> None:
    _, page = report
    params = [dict(t[1:]) for t in page.tables if t and t[0] == ["setting", "value"]]
    samples = sorted(p["samples"] for p in params if "samples" in p)
    assert samples == ["400", "50"]  # the full and quick variants of toyreport.line
    assert {"ns": "[2, 4]", "trials": "1", "seed": "0"}.items() <= next(
        p for p in params if "ns" in p).items()
    facts = [dict(t[1:]) for t in page.tables if t and t[0] == ["", "value"]]
    assert len(facts) == 3
    for f in facts:
        assert f["compute time (sum over units)"].endswith(" s")
        assert f["code version"] == code_version()
        assert "executor local" in f["last run"]


def test_each_sweep_shows_its_variant_line(report: tuple[Path, _Page]) -> None:
    """A variant's one line against the paper's settings is shown under its sweep."""
    path, _ = report
    text = html.unescape(path.read_text())
    assert text.count("full variant, against the paper's settings: 400 samples") == 1
    assert "quick variant, against" not in text  # the toy gives no line for quick


def test_deviation_table_shows_the_experiment_deviations(
        report: tuple[Path, _Page], store: Store) -> None:
    path, page = report
    exp = get_experiment("toyreport.line")
    settings = exp.make_settings("quick")
    expected = exp.deviations(settings, load_results(store, exp, settings),
                              exp.theory(settings))
    header = ["curve", "metric", "n_points", "max_abs_dev", "max_rel_dev"]
    tables = [t for t in page.tables if t and t[0] == header]
    assert len(tables) == 2  # quick and full of toyreport.line; toyreport.bare has none
    shown = next(t for t in tables if len(t) == 3 and t[1][2] == "3")  # quick: 3 points/curve
    for row, want in zip(shown[1:], expected.itertuples(), strict=True):
        assert row[:3] == [want.curve, want.metric, str(want.n_points)]
        # Shown with 3 significant digits: agree to that precision.
        assert float(row[3]) == pytest.approx(want.max_abs_dev, rel=5e-3)
        assert float(row[4]) == pytest.approx(want.max_rel_dev, rel=5e-3)
    summary = page.table_after(["experiment", "variant", "units stored / planned"])
    worst = next(r for r in summary if r[:2] == ["toyreport.line", "quick"])[7]
    assert float(worst) == pytest.approx(expected.max_rel_dev.max(), rel=5e-3)
    assert "no theory-vs-experiment comparison" in path.read_text()


def test_figures_exist_and_are_referenced(report: tuple[Path, _Page]) -> None:
    path, page = report
    assert sorted(page.images) == ["figures/ghost.gone_quick_ffffffff.png",
                                   "figures/toyreport.bare_quick.png",
                                   "figures/toyreport.line_full.png",
                                   "figures/toyreport.line_quick.png"]
    for src in page.images:
        assert (path.parent / src).read_bytes()[:8] == PNG_SIGNATURE
    text = path.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text


def test_stale_figure_is_redrawn_and_fresh_one_reused(store: Store, tmp_path: Path) -> None:
    png = tmp_path / "figures" / "toyreport.bare_quick.png"
    png.parent.mkdir(parents=True)
    png.write_bytes(b"an old figure")
    os.utime(png, (0, 0))  # older than the sweep
    write_report(store, tmp_path)
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    drawn = png.stat().st_mtime_ns
    write_report(store, tmp_path)
    assert png.stat().st_mtime_ns == drawn


def test_a_broken_figure_does_not_hide_the_rest(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = type(get_experiment("toyreport.bare"))

    def broken_plot(self: object, *args: object) -> None:
        raise RuntimeError("plot exploded")

    monkeypatch.setattr(cls, "plot", broken_plot)
    page = _Page(write_report(store, tmp_path).read_text())
    summary = page.table_after(["experiment", "variant", "units stored / planned"])
    bare = next(r for r in summary if r[0] == "toyreport.bare")
    assert "RuntimeError: plot exploded" in bare[6]
    assert len(page.images) == 3  # the other sweeps still have their figures


def test_missing_store_is_an_error_that_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ICLabError, match="no store"):
        write_report(tmp_path / "none.sqlite", tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_deviation_against_d_and_paper_order() -> None:
    """The d-scaling table fits dev ∝ d^-p by least squares in log-log; sections follow the
    papers (Lu, Li, Shi, then studies), figures in natural order."""
    import math

    from iclab.report.deviations import d_scaling as _d_scaling
    from iclab.report.record import Sweep
    from iclab.report_guide import paper_key

    sweeps = []
    for d, dev in ((32, 0.219), (16, 0.442), (8, 0.94)):  # newest first
        sw = Sweep("lu2024.fig4", f"{d:064d}", "quick", f"lu2024-fig4-{d}")
        sw.worst_rel_dev, sw.d_values = dev, [d]
        sweeps.append(sw)
    html = _d_scaling(sweeps)
    x = [math.log(d) for d in (8, 16, 32)]
    y = [math.log(v) for v in (0.94, 0.442, 0.219)]
    mx, my = sum(x) / 3, sum(y) / 3
    slope = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sum(
        (a - mx) ** 2 for a in x)
    assert f"p = {-slope:.2f}" in html and "shrinks" in html
    assert _d_scaling(sweeps[:1]) == ""  # one d: no table
    names = ["shi2024.fig_rank_noise", "toy.x", "li2024.fig_iid", "lu2024.fig10", "lu2024.fig2"]
    assert sorted(names, key=paper_key) == ["lu2024.fig2", "lu2024.fig10", "li2024.fig_iid",
                                            "shi2024.fig_rank_noise", "toy.x"]
