package client

import (
	"context"
	"net/url"
	"strings"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// CreateFidelity queues a cross-check of the native and llama.cpp runtimes
// on one device.
func (c *Client) CreateFidelity(ctx context.Context, deviceID string, req api.FidelityRequest) (api.FidelityCheck, error) {
	var f api.FidelityCheck
	err := c.do(ctx, "POST", "/devices/"+url.PathEscape(deviceID)+"/fidelity", nil, req, &f)
	return f, err
}

// GetFidelity returns a cross-check's report, joined with the specs of the
// cross-checks with (same device and workload), if any.
func (c *Client) GetFidelity(ctx context.Context, id string, with ...string) (api.FidelityReport, error) {
	var r api.FidelityReport
	var q url.Values
	if len(with) > 0 {
		q = url.Values{"with": {strings.Join(with, ",")}}
	}
	err := c.do(ctx, "GET", "/fidelity/"+url.PathEscape(id), q, nil, &r)
	return r, err
}
