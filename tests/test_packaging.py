"""`pip install .` builds from a copy of the checkout (_backend/flashd_backend.py): the wheel
holds the package with its data, and the checkout is left as it was."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tree(root):
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_building_the_wheel_writes_nothing_into_the_checkout(tmp_path):
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    checkout = tmp_path / "checkout"  # a clean clone's files, so the test's own caches do not count
    for name in tracked:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes((ROOT / name).read_bytes())
    before = _tree(checkout)
    # no build isolation: the test runs offline, with the setuptools the test extra installs
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    str(checkout), "-w", str(tmp_path / "wheel")], check=True, capture_output=True)
    assert _tree(checkout) == before
    (wheel,) = (tmp_path / "wheel").glob("flashd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ["flashd/__init__.py", "flashd/hdl/fixfunc.py", "flashd/scripts/cli.py",
                   "flashd/synth/pdk/sky130_fd_sc_hd/sky130_fd_sc_hd__tt_025C_1v80.lib.gz",
                   "flashd/verif/data/minilm_t0_l2.npz"]:
        assert needed in names
    assert not any(n.startswith(("flashd/tests/", "flashd/build/", "flashd/_backend/")) for n in names)
