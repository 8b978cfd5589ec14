package farm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// api calls the coordinator's REST API with the farm's API token.
type api struct {
	base  string
	token string
	hc    *http.Client
}

// enrollTokenTTL is how long the one-time tokens the farm requests stay
// valid: long enough for a slow phone to enroll, short enough that a lost
// one is soon useless.
const enrollTokenTTL = 10 * time.Minute

// enrollmentToken creates a one-time enrollment token.
func (c api) enrollmentToken(ctx context.Context) (string, error) {
	body, _ := json.Marshal(map[string]int64{"ttl_seconds": int64(enrollTokenTTL / time.Second)})
	var r struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/enrollment-tokens", body, &r); err != nil {
		return "", fmt.Errorf("create enrollment token: %w", err)
	}
	if r.Token == "" {
		return "", fmt.Errorf("create enrollment token: the coordinator returned none")
	}
	return r.Token, nil
}

// deviceStatus returns the coordinator's view of a device: "online",
// "busy", "offline" (no heartbeat lately) or "revoked".
func (c api) deviceStatus(ctx context.Context, id string) (string, error) {
	var d struct {
		Status string `json:"status"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/devices/"+url.PathEscape(id), nil, &d); err != nil {
		return "", fmt.Errorf("device %s: %w", id, err)
	}
	return d.Status, nil
}

func (c api) do(ctx context.Context, method, path string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return fmt.Errorf("%d %s: %s", resp.StatusCode, e.Code, e.Message)
		}
		return fmt.Errorf("%d: %s", resp.StatusCode, tail(string(data), 200))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode %s: %w", strings.TrimPrefix(path, "/api/v1"), err)
	}
	return nil
}
