//go:build !linux

package agent

// disableTHP: transparent huge pages are a Linux feature.
func disableTHP() error { return nil }
