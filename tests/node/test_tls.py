"""DICOM over TLS: with certificates in the config the node speaks TLS only."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from veil.node.config import TlsConfig
from veil.node.service import Node


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "node.crt", folder / "node.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def echo(port: int, tls: ssl.SSLContext | None) -> bool:
    ae = AE(ae_title="SCANNER")
    ae.acse_timeout = ae.network_timeout = 2
    ae.add_requested_context(Verification)
    kwargs = {"tls_args": (tls, "localhost")} if tls else {}
    assoc = ae.associate("127.0.0.1", port, ae_title="VEIL", **kwargs)
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


def test_tls_echo_works_and_plain_tcp_is_refused(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    node = running_node(tls=TlsConfig(cert, key))
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    assert echo(node.config.port, client)
    assert not echo(node.config.port, None)
    assert echo(node.config.port, client)  # still serving after the plain-TCP attempt
