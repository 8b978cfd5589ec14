package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestBrowserRuntimes drives the runtime views of #14: the searches list's
// runtime filter, the runtime shown on a search and a trial, and the
// search page's "cross-check the front" button, whose log-log plot and
// Spearman must agree with the fidelity API's report. The device is the
// coordinator tests' stand-in agent (analytic numbers, the same on both
// runtimes; they only reach this test's private schema), enrolled with a
// profile that lists llama.cpp.
func TestBrowserRuntimes(t *testing.T) {
	exe := chromium(t)
	c := testenv.Start(t, nil)
	a := testenv.NewAgent(t)
	body := map[string]any{"token": c.EnrollmentToken(t), "nkey": a.Pub, "class": "x86-test-8g", "name": "llama-box",
		"profile": map[string]any{"cpu_model": "stand-in", "runtimes": []map[string]any{{"name": "llama.cpp", "path": "/opt/llama-bench", "build_commit": "d775b89"}}}}
	code, resp := c.Do(t, "POST", "/api/v1/agents/enroll", body, "")
	if code != http.StatusCreated || json.Unmarshal(resp, &a.Resp) != nil {
		t.Fatalf("enroll: %d %s", code, resp)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a.RunStandIn(ctx, func() []string { return a.Resp.NATS.URLs })

	create := func(spec string) string {
		code, resp := c.Do(t, "POST", "/api/v1/searches", spec, c.Token)
		var se struct{ ID string }
		if code != http.StatusCreated || json.Unmarshal(resp, &se) != nil {
			t.Fatalf("create search: %d %s", code, resp)
		}
		return se.ID
	}
	nativeID := create(testenv.SearchSpec(a.Resp.DeviceID, "random", 6))
	llamaID := create(strings.Replace(testenv.SearchSpec(a.Resp.DeviceID, "random", 3), `"threads":2`, `"threads":2,"runtime":"llama.cpp"`, 1))
	for _, id := range []string{nativeID, llamaID} {
		testenv.Eventually(t, 2*time.Minute, func() error {
			if s := testenv.QueryString(t, c.DSN, `SELECT state FROM searches WHERE id = $1`, id); s != "finished" {
				return fmt.Errorf("search %s is %s", id, s)
			}
			return nil
		})
	}
	// The API's filter: a bad runtime is a 400; each runtime lists its search.
	if code, resp := c.Do(t, "GET", "/api/v1/searches?runtime=onnx", nil, c.Token); code != http.StatusBadRequest || !strings.Contains(string(resp), "runtime") {
		t.Fatalf("?runtime=onnx: %d %s", code, resp)
	}
	for rt, want := range map[string]string{"native": nativeID, "llama.cpp": llamaID} {
		_, resp := c.Do(t, "GET", "/api/v1/searches?runtime="+rt, nil, c.Token)
		var l api.SearchList
		if err := json.Unmarshal(resp, &l); err != nil || len(l.Searches) != 1 || l.Searches[0].ID != want {
			t.Fatalf("?runtime=%s: %s, want only %s", rt, resp, want)
		}
	}

	b := newBrowser(t, exe)
	b.do("open", 30*time.Second, chromedp.Navigate(c.URL+"/#/signin"))
	b.waitJS("sign-in page", `document.getElementById("app").dataset.route === "#/signin"`, 20*time.Second)
	b.setField("#token", c.Token)
	b.do("sign in", 10*time.Second, chromedp.Click(chromedp.CSS(`#signin button[type=submit]`)))
	b.waitJS("devices page", `document.getElementById("app").dataset.route === "#/devices"`, 20*time.Second)

	// The searches list: a runtime column and a filter that asks the API.
	b.goTo("#/searches")
	listed := func() []string {
		return eval[[]string](b, `[...document.querySelectorAll("tr[data-search]")].map(tr => tr.dataset.search + " " + tr.querySelector(".runtime").textContent)`)
	}
	if got := listed(); len(got) != 2 || !slices.Contains(got, nativeID+" native") || !slices.Contains(got, llamaID+" llama.cpp") {
		t.Fatalf("unfiltered list: %v", got)
	}
	for _, f := range []struct{ rt, id string }{{"llama.cpp", llamaID}, {"native", nativeID}} {
		b.setField("#filter-runtime", f.rt)
		b.waitJS("filtered by "+f.rt, fmt.Sprintf(`document.querySelector("tbody").dataset.runtime === %q && document.querySelectorAll("tr[data-search]").length === 1`, f.rt), 20*time.Second)
		if got := listed(); len(got) != 1 || got[0] != f.id+" "+f.rt {
			t.Fatalf("filter %s: %v", f.rt, got)
		}
		if h := eval[string](b, `location.hash`); h != "#/searches?runtime="+f.rt {
			t.Fatalf("filter %s: hash %q", f.rt, h)
		}
	}
	// The filter in the URL survives a visit of another page.
	b.goTo("#/devices")
	b.goTo("#/searches?runtime=llama.cpp")
	if got := listed(); len(got) != 1 || got[0] != llamaID+" llama.cpp" || eval[string](b, `document.getElementById("filter-runtime").value`) != "llama.cpp" {
		t.Fatalf("list opened with ?runtime=llama.cpp: %v", got)
	}

	// A trial of the llama.cpp search names its runtime.
	b.goTo("#/searches/" + llamaID)
	if got := eval[string](b, `document.getElementById("search-runtime").textContent`); got != "Runtime: llama.cpp" {
		t.Fatalf("search page says %q", got)
	}
	b.waitJS("front", `document.querySelector("#front tbody a")`, 20*time.Second)
	b.goTo(eval[string](b, `document.querySelector("#front tbody a").getAttribute("href")`))
	if got := eval[string](b, `[...document.querySelectorAll("dl.kv dt")].filter(dt => dt.textContent === "Runtime").map(dt => dt.nextElementSibling.textContent).join()`); got != "llama.cpp" {
		t.Fatalf("trial page: runtime %q", got)
	}

	// Cross-check the native search's front on the device's llama.cpp.
	b.goTo("#/searches/" + nativeID)
	b.waitJS("cross-check offered", `!document.getElementById("cross-check").disabled && document.getElementById("cross-check-device").value !== ""`, 20*time.Second)
	if got := eval[string](b, `document.getElementById("cross-check-device").value`); got != a.Resp.DeviceID {
		t.Fatalf("cross-check device %q, want %s", got, a.Resp.DeviceID)
	}
	_, resp = c.Do(t, "GET", "/api/v1/searches/"+nativeID+"/pareto", nil, c.Token)
	var pv struct {
		Points []struct {
			Trial int  `json:"trial"`
			Front bool `json:"front"`
		} `json:"points"`
	}
	if err := json.Unmarshal(resp, &pv); err != nil {
		t.Fatal(err)
	}
	frontHash := map[string]bool{}
	for _, p := range pv.Points {
		if p.Front {
			h := testenv.QueryString(t, c.DSN, `SELECT arch_hash FROM trials WHERE search_id = $1 AND number = $2`, nativeID, p.Trial)
			frontHash[h] = true
		}
	}
	if len(frontHash) == 0 {
		t.Fatal("the native search has no front")
	}
	b.do("cross-check", 10*time.Second, chromedp.Click(chromedp.ID("cross-check")))
	b.waitJS("cross-check done", `document.getElementById("cross-check-chart").dataset.done === "true"`, 2*time.Minute)
	checkID := eval[string](b, `document.getElementById("cross-check-chart").dataset.check`)
	code, resp = c.Do(t, "GET", "/api/v1/fidelity/"+checkID, nil, c.Token)
	var rep api.FidelityReport
	if code != http.StatusOK || json.Unmarshal(resp, &rep) != nil {
		t.Fatalf("fidelity %s: %d %s", checkID, code, resp)
	}
	if rep.DeviceID != a.Resp.DeviceID || len(rep.Entries) != len(frontHash) || rep.Workload.Runtime != "" {
		t.Fatalf("cross-check %s: device %s, %d specs, runtime %q; want %s, the %d front points, none", checkID, rep.DeviceID, len(rep.Entries), rep.Workload.Runtime, a.Resp.DeviceID, len(frontHash))
	}
	for _, e := range rep.Entries {
		if !frontHash[e.SpecHash] {
			t.Fatalf("cross-check spec %s (%s) is not a front point", e.Name, e.SpecHash)
		}
	}
	// One point per spec measured on both runtimes; the Spearman shown is
	// the API's, for each metric the page offers.
	for _, m := range rep.Metrics {
		if m.Spearman != nil {
			t.Logf("cross-check %s: %d specs, Spearman %.3f", m.Metric, m.N, *m.Spearman)
		}
		b.setField("#cross-check-metric", m.Metric)
		b.waitJS("plot of "+m.Metric, fmt.Sprintf(`document.getElementById("cross-check-chart").getAttribute("aria-label").includes(", %s, ")`, m.Metric), 10*time.Second)
		if n := eval[int](b, `Number(document.getElementById("cross-check-chart").dataset.points)`); n != m.N || n != len(rep.Entries) {
			t.Fatalf("%s: %d points drawn, the report pairs %d of %d specs", m.Metric, n, m.N, len(rep.Entries))
		}
		shown := eval[string](b, `document.getElementById("cross-check-summary").textContent`)
		if m.Spearman == nil {
			if !strings.Contains(shown, "Spearman rank correlation —") {
				t.Fatalf("%s: no Spearman in the report, the page says %q", m.Metric, shown)
			}
			continue
		}
		want := strconv.FormatFloat(*m.Spearman, 'f', 3, 64)
		if !strings.Contains(shown, "Spearman rank correlation "+want) || eval[string](b, `document.getElementById("cross-check-chart").dataset.spearman`) != strconv.FormatFloat(*m.Spearman, 'g', -1, 64) {
			t.Fatalf("%s: the page says %q, the API's Spearman is %s", m.Metric, shown, want)
		}
	}
	if n := eval[int](b, `document.querySelectorAll("#cross-check-table tbody tr").length`); n != len(rep.Rows) {
		t.Fatalf("cross-check table: %d rows, report %d", n, len(rep.Rows))
	}
	// The search page shows its last cross-check again when reopened.
	b.goTo("#/searches")
	b.goTo("#/searches/" + nativeID)
	b.waitJS("cross-check shown again", fmt.Sprintf(`document.getElementById("cross-check-chart").dataset.check === %q && !document.getElementById("cross-check-chart").hidden`, checkID), 20*time.Second)
	checkLabels(t, b, "search with cross-check")

	// A search with a fidelity guard shows the guard's result.
	guarded := create(strings.Replace(testenv.SearchSpec(a.Resp.DeviceID, "random", 2), `"algorithm"`, `"guard":{"min_spearman":0.9},"algorithm"`, 1))
	var se api.Search
	testenv.Eventually(t, 2*time.Minute, func() error {
		_, body := c.Do(t, "GET", "/api/v1/searches/"+guarded, nil, c.Token)
		se = api.Search{}
		_ = json.Unmarshal(body, &se)
		if se.State != "finished" || se.Guard == nil || !se.Guard.Done {
			return fmt.Errorf("guarded search %s, guard %+v", se.State, se.Guard)
		}
		return nil
	})
	b.goTo("#/searches/" + guarded)
	b.waitJS("guard shown", `(document.getElementById("guard") || {dataset: {}}).dataset.done === "true"`, 20*time.Second)
	shown := eval[string](b, `document.getElementById("guard").textContent`)
	for _, m := range se.Guard.Metrics {
		if m.Spearman == nil || !strings.Contains(shown, m.Metric+" "+strconv.FormatFloat(*m.Spearman, 'f', 2, 64)) || !strings.Contains(shown, "passed on "+a.Resp.DeviceID) {
			t.Fatalf("guard shown as %q; API: %s %v on %s", shown, m.Metric, m.Spearman, se.Guard.DeviceID)
		}
	}
	b.checkConsole()
}
