"""A real browser loads the page: headless Chromium, no Python driver, ``--dump-dom`` of ``/?autorun=1``.

The page builds a panel per model from GET /api/models and, with ?autorun=1, runs each panel once;
the DOM Chromium dumps must hold the rendered images (<img> with PNG data URLs) of every panel, the
decoded point of the 2-D plane, and the text a GPT wrote after its prompt. Without Chromium the test
is skipped, saying so, except under CI=true, where it must run (.ci/run installs it).
"""
import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from aigc_np.serve import load_served, running
from serve_helpers import tiny_checkpoints, tiny_poem_checkpoint

BROWSERS = ("chromium", "chromium-headless-shell", "chromium-browser")


def find_browser() -> str:
    found = next((path for path in map(shutil.which, BROWSERS) if path), None)
    if found:
        return found
    why = f"no headless browser on PATH (looked for {', '.join(BROWSERS)}; Debian: apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {why}: in CI the browser test must run")
    pytest.skip(why)


class Panels(HTMLParser):
    """Per panel (section id): its kind, its images by where they sit, its text output and error line."""

    def __init__(self):
        super().__init__()
        self.panels, self.section, self.stack, self.capture = {}, None, [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section = attrs["id"]
            self.panels[self.section] = {"kind": attrs.get("data-kind"), "images": {}, "text": "", "error": "",
                                         "text poems": ""}
        if tag == "img" and self.section:
            where = attrs.get("class") or next((c for c in reversed(self.stack) if c), "")
            if attrs.get("src", "").startswith("data:image/png;base64,"):
                images = self.panels[self.section]["images"]
                images[where] = images.get(where, 0) + 1
        if tag not in ("img", "input", "br", "meta", "link"):
            self.stack.append(attrs.get("class", ""))
        if self.section and attrs.get("class") in ("text", "error", "text poems"):
            self.capture = (attrs["class"], len(self.stack))

    def handle_endtag(self, tag):
        if tag in ("img", "input", "br", "meta", "link"):
            return
        if self.capture and len(self.stack) == self.capture[1]:
            self.capture = None
        if self.stack:
            self.stack.pop()
        if tag == "section":
            self.section = None

    def handle_data(self, data):
        if self.capture and self.section:
            self.panels[self.section][self.capture[0]] += data


def test_headless_chromium_renders_every_panel_with_autorun(tmp_path):
    browser = find_browser()
    paths = tiny_checkpoints(tmp_path, ["vae", "cgan", "gpt"])
    paths["poems"] = tiny_poem_checkpoint(tmp_path)
    with running(load_served([str(p) for p in paths.values()])) as server:
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
             server.url + "?autorun=1"], capture_output=True, text=True, timeout=90).stdout
    parser = Panels()
    parser.feed(dom)
    panels = {"poems" if p["text poems"] else p["kind"]: p for p in parser.panels.values()}
    assert set(panels) == {"vae", "cgan", "gpt", "poems"}, dom[:2000]
    assert all(not p["error"].strip() for p in panels.values()), {k: p["error"] for k, p in panels.items()}
    for kind in ("vae", "cgan"):   # the grid of 16 (the default n) and the walk of 10 frames
        assert panels[kind]["images"].get("grid samples") == 16 and panels[kind]["images"].get("grid walk") == 10, \
            panels[kind]
    assert panels["vae"]["images"].get("big") == 1   # the 2-D plane's decoded point
    assert "big" not in panels["cgan"]["images"]      # a latent of 4 has no plane
    text = panels["gpt"]["text"]
    assert text.startswith(".") and len(text) == 1 + 200, repr(text)   # the prompt, then length 200
    poems = panels["poems"]["text poems"].split("\n")       # the default: 4 acrostics of 春眠不觉
    assert len(poems) == 4 and all(p.startswith("春") for p in poems), poems
