package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Event is one Server-Sent Event of GET /api/v1/events.
type Event struct {
	// ID is the event's id field ("" when it has none).
	ID string
	// Type is the event name: trial, search, job or device.
	Type string
	// Data is the event's JSON payload: an api.TrialEvent, SearchEvent,
	// JobEvent or DeviceEvent by Type.
	Data json.RawMessage
}

// EventStream reads events from an open SSE connection. It is not safe for
// concurrent use.
type EventStream struct {
	body io.ReadCloser
	r    *bufio.Reader
}

// Events opens the event stream. lastID, when not empty, is sent as
// Last-Event-ID so a reconnecting client tells the coordinator the last
// event it saw. The coordinator does not replay missed events, so a client
// should re-read the state it follows after (re)connecting. Events returns
// once the coordinator has answered; read with Next and end with Close or
// by cancelling ctx.
func (c *Client) Events(ctx context.Context, lastID string) (*EventStream, error) {
	h := http.Header{"Accept": {"text/event-stream"}}
	if lastID != "" {
		h.Set("Last-Event-ID", lastID)
	}
	resp, err := c.request(ctx, "GET", "/events", nil, nil, h)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("events: content type %q, want text/event-stream", ct)
	}
	return &EventStream{body: resp.Body, r: bufio.NewReaderSize(resp.Body, 64<<10)}, nil
}

// Next returns the next event. Comments (keep-alives) are skipped. It
// returns io.EOF when the coordinator ends the stream, and the read error
// when the connection breaks or its context ends.
func (s *EventStream) Next() (Event, error) {
	var e Event
	var data []string
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" {
				return Event{}, io.EOF
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return Event{}, fmt.Errorf("read events: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if !seen {
				continue
			}
			if e.Type == "" {
				e.Type = "message"
			}
			e.Data = json.RawMessage(strings.Join(data, "\n"))
			return e, nil
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			e.ID = value
			seen = true
		case "event":
			e.Type = value
			seen = true
		case "data":
			data = append(data, value)
			seen = true
		}
	}
}

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }
