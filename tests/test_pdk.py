"""Cell libraries: the shipped sky130 library, PDK_ROOT lookup, merged Liberty files, bad input."""

import gzip
import re
from pathlib import Path

import pytest

from flashd.synth.liberty import liberty_text, read_text
from flashd.synth.pdk import PDKS, SHIPPED, LibraryError, library

SKY130 = SHIPPED / "sky130_fd_sc_hd" / "sky130_fd_sc_hd__tt_025C_1v80.lib.gz"
ASAP7 = sorted((Path(__file__).resolve().parents[2] / "shared" / "pdk" / "asap7").glob("*.lib.gz"))
# sky130 hd's ff/latch cells by their documented names: flip-flops (df*, sdf*, edf*, sedf*), latches
# (dlr*, dlx*) and the isolation latch; not the clock gates (dlclkp: a statetable) nor delay gates (dly*)
SKY130_STATE = re.compile(r"__(s?e?df|dl[rx]|lpflow_inputisolatch)")


def test_sky130_is_shipped_with_its_licence_and_provenance():
    assert SKY130.is_file()
    assert "Apache License" in (SKY130.parent / "LICENSE").read_text()
    assert "skywater" in (SKY130.parent / "README.md").read_text().lower()


def test_sky130_units_flops_and_dont_use():
    lib = library("sky130")
    assert lib.name == "sky130_fd_sc_hd tt_025C_1v80" and lib.timing
    assert lib.units == {"area": "µm²", "time": "ns", "leakage": "nW", "voltage": "V", "capacitance": "pF"}
    cells = lib.cells()
    assert len(cells) == 428
    assert {n for n, c in cells.items() if c.sequential} == {n for n in cells if SKY130_STATE.search(n)}
    assert cells["sky130_fd_sc_hd__dfxtp_1"].sequential and not cells["sky130_fd_sc_hd__nand2_1"].sequential
    assert cells["sky130_fd_sc_hd__nand2_1"].area == pytest.approx(3.7536)
    dont = {n for n, c in cells.items() if c.dont_use}
    assert dont == {n for n in cells if "__probe" in n or "__lpflow_" in n} and len(dont) == 36
    assert lib.driver() == "sky130_fd_sc_hd__buf_1"
    assert library("sky130") is lib                   # prepared once per process


def test_pdk_root_finds_other_corners_and_names_what_is_missing(tmp_path, monkeypatch):
    lib_dir = tmp_path / "sky130A" / "libs.ref" / "sky130_fd_sc_hd" / "lib"
    lib_dir.mkdir(parents=True)
    text = liberty_text().replace('time_unit : "1ns";', 'time_unit : "1ps";')
    with gzip.open(lib_dir / "sky130_fd_sc_hd__ff_n40C_1v95.lib.gz", "wt") as fh:
        fh.write(text)
    monkeypatch.setenv("PDK_ROOT", str(tmp_path))
    lib = library("sky130", "ff_n40C_1v95")
    assert lib.name == "sky130_fd_sc_hd ff_n40C_1v95" and lib.units["time"] == "ps"
    assert lib.sources == (lib_dir / "sky130_fd_sc_hd__ff_n40C_1v95.lib.gz",)
    with pytest.raises(LibraryError, match=r"sky130A/libs.ref/sky130_fd_sc_hd/lib/sky130_fd_sc_hd__ss_100C_1v60.lib"):
        library("sky130", "ss_100C_1v60")
    with pytest.raises(LibraryError, match=r"ihp-sg13g2/libs.ref/sg13g2_stdcell/lib/sg13g2_stdcell_typ_1p20V_25C.lib"):
        library("ihp-sg13g2")
    monkeypatch.delenv("PDK_ROOT")
    with pytest.raises(LibraryError, match="PDK_ROOT is not set.*shipped: tt_025C_1v80"):
        library("sky130", "ff_n40C_1v95")
    assert library("sky130").sources == (SKY130,)      # the shipped corner needs no PDK_ROOT


def test_bad_library_options_are_named(tmp_path):
    with pytest.raises(LibraryError, match="--pdk 'tsmc'.*allowed: " + ", ".join(PDKS)):
        library("tsmc")
    with pytest.raises(LibraryError, match="--pdk and --liberty"):
        library("sky130", liberty=[SKY130])
    with pytest.raises(LibraryError, match="--corner ff: needs --pdk"):
        library(None, "ff")
    with pytest.raises(LibraryError, match="--liberty .*none.lib: no such file"):
        library(liberty=[tmp_path / "none.lib"])
    bad = tmp_path / "bad.lib"
    bad.write_text("library (x) { }")
    with pytest.raises(LibraryError, match="bad.lib.*no time_unit"):
        library(liberty=bad)


@pytest.mark.skipif(not ASAP7, reason="../shared/pdk/asap7 not found (the ASAP7 files are not shipped)")
def test_several_liberty_files_are_merged_with_their_templates(tmp_path):
    lib = library(liberty=ASAP7)
    texts = [read_text(f) for f in ASAP7]
    names = {m for t in texts for m in re.findall(r"\bcell\s*\(\s*\"?(\w+)", t)}
    assert set(lib.cells()) == names
    assert lib.units["time"] == "ps" and lib.units["capacitance"] == "fF" and lib.units["leakage"] == "pW"
    merged = lib.path.read_text()
    for t in texts:                               # every template any file refers to is defined once
        for tpl in set(re.findall(r"(?:lu_table_template|power_lut_template)\s*\(\s*(\w+)", t)):
            assert len(re.findall(rf"(?:lu_table_template|power_lut_template)\s*\(\s*{tpl}\s*\)", merged)) == 1
    other = tmp_path / "other.lib"
    other.write_text(liberty_text())              # the GE library states ns
    with pytest.raises(LibraryError, match="other.lib: units"):
        library(liberty=[ASAP7[0], other])
