"""The shared driver and monitor (verif/stream.py) on a hand-written unit that echoes its
input one cycle later and then sends one output too many: the monitor, which stops sampling a
port once its expected outputs came and its valid is low, still records the extra output in
its cycle. (Both the cocotb test module and the pytest test, as in test_ops_rtl.py.)"""

import cocotb
import pytest

from flashd.verif.cache import cache_dir
from flashd.verif.sim import run_cocotb
from flashd.verif.stream import InPort, Monitor, OutPort, StreamDriver, run, start

# Echo with latency 1; the extra output comes 5 cycles after the third input was accepted (cycle 7).
EXTRA = """`timescale 1ns/1ps
module echo(input clk, input rst, input u__i__valid, input [7:0] u__i__payload,
            output reg u__o__valid, output reg [7:0] u__o__payload);
  reg [3:0] n; reg [3:0] wait_;
  always @(posedge clk) begin
    if (rst) begin u__o__valid <= 0; n <= 0; wait_ <= 0; end
    else begin
      u__o__valid <= u__i__valid || wait_ == 1;
      u__o__payload <= u__i__valid ? u__i__payload : 8'hee;
      if (u__i__valid) n <= n + 1;
      if (u__i__valid && n == 2) wait_ <= 4; else if (wait_ != 0) wait_ <= wait_ - 1;
    end
  end
endmodule
"""


@cocotb.test()
async def extra_output_is_seen(dut):
    port = InPort("u", dut.u__i__valid, dut.u__i__payload)
    await start(dut, [port])
    driver = StreamDriver([port], [[0x11, 0x22, 0x33]], [[True]])
    monitor = Monitor([OutPort("u", dut.u__o__valid, dut.u__o__payload)], expected=[3])
    await run(dut.clk, driver, monitor, tail=8)
    assert driver.accepted[0] == [0, 1, 2]
    assert monitor.seen[0] == [(1, 0x11), (2, 0x22), (3, 0x33), (7, 0xEE)], monitor.seen[0]


@pytest.mark.sim
def test_the_monitor_sees_an_output_after_the_expected_ones():
    build = cache_dir() / "icarus" / "stream_extra"
    build.mkdir(parents=True, exist_ok=True)
    (build / "echo.v").write_text(EXTRA)
    n_tests, n_failed = run_cocotb("icarus", build / "echo.v", "echo", "flashd.verif.test_stream", build, {})
    assert (n_tests, n_failed) == (1, 0), f"see {build / 'sim.log'}"
