// Package placement chooses the CPUs a measurement's worker threads run on
// and pins threads to them.
//
// Choosing is pure: Auto, Fastest and FromMask take the profile's CPU
// description (hw.CPU: clusters with capacity and maximum frequency, cores
// with their SMT siblings, and the process's allowed CPUs) and return a
// Choice, the CPUs in the order workers should take them, fastest first.
//
//   - Auto ("threads: auto", `-t auto`) takes the prime and performance
//     cores and leaves out efficiency cores. When the core type is known
//     (Arm "CPU part"), the in-order little cores (Cortex-A53, A55, A510,
//     A520, …) are the efficiency cores and every other type counts as
//     performance, whatever its clock: the Cortex-A720s of an "all big
//     core" Dimensity are used. Without a core type (x86, Arm parts the
//     table does not name), a cluster is an efficiency cluster when its
//     scheduler capacity is at most half the biggest core's, or, with no
//     capacity either, when its maximum clock is at most 60 % of the
//     fastest cluster's. With SMT, Auto takes one hardware thread per
//     physical core (as llama.cpp's default thread count does). When every
//     cluster counts as efficiency (an all-A55 phone), all are used.
//   - Fastest (an explicit thread count) fills the fastest cores first:
//     clusters in speed order, one thread per physical core before any SMT
//     sibling.
//   - FromMask takes the CPUs of a llama-bench `-C` hex mask (ParseMask).
//
// Every choice stays inside the CPUs the process may use (its cpuset and
// affinity, CPU.AllowedCPUs); a request that cannot be met there is an
// error, never a silent shrink.
//
// Pinning (PinThread) is an OS primitive: on Linux and Android it locks the
// calling goroutine to its OS thread and sets that thread's affinity with
// sched_setaffinity (golang.org/x/sys/unix). On other operating systems it
// returns ErrUnsupported, and the caller records that placement was not
// possible. TaskAffinity and TaskLastCPU read another thread's mask and the
// CPU it last ran on, for checks and tests.
package placement
