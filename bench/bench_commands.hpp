// Subcommands of `trunkwatch bench`, one per benchmark, registered by add_bench_command().
#pragma once

#include <CLI/CLI.hpp>

namespace tw::cli {

// trunkwatch bench dsp (bench/dsp_bench.cpp)
void add_bench_dsp_command(CLI::App& bench, int& exit_code);
// trunkwatch bench decode FILE.pcap (bench/decode_bench.cpp)
void add_bench_decode_command(CLI::App& bench, int& exit_code);
// trunkwatch bench scale (bench/scale_bench.cpp)
void add_bench_scale_command(CLI::App& bench, int& exit_code);

}  // namespace tw::cli
