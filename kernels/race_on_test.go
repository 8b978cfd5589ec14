//go:build race

package kernels

// raceEnabled is set when the race detector is on; heavy tests shrink.
const raceEnabled = true
