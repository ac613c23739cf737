"""The console's part 2 in a real browser (Debian's Chromium, driven by Playwright) against a
real `veil serve`.

The scenario of issue 14: a policy editor builds a policy from the standard with an option,
a destination profile and an override (the attribute found by autocomplete), sees the conflict
between the override and the destination named live, fixes it, goes to the YAML view and back,
saves a version and applies it. An operator tries a corpus file on that version (originals
masked), then uploads a corpus series as a zip (in 64 KiB chunks), runs the job, downloads
the result, and `veil audit` of the download against the originals is clean; a folder goes
in as well, every file of it. No page logs a
script error or a CSP violation, and no page the operator opened holds an identifier of the
corpus files. Screenshots go to test-artifacts/console/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from console_support import CORPUS, PASSWORD, free_port
from leaks import find_leaks, needles_of, readable
from pydicom import dcmread

from veil.console import accounts
from veil.console.roles import Role
from veil.node.store import Store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
KEY = "d1" * 32
SAMPLE = CORPUS / "dcm_qa" / "axasc35"  # one file of it is tried as a sample
SERIES = CORPUS / "dcm_qa_agfa" / "Agfa"  # uploaded as a zip, 4 MR images
TIMEOUT_MS = 120_000


def corpus_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != "LICENSE")


@dataclass
class Site:
    folder: Path
    dicom_port: int
    web_port: int
    serve: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "VEIL_KEY": KEY}

    def start(self) -> None:
        (self.folder / "node.yaml").write_text(
            f"""
node: {{ae_title: VEIL, host: 127.0.0.1, port: {self.dicom_port}, stable_seconds: 1,
       poll_seconds: 0.2, workers: 1}}
state: {{database: veil-node.db, spool: spool}}
deidentify: {{policy: basic}}
destinations:
  - {{name: copy, type: folder, path: veil-out}}
web: {{port: {self.web_port}, idle_timeout_minutes: 30, max_chunk_mb: 0.0625}}
"""
        )
        log = self.folder / "serve.log"
        self.serve = subprocess.Popen(
            [sys.executable, "-m", "veil", "serve", "--config", "node.yaml"],
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert self.serve.poll() is None, log.read_text()
            time.sleep(0.2)
        raise AssertionError(f"console did not start: {log.read_text()}")

    def stop(self) -> None:
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(signal.SIGTERM)
            try:
                self.serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.serve.pid, signal.SIGKILL)
                self.serve.wait()
        self.serve = None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = "Debian's chromium is not installed (scripts/apt-packages.txt lists it)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must not skip the browser tests
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("console2-site")
    store = Store.open(f"sqlite:///{folder / 'veil-node.db'}")
    for role in (Role.POLICY_EDITOR, Role.OPERATOR):
        accounts.add_user(store, role.value.replace("-", ""), PASSWORD, frozenset({role}))
    store.close()
    s = Site(folder, free_port(), free_port())
    s.start()
    yield s
    s.stop()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, site: Site, name: str) -> None:
    page.goto(f"{site.url}/")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{site.url}/")


def watch_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def build_and_apply_a_policy(page: Any, site: Site) -> str:
    """As the policy editor; returns the saved version's page path."""
    from playwright.sync_api import expect

    page.click("nav >> text=Privacy studio")
    expect(page.locator("main")).to_contain_text("edition 2024b")
    page.click("a:has-text('New policy from basic')")
    page.fill("input[name=name]", "trial")
    page.check("input[name=option][value=clean-descriptors]")
    page.check("input[name=profile][value=neuroquant]")
    rows = page.locator("table.overrides tr[data-override]")
    existing = rows.count()  # the base's own overrides (the pseudonymised patient, ...)
    page.click("button:has-text('Add an override')")  # the form comes back with a new row
    expect(rows).to_have_count(existing + 1)
    row = rows.nth(existing).get_attribute("data-override")
    attribute = page.locator(f"input[name=o{row}-attribute]")
    expect(attribute).to_have_value("")
    attribute.press_sequentially("Manufactur", delay=40)
    # Autocomplete: the options list the attribute with its tag, VR, type and action.
    expect(page.locator("#attribute-options option[value=Manufacturer]")).to_have_count(
        1, timeout=10_000
    )
    label = page.locator("#attribute-options option[value=Manufacturer]").get_attribute("label")
    assert label is not None and "(0008,0070), LO, type 2" in label  # in this IOD
    attribute.fill("Manufacturer")
    page.select_option(f"select[name=o{row}-action]", "remove")
    # The live check names the privacy rule and the destination's requirement.
    conflicts = page.locator("#policy-conflicts")
    expect(conflicts).to_contain_text("Manufacturer", timeout=10_000)
    expect(conflicts.locator(".requirement-rule")).to_contain_text("neuroquant/manufacturer")
    expect(conflicts.locator(".privacy-rule")).not_to_be_empty()
    expect(page.locator("#will-it-process [data-profile=neuroquant]")).to_contain_text(
        "will not process as is"
    )
    shot(page, "21-studio-conflict")
    page.select_option(f"select[name=o{row}-action]", "keep")
    expect(page.locator("#policy-ok")).to_be_visible(timeout=10_000)
    expect(page.locator("#policy-conflicts")).to_have_count(0)

    # The YAML view holds the form's policy; back to the form, nothing is lost.
    page.click("button:has-text('YAML view')")
    yaml_text = page.locator("textarea[name=yaml]").input_value()
    for part in ("name: trial", "clean-descriptors", "neuroquant", "Manufacturer", "keep"):
        assert part in yaml_text, part
    shot(page, "22-studio-yaml")
    page.click("button:has-text('Back to the form')")
    expect(page.locator(f"input[name=o{row}-attribute]")).to_have_value("Manufacturer")
    expect(page.locator("input[name=option][value=clean-descriptors]")).to_be_checked()

    page.fill("input[name=comment]", "keep the manufacturer for neuroquant")
    page.click("#save-version")
    expect(page.locator(".flash[role=status]")).to_contain_text("saved as trial v1")
    version_path = page.url.removeprefix(site.url)
    assert version_path.startswith("/studio/versions/")
    page.click("button:has-text('Apply to the node')")
    expect(page.locator("#applied-badge")).to_be_visible()
    shot(page, "23-studio-version-applied")
    page.click("nav >> text=Privacy studio")
    expect(page.locator("#applied-policy")).to_contain_text("trial v1")
    return version_path


def preview_a_sample(page: Any, site: Site, version_id: str, needles: list[Any]) -> float:
    """As the operator; returns the seconds from submit to the result page."""
    from playwright.sync_api import expect

    page.goto(f"{site.url}/studio/sample?policy=version:{version_id}&profile=neuroquant")
    sample = corpus_files(SAMPLE)[0]
    page.set_input_files("#sample-upload input[name=file]", str(sample))
    started = time.monotonic()
    page.click("#sample-upload button[type=submit]")
    expect(page.locator("#sample-outcome")).to_have_text("written", timeout=60_000)
    seconds = time.monotonic() - started
    expect(page.locator("#sample-result h2")).to_contain_text("trial v1")
    expect(page.locator("#sample-audit")).to_contain_text("0 error(s)")  # the output audited
    expect(page.locator("#sample-check")).to_contain_text("neuroquant/manufacturer")
    name_row = page.locator("#sample-explain tr[data-path='(0010,0010)']")
    expect(name_row.locator("td.masked")).to_contain_text("PN, ")  # the kind, not the name
    expect(page.locator("#sample-explain")).to_contain_text("SIEMENS CSA HEADER")  # folded
    expect(page.locator("button:has-text('Reveal originals')")).to_have_count(0)
    shot(page, "24-sample-masked-for-the-operator")
    assert find_leaks("/studio/sample", readable(page.content()), needles) == []
    return seconds


def run_a_job(page: Any, site: Site, version_id: str, archive: Path) -> tuple[Path, float]:
    """As the operator: upload, run, download; returns the zip and the seconds of the run."""
    from playwright.sync_api import expect

    page.click("nav >> text=Jobs")
    page.click("#new-job")
    expect(page.locator("#dropzone")).to_be_visible()
    page.set_input_files("#pick-files", str(archive))
    expect(page.locator("#upload-summary")).to_contain_text(
        "1 of 1 file(s) uploaded", timeout=60_000
    )
    expect(page.locator("#uploads tr[data-file='1']")).to_have_attribute(
        "data-state", "complete", timeout=30_000
    )
    shot(page, "25-job-uploaded")
    page.select_option("#start-job select[name=policy]", f"version:{version_id}")
    page.check("#start-job input[name=profile][value=neuroquant]")
    started = time.monotonic()
    page.click("#start-button")
    expect(page.locator("#job-state")).to_have_text("done", timeout=TIMEOUT_MS)
    seconds = time.monotonic() - started
    expect(page.locator("#job-progress")).to_have_text("4 of 4")
    expect(page.locator("#results tr[data-outcome=written]")).to_have_count(4)
    shot(page, "26-job-done")
    with page.expect_download() as waiting:
        page.click("#download")
    download = waiting.value
    target = site.folder / "download.zip"
    download.save_as(str(target))
    return target, seconds


def upload_a_folder(page: Any, count: int) -> None:
    """A folder of files into a new job: every file arrives (three at a time), none is lost
    (Orthanc Explorer 2 uploaded only the first file, and froze on concurrent folders)."""
    from playwright.sync_api import expect

    page.click("nav >> text=Jobs")
    page.click("#new-job")
    page.set_input_files("#pick-folder", str(SERIES))
    expect(page.locator("#upload-summary")).to_contain_text(
        f"{count} of {count} file(s) uploaded", timeout=60_000
    )
    expect(page.locator("#uploads tr[data-state=complete]")).to_have_count(count, timeout=30_000)
    names = page.locator("#uploads td.name").all_inner_texts()
    assert sorted(names) == sorted(f"Agfa/{p.name}" for p in corpus_files(SERIES))
    page.click("#start-button")
    expect(page.locator("#job-state")).to_have_text("done", timeout=TIMEOUT_MS)
    expect(page.locator("#results tr[data-outcome=written]")).to_have_count(count)
    shot(page, "27-job-from-a-folder")


def test_the_issue_scenario_policy_sample_job_download_audit(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    files = corpus_files(SERIES)
    needles = needles_of(corpus_files(SAMPLE) + files)
    errors: list[str] = []

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors += watch_errors(page)
    sign_in(page, site, "policyeditor")
    version_path = build_and_apply_a_policy(page, site)
    version_id = version_path.rsplit("/", 1)[1]
    page.click("button:has-text('Sign out')")
    context.close()

    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors += watch_errors(page)
    sign_in(page, site, "operator")
    preview_seconds = preview_a_sample(page, site, version_id, needles)

    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for p in files:
            z.write(p, f"DOE_JOHN/{p.name}")  # a name that identifies: never in the result
    download, job_seconds = run_a_job(page, site, version_id, archive)
    assert archive.stat().st_size > 4 * 64 * 1024  # it went in several chunks
    assert find_leaks("/jobs/<id>", readable(page.content()), needles) == []
    upload_a_folder(page, len(files))
    page.click("button:has-text('Sign out')")
    context.close()
    assert not errors, errors  # no CSP violation, no script error on any page

    with zipfile.ZipFile(download) as z:
        names = z.namelist()
        report = json.loads(z.read("report.json"))
        audit = json.loads(z.read("audit.json"))
        out = tmp_path / "result"
        z.extractall(out)  # names checked below: hierarchy of pseudonyms, no input name
    dicoms = [n for n in names if n.endswith(".dcm")]
    assert len(dicoms) == len(files) and not any("DOE_JOHN" in n for n in names)
    assert report["layout"] == "hierarchy" and audit["files_audited"] == len(files)
    for name in dicoms:  # the applied version's override: the manufacturer is kept
        assert dcmread(out / name, stop_before_pixels=True).Manufacturer
    originals = tmp_path / "originals"
    originals.mkdir()
    for p in files:
        shutil.copy(p, originals / p.name)
    # The download as it is (a zip), against the originals, with the node's key.
    audited = subprocess.run(
        [sys.executable, "-m", "veil", "audit", str(originals), str(download), "--json", "a.json"],
        cwd=tmp_path,
        env=site.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert audited.returncode == 0, audited.stdout + audited.stderr
    summary = json.loads((tmp_path / "a.json").read_text())["summary"]
    assert summary["files_audited"] == len(files) and summary["errors"] == 0
    assert summary["unpaired_outputs"] == 0 and summary["unreadable"] == 0
    print(f"\npreview: {preview_seconds:.2f} s to the page; job: {job_seconds:.2f} s to done")

    # The policy applied in the studio is what the node itself now uses: recorded as applied.
    store = Store.open(f"sqlite:///{site.folder / 'veil-node.db'}")
    try:
        applied = store.policies.applied()
    finally:
        store.close()
    assert applied is not None and applied.version.label == "trial v1"
