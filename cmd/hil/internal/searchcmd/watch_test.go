package searchcmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// TestWatchReconnects checks, against a scripted coordinator, that watch
// reconnects after the event stream breaks, sends Last-Event-ID, re-reads
// the search after reconnecting (events are not replayed), and exits 1
// when the search fails. The real coordinator cannot be made to drop a
// stream on cue, hence the script.
func TestWatchReconnects(t *testing.T) {
	var mu sync.Mutex
	var conns []string // Last-Event-ID of each events connection
	state, complete := "running", 1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			io.WriteString(w, `{"code":"unauthorized","message":"token"}`)
			return
		}
		mu.Lock()
		locked := true
		defer func() {
			if locked {
				mu.Unlock()
			}
		}()
		switch r.URL.Path {
		case "/api/v1/events":
			conns = append(conns, r.Header.Get("Last-Event-ID"))
			w.Header().Set("Content-Type", "text/event-stream")
			if len(conns) == 1 {
				// One event about another search, one about ours, then the
				// connection breaks. The trial completes meanwhile and, while
				// the client is away, the search fails: it sees that only by
				// re-reading after reconnecting.
				io.WriteString(w, "id: 4\nevent: trial\ndata: {\"search_id\":\"other\",\"number\":1,\"state\":\"complete\"}\n\n")
				io.WriteString(w, "id: 5\nevent: trial\ndata: {\"search_id\":\"s1\",\"number\":2,\"state\":\"complete\"}\n\n")
				complete = 2
				return
			}
			// A reconnection without Last-Event-ID ends the search
			// differently, so the test fails rather than hangs.
			state = "finished"
			if conns[len(conns)-1] == "5" {
				state = "failed"
			}
			io.WriteString(w, ": connected\n\n")
			w.(http.Flusher).Flush()
			mu.Unlock()
			locked = false
			<-r.Context().Done()
		case "/api/v1/searches/s1":
			fmt.Fprintf(w, `{"id":"s1","state":%q,"error":"no device answers","progress":{"max_trials":4,"complete":%d,"running":1}}`, state, complete)
		case "/api/v1/searches/s1/hypervolume":
			hv := 20 + complete*10
			fmt.Fprintf(w, `{"reference":[10,10],"box":72,"history":[{"trial":0,"complete":1,"hypervolume":%d,"fraction":%g}]}`, hv, float64(hv)/72)
		default:
			w.WriteHeader(404)
			io.WriteString(w, `{"code":"route_not_found","message":"no"}`)
		}
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"watch", "--coordinator", srv.URL, "--token", "tok", "--poll", "1h", "s1"}, &out, &errb)
	mu.Lock()
	defer mu.Unlock()
	if code != 1 || !strings.Contains(errb.String(), "search s1 failed: no device answers") {
		t.Fatalf("exit %d: %s\n%s", code, out.String(), errb.String())
	}
	if len(conns) != 2 || conns[0] != "" || conns[1] != "5" {
		t.Fatalf("events connections with Last-Event-ID %q, want [\"\" \"5\"]", conns)
	}
	// HV is the API's fraction of its box (from the ideal (2, 1) to the
	// reference (10, 10): 72), printed with 3 decimals.
	first := "[#####---------------] 1/4 complete, 0 failed, 1 running, 0 rejected, HV 0.417\n"
	mid := "[##########----------] 2/4 complete, 0 failed, 1 running, 0 rejected, HV 0.556\n"
	last := "[##########----------] 2/4 complete, 0 failed, 1 running, 0 rejected, HV 0.556 (failed)\n"
	// The middle line shows only when watch re-reads after event 5 before
	// the reconnection made the search fail.
	if got := out.String(); got != first+mid+last && got != first+last {
		t.Fatalf("output\n%s\nwant\n%s", got, first+"["+mid+"]"+last)
	}
}

func TestWatchTerminalRedraw(t *testing.T) {
	var out bytes.Buffer
	w := &watcher{out: &out, tty: true, hv: "HV -"}
	w.s.State = "running"
	w.s.Progress.MaxTrials = 20
	w.draw()
	w.draw() // unchanged: nothing written
	w.s.Progress.Complete, w.s.Progress.Failed, w.s.Progress.Running, w.s.Progress.Rejected = 12, 1, 2, 30
	w.hv = "HV 0.734"
	w.draw()
	want := "\r[--------------------] 0/20 complete, 0 failed, 0 running, 0 rejected, HV -\x1b[K" +
		"\r[#############-------] 12/20 complete, 1 failed, 2 running, 30 rejected, HV 0.734\x1b[K"
	if out.String() != want {
		t.Fatalf("got %q\nwant %q", out.String(), want)
	}
}

func TestProgressTextScreened(t *testing.T) {
	p := api.Progress{MaxTrials: 20, Complete: 12, Failed: 1, Running: 2, Rejected: 30}
	if got, want := progressText(p), "12/20 complete, 1 failed, 2 running, 30 rejected"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	p.Screened = 40
	if got, want := progressText(p), "12/20 complete, 1 failed, 2 running, 30 rejected, 40 screened"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}

// TestWatchPrintsRedispatches: each re-dispatch the search reports is
// printed once, on a line of its own above the progress line (on a
// terminal the progress line is cleared first and redrawn after).
func TestWatchPrintsRedispatches(t *testing.T) {
	at := time.Date(2026, 12, 4, 12, 4, 5, 0, time.UTC)
	r1 := api.Redispatch{Trial: 3, Target: "phone", FromDevice: "d1", LostJob: "j1", ToDevice: "d2", Job: "j2", At: at}
	r2 := api.Redispatch{Trial: 4, Target: "phone", FromDevice: "d1", LostJob: "j3", ToDevice: "d2", Job: "j4", At: at}
	line1 := "trial 3 (target phone): device d1 lost mid-job (j1), re-dispatched to d2 (j2) at 12:04:05\n"
	line2 := "trial 4 (target phone): device d1 lost mid-job (j3), re-dispatched to d2 (j4) at 12:04:05\n"
	for _, tty := range []bool{false, true} {
		var out bytes.Buffer
		w := &watcher{out: &out, tty: tty, hv: "HV -"}
		w.s.State = "running"
		w.s.Progress.MaxTrials = 20
		w.redispatched()
		w.draw()
		w.s.Redispatches = []api.Redispatch{r1}
		w.redispatched()
		w.draw()
		w.s.Redispatches = []api.Redispatch{r1, r2}
		w.redispatched()
		w.draw()
		p := "[--------------------] 0/20 complete, 0 failed, 0 running, 0 rejected, HV -"
		want := p + "\n" + line1 + line2
		if tty {
			want = "\r" + p + "\x1b[K" + "\r\x1b[K" + line1 + "\r" + p + "\x1b[K" + "\r\x1b[K" + line2 + "\r" + p + "\x1b[K"
		}
		if out.String() != want {
			t.Fatalf("tty %v: got %q\nwant %q", tty, out.String(), want)
		}
	}
}
