"""Sweeps on a real Dask cluster: a scheduler and two workers started here on 127.0.0.1 (as
on a farm: ``dask scheduler``, ``dask worker tcp://...``), a small area sweep (fp8, d = 1 and
2, both designs) sent to them through ``--scheduler``'s path, its table equal to the local
run's and its syntheses run by the workers; then one worker killed mid-sweep, and the sweep
still finishing with the same table (the scheduler runs the lost task on the other)."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from distributed import Client

from flashd.scripts.cli import main
from flashd.synth import sweep
from flashd.synth.sweep import compare, open_executor

pytestmark = [pytest.mark.yosys, pytest.mark.xdist_group("ge_fp8_d2")]     # test_report.py's designs
DS, FMTS = [1, 2], ["fp8_e4m3"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    logs = tmp_path_factory.mktemp("dask")
    dask = str(Path(sys.executable).with_name("dask"))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"

    files = []

    def start(name, *args):
        files.append(open(logs / f"{name}.log", "w"))
        return subprocess.Popen([dask, *args], stdout=files[-1], stderr=subprocess.STDOUT)
    scheduler = start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    workers = [start(f"w{k}", "worker", address, "--name", f"w{k}", "--nthreads", "1", "--no-nanny",
                     "--no-dashboard", "--host", "127.0.0.1") for k in range(2)]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address, workers
    finally:
        for p in [*workers, scheduler]:
            p.terminate()
        for p in [*workers, scheduler]:
            try:
                p.wait(timeout=5)           # a Dask process may linger on SIGTERM: killed after 5 s
            except subprocess.TimeoutExpired:
                p.kill()
        for f in files:
            f.close()


def _table(rows):
    """The rows without their timings (a cached synthesis takes less time than a fresh one)."""
    return [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in rows]


def _executed(address):
    with Client(address, timeout=30) as client:
        return client.run(lambda dask_worker: dask_worker.state.executed_count)


def test_a_sweep_on_the_cluster_equals_the_local_run(cluster, tmp_path):
    address, _ = cluster
    local = compare(DS, FMTS, out_dir=tmp_path / "local", progress=lambda m: None)
    before = _executed(address)
    lines = []
    with open_executor(scheduler=address, progress=lines.append) as executor:
        remote = compare(DS, FMTS, out_dir=tmp_path / "dask", progress=lines.append, executor=executor)
    assert _table(remote) == _table(local) and len(remote) == 2
    ran = {w: n - before.get(w, 0) for w, n in _executed(address).items()}
    assert sum(ran.values()) == 4, ran                  # every synthesis ran on a worker, none here
    assert lines[0] == f"Dask: scheduler {address}, 2 workers" and "4/4 done" in lines[-2]
    assert (tmp_path / "dask" / "compare.md").read_text() == (tmp_path / "local" / "compare.md").read_text()


def test_a_worker_killed_mid_sweep_loses_only_its_task(cluster, tmp_path):
    address, workers = cluster
    local = compare(DS, FMTS, out_dir=tmp_path / "local", progress=lambda m: None)
    before = _executed(address)
    killed = []

    def progress(message):
        if "1/4 done" in message:               # one result back, three tasks still out
            workers[0].kill()
            workers[0].wait(timeout=20)
            killed.append(message)
    with open_executor(scheduler=address, progress=progress) as executor:
        remote = compare(DS, FMTS, out_dir=tmp_path / "dask", progress=progress, executor=executor)
    assert killed and _table(remote) == _table(local)
    after = _executed(address)
    assert len(after) == 1 and sum(after[w] - before[w] for w in after) >= 3     # the survivor did the rest


def test_executor_options_are_refused_by_name(capsys, monkeypatch):
    assert main(["compare", "--d", "1", "--executor", "local:0"]) == 2
    assert "--executor 'local:0': allowed local:N (N >= 1 Dask workers on this host)" in capsys.readouterr().err
    assert main(["compare", "--d", "1", "--executor", "local:2", "--jobs", "2"]) == 2
    assert "--jobs 2 with --executor/--scheduler" in capsys.readouterr().err
    monkeypatch.setattr(sweep, "CONNECT_SECONDS", 2)
    port = _free_port()
    assert main(["compare", "--d", "1", "--fmt", "fp8_e4m3", "--scheduler", f"tcp://127.0.0.1:{port}"]) == 2
    assert f"--scheduler tcp://127.0.0.1:{port}: no Dask scheduler answers there" in capsys.readouterr().err


def test_cli_local_workers_give_the_local_table(tmp_path, capsys):
    assert main(["compare", "--d", "1,2", "--fmt", "fp8_e4m3", "--out", str(tmp_path / "local")]) == 0
    capsys.readouterr()
    assert main(["compare", "--d", "1,2", "--fmt", "fp8_e4m3", "--executor", "local:2", "--out", str(tmp_path / "lc")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Dask: 2 local workers (tcp://127.0.0.1:") and "4/4 done" in out
    assert (tmp_path / "lc" / "compare.md").read_text() == (tmp_path / "local" / "compare.md").read_text()
