"""The nets behind a stop signal: a stop whose exception is swallowed on the way still ends the
run with the signal's status, and a run that goes on regardless is ended by the watchdog or a
second signal. (Signals during real writes, for every command, are in test_hostile.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from support import ROOT, run

# A command that swallows the stop, as numpy's np.str_ did with KeyboardInterrupt, then goes on
# for ``sys.argv[1]`` seconds. Everything before the signal is inside the try, so the stop is
# swallowed wherever it lands.
_STUBBORN = """
import sys, time
import click
from anchorctl.cli import cli

@click.command("stubborn")
def stubborn():
    try:
        print("ready", flush=True)
        time.sleep(float(sys.argv[1]))
    except BaseException:
        pass
    time.sleep(float(sys.argv[1]))

cli.add_command(stubborn)
cli.main(["stubborn"], prog_name="anchorctl")
"""


def test_a_swallowed_stop_still_ends_the_run_with_the_signal_status() -> None:
    from anchorctl.cli import cli

    @click.command("swallow")
    def swallow() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs here and raises
        except BaseException:
            pass
        click.echo("went on")

    cli.add_command(swallow)
    try:
        result = run("swallow")
    finally:
        cli.commands.pop("swallow")
    assert result.exit_code == 143
    assert result.stderr == "anchorctl: stopped by SIGTERM\n"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored after the run


def _stubborn(seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _STUBBORN, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_the_watchdog_ends_a_run_that_goes_on_after_a_signal() -> None:
    from anchorctl.cli.signals import GRACE_SECONDS

    proc = _stubborn(60)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    took = time.monotonic() - sent
    assert (proc.returncode, err) == (130, "anchorctl: interrupted\n")
    assert took < 60  # ended by the watchdog, not by the command's own end
    assert took >= GRACE_SECONDS * 0.9


def test_a_second_signal_ends_the_run_at_once() -> None:
    proc = _stubborn(60)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert (proc.returncode, err) == (143, "anchorctl: stopped by SIGTERM\n")
