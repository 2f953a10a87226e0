"""`cxr serve` as a user meets it: a real server process over a tiny classify run, hostile
uploads, ten requests at once, and the page driven in headless Chromium (skipped without it)."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def _start(run: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cxr.cli", "serve", str(run), "--port", "0", "--device", "cpu",
         *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the URL is printed (or the process dies)
    if not line.startswith("serving on "):
        proc.kill()
        raise AssertionError(f"cxr serve did not start: {line!r} {proc.stderr.read()[-2000:]}")
    url = line.split()[2]
    for _ in range(200):
        try:
            if requests.get(url + "healthz", timeout=2).ok:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise AssertionError("cxr serve never answered /healthz")


@pytest.fixture(scope="module")
def server(tiny_classify_run: Path):
    proc, url = _start(tiny_classify_run, "--max-upload-mb", "1", "--max-pixels", "4000000")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _phantom_png(run: Path) -> Path:
    manifest = Path(json.loads((run / "run.json").read_text())["inputs"]["manifest"])
    return sorted((manifest.parent / "phantoms" / "images").glob("*.png"))[0]


def _post(url: str, data: bytes, name: str) -> requests.Response:
    return requests.post(url + "api/analyse", data=data, timeout=120,
                         headers={"X-Filename": name, "Content-Type": "application/octet-stream"})


def _alive(url: str) -> None:
    assert requests.get(url + "healthz", timeout=10).json()["ok"] is True


def test_binds_localhost_and_page_puts_warnings_above_the_result(server) -> None:
    assert server.startswith("http://127.0.0.1:")
    html = requests.get(server, timeout=10).text
    assert html.index('id="warnings"') < html.index('id="drop"') < html.index('id="result"')
    assert "Not for clinical use" in html and "<progress" in html
    assert "AUROC" in html and "95%" in html  # the run's metrics with CIs (the model card)
    card = requests.get(server + "api/card", timeout=10).json()
    assert card["pipeline_tag"] == "image-classification"


def test_a_radiograph_gets_the_runs_probabilities_and_an_overlay(server, tiny_classify_run
                                                                 ) -> None:
    from cxr.pipelines.classify.predict import run_predict

    png = _phantom_png(tiny_classify_run)
    res = _post(server, png.read_bytes(), png.name)
    assert res.status_code == 200, res.text
    body = res.json()
    ref = run_predict(tiny_classify_run / "best.ckpt", [png], progress=False)[0]
    for c in body["classes"]:  # the same numbers as `cxr predict` on the same file
        assert body["probs"][c] == pytest.approx(ref[f"p_{c}"], abs=1e-5)
    assert body["prediction"] == ref["prediction"]
    assert body["threshold"] == json.loads((tiny_classify_run / "run.json").read_text())[
        "threshold"]
    assert body["overlay_png"].startswith("data:image/png;base64,")
    import base64

    import cv2

    raw = base64.b64decode(body["overlay_png"].split(",", 1)[1])
    rgb = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
    assert rgb.shape[0] >= 320 and rgb.shape[0] == rgb.shape[1]
    # the lung field (or the labelled central box) is drawn in cyan: BGR (255, 255, 0)
    cyan = (rgb[..., 0] > 200) & (rgb[..., 1] > 200) & (rgb[..., 2] < 60)
    assert cyan.sum() > rgb.shape[0], "no lung-field outline in the overlay"
    assert "lung field" in body["lung"] or "central box" in body["lung"]
    assert "Grad-CAM" in body["cam_note"] and body["map"].startswith("gradcam of class")


def _hostile(tmp: Path, png: Path) -> dict[str, bytes]:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", 9000, 9000, 8, 0, 0, 0, 0)  # 81 megapixels, grey
    huge = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    import pydicom
    from support.fakelayouts import make_dicom

    good = make_dicom(tmp / "good.dcm", np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 4096)
    ds = pydicom.dcmread(good)
    ds.PixelData = os.urandom(977)  # garbage: neither the declared length nor any codec's
    ds.save_as(tmp / "garbage.dcm")
    return {
        "notes.txt": b"this is not an image, just text\n" * 10,
        "huge.png": huge,
        "garbage.dcm": (tmp / "garbage.dcm").read_bytes(),
        "empty.png": b"",
        "truncated.png": png.read_bytes()[: len(png.read_bytes()) // 2],
        "random.bin": os.urandom(4096),
    }


def test_hostile_files_get_one_line_each_and_the_server_keeps_serving(server, tiny_classify_run,
                                                                      tmp_path) -> None:
    png = _phantom_png(tiny_classify_run)
    expect = {"notes.txt": "not an image", "huge.png": "too large", "garbage.dcm": "garbage.dcm",
              "empty.png": "empty file", "truncated.png": "truncated.png",
              "random.bin": "not an image"}
    for name, data in _hostile(tmp_path, png).items():
        res = _post(server, data, name)
        assert res.status_code == 400, (name, res.status_code, res.text)
        err = res.json()["error"]
        assert "\n" not in err and len(err) <= 240 and expect[name] in err, (name, err)
        _alive(server)
    # over the byte limit (--max-upload-mb 1): refused before it is decoded
    res = _post(server, b"\0" * 1_100_000, "big.bin")
    assert res.status_code == 413 and "upload limit" in res.json()["error"]
    _alive(server)
    assert _post(server, png.read_bytes(), png.name).status_code == 200


def test_ten_requests_at_once_are_queued_not_crashed(server, tiny_classify_run) -> None:
    png = _phantom_png(tiny_classify_run).read_bytes()
    with cf.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda k: _post(server, png, f"c{k}.png"), range(10)))
    assert [r.status_code for r in answers] == [200] * 10
    bodies = [r.json() for r in answers]
    assert len({json.dumps(b["probs"], sort_keys=True) for b in bodies}) == 1
    assert max(b["queued_behind"] for b in bodies) >= 1  # they did wait for each other
    _alive(server)


# ------------------------------------------------------------------ headless Chromium
def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("chromium and chromedriver not installed (apt-get install chromium "
                    "chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,1400"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_page_in_headless_chromium(server, tiny_classify_run, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser = _browser()
    try:
        browser.get(server)
        upload = browser.find_element(By.ID, "file")
        bad = tmp_path / "bad.png"
        bad.write_text("not a radiograph")
        upload.send_keys(str(bad))
        WebDriverWait(browser, 60).until(
            lambda b: b.find_element(By.ID, "error").text.strip() != "")
        assert "not an image" in browser.find_element(By.ID, "error").text
        upload.send_keys(str(_phantom_png(tiny_classify_run)))
        WebDriverWait(browser, 120).until(ec.visibility_of_element_located((By.ID, "overlay")))
        overlay = browser.find_element(By.ID, "overlay")
        WebDriverWait(browser, 30).until(
            lambda b: b.execute_script("return arguments[0].complete && "
                                       "arguments[0].naturalWidth > 0", overlay))
        assert overlay.size["width"] >= 300 and overlay.is_displayed()
        assert browser.find_element(By.ID, "error").text == ""
        assert browser.find_element(By.ID, "prediction").text in ("covid", "rest")
        assert not browser.find_element(By.ID, "busy").is_displayed()  # progress hidden again
        warn = browser.find_element(By.ID, "warnings").location["y"]
        assert warn < browser.find_element(By.ID, "result").location["y"]
        shot = Path(os.environ.get("CXR_SERVE_SCREENSHOT", tmp_path / "serve.png"))
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    finally:
        browser.quit()
