"""Screenshots of ``rnnkit inspect`` for README: the page of a real run in headless chromium.

    python benchmarks/inspect_screenshots.py --run runs/linux --text some.c --out docs \
        --prime 'static int' --layer 'layer 2 c' --pattern 'bracket depth'

Starts the page's server on a free port, opens it in Debian's chromium (Selenium), and saves
inspect-training.png, inspect-sample.png, inspect-surprisal.png and inspect-cells.png into --out;
prints the bits/char the page shows and the unit the cells view chose.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from rnnkit.inspect.server import make_server, open_run  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--text", required=True, help="the text Surprisal and Cells show")
    p.add_argument("--out", default="docs")
    p.add_argument("--prime", default="")
    p.add_argument("--length", default="600")
    p.add_argument("--seed", default="1")
    p.add_argument("--layer", default=None)
    p.add_argument("--pattern", default="bracket depth")
    p.add_argument("--unit", default="")
    args = p.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    server = make_server(open_run(args.run, args.text))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(flag)
    b = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    wait = lambda css: WebDriverWait(b, 300).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))  # noqa: E731
    save = lambda name: b.save_screenshot(os.path.join(args.out, name))  # noqa: E731
    try:
        b.get(f"http://127.0.0.1:{server.server_address[1]}/")
        wait("#training-output img")
        save("inspect-training.png")
        b.find_element(By.ID, "tab-sample").click()
        for name, value in (("prime", args.prime), ("length", args.length), ("seed", args.seed)):
            box = b.find_element(By.ID, f"sample-{name}")
            box.clear()
            box.send_keys(value)
        b.find_element(By.ID, "sample-run").click()
        wait("#sample-text[data-done]")
        save("inspect-sample.png")
        b.find_element(By.ID, "tab-surprisal").click()
        b.find_element(By.ID, "surprisal-run").click()
        wait("#surprisal-output .tokens span")
        print("surprisal:", b.find_element(By.CSS_SELECTOR, "#surprisal-output .stat b").text, "bits/symbol")
        save("inspect-surprisal.png")
        b.find_element(By.ID, "tab-cells").click()
        if args.layer:
            Select(b.find_element(By.ID, "cells-layer")).select_by_visible_text(args.layer)
        Select(b.find_element(By.ID, "cells-pattern")).select_by_visible_text(args.pattern)
        b.find_element(By.ID, "cells-unit").send_keys(args.unit)
        b.find_element(By.ID, "cells-run").click()
        wait("#cells-output .tokens span")
        stats = [s.text.replace("\n", " ") for s in b.find_elements(By.CSS_SELECTOR, "#cells-output .stat")]
        print("cells:", "; ".join(stats))
        save("inspect-cells.png")
    finally:
        b.quit()
        server.shutdown()


if __name__ == "__main__":
    main()
