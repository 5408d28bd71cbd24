"""Starting real peer daemons (Debian's Alertmanager and Prometheus) on free ports."""
import os
import signal
import subprocess
import time

import pytest
import requests

from conftest import free_port




class Peer:
    def __init__(self, name, argv, workdir, ready_url):
        self.name = name
        self.argv = argv
        self.workdir = str(workdir)
        self.ready_url = ready_url
        self.proc = None
        self.log_path = os.path.join(self.workdir, f"{name}.log")

    def start(self, timeout=30, retry_on_port_clash=False):
        """Starts and waits for ready_url. With retry_on_port_clash, returns False (instead of
        failing) when the process died because its port was taken in the meantime."""
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                if retry_on_port_clash and "address already in use" in self.log():
                    self.proc = None
                    return False
                pytest.fail(f"{self.name} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.ready_url, timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"{self.name} not ready within {timeout}s:\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-8000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None


def require(binary):
    if not os.path.exists(binary):
        pytest.skip(f"{binary} is not installed (scripts/deps.sh installs it)")
    return binary


def start_on_free_port(name, make_argv, workdir, ready_path, attempts=3):
    """make_argv(port) -> argv. Retries with another port if the first one was taken between
    choosing it and binding it (other tests and benchmarks run on this machine too)."""
    for _ in range(attempts):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        peer = Peer(name, make_argv(port), workdir, url + ready_path)
        if peer.start(retry_on_port_clash=True):
            peer.url = url
            return peer
    pytest.fail(f"{name}: no free port after {attempts} attempts")
