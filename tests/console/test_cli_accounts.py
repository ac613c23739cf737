"""`veil user` and `veil token`: accounts and tokens from the command line, hashed at rest."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from console_support import client
from sqlalchemy import select

from veil.cli import main
from veil.cli.user import ROLES
from veil.console import auditlog
from veil.console.roles import Role
from veil.node.store import Store
from veil.node.store import console_models as cm


def _run(tmp_path: Path, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    (tmp_path / "node.yaml").write_text("state: {database: veil-node.db}\n")
    return CliRunner().invoke(
        main, [*args, "--config", str(tmp_path / "node.yaml")], input=stdin, catch_exceptions=False
    )


def test_the_cli_role_names_are_the_console_roles() -> None:
    assert tuple(r.value for r in Role) == ROLES


def test_user_add_list_remove_with_a_password_from_stdin(tmp_path: Path) -> None:
    added = _run(
        tmp_path,
        "user",
        "add",
        "alice",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough passphrase\n",
    )
    assert added.exit_code == 0, added.output
    listed = _run(tmp_path, "user", "list")
    assert "alice" in listed.output and "admin" in listed.output
    store = Store.open(f"sqlite:///{tmp_path / 'veil-node.db'}")
    with store.db.read() as conn:
        stored = conn.execute(select(cm.users.c.password_hash)).scalar()
    assert stored.startswith("$argon2id$") and "passphrase" not in stored
    assert auditlog.entries(store, 1)[0].action is auditlog.Action.USER_ADDED
    store.close()
    assert _run(tmp_path, "user", "remove", "alice").exit_code == 0
    assert "alice" not in _run(tmp_path, "user", "list").output


def test_user_add_refuses_a_short_password_a_bad_name_and_a_duplicate(tmp_path: Path) -> None:
    short = _run(
        tmp_path, "user", "add", "bob", "--role", "viewer", "--password-stdin", stdin="short\n"
    )
    assert short.exit_code == 2 and "12 to 1024 characters" in short.output
    bad = _run(
        tmp_path, "user", "add", "../x", "--role", "viewer", "--password-stdin", stdin="x" * 12
    )
    assert bad.exit_code == 2 and "user name" in bad.output
    _run(tmp_path, "user", "add", "bob", "--role", "viewer", "--password-stdin", stdin="x" * 12)
    again = _run(
        tmp_path, "user", "add", "bob", "--role", "viewer", "--password-stdin", stdin="y" * 12
    )
    assert again.exit_code == 1 and "exists already" in again.output
    role = _run(
        tmp_path, "user", "add", "carol", "--role", "root", "--password-stdin", stdin="x" * 12
    )
    assert role.exit_code == 2


def test_a_created_token_is_printed_once_stored_hashed_and_works(tmp_path: Path) -> None:
    created = _run(tmp_path, "token", "create", "monitoring", "--role", "viewer")
    assert created.exit_code == 0
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("veil_") and len(token) > 40
    store = Store.open(f"sqlite:///{tmp_path / 'veil-node.db'}")
    with store.db.read() as conn:
        hashes = [r.token_hash for r in conn.execute(select(cm.tokens))]
    assert token not in repr(hashes) and len(hashes[0]) == 64
    listed = _run(tmp_path, "token", "list")
    assert "monitoring" in listed.output and token not in listed.output

    from console_support import console_app, node_config

    from veil.console.app import create_app
    from veil.console.config import ConsoleConfig, WebConfig

    config = ConsoleConfig(node_config(tmp_path), WebConfig(), "test")
    app = create_app(config, store)
    c = client(app)
    ok = c.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert c.get("/api/v1/audit", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert _run(tmp_path, "token", "revoke", "monitoring").exit_code == 0
    gone = c.get("/api/v1/dashboard", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401
    store.close()
    assert console_app


def test_every_new_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    for args in (
        ["console", "--help"],
        ["user", "add", "--help"],
        ["user", "list", "--help"],
        ["user", "remove", "--help"],
        ["token", "create", "--help"],
        ["serve", "--help"],
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == 0, args
        assert "Usage:" in result.output
    assert "veil user add alice --role admin" in runner.invoke(main, ["console", "--help"]).output
    assert "--no-console" in runner.invoke(main, ["serve", "--help"]).output
