// What the benchmarks read about their own process: CPU time, resident memory, heap in use.
#pragma once

namespace tw::bench {

// This thread's CPU time in seconds: on a shared machine the wall clock also counts the time
// other processes had the core.
double thread_cpu_seconds();
// Resident memory now (VmRSS) and at its peak (VmHWM), MB; 0 when /proc cannot say.
double rss_mb();
double peak_rss_mb();
// Bytes malloc has handed out and not had back, over all arenas (the small blocks in use plus
// the large mmap'd ones), MB.
double heap_mb();

}  // namespace tw::bench
