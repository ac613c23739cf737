"""`veil console` under TLS (Secure, host-bound cookie; HSTS) and its refusal to serve the
network in clear text."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from console_support import free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytestmark = pytest.mark.slow


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "web.crt", folder / "web.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def test_under_tls_the_cookie_is_secure_and_hsts_is_sent(tmp_path: Path) -> None:
    cert, _key = self_signed(tmp_path)
    port = free_port()
    (tmp_path / "node.yaml").write_text(
        f"web: {{port: {port}, tls: {{certificate: web.crt, private_key: web.key}}}}\n"
    )
    console = subprocess.Popen(
        [sys.executable, "-m", "veil", "console", "--config", "node.yaml"],
        cwd=tmp_path,
        stderr=subprocess.DEVNULL,
    )
    try:
        answer = None
        for _ in range(150):
            try:
                answer = requests.get(f"https://127.0.0.1:{port}/sign-in", verify=str(cert))
                break
            except requests.RequestException:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith("__Host-veil=")
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "max-age=" in answer.headers["strict-transport-security"]
        with pytest.raises(requests.RequestException):
            requests.get(f"http://127.0.0.1:{port}/sign-in", timeout=5)  # no clear text
    finally:
        console.terminate()
        code = console.wait(timeout=30)
    assert code == 0  # `veil console --help`: 0 when stopped by SIGTERM


def test_a_network_address_without_tls_is_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "node.yaml").write_text(f"web: {{host: 0.0.0.0, port: {free_port()}}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "veil", "console", "--config", "node.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2  # a configuration error
    assert "web.host: 0.0.0.0 is not a loopback address" in result.stderr
    assert "web.tls" in result.stderr
