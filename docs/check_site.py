"""Open the built site in headless Chromium and check what a reader sees.

    python docs/check_site.py docs/_build/html [--screenshots DIR]

Opens the built HTML from disk (file:// URLs: no server between the files and the browser), visits
every page reachable from the home page, and checks:

- every image on every page has rendered (the state diagrams, the benchmark plot);
- the state-machine page shows the transition table with one row per row of the model's table,
  and the performance page one row per benchmark row of ``docs/benchmarks.json``;
- every internal link resolves: its page was served, and its ``#fragment`` names an element there;
- each code block captioned ``examples/NAME.py`` is that example's own text, and every example is shown.

Writes screenshots of the home page and the state-machine page. Exits 1 naming every problem; a
missing browser is an error (exit 2), never a skip. Chromium is started so that it reaches no
network: no background networking, no component updates, no sync, a fresh profile.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: Pages Sphinx makes that are not ours to check (the search page needs its index loaded by script).
SKIPPED_PAGES = ("search.html", "genindex.html")


@contextmanager
def _browser(profile: Path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    # The driver's path is given, so Selenium never looks for (or downloads) one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


_PAGE_DONE = """
return document.readyState === 'complete' && document.URL === arguments[0]
    && document.querySelector('footer') !== null && document.querySelector('script:last-of-type') !== null;
"""

_PAGE_FACTS = """
const images = [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
const examples = [...document.querySelectorAll('div.literal-block-wrapper')].map(w => {
  const caption = w.querySelector('.caption-text');
  const pre = w.querySelector('pre');
  return {caption: caption ? caption.textContent : '', text: pre ? pre.textContent : ''};
});
const rows = cls => {
  const t = document.querySelector('table.' + cls);
  return t ? t.querySelectorAll('tbody tr').length : -1;
};
return {title: document.title, images, links, ids, examples,
        transitions: rows('transition-table'), benchmarks: rows('benchmark-table')};
"""


def _screenshot(driver: object, path: Path) -> None:
    """The whole page, not just the window: the window is made as tall as the page (at most 12,000 px)."""
    height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), 12_000)  # type: ignore[attr-defined]
    driver.set_window_size(1280, height)  # type: ignore[attr-defined]
    driver.save_screenshot(str(path))  # type: ignore[attr-defined]
    driver.set_window_size(1280, 900)  # type: ignore[attr-defined]


def check(site: Path, screenshots: Path) -> list[str]:
    from selenium.webdriver.support.wait import WebDriverWait

    from mcp_session_recovery.model.table import TABLE

    problems: list[str] = []
    benchmark_rows = len(json.loads((site.parent.parent / "benchmarks.json").read_text(encoding="utf-8"))["rows"])
    shown_examples: set[str] = set()
    base = site.as_uri() + "/"
    with tempfile.TemporaryDirectory() as profile, _browser(Path(profile)) as driver:
        facts: dict[str, dict[str, object]] = {}
        queue = [urljoin(base, "index.html")]
        while queue and len(facts) < 500:  # bounded: the site has a few dozen pages
            url = queue.pop()
            if url in facts:
                continue
            if not Path(unquote(urlparse(url).path)).is_file():
                problems.append(f"broken link to {url}")
                facts[url] = {"ids": [], "links": []}
                continue
            driver.get(url)  # type: ignore[attr-defined]
            # The facts are read from the whole page: wait (bounded) until this URL's document has
            # been parsed to its end, so a page read early is never mistaken for a broken one.
            WebDriverWait(driver, 20).until(lambda d, url=url: d.execute_script(_PAGE_DONE, url))
            page: dict[str, object] = driver.execute_script(_PAGE_FACTS)  # type: ignore[attr-defined]
            facts[url] = page
            for image in page["images"]:  # type: ignore[attr-defined]
                if not image["ok"]:
                    problems.append(f"{url}: image not rendered: {image['src']}")
            for link in page["links"]:  # type: ignore[attr-defined]
                target, _ = urldefrag(link)
                path = urlparse(target).path
                if target.startswith(base) and not path.endswith(SKIPPED_PAGES) and path.endswith((".html", "/")):
                    queue.append(target if not target.endswith("/") else target + "index.html")
            for block in page["examples"]:  # type: ignore[attr-defined]
                caption = str(block["caption"])
                if caption.startswith("examples/"):
                    name = caption.removeprefix("examples/")
                    own = (EXAMPLES / name).read_text(encoding="utf-8")
                    if str(block["text"]).rstrip() != own.rstrip():
                        problems.append(f"{url}: the code block captioned {caption} is not the example's own text")
                    shown_examples.add(name)
            if url.endswith("concepts/state-machine.html"):
                _screenshot(driver, screenshots / "state-machine.png")
                if page["transitions"] != len(TABLE):
                    problems.append(
                        f"{url}: the transition table shows {page['transitions']} rows, the model has {len(TABLE)}"
                    )
                if sum(1 for image in page["images"] if "_images/session" in image["src"]) != 2:  # type: ignore[attr-defined]
                    problems.append(f"{url}: expected the two state diagrams")
            if url.endswith("/index.html") and url.count("/") == base.count("/"):
                _screenshot(driver, screenshots / "home.png")
            if url.endswith("/performance.html") and page["benchmarks"] != benchmark_rows:
                problems.append(
                    f"{url}: the benchmark table shows {page['benchmarks']} rows, the JSON has {benchmark_rows}"
                )
        # Every internal link: its page was served, its fragment names an element there.
        for url, page in facts.items():
            for link in page["links"]:  # type: ignore[attr-defined]
                target, fragment = urldefrag(link)
                if not target.startswith(base) or urlparse(target).path.endswith(SKIPPED_PAGES):
                    continue
                target = target + "index.html" if target.endswith("/") else target
                if target not in facts:  # not a page (a file Sphinx copied, say): it must exist
                    if not Path(unquote(urlparse(target).path)).is_file():
                        problems.append(f"{url}: broken link {link}")
                    continue
                if fragment and fragment not in facts[target]["ids"]:  # type: ignore[operator]
                    problems.append(f"{url}: link {link} names no element of its page")
        for page_name in ("index.html", "concepts/state-machine.html", "performance.html", "reference/api.html"):
            if urljoin(base, page_name) not in facts:
                problems.append(f"{page_name} is not reachable from the home page")
        print(f"checked {len(facts)} pages", file=sys.stderr)
    missing = sorted({path.name for path in EXAMPLES.glob("*.py")} - shown_examples)
    if missing:
        problems.append(f"examples not shown on any page: {', '.join(missing)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="the built HTML (docs/_build/html)")
    parser.add_argument("--screenshots", type=Path, help="where to write home.png and state-machine.png")
    args = parser.parse_args()
    screenshots = args.screenshots or args.site.parent / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    for program in (CHROMIUM, CHROMEDRIVER):
        if not Path(program).exists():
            print(f"error: {program} is missing (apt-get install chromium chromium-driver)", file=sys.stderr)
            return 2
    problems = check(args.site.resolve(), screenshots.resolve())
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"screenshots: {screenshots / 'home.png'} {screenshots / 'state-machine.png'}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
