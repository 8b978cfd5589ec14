// Package hw profiles the hardware the device agent runs on: CPU model and
// SoC, core clusters and frequencies, memory, ISA features, temperature
// sensors and power state, and derives from them a hardware fingerprint and a
// device class.
//
// Every file is read through Env.FS, an fs.FS rooted at "/" (paths such as
// "proc/cpuinfo"), and every command (getprop, dumpsys) is run through
// Env.Run, so tests feed recorded trees and command output instead of the
// live machine. LiveEnv wires the real root, os/exec, gopsutil (for what the
// files cannot give, and for other operating systems) and
// golang.org/x/sys/cpu (the features of the running process).
//
// Missing or unreadable files are normal (phones deny much of /sys, VMs have
// no cpufreq or thermal zones): a probe that cannot read something leaves the
// field empty and, when the failure is worth knowing, adds a line to
// Profile.Notes. Collect fails only when the profile would be useless (no CPU
// at all).
//
// # Device class
//
// Class is "<platform>-<model>-<memory>", every part made only of [a-z0-9-] so
// the class is a single NATS subject token:
//
//   - platform is "android" on Android, otherwise the architecture: "x86-64"
//     (amd64), "x86" (386), "arm64", or GOARCH as is;
//   - model is the SoC model when one is known (Android, device-tree boards:
//     "sm8650", "rk3588"), otherwise the CPU model name reduced to its
//     identifying words ("AMD Ryzen 7 7840U w/ Radeon 780M Graphics" gives
//     "amd-ryzen-7-7840u", "Intel(R) Core(TM) i7-1185G7 @ 3.00GHz" gives
//     "intel-core-i7-1185g7"), otherwise "unknown";
//   - memory is the total memory rounded up to the next step of the ladder
//     512m, 768m, 1g, 1536m, 2g, 3g, 4g, 6g, 8g, 12g, 16g, 24g, 32g, 48g, …
//     (powers of two and 1.5 times powers of two), because the kernel
//     reports less than the installed memory (firmware and GPU carve-outs):
//     a 12 GB phone that reports 11.2 GiB is "12g".
//
// So the same SoC or CPU model with the same memory size gives the same class
// ("android-sm8650-12g", "x86-64-amd-epyc-24g"). The class deliberately
// ignores core counts, clocks and features; those are in the fingerprint,
// whose hash changes whenever any of them does.
package hw
