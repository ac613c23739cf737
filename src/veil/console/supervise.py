"""The console as a child process of `veil serve`, restarted if it dies.

The node and the console share nothing but the state store: the console runs in its own
process (``python -m veil console --config FILE``), so a crash, a hang or a memory blow-up in
a page cannot stop the DICOM receiver. When the child exits unexpectedly it is started again
after a growing pause (1 s doubling to 60 s), and the node goes on meanwhile.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

log = logging.getLogger("veil.console")

# Set by the supervisor in the child's environment: the node's process id.
PARENT_ENV = "VEIL_CONSOLE_PARENT"


def exit_with_parent() -> None:
    """In the child: stop (SIGTERM, a clean uvicorn shutdown) when the node is gone, even if
    it was killed without a chance to stop us (kill -9), so no orphan keeps the port."""
    wanted = os.environ.get(PARENT_ENV, "")
    if not wanted.isdigit():
        return

    def watch() -> None:
        tick = threading.Event()
        while os.getppid() == int(wanted):
            tick.wait(1.0)
        while True:  # again each second: a signal during start-up could go unheard
            os.kill(os.getpid(), signal.SIGTERM)
            tick.wait(1.0)

    threading.Thread(target=watch, name="veil-console-parent", daemon=True).start()


class ConsoleProcess:
    def __init__(self, config_path: Path | None, cwd: Path | None = None) -> None:
        self.config_path = config_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def command(self) -> list[str]:
        command = [sys.executable, "-m", "veil", "console"]
        if self.config_path is not None:
            command += ["--config", str(self.config_path)]
        return command

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="veil-console", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            # The child's stderr is the node's: its one start-up line says where it listens.
            env = {**os.environ, PARENT_ENV: str(os.getpid())}
            self.process = subprocess.Popen(
                self.command(), cwd=self.cwd, stdin=subprocess.DEVNULL, env=env
            )
            code = self.process.wait()
            if self._stop.is_set():
                return
            self.restarts += 1
            log.error(
                "console process exited (code %s); DICOM intake goes on; restarting in %.0f s",
                code,
                delay,
            )
            if self._stop.wait(delay):
                return
            delay = min(60.0, delay * 2)

    def stop(self) -> None:
        self._stop.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._thread is not None:
            self._thread.join(timeout=10)
