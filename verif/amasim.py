"""Amaranth's own simulator on one pipelined operator (no Verilog): the unit tests' way to
check a circuit against its model before the cocotb regressions."""

from amaranth.sim import Simulator

__all__ = ["run_pipelined"]


def run_pipelined(dut, inputs, stages, *, first=None):
    """``dut``'s output payload for each of ``inputs`` (dicts of ``i.payload`` field -> int,
    or ints for the whole payload), one per cycle with ``i.valid`` high, read ``stages``
    cycles after its input (the operator's latency); ``first``: from that cycle instead
    (0: every cycle's, to see that an earlier one is wrong)."""
    got = []

    async def bench(ctx):
        for values in list(inputs) + [None] * stages:
            if isinstance(values, dict):
                for name, v in values.items():
                    field = getattr(dut.i.payload, name)
                    ctx.set(field.as_value() if hasattr(field, "as_value") else field, int(v))
            elif values is not None:
                ctx.set(dut.i.payload.as_value(), int(values))
            ctx.set(dut.i.valid, 1)
            got.append(ctx.get(dut.o.payload))
            if stages:
                await ctx.tick()
    sim = Simulator(dut)
    if stages:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got[stages if first is None else first:]
