package searchcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hilsearch/hilsearch/cmd/hil/internal/client"
	"github.com/hilsearch/hilsearch/coordinator/api"
)

// watch runs "hil search watch ID": it follows the event stream and
// redraws a progress line whenever the search changes, until the search
// ends (exit 0 when finished, 1 when failed or cancelled) or ctx ends
// (Ctrl-C; exit 130, the search goes on).
func watch(ctx context.Context, e *env, args []string) int {
	fs := e.flags(subcommands["watch"].usage)
	poll := fs.Duration("poll", 5*time.Second, "also re-read the search this often (events are per coordinator replica and may be dropped)")
	pos, code := e.parse(fs, args, 1, "one search ID")
	if code >= 0 {
		return code
	}
	if *poll <= 0 {
		fmt.Fprintf(e.stderr, "%s: --poll must be positive\n", e.name)
		return 2
	}
	c, err := e.g.client()
	if err != nil {
		return e.fail(err)
	}
	w := &watcher{c: c, id: pos[0], out: e.stdout, tty: isTerminal(e.stdout)}
	// Read the search once before subscribing, so a bad ID fails at once.
	if err := w.refresh(ctx); err != nil {
		return e.fail(err)
	}
	if w.s.State.Final() {
		return w.finish(e)
	}
	// Ends the event stream when the watch ends.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan client.Event, 64)
	streamErr := make(chan error, 1)
	go w.follow(ctx, events, streamErr)
	tick := time.NewTicker(*poll)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			if w.tty {
				fmt.Fprintln(e.stdout)
			}
			fmt.Fprintf(e.stderr, "%s: stopped watching; search %s goes on (%s)\n", e.name, w.id, w.s.State)
			return 130
		case err = <-streamErr:
			// follow gave up: the coordinator rejects the stream (e.g.
			// the token). Polling alone would hide that.
			return e.fail(err)
		case <-tick.C:
			err = w.refresh(ctx)
		case ev := <-events:
			if ev.Type == "" || w.concerns(ev) {
				err = w.refresh(ctx)
			}
		}
		if errors.Is(err, client.ErrNotFound) {
			return e.fail(err)
		}
		if err != nil && ctx.Err() == nil {
			// A failed read is reported but does not end the watch; the
			// next event or tick tries again.
			w.note(e.stderr, err)
			continue
		}
		if w.s.State.Final() {
			return w.finish(e)
		}
	}
}

// watcher holds the state of one watch.
type watcher struct {
	c   *client.Client
	id  string
	out io.Writer
	tty bool

	s        api.Search
	hv       string // the "HV …" part, recomputed when Complete changes
	hvAt     int    // Progress.Complete the hv text is for
	last     string // the last line drawn
	lastNote string
	told     map[string]bool // the lost jobs whose re-dispatch was printed
}

// follow reads the event stream into events, reconnecting with
// Last-Event-ID after a break, with a backoff of up to 5 s. After each
// (re)connection it sends an empty event so the watcher re-reads the
// search (the coordinator does not replay missed events). It sends to
// fatal and returns when the coordinator refuses the stream with a client
// error (4xx), and returns when ctx ends.
func (w *watcher) follow(ctx context.Context, events chan<- client.Event, fatal chan<- error) {
	lastID := ""
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		st, err := w.c.Events(ctx, lastID)
		if err != nil {
			var ae *client.Error
			if errors.As(err, &ae) && ae.Status/100 == 4 {
				fatal <- fmt.Errorf("event stream: %w", err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		select {
		case events <- client.Event{}:
		case <-ctx.Done():
		}
		for {
			ev, err := st.Next()
			if err != nil {
				break
			}
			if ev.ID != "" {
				lastID = ev.ID
			}
			select {
			case events <- ev:
			case <-ctx.Done():
			}
			if ctx.Err() != nil {
				break
			}
		}
		st.Close()
	}
}

// concerns reports whether an event is about the watched search.
func (w *watcher) concerns(ev client.Event) bool {
	switch ev.Type {
	case "trial":
		var t api.TrialEvent
		return json.Unmarshal(ev.Data, &t) == nil && t.SearchID == w.id
	case "search":
		var s api.SearchEvent
		return json.Unmarshal(ev.Data, &s) == nil && s.ID == w.id
	}
	return false
}

// refresh re-reads the search (and, when more trials completed, the
// hypervolume) and redraws the line if it changed.
func (w *watcher) refresh(ctx context.Context) error {
	s, err := w.c.GetSearch(ctx, w.id)
	if err != nil {
		return err
	}
	w.s = s
	if s.Progress.Complete != w.hvAt || w.hv == "" {
		hv, err := w.c.Hypervolume(ctx, w.id)
		if err != nil {
			return err
		}
		last, ok := hv.Last()
		switch {
		case !ok:
			w.hv = "HV -"
		default:
			w.hv = "HV " + hvFraction(hv, last)
		}
		w.hvAt = s.Progress.Complete
	}
	w.redispatched()
	w.draw()
	return nil
}

// redispatched prints each re-dispatch of the search once, on a line of
// its own above the progress line.
func (w *watcher) redispatched() {
	for _, r := range w.s.Redispatches {
		if w.told[r.LostJob] {
			continue
		}
		if w.told == nil {
			w.told = map[string]bool{}
		}
		w.told[r.LostJob] = true
		if w.tty && w.last != "" {
			fmt.Fprint(w.out, "\r\x1b[K")
			w.last = ""
		}
		fmt.Fprintln(w.out, redispatchText(r))
	}
}

// redispatchText is "trial 3 (target phone): device d1 lost mid-job (j1), re-dispatched to d2 (j2) at 12:04:05".
func redispatchText(r api.Redispatch) string {
	return fmt.Sprintf("trial %d (target %s): device %s lost mid-job (%s), re-dispatched to %s (%s) at %s",
		r.Trial, oneLine(r.Target), r.FromDevice, r.LostJob, r.ToDevice, r.Job, r.At.UTC().Format(time.TimeOnly))
}

// line is "[#####-----] 12/20 complete, 1 failed, 2 running, 30 rejected, HV 0.734".
func (w *watcher) line() string {
	const width = 20
	p := w.s.Progress
	done := 0
	if p.MaxTrials > 0 {
		done = min(width, (p.Complete+p.Failed)*width/p.MaxTrials)
	}
	l := "[" + strings.Repeat("#", done) + strings.Repeat("-", width-done) + "] " + progressText(p) + ", " + w.hv
	if w.s.State != api.SearchRunning {
		l += " (" + string(w.s.State) + ")"
	}
	if t := waitingText(w.s); t != "" {
		l += " - " + t
	}
	return l
}

// draw redraws the line in place on a terminal, or prints it on a line of
// its own when it changed.
func (w *watcher) draw() {
	l := w.line()
	if l == w.last {
		return
	}
	w.last = l
	if w.tty {
		fmt.Fprint(w.out, "\r"+l+"\x1b[K")
		return
	}
	fmt.Fprintln(w.out, l)
}

// note reports a transient error once (not on every retry).
func (w *watcher) note(stderr io.Writer, err error) {
	msg := err.Error()
	if msg == w.lastNote {
		return
	}
	w.lastNote = msg
	if w.tty {
		fmt.Fprintln(w.out)
		w.last = ""
	}
	fmt.Fprintf(stderr, "hil search watch: %v (retrying)\n", err)
}

// finish prints the final state and returns the exit code.
func (w *watcher) finish(e *env) int {
	w.draw()
	if w.tty {
		fmt.Fprintln(w.out)
	}
	if w.s.State == api.SearchFinished && w.s.Progress.Complete > 0 {
		fmt.Fprintf(e.stderr, "search %s finished\n", w.id)
		return 0
	}
	if w.s.State == api.SearchFinished {
		// Finished with nothing to show is a failure for whoever waited.
		why := "no trial completed"
		if w.s.Error != nil && *w.s.Error != "" {
			why = *w.s.Error
		}
		fmt.Fprintf(e.stderr, "search %s finished without any complete trial: %s\n", w.id, strings.TrimPrefix(why, "no trial completed: "))
		return 1
	}
	msg := ""
	if w.s.Error != nil && *w.s.Error != "" {
		msg = ": " + *w.s.Error
	}
	fmt.Fprintf(e.stderr, "search %s %s%s\n", w.id, w.s.State, msg)
	return 1
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
