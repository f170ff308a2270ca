# amaranth: UnusedElaboratable=no
"""Engine parameter objects: validation, defaults, module names, and the latency the engines
state from their units held against the operators the hardware builds (built here and deliberately left
unelaborated, hence the pragma above)."""

import dataclasses
import itertools

import pytest
from amaranth.hdl import Fragment

from flashd.hdl.attention import STREAM_CYCLES, FA2Engine, FlashDEngine
from flashd.hdl.format import as_format
from flashd.hdl.params import FA2Params, FlashDParams, default_thresholds
from flashd.verif.designs import engine_params

BAD_PARAMETERS = [
    ("fa2", dict(d=0, fmt="bf16"), "d=0 is out of range (allowed: 1..1024)"),
    ("flashd", dict(d=2000, fmt="bf16"), "d=2000 is out of range"),
    ("fa2", dict(d="4", fmt="bf16"), "d must be an integer"),
    ("flashd", dict(d=4, fmt="bf17"), "fmt='bf17' is not a known format"),
    ("flashd", dict(d=4, fmt="bf16", acc_fmt="x"), "acc_fmt='x' is not a known format"),
    ("fa2", dict(d=4, fmt="bf16", interleave=0), "interleave=0 is out of range (allowed: 1..64)"),
    ("fa2", dict(d=4, fmt="bf16", stages=-1), "stages=-1 is out of range"),
    ("fa2", dict(d=4, fmt="bf16", guard_bits=5000), "guard_bits=5000 is out of range (allowed: 0..4096)"),
    ("flashd", dict(d=4, fmt="bf16", saturation="clamp"), "saturation='clamp' is not allowed (allowed: exact, published)"),
    ("flashd", dict(d=4, fmt="bf16", update="fma"), "update='fma' is not allowed (allowed: lerp, blend)"),
    ("flashd", dict(d=4, fmt="bf16", skip_below=3.0, copy_above=1.0), "skip_below=3.0 must be below copy_above=1.0"),
    ("flashd", dict(d=4, fmt="bf16", skip_below=float("nan")), "skip_below=nan must be a finite number"),
    ("flashd", dict(d=4, fmt="fp8_e4m3", copy_above=1000.0, loop_frac=None), "copy_above=1000.0 is outside the normal range of scalar_fmt=fp8_e4m3"),
    ("flashd", dict(d=4, fmt="bf16", lsig_segments=3), "lsig_segments: segments=3 is not allowed"),
    ("flashd", dict(d=4, fmt="fp8_e4m3", lsig_segments=16), "lsig_segments: segments=16 needs 4 fraction bits"),
    ("flashd", dict(d=4, fmt="bf16", ln_segments=8), "ln_segments=8 does not apply to saturation='exact'"),
    ("fa2", dict(d=4, fmt="bf16", exp_segments=128), "exp_segments: segments=128 is not allowed"),
    ("fa2", dict(d=4, fmt="fp8_e5m2", method="pwl"), "scalar_fmt: fmt=fp8_e5m2 is too narrow for exp"),
    ("flashd", dict(d=4, fmt="bf16", scalar_fmt="fp8_e5m2", saturation="published", method="pwl"), "too narrow for ln"),
    ("fa2", dict(d=4, fmt="bf16", method="table"), "method='table' is not allowed (allowed: fix, pwl)"),
    ("fa2", dict(d=4, fmt="bf16", method="fix", exp_segments=8), "exp_segments=8 does not apply to method='fix'"),
    ("flashd", dict(d=4, fmt="bf16", scalar_fmt="e8m24", method="fix"),
     "method='fix' does not fit scalar_fmt=e8m24: the fixed-point logsigmoid is planned up to fp32's precision"),
    ("fa2", dict(d=6, fmt="bf16", out_lanes=4), "out_lanes=4 does not divide d=6 (allowed: 1, 2, 3, 6, none or auto)"),
    ("fa2", dict(d=6, fmt="bf16", out_lanes=None, out_buffers=1), "out_buffers=1 applies only with out_lanes (the streamed output)"),
    ("flashd", dict(d=6, fmt="bf16", out_lanes=None, min_row=9), "min_row=9 applies only with out_lanes (the streamed output)"),
    ("flashd", dict(d=6, fmt="bf16", min_row=0), "min_row=0 is out of range (allowed: >= 1)"),
    ("fa2", dict(d=6, fmt="bf16", out_lanes=3, out_buffers=9), "out_buffers=9 is out of range (allowed: 1..8)"),
    ("flashd", dict(d=6, fmt="bf16", out_lanes=7), "out_lanes=7 is out of range (allowed: 1..6)"),
    ("mha", dict(d=4, fmt="bf16"), "design='mha' is unknown (allowed: fa2, flashd)"),
]


@pytest.mark.parametrize("design,kw,message", BAD_PARAMETERS)
def test_bad_parameters_name_the_parameter(design, kw, message):
    with pytest.raises(ValueError) as e:
        engine_params(design, **kw)
    assert message in str(e.value)


def test_an_engine_takes_a_parameter_object_or_keywords_not_both():
    p = FA2Params(d=4, fmt="bf16")
    assert FA2Engine(p).params is p and FA2Engine(d=4, fmt="bf16").params == p
    with pytest.raises(TypeError, match="give FA2Params or keyword arguments, not both"):
        FA2Engine(p, d=4)
    with pytest.raises(TypeError, match="params must be FlashDParams"):
        FlashDEngine(p)


def test_parameters_are_frozen_and_resolved():
    p = FlashDParams(d=8, fmt="bf16", acc_fmt="fp32")
    assert p.scalar_fmt == as_format("bf16") and p.acc_fmt.name == "fp32"
    assert (p.skip_below, p.copy_above) == default_thresholds(as_format("fp32")) == (-20.1, 20.1)
    # the faithful units by default; the tables where asked for or where the format is too wide
    assert p.method == "fix" and (p.lsig_segments, p.exp_segments, p.ln_segments, p.sigmoid_segments) == (None,) * 4
    p_pwl = FlashDParams(d=8, fmt="bf16", method="pwl")
    assert (p_pwl.lsig_segments, p_pwl.exp_segments, p_pwl.ln_segments, p_pwl.sigmoid_segments) == (8, 8, None, None)
    assert FlashDParams(d=8, fmt="bf16", lsig_segments=4).method == "pwl"
    assert FlashDParams(d=8, fmt="bf16", scalar_fmt="fp32").method == "fix"
    assert FlashDParams(d=8, fmt="bf16", scalar_fmt="e8m24", loop_frac=None).method == "pwl"
    assert FlashDParams(d=2, fmt="bf16", saturation="published").skip_below == -6.0
    assert FA2Params(d=2, fmt="fp8_e4m3", method="pwl").recip_segments == 8
    assert FA2Params(d=2, fmt="e4m2", method="pwl").recip_segments == 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.d = 16
    assert "ln_segments" not in p.as_dict() and p.as_dict()["acc_fmt"] == "fp32"


@pytest.mark.parametrize("design,kw,name", [
    ("fa2", dict(d=64, fmt="bf16"), "flashd_fa2_bf16_d64_p1_s0_k2"),
    ("flashd", dict(d=64, fmt="bf16", scalar_fmt="fp32", interleave=2, stages=2), "flashd_flashd_bf16_d64_scfp32_p2_s2_k2"),
    ("flashd", dict(d=8, fmt="fp8_e4m3", saturation="published", update="blend"),
     "flashd_flashd_fp8_e4m3_d8_p1_s0_k1_published_blend"),
    ("flashd", dict(d=8, fmt="bf16", acc_fmt="fp32", skip_below=None, lsig_segments=4),
     "flashd_flashd_bf16_d8_accfp32_p1_s0_k1_pwl_skipnone_lsig4"),
    ("fa2", dict(d=3, fmt="fp16", guard_bits=5, recip_segments=16), "flashd_fa2_fp16_d3_p1_s0_g5_k1_pwl_recip16"),
    ("fa2", dict(d=3, fmt="fp16", method="pwl"), "flashd_fa2_fp16_d3_p1_s0_k1_pwl"),
    ("fa2", dict(d=3, fmt="fp16", scalar_fmt="fp32", method="pwl"), "flashd_fa2_fp16_d3_scfp32_p1_s0_k1_pwl"),
    ("fa2", dict(d=3, fmt="fp16", scalar_fmt="e8m24", method="pwl"), "flashd_fa2_fp16_d3_sce8m24_p1_s0_k1"),
    ("flashd", dict(d=3, fmt="fp16", copy_above=2.5), "flashd_flashd_fp16_d3_p1_s0_k1_copy2p5"),
    ("fa2", dict(d=4, fmt="bf16", out_lanes=2), "flashd_fa2_bf16_d4_p1_s0_k2"),
    ("fa2", dict(d=64, fmt="bf16", out_lanes=None), "flashd_fa2_bf16_d64_p1_s0"),
    ("flashd", dict(d=4, fmt="bf16", out_lanes=4, out_buffers=2), "flashd_flashd_bf16_d4_p1_s0_k4b2"),
    ("flashd", dict(d=4, fmt="bf16", out_lanes=4, interleave=3), "flashd_flashd_bf16_d4_p3_s0_k4"),
    ("flashd", dict(d=4, fmt="bf16", scalar_fmt="fp32"), "flashd_flashd_bf16_d4_scfp32_p1_s0_k1"),
    ("flashd", dict(d=4, fmt="bf16", loop_frac=None), "flashd_flashd_bf16_d4_p1_s0_k1_lfnone"),
    ("flashd", dict(d=4, fmt="bf16", loop_frac=10, loop_int=5), "flashd_flashd_bf16_d4_p1_s0_k1_lf10_li5"),
])
def test_module_name_encodes_every_non_default_parameter(design, kw, name):
    assert engine_params(design, **kw).module_name == name


def _parameter_sets():
    for d, P, S in itertools.product((1, 3), (1, 2, 3, 5), (0, 1, 2, 5)):
        yield FA2Params(d=d, fmt="bf16", interleave=P, stages=S)
        yield FA2Params(d=d, fmt="fp16", scalar_fmt="fp32", acc_fmt="fp32", interleave=P, stages=S)
        for sat, upd in itertools.product(FlashDParams.SATURATION, FlashDParams.UPDATE):
            yield FlashDParams(d=d, fmt="bf16", interleave=P, stages=S, saturation=sat, update=upd)
        yield FlashDParams(d=d, fmt="bf16", scalar_fmt="fp32", interleave=P, stages=S, loop_frac=8)


def _engine(p):
    return FA2Engine if p.design == "fa2" else FlashDEngine


def test_each_unit_states_the_latency_it_is_built_with_and_the_rings_close():
    """224 parameter sets: every unit's stated latency (its class's ``latency_of``, nothing
    built) is the built unit's; each loop's operators hold P - 1 ranks; FA2's two exponential
    paths align; FLASH-D's 1 - w and w*v align."""
    count = 0
    for p in _parameter_sets():
        units = _engine(p).units(p)
        lat = {name: u.latency for name, u in units.items()}
        for name, u in units.items():
            assert u.cls(*u.args, **dict(u.kwargs)).latency == lat[name], (p, name)      # built here: see the pragma
        P = p.interleave
        if p.design == "fa2":
            assert lat["max"] == lat["l_fma"] == lat["o_fma0"] == P - 1, p
            assert lat["sub_c"] + lat["exp_c"] == lat["sub_e"] + lat["exp_e"], p
        else:
            ring = sum(lat.get(k, 0) for k in ("ln_w", "add_a", "lsig", "sig", "loop"))
            lanes = sum(lat.get(k, 0) for k in ("diff0", "o_fma0"))
            assert ring == lanes == P - 1, p
            if "wv0" in lat:
                assert lat["one_minus_w"] == lat["wv0"], p
        count += 1
    assert count == 224


def test_the_elaborated_engine_has_the_stated_latency():
    """The units ``elaborate`` builds (read back from the elaborated design) give the latency
    the engine states without building anything. (The RTL regressions check it in simulation:
    each row's output at exactly that many cycles after its last pair.)"""
    sets = [p for p in _parameter_sets() if p.d == 1 and p.stages in (0, 2) and p.interleave in (1, 3)]
    assert len(sets) == 28
    for p in sets:
        engine = _engine(p)(p)
        built = {name: sub.origins[0] for sub, name, _ in Fragment.get(engine, None).subfragments}
        assert set(built) >= set(engine.units(p)), p
        assert type(engine).path_latency(p, {n: built[n].latency for n in engine.units(p)}) == engine.latency, p


def test_latency_formulas_in_closed_form():
    for P, S in [(1, 0), (2, 1), (4, 3)]:
        for out, tail in ((None, 0), ("auto", STREAM_CYCLES)):      # the row at once, or streamed
            fa2 = FA2Params(d=8, fmt="bf16", interleave=P, stages=S, out_lanes=out)
            fd = FlashDParams(d=8, fmt="bf16", interleave=P, stages=S, out_lanes=out)
            pub = FlashDParams(d=8, fmt="bf16", interleave=P, stages=S, saturation="published", update="blend",
                               out_lanes=out)
            fixed = FlashDParams(d=8, fmt="bf16", interleave=P, stages=S, loop_frac=12, out_lanes=out)
            assert (FA2Engine.latency_of(fa2), FlashDEngine.latency_of(fd), FlashDEngine.latency_of(pub),
                    FlashDEngine.latency_of(fixed)) == (2 * P + 6 * S + tail,) + (2 * P + 3 * S + tail,) * 3
            assert fa2.throughput == fd.throughput == 1


def test_a_configuration_is_a_design_with_options():
    """``compare``'s baselines and candidates: ``design/option=value/...``, values parsed as
    int, float, none or text, the parameters built with the sweep's d and format."""
    from flashd.verif.designs import config
    c = config("fa2/out_lanes=8/scalar_fmt=fp32")
    assert (c.design, c.options, c.title) == ("fa2", (("out_lanes", 8), ("scalar_fmt", "fp32")),
                                              "FA2 out_lanes=8 scalar_fmt=fp32")
    p = c.parameters(d=64, fmt="bf16")
    assert (p.out_lanes, p.scalar_fmt.name, p.d) == (8, "fp32", 64)
    assert config("flashd/loop_frac=none").parameters(d=4, fmt="bf16").loop_frac is None
    assert config("flashd/skip_below=-7.5").parameters(d=4, fmt="bf16").skip_below == -7.5
    for spec, msg in [("mha", "design='mha' is unknown"), ("fa2/d=4", "'d=4' is not option=value of fa2"),
                      ("flashd/loop_frac", "'loop_frac' is not option=value")]:
        with pytest.raises(ValueError, match=msg):
            config(spec)
