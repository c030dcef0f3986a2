"""``rnnkit inspect``: the page's API on a tiny character LM, the static export, the command's
errors, and the page itself in a real headless browser (Debian's chromium and chromedriver,
driven by Selenium): sample, surprisal and cells, with screenshots."""
import json
import math
import os
import shutil
import sys
import threading
import urllib.error
import urllib.request

import pytest

import rnnkit
from rnnkit.inspect.server import MAX_BODY, make_server, open_run
from rnnkit.inspect.views import MAX_LENGTH, MAX_TEXT

sys.path.insert(0, os.path.dirname(__file__))
from test_cli import SMALL, assert_one_line_error, rnnkit as run_cli  # noqa: E402

CODE = "".join(f'int f{i}(int x) {{ return g(x, "s{i % 7}"); }} /* c{i % 5} */\n' for i in range(300))
# Chromium keeps a colour's alpha in 8 bits and prints the shortest decimal that maps back to
# them: half a step of 1/255 each way.
ALPHA = 1 / 255
TEXT = 'int f3(int x) { return g(x, "s3"); } /* c3 */\nint f4(int x) { return g(x, "s4"); }\n'


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect")
    (root / "code.c").write_text(CODE)
    (root / "text.c").write_text(TEXT)
    run = root / "run"
    proc = run_cli("train", "charlm", "--corpus", str(root / "code.c"), "--out", str(run), "--max-steps", "150", *SMALL)
    assert proc.returncode == 0, proc.stderr
    return run, root / "text.c"


@pytest.fixture(scope="module")
def server(lm_run):
    run, text = lm_run
    srv = make_server(open_run(str(run), str(text)), "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def call(base, path, form=None, raw=None):
    """(status, decoded body) of a GET (form None) or a POST of ``form`` as JSON (or ``raw`` bytes)."""
    data = raw if raw is not None else (None if form is None else json.dumps(form).encode())
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, data=data), timeout=60) as reply:
            body = reply.read().decode()
            return reply.status, json.loads(body) if reply.headers["Content-Type"] == "application/json" else body
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode())


def test_run_lists_the_views_of_a_language_model(server, lm_run):
    status, info = call(server, "/api/run")
    assert status == 200 and info["task"] == "charlm"
    assert [v["name"] for v in info["views"]] == ["training", "sample", "surprisal", "cells"]
    cells = next(v for v in info["views"] if v["name"] == "cells")
    layers = next(f for f in cells["fields"] if f["name"] == "layer")["options"]
    assert layers == ["layer 1 h", "layer 1 c", "layer 2 h", "layer 2 c"]
    surprisal = next(v for v in info["views"] if v["name"] == "surprisal")
    assert surprisal["fields"][0]["default"] == TEXT  # the --text file
    status, page = call(server, "/")
    assert status == 200 and "/assets/app.js" in page and "http" not in page.replace('"/assets/', "")


def test_training_view_reads_the_runs_metrics(server):
    status, reply = call(server, "/api/view/training", {})
    assert status == 200
    table, image = reply["blocks"][:2]
    assert ["steps", 150] in table["rows"] and image["src"].startswith("data:image/png;base64,")


def test_sample_streams_the_samplers_text(server, lm_run):
    lm = rnnkit.load(str(lm_run[0]))
    status, text = call(server, "/api/view/sample", {"prime": "int ", "temperature": "0.8", "length": "300", "seed": "5"})
    assert status == 200
    assert text == "int " + lm.sample("int ", 300, temperature=0.8, seed=5)


def test_surprisal_bits_per_char_is_the_models_score(server, lm_run):
    lm = rnnkit.load(str(lm_run[0]))
    status, reply = call(server, "/api/view/surprisal", {"text": TEXT})
    assert status == 200
    stats = {b["label"]: b["value"] for b in reply["blocks"] if b["type"] == "stat"}
    assert float(stats["bits/char"]) == pytest.approx(lm.score(TEXT)["bits_per_char"], abs=1e-4)  # printed to 4 places
    tokens = next(b for b in reply["blocks"] if b["type"] == "tokens")["tokens"]
    assert "".join(t["text"] for t in tokens) == TEXT and tokens[0]["value"] is None
    mean = -sum(math.log2(t["value"]) for t in tokens[1:]) / (len(TEXT) - 1)
    assert mean == pytest.approx(float(stats["bits/char"]), abs=1e-4)


def test_cells_rank_units_by_a_pattern_and_colour_the_chosen_one(server):
    form = {"text": TEXT, "layer": "layer 2 c", "pattern": "inside a string"}
    status, reply = call(server, "/api/view/cells", form)
    assert status == 200
    ranking = next(b for b in reply["blocks"] if b["type"] == "table")["rows"]
    best = ranking[0][1]
    tokens = next(b for b in reply["blocks"] if b["type"] == "tokens")["tokens"]
    assert max(abs(t["value"]) for t in tokens) == pytest.approx(1.0)  # scaled by the unit's largest |activation|
    status, chosen = call(server, "/api/view/cells", {**form, "unit": str(best)})
    assert chosen["blocks"] == reply["blocks"]
    status, reply = call(server, "/api/view/cells", {**form, "pattern": "regex", "regex": "[0-9]"})
    assert status == 200 and "regex" in reply["blocks"][1]["label"]


@pytest.mark.parametrize("path, form, status, message", [
    ("/api/view/sample", {"length": str(MAX_LENGTH + 1)}, 400, f"length must be between 1 and {MAX_LENGTH}"),
    ("/api/view/sample", {"temperature": "hot"}, 400, "temperature must be a number"),
    ("/api/view/surprisal", {"text": "x" * (MAX_TEXT + 1)}, 400, "this page reads at most"),
    ("/api/view/surprisal", {"text": ""}, 400, "give some text"),
    ("/api/view/cells", {"text": TEXT, "layer": "layer 9 c"}, 400, "no layer 'layer 9 c'"),
    ("/api/view/cells", {"text": TEXT, "pattern": "regex", "regex": "("}, 400, "bad regular expression"),
    ("/api/view/cells", {"text": TEXT, "unit": "999"}, 400, "unit must be between 0 and 31"),
    ("/api/view/tags", {"text": "a b"}, 404, "no view at /api/view/tags"),  # a view of another task
    ("/api/view/surprisal", {"text": 5}, 400, "a JSON object of strings"),
])
def test_bad_requests_get_a_clear_message(server, path, form, status, message):
    got, reply = call(server, path, form)
    assert got == status and message in reply["error"], reply


def test_caps_and_files_outside_the_package(server):
    status, reply = call(server, "/api/view/surprisal", raw=b"{not json")
    assert status == 400 and "not JSON" in reply["error"]
    request = urllib.request.Request(server + "/api/view/surprisal", data=b"{}", headers={"Content-Length": str(MAX_BODY + 1)})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=30)
    assert err.value.code == 413
    for path in ("/assets/../server.py", "/assets/%2e%2e/server.py", "/etc/passwd", "/api/view/../../run"):
        assert call(server, path)[0] == 404


def test_export_is_one_file_with_surprisal_and_cells(lm_run, tmp_path):
    run, text = lm_run
    out = tmp_path / "report.html"
    proc = run_cli("inspect", str(run), "--text", str(text), "--export", str(out), "--units", "layer 2 c:3,layer 1 h:0")
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "<script src" not in page and "<link" not in page and "http" not in page.replace("http://127", "")
    data = json.loads(page.split("window.RNNKIT_STATIC = ", 1)[1].split(";</script>", 1)[0].replace("<\\/", "</"))
    assert [s["title"] for s in data["sections"]] == ["Surprisal", "Cells: layer 2 c unit 3", "Cells: layer 1 h unit 0"]


def test_command_errors_are_one_line(lm_run, tmp_path):
    run, text = lm_run
    assert_one_line_error(run_cli("inspect", str(tmp_path / "nope")), "run folder not found")
    assert_one_line_error(run_cli("inspect", str(run), "--export", str(tmp_path / "r.html")), "give --text FILE")
    assert_one_line_error(run_cli("inspect", str(run), "--text", str(tmp_path / "missing.c")), "cannot read")
    assert_one_line_error(run_cli("inspect", str(run), "--text", str(text), "--export", str(tmp_path / "r.html"),
                                  "--units", "layer 2 c"), "--units takes 'LAYER:UNIT,...'")
    assert_one_line_error(run_cli("inspect", str(run), "--units", "layer 2 c:1"), "--units chooses the cells of an --export")
    assert_one_line_error(run_cli("inspect", str(run), "--port", "70000"), "--port must be between 0 and 65535")
    (tmp_path / "r.html").write_text("kept")
    assert_one_line_error(run_cli("inspect", str(run), "--text", str(text), "--export", str(tmp_path / "r.html"),
                                  "--units", "layer 5 c:1"), "no layer 'layer 5 c'")
    assert (tmp_path / "r.html").read_text() == "kept"  # nothing written is lost


# -- the page in a real browser -----------------------------------------------------------------
def chrome():
    """A headless chromium driven by Selenium, or a skip saying what is missing."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.skip("no chromium/chromedriver on this machine: apt-get install chromium chromium-driver "
                    "(make test installs them where it can)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="module")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


def wait(driver, condition, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: condition(d))


def shot(driver, name):
    folder = os.environ.get("RNNKIT_SCREENSHOTS")  # README's screenshots: see docs/inspect.md
    driver.save_screenshot(os.path.join(folder, name) if folder else os.path.join("/tmp", f"rnnkit-test-{name}"))


def test_the_page_in_a_browser(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    b = browser
    b.get(server + "/")
    wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "#training-output img"))  # Training opens first
    shot(b, "inspect-training.png")

    b.find_element(By.ID, "tab-sample").click()
    prime = b.find_element(By.ID, "sample-prime")
    prime.clear()
    prime.send_keys("int f")
    length = b.find_element(By.ID, "sample-length")
    length.clear()
    length.send_keys("400")
    b.find_element(By.ID, "sample-run").click()
    done = wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "#sample-text[data-done]"))
    sampled = done[0].text
    assert sampled.startswith("int f") and len(sampled) > 200
    shot(b, "inspect-sample.png")

    b.find_element(By.ID, "tab-surprisal").click()
    b.find_element(By.ID, "surprisal-run").click()  # the --text file is already in the box
    spans = wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "#surprisal-output .tokens span"))
    assert len(spans) == len(TEXT)
    status, reply = call(server, "/api/view/surprisal", {"text": TEXT})
    figure = b.find_element(By.CSS_SELECTOR, "#surprisal-output .stat b").text
    assert figure == next(x["value"] for x in reply["blocks"] if x["label"] == "bits/char")
    # Colour: the less probable a character, the redder (alpha = 1 - p); the first is grey.
    probs = [float(s.get_attribute("data-value")) for s in spans[1:]]
    alphas = [alpha(s.value_of_css_property("background-color")) for s in spans[1:]]
    assert alphas == pytest.approx([1 - p for p in probs], abs=ALPHA)
    assert spans[0].get_attribute("data-value") is None
    assert "most probable" in spans[5].get_attribute("title")
    shot(b, "inspect-surprisal.png")

    b.find_element(By.ID, "tab-cells").click()
    Select(b.find_element(By.ID, "cells-pattern")).select_by_visible_text("bracket depth")
    Select(b.find_element(By.ID, "cells-layer")).select_by_visible_text("layer 2 c")
    b.find_element(By.ID, "cells-run").click()
    spans = wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-output .tokens[data-scale=signed] span"))
    values = [float(s.get_attribute("data-value")) for s in spans]
    colours = [s.value_of_css_property("background-color") for s in spans]
    status, reply = call(server, "/api/view/cells", {"text": TEXT, "layer": "layer 2 c", "pattern": "bracket depth"})
    want = [t["value"] for t in next(x for x in reply["blocks"] if x["type"] == "tokens")["tokens"]]
    assert values == pytest.approx(want, abs=1e-6)
    for v, c in zip(values, colours):  # red above zero, blue below, as strong as |activation|
        assert alpha(c) == pytest.approx(abs(v), abs=ALPHA)
        assert (c.startswith(("rgba(229, 57, 53", "rgb(229, 57, 53")) if v > 0 else
                c.startswith(("rgba(30, 136, 229", "rgb(30, 136, 229"))) or abs(v) < ALPHA
    shot(b, "inspect-cells.png")

    b.find_element(By.ID, "cells-regex").send_keys("(")
    Select(b.find_element(By.ID, "cells-pattern")).select_by_visible_text("regex")
    b.find_element(By.ID, "cells-run").click()
    error = wait(b, lambda d: d.find_elements(By.CSS_SELECTOR, "#cells-output .error"))
    assert "bad regular expression" in error[0].text


def test_the_export_opens_from_disk_without_a_server(browser, lm_run, tmp_path):
    from selenium.webdriver.common.by import By

    run, text = lm_run
    out = tmp_path / "report.html"
    assert run_cli("inspect", str(run), "--text", str(text), "--export", str(out)).returncode == 0
    browser.get(out.as_uri())
    tabs = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#tabs button")]
    assert tabs == ["Surprisal", "Cells: inside a string", "Cells: inside a comment", "Cells: bracket depth",
                    "Cells: position in line"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#static-0-output .tokens span")) == len(TEXT)
    browser.find_element(By.ID, "tab-static-3").click()
    assert len(browser.find_elements(By.CSS_SELECTOR, "#static-3-output .tokens[data-scale=signed] span")) == len(TEXT)


def alpha(css: str) -> float:
    """The alpha of a CSS colour: 'rgba(r, g, b, a)' or 'rgb(r, g, b)' (opaque)."""
    parts = css[css.index("(") + 1:-1].split(",")
    return float(parts[3]) if len(parts) == 4 else 1.0


def test_a_text_file_uploaded_reads_as_the_text_typed(server):
    import base64

    typed = call(server, "/api/view/surprisal", {"text": TEXT})[1]
    sent = call(server, "/api/view/surprisal", {"text": "", "upload": base64.b64encode(TEXT.encode()).decode(),
                                                "upload_name": "t.c"})[1]
    assert sent == typed
    status, reply = call(server, "/api/view/cells", {"upload": "!!not base64", "text": TEXT})
    assert status == 400 and "did not arrive whole" in reply["error"]
