package placement

import "errors"

// ErrUnsupported is returned by the pinning functions on operating systems
// where this package cannot set a thread's CPU affinity; the caller records
// that placement was not possible.
var ErrUnsupported = errors.New("placement: thread pinning is not possible on this OS")
