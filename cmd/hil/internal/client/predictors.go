package client

import (
	"context"
	"net/url"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// DevicePredictors returns a device's fitted predictors.
func (c *Client) DevicePredictors(ctx context.Context, deviceID string) (api.DevicePredictors, error) {
	var p api.DevicePredictors
	err := c.do(ctx, "GET", "/devices/"+url.PathEscape(deviceID)+"/predictor", nil, nil, &p)
	return p, err
}
