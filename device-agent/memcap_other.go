//go:build !linux

package agent

import "errors"

// newOSCap: no cap enforced by the OS at start here. On Windows the job
// object that contains the child carries the cap (containChild); elsewhere
// the agent polls the child's RSS.
func newOSCap(limit int64, tag string) (*osCap, error) {
	return nil, errors.New("no cgroups on this OS")
}
