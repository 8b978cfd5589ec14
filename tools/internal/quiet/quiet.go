//go:build unix

// Package quiet tells the benchmark tools (tools/measuretable,
// tools/kerntable) how busy the machine is, from /proc/loadavg, and waits
// for it to settle before a timed run.
package quiet

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"
)

// Load1 is the 1-minute load average, -1 when unreadable.
func Load1() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(data))[0], 64)
	return v
}

// WaitLoad waits, at most wait, until the machine is quiet: five
// consecutive samples 100 ms apart in which at most one task is runnable
// (this process), or the 1-minute load average is below maxLoad.
func WaitLoad(ctx context.Context, maxLoad float64, wait time.Duration) {
	deadline := time.Now().Add(wait)
	quiet := 0
	for quiet < 5 && time.Now().Before(deadline) && ctx.Err() == nil {
		if Load1() < maxLoad || Running() <= 1 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Running is the number of runnable tasks (the fourth field of
// /proc/loadavg, "running/total").
func Running() int {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) < 4 {
		return 0
	}
	r, _, _ := strings.Cut(f[3], "/")
	v, _ := strconv.Atoi(r)
	return v
}
