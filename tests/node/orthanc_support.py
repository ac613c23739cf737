"""A real Orthanc (Debian package) for tests: loopback, free ports, temporary storage."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from node_support import free_port

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def orthanc_available() -> bool:
    return Path(ORTHANC).exists()


@dataclass
class Orthanc:
    process: subprocess.Popen[bytes]
    http_port: int
    dicom_port: int
    ae_title: str
    folder: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def get(self, path: str) -> Any:
        response = requests.get(self.url + path, timeout=30)
        response.raise_for_status()
        return response.json()

    def instances(self) -> list[str]:
        return list(self.get("/instances"))

    def tags(self, instance: str) -> dict[str, Any]:
        return dict(self.get(f"/instances/{instance}/simplified-tags"))

    def stop(self) -> None:
        self.process.terminate()
        try:
            # Its storage is a temporary folder: no reason to wait long for a clean stop.
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_orthanc(
    folder: Path, ae_title: str = "ORTHANC", dicomweb: bool = False, overwrite: bool = False
) -> Orthanc:
    """``overwrite``: an instance received again replaces the stored one (what a corrected
    version needs; Orthanc's default keeps the first)."""
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": ae_title,
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ae_title,
        "DicomCheckCalledAet": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
        "DicomServerEnabled": True,
        "StorageCompression": False,
        "ConcurrentJobs": 1,
        "HttpThreadsCount": 4,
        "Plugins": [str(DICOMWEB_PLUGIN)] if dicomweb else [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "UnknownSopClassAccepted": True,
        "OverwriteInstances": overwrite,
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    log = (folder / "orthanc.log").open("wb")
    process = subprocess.Popen([ORTHANC, str(config_path)], stdout=log, stderr=subprocess.STDOUT)
    orthanc = Orthanc(process, http_port, dicom_port, ae_title, folder)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited; see {folder / 'orthanc.log'}")
        try:
            orthanc.get("/system")
            return orthanc
        except requests.RequestException:
            time.sleep(0.2)
    orthanc.stop()
    raise RuntimeError("Orthanc did not start within 30 s")
