"""The GE library: every cell, NAND2 as the unit; the Liberty reader finds areas and state."""

from flashd.synth.liberty import CELLS, FLOPS, liberty_text, read_cells


def test_liberty_has_every_cell_with_ge_areas():
    text = liberty_text()
    for name in list(CELLS) + list(FLOPS):
        assert f"cell ({name})" in text
    assert "area : 1.0;" in text                      # NAND2 is the unit
    assert "area : 0.667;" in text and "area : 5.667;" in text     # INV, DFF


def test_read_cells_finds_every_area_and_every_flip_flop(tmp_path):
    path = tmp_path / "ge.lib"
    path.write_text(liberty_text())
    cells = read_cells(path)
    assert set(cells) == set(CELLS) | set(FLOPS)
    assert cells["NAND2"].area == 1.0 and cells["INV"].area == 0.667 and cells["DFF"].area == 5.667
    assert {n for n, c in cells.items() if c.sequential} == set(FLOPS)
