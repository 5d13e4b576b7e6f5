"""netctl.txn: steps that undo themselves, fault injection (NETCTL_FAULT) and tracing (NETCTL_TRACE)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from netctl.errors import InjectedFault, KernelError
from netctl.txn import Transaction, checkpoint


class Boom(Exception):
    pass


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("NETCTL_FAULT", raising=False)
    monkeypatch.delenv("NETCTL_TRACE", raising=False)


def run_steps(log: list[str], names=("a", "b", "c"), fail_in: str | None = None) -> None:
    """Run the named steps in one transaction; each logs 'do X' and its undo logs 'undo X'."""
    with Transaction() as tx:
        for name in names:
            def do(name=name):
                if name == fail_in:
                    raise Boom(name)
                log.append(f"do {name}")
                return name.upper()

            assert tx.step(name, do, lambda name=name: log.append(f"undo {name}")) == name.upper()


def test_success_runs_no_undo():
    log: list[str] = []
    run_steps(log)
    assert log == ["do a", "do b", "do c"]


def test_failure_undoes_newest_first_and_reraises():
    log: list[str] = []
    with pytest.raises(Boom, match="c"):
        run_steps(log, ("a", "b", "c", "d"), fail_in="c")
    assert log == ["do a", "do b", "undo b", "undo a"]  # c never happened, d never ran


def test_error_after_the_steps_undoes_all_of_them():
    log: list[str] = []
    with pytest.raises(Boom), Transaction() as tx:
        tx.step("a", lambda: log.append("do a"), lambda: log.append("undo a"))
        tx.step("b", lambda: log.append("do b"), lambda: log.append("undo b"))
        raise Boom("later")
    assert log == ["do a", "do b", "undo b", "undo a"]


def test_step_without_undo_is_not_undone():
    log: list[str] = []
    with pytest.raises(Boom), Transaction() as tx:
        tx.step("a", lambda: log.append("do a"), lambda: log.append("undo a"))
        tx.step("b", lambda: log.append("do b"))
        raise Boom()
    assert log == ["do a", "do b", "undo a"]


def test_rollback_continues_past_a_failing_undo(capsys):
    log: list[str] = []

    def bad_undo():
        log.append("undo b")
        raise OSError("device busy")

    tx = Transaction()
    tx.step("a", lambda: None, lambda: log.append("undo a"))
    tx.step("b", lambda: None, bad_undo)
    tx.step("c", lambda: None, lambda: log.append("undo c"))
    assert tx.rollback() == ["b: device busy"]
    assert log == ["undo c", "undo b", "undo a"]
    assert "netctl: warning: rollback of b: device busy" in capsys.readouterr().err
    assert tx.rollback() == []  # nothing left to undo
    assert log == ["undo c", "undo b", "undo a"]


def test_failing_undo_does_not_hide_the_original_error():
    log: list[str] = []

    def bad_undo():
        raise RuntimeError("undo failed")

    with pytest.raises(Boom, match="original"), Transaction() as tx:
        tx.step("a", lambda: None, lambda: log.append("undo a"))
        tx.step("b", lambda: None, bad_undo)
        raise Boom("original")
    assert log == ["undo a"]


def test_after_success_the_undos_are_forgotten():
    log: list[str] = []
    with Transaction() as tx:
        tx.step("a", lambda: None, lambda: log.append("undo a"))
    assert tx.rollback() == [] and log == []


# ---------------------------------------------------------------------------------------------
# NETCTL_FAULT


def test_fault_before_a_step_skips_it_and_rolls_back(monkeypatch):
    monkeypatch.setenv("NETCTL_FAULT", "b")
    log: list[str] = []
    with pytest.raises(InjectedFault) as info:
        run_steps(log)
    assert log == ["do a", "undo a"]
    assert isinstance(info.value, KernelError) and info.value.exit_code == 1
    assert "'b'" in str(info.value) and "before" in str(info.value)


def test_fault_after_a_step_undoes_that_step_too(monkeypatch):
    monkeypatch.setenv("NETCTL_FAULT", "b:after")
    log: list[str] = []
    with pytest.raises(InjectedFault, match="after"):
        run_steps(log)
    assert log == ["do a", "do b", "undo b", "undo a"]


def test_fault_before_the_first_step(monkeypatch):
    monkeypatch.setenv("NETCTL_FAULT", "a")
    log: list[str] = []
    with pytest.raises(InjectedFault):
        run_steps(log)
    assert log == []


@pytest.mark.parametrize("fault", ["x", "x:after", "b:sometime", "", "B", "a.b"])
def test_faults_for_other_steps_or_modes_do_nothing(monkeypatch, fault):
    monkeypatch.setenv("NETCTL_FAULT", fault)
    log: list[str] = []
    run_steps(log)
    assert log == ["do a", "do b", "do c"]


def test_checkpoint_alone(monkeypatch):
    monkeypatch.setenv("NETCTL_FAULT", "bridge-create:after")
    checkpoint("bridge-create")  # before: nothing
    with pytest.raises(InjectedFault):
        checkpoint("bridge-create", "after")


KILL = """
import pathlib, sys
from netctl.txn import Transaction
out = pathlib.Path(sys.argv[1])
with Transaction() as tx:
    tx.step("a", lambda: out.write_text("a"))
    tx.step("b", lambda: out.write_text("b"))
out.write_text("finished")
"""


def test_kill_mode_sigkills_the_process_at_the_step(tmp_path, monkeypatch):
    monkeypatch.setenv("NETCTL_FAULT", "b:kill")
    marker = tmp_path / "marker"
    proc = subprocess.run([sys.executable, "-c", KILL, str(marker)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert marker.read_text() == "a"  # step a ran, step b did not


# ---------------------------------------------------------------------------------------------
# NETCTL_TRACE


def test_trace_records_each_step_once_in_order(tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    monkeypatch.setenv("NETCTL_TRACE", str(trace))
    run_steps([])
    run_steps([], ("d",))
    assert trace.read_text() == "a\nb\nc\nd\n"


def test_trace_includes_the_step_that_faulted(tmp_path, monkeypatch):
    trace = tmp_path / "trace"
    monkeypatch.setenv("NETCTL_TRACE", str(trace))
    monkeypatch.setenv("NETCTL_FAULT", "b")
    with pytest.raises(InjectedFault):
        run_steps([])
    assert trace.read_text() == "a\nb\n"


def test_no_trace_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_steps([])
    assert list(tmp_path.iterdir()) == []


def test_on_commit_runs_after_success_in_order():
    log: list[str] = []
    with Transaction() as tx:
        tx.step("a", lambda: log.append("do a"), lambda: log.append("undo a"))
        tx.on_commit("del x", lambda: log.append("delete x"))
        tx.on_commit("del y", lambda: log.append("delete y"))
        log.append("save")
    assert log == ["do a", "save", "delete x", "delete y"]


def test_on_commit_never_runs_when_the_transaction_fails():
    log: list[str] = []
    with pytest.raises(Boom), Transaction() as tx:
        tx.on_commit("del x", lambda: log.append("delete x"))
        tx.step("a", lambda: log.append("do a"), lambda: log.append("undo a"))
        raise Boom("save failed")
    assert log == ["do a", "undo a"]


def test_a_failing_on_commit_action_is_a_warning_and_the_rest_still_run(capsys):
    log: list[str] = []

    def fail():
        raise KernelError("delete link x: Device or resource busy")

    with Transaction() as tx:
        tx.on_commit("veth-delete", fail)
        tx.on_commit("netns-delete", lambda: log.append("netns gone"))
    assert log == ["netns gone"]
    assert capsys.readouterr().err == "netctl: warning: veth-delete: delete link x: Device or resource busy\n"
