//go:build race

package agent

// raceEnabled is set when the race detector is on: its shadow memory
// inflates RSS, so peak-memory tests run only without it (.ci/run runs
// them in a separate pass without -race).
const raceEnabled = true
