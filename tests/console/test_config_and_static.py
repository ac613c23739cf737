"""The web: section, exposure rules, the vendored htmx, and templates that cannot inject."""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files
from pathlib import Path

import pytest

from veil.console.app import make_templates
from veil.console.config import ConsoleConfigError, load_console_config, parse_web
from veil.node.config import load_config

STATIC = Path(str(files("veil.console") / "static"))
TEMPLATES = Path(str(files("veil.console") / "templates"))


def test_defaults_listen_on_loopback_8480(tmp_path: Path) -> None:
    web = parse_web(None, "test", tmp_path)
    assert (web.host, web.port, web.tls, web.enabled) == ("127.0.0.1", 8480, None, True)


def test_a_network_address_without_tls_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConsoleConfigError, match=r"web\.host.*web\.tls.*trusted_proxies"):
        parse_web({"host": "0.0.0.0"}, "node.yaml", tmp_path)
    assert parse_web({"host": "0.0.0.0", "trusted_proxies": ["10.0.0.5"]}, "n", tmp_path)
    tls = parse_web(
        {"host": "0.0.0.0", "tls": {"certificate": "c.pem", "private_key": "k.pem"}}, "n", tmp_path
    )
    assert tls.tls is not None and tls.tls.certificate == tmp_path / "c.pem"


@pytest.mark.parametrize(
    ("web", "key"),
    [
        ({"port": "80"}, "web.port"),
        ({"colour": "blue"}, "web.colour"),
        ({"trusted_proxies": ["not an address"]}, "web.trusted_proxies"),
        ({"tls": {"certificate": "c.pem"}}, "web.tls"),
        ({"idle_timeout_minutes": 0}, "web.idle_timeout_minutes"),
    ],
)
def test_a_bad_web_setting_names_its_key(tmp_path: Path, web: dict[str, object], key: str) -> None:
    with pytest.raises(ConsoleConfigError, match=re.escape(key)):
        parse_web(web, "node.yaml", tmp_path)


def test_the_node_configuration_accepts_the_web_section(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text("node: {port: 11199}\nweb: {port: 9000, idle_timeout_minutes: 5}\n")
    assert load_config(path).port == 11199
    config = load_console_config(path)
    assert config.web.port == 9000 and config.web.idle_timeout_minutes == 5
    assert config.node.port == 11199


def test_the_vendored_htmx_is_the_pinned_2x_file_with_its_licence() -> None:
    sources = (STATIC / "vendor" / "SOURCES.md").read_text()
    pinned = re.search(r"htmx-2\.0\.11\.min\.js \|.*\| ([0-9a-f]{64}) \|", sources)
    assert pinned is not None
    data = (STATIC / "vendor" / "htmx-2.0.11.min.js").read_bytes()
    assert hashlib.sha256(data).hexdigest() == pinned.group(1)
    assert b'version:"2.0.11"' in data.replace(b" ", b"")
    assert "Zero-Clause BSD" in (STATIC / "vendor" / "htmx-LICENSE.txt").read_text()


def test_templates_have_no_inline_script_style_or_unescaped_output() -> None:
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text):
            assert "src=" in match.group(0), f"{template.name}: inline script"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template.name}: inline event handler"
        assert "style=" not in text and "<style" not in text, f"{template.name}: inline style"
        assert "|safe" not in text.replace(" ", ""), f"{template.name}: |safe"
        assert "autoescape false" not in text
        assert "http://" not in text and "https://" not in text, f"{template.name}: external URL"
    assert make_templates().env.autoescape is True
