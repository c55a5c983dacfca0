// trunkwatch bench: the benchmarks, each a subcommand (bench/README.md).
#include "bench/bench_commands.hpp"
#include "monitor/cli/commands.hpp"

namespace tw::cli {

void add_bench_command(CLI::App& app, int& exit_code) {
  CLI::App* bench = app.add_subcommand(
      "bench", "Benchmarks, run by hand (never timed in tests); see bench/README.md");
  bench->require_subcommand(1);
  add_bench_dsp_command(*bench, exit_code);
  add_bench_decode_command(*bench, exit_code);
  add_bench_scale_command(*bench, exit_code);
}

}  // namespace tw::cli
