"""What `veil` costs before its first file (veil.cli.startup): no collection while importing,
its imports frozen after, no idle BLAS threads (OPENBLAS_NUM_THREADS set
before numpy loads), a user's own setting kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_THREADS = (
    "import os, veil.cli, numpy;"
    "print(len(os.listdir('/proc/self/task')), os.environ['OPENBLAS_NUM_THREADS'])"
)


def _run(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _THREADS], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="Linux /proc")
def test_the_cli_process_starts_no_blas_threads() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _run(env) == ["1", "1"]  # the main thread only


def test_a_users_blas_setting_is_kept() -> None:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "3"}
    assert _run(env)[1] == "3"


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_importing_the_cli_freezes_its_modules_and_collects_again_after() -> None:
    code = "import gc, veil.cli; print(gc.isenabled(), gc.get_freeze_count() > 10_000)"
    assert _python(code) == "True True"


def test_no_collection_runs_while_the_commands_import() -> None:
    code = (
        "import gc\n"
        "import click\n"  # imported before veil.cli.startup (third-party imports come first)
        "runs = []\n"
        "gc.callbacks.append(lambda phase, info: runs.append(phase))\n"
        "import veil.cli\n"
        "print(len(runs))"
    )
    assert _python(code) == "0"


def test_a_process_with_gc_off_keeps_it_off() -> None:
    assert _python("import gc; gc.disable(); import veil.cli; print(gc.isenabled())") == "False"


# What `veil deid` must not import before its first file (issue 12: start-up is serial time of
# every run): the other commands' modules and the libraries only they, --cluster or --for use.
# (pydicom itself imports numpy, PIL, requests and urllib3: those are pydicom's, not listed.)
_NOT_FOR_DEID = (
    "veil.cli.audit",
    "veil.cli.check",
    "veil.cli.console",
    "veil.cli.explain",
    "veil.cli.node",
    "veil.cli.serve",
    "veil.cli.user",
    "veil.batch.dask_runner",
    "veil.batch.grouprun",
    "veil.batch.study_verdicts",
    "veil.node",
    "veil.console",
    "veil.explain",
    "dask",
    "distributed",
    "sqlalchemy",
    "fastapi",
    "pynetdicom",
)


def _loaded_after(argv: list[str]) -> set[str]:
    code = (
        "import sys, veil.cli\n"
        f"try: veil.cli.main({argv!r})\n"
        "except SystemExit: pass\n"
        f"print('loaded:', *(m for m in {_NOT_FOR_DEID!r} if m in sys.modules))"
    )
    last = _python(code).splitlines()[-1]
    assert last.startswith("loaded:")
    return set(last.split()[1:])


def test_importing_the_cli_imports_no_command() -> None:
    code = "import sys, veil.cli; print([m for m in sys.modules if m.startswith('veil.cli.')])"
    assert _python(code) == "['veil.cli.startup', 'veil.cli.errors']"


def test_veil_deid_imports_only_its_own_modules() -> None:
    assert _loaded_after(["deid", "--help"]) == set()
    # A run that fails on its argument has imported its command and nothing of the others.
    assert _loaded_after(["deid", "no-such-input", "--out", "/nonexistent/x"]) == set()


def test_every_command_is_listed_and_routed_through_the_error_guard() -> None:
    code = (
        "import veil.cli\n"
        "import click; ctx = click.Context(veil.cli.main)\n"
        "names = veil.cli.main.list_commands(ctx)\n"
        "cmds = [veil.cli.main.get_command(ctx, n) for n in names]\n"
        "print(len(names), all(getattr(c.callback, '_veil_guarded', False) for c in cmds))"
    )
    assert _python(code) == "12 True"


def test_a_command_imported_when_called_is_imported_without_collection_and_frozen() -> None:
    code = (
        "import gc, click, veil.cli\n"
        "before = gc.get_freeze_count()\n"
        "runs = []\n"
        "gc.callbacks.append(lambda phase, info: runs.append(phase))\n"
        "veil.cli.main.get_command(click.Context(veil.cli.main), 'deid')\n"
        "print(len(runs), gc.get_freeze_count() > before + 10_000, gc.isenabled())"
    )
    assert _python(code) == "0 True True"
