// Package events is the coordinator's in-process broadcaster of live
// updates (trial, search, job, device), fed to dashboards over SSE. Events
// are local to one coordinator process.
package events

import (
	"sync"
	"sync/atomic"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// Event is one update: its sequence number, its SSE event name and its
// payload (one of the api event types).
type Event struct {
	ID   int64
	Type string
	Data api.Event
}

// Hub fans events out to subscribers. A slow subscriber loses events
// rather than blocking publishers (its channel is buffered).
type Hub struct {
	mu   sync.Mutex
	subs map[chan Event]struct{}
	seq  atomic.Int64
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[chan Event]struct{}{}} }

// Publish sends an event to every subscriber.
func (h *Hub) Publish(data api.Event) {
	e := Event{ID: h.seq.Add(1), Type: data.EventName(), Data: data}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- e:
		default:
		}
	}
}

// Subscribe returns a channel of events and a function that ends the
// subscription.
func (h *Hub) Subscribe() (<-chan Event, func()) {
	c := make(chan Event, 256)
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		if _, ok := h.subs[c]; ok {
			delete(h.subs, c)
			close(c)
		}
		h.mu.Unlock()
	}
}
