package studystore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/c-bata/goptuna"
	"github.com/c-bata/goptuna/tpe"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hilsearch/hilsearch/coordinator/internal/store"
	"github.com/hilsearch/hilsearch/coordinator/internal/studystore"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
	"github.com/hilsearch/hilsearch/search"
)

// openPool returns a pool on a fresh, migrated schema.
func openPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn := testenv.Postgres(t)
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// The sentinels a result of the reference storage may carry; the storage
// under test must return the same one.
var sentinels = []error{
	goptuna.ErrInvalidStudyID,
	goptuna.ErrInvalidTrialID,
	goptuna.ErrTrialCannotBeUpdated,
	goptuna.ErrNoCompletedTrials,
}

// rig is one storage under a conformance script; ids maps trial numbers to
// the storage's own trial IDs.
type rig struct {
	st    goptuna.Storage
	study int
	ids   []int
}

func (r *rig) create() (any, error) {
	id, err := r.st.CreateNewTrial(r.study)
	if err != nil {
		return nil, err
	}
	r.ids = append(r.ids, id)
	return r.st.GetTrialNumberFromID(id)
}

func (r *rig) clone(base goptuna.FrozenTrial) (any, error) {
	id, err := r.st.CloneTrial(r.study, base)
	if err != nil {
		return nil, err
	}
	r.ids = append(r.ids, id)
	return r.st.GetTrialNumberFromID(id)
}

// marker replaces every non-zero timestamp: the storages' clocks differ.
var marker = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return marker
}

func orEmpty[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

// normTrial drops what legitimately differs between storages: IDs (the
// in-memory storage's trial ID is the number, its StudyID is unset for
// created trials), the times' values (their presence is kept), and nil
// versus empty maps.
func normTrial(t goptuna.FrozenTrial) goptuna.FrozenTrial {
	t.ID, t.StudyID = 0, 0
	t.DatetimeStart, t.DatetimeComplete = normTime(t.DatetimeStart), normTime(t.DatetimeComplete)
	t.IntermediateValues = orEmpty(t.IntermediateValues)
	t.InternalParams = orEmpty(t.InternalParams)
	t.Params = orEmpty(t.Params)
	t.Distributions = orEmpty(t.Distributions)
	t.UserAttrs = orEmpty(t.UserAttrs)
	t.SystemAttrs = orEmpty(t.SystemAttrs)
	return t
}

func norm(v any) any {
	switch x := v.(type) {
	case goptuna.FrozenTrial:
		return normTrial(x)
	case []goptuna.FrozenTrial:
		out := make([]goptuna.FrozenTrial, len(x))
		for i := range x {
			out[i] = normTrial(x[i])
		}
		return out
	case []goptuna.StudySummary:
		out := make([]goptuna.StudySummary, len(x))
		for i, s := range x {
			s.ID = 0
			s.DatetimeStart = normTime(s.DatetimeStart)
			s.BestTrial = normTrial(s.BestTrial)
			out[i] = s
		}
		return out
	}
	return v
}

var dists = map[string]interface{}{
	"u":   goptuna.UniformDistribution{Low: -1.5, High: 2.25},
	"log": goptuna.LogUniformDistribution{Low: 1e-5, High: 1e-1},
	"i":   goptuna.IntUniformDistribution{Low: -3, High: 40},
	"si":  goptuna.StepIntUniformDistribution{Low: 2, High: 32, Step: 3},
	"du":  goptuna.DiscreteUniformDistribution{Low: 0, High: 1, Q: 0.125},
	"cat": goptuna.CategoricalDistribution{Choices: []string{"conv", "gqa", "swa"}},
}

// script is the operation sequence run on both storages. Each step returns
// a value to compare (after norm) and an error.
func script() []struct {
	name string
	do   func(r *rig) (any, error)
} {
	type step = struct {
		name string
		do   func(r *rig) (any, error)
	}
	setAll := func(n int, shift float64) func(r *rig) (any, error) {
		return func(r *rig) (any, error) {
			vals := map[string]float64{"u": 0.5 + shift, "log": 3.1e-3, "i": 7, "si": 11, "du": 0.375, "cat": 2}
			for _, name := range slices.Sorted(maps.Keys(vals)) {
				if err := r.st.SetTrialParam(r.ids[n], name, vals[name], dists[name]); err != nil {
					return nil, err
				}
			}
			return r.st.GetTrialParams(r.ids[n])
		}
	}
	const bogus = 1 << 20
	steps := []step{
		{"create study", func(r *rig) (any, error) {
			id, err := r.st.CreateNewStudy("conformance")
			r.study = id
			return nil, err
		}},
		{"name from id", func(r *rig) (any, error) { return r.st.GetStudyNameFromID(r.study) }},
		{"id from name", func(r *rig) (any, error) {
			id, err := r.st.GetStudyIDFromName("conformance")
			return id == r.study, err
		}},
		{"id from unknown name", func(r *rig) (any, error) { return r.st.GetStudyIDFromName("nope") }},
		{"default direction", func(r *rig) (any, error) { return r.st.GetStudyDirection(r.study) }},
		{"set direction", func(r *rig) (any, error) {
			return nil, r.st.SetStudyDirection(r.study, goptuna.StudyDirectionMaximize)
		}},
		{"direction", func(r *rig) (any, error) { return r.st.GetStudyDirection(r.study) }},
		{"direction of unknown study", func(r *rig) (any, error) { return r.st.GetStudyDirection(bogus) }},
		{"set direction of unknown study", func(r *rig) (any, error) {
			return nil, r.st.SetStudyDirection(bogus, goptuna.StudyDirectionMinimize)
		}},
		{"study attrs", func(r *rig) (any, error) {
			for _, kv := range [][3]string{{"u", "owner", "me"}, {"s", "k", "v1"}, {"s", "k", "v2"}, {"s", "j", ""}} {
				set := r.st.SetStudyUserAttr
				if kv[0] == "s" {
					set = r.st.SetStudySystemAttr
				}
				if err := set(r.study, kv[1], kv[2]); err != nil {
					return nil, err
				}
			}
			u, err := r.st.GetStudyUserAttrs(r.study)
			if err != nil {
				return nil, err
			}
			s, err := r.st.GetStudySystemAttrs(r.study)
			return []map[string]string{u, s}, err
		}},
		{"no trials", func(r *rig) (any, error) { return r.st.GetAllTrials(r.study) }},
		{"no best trial", func(r *rig) (any, error) { return r.st.GetBestTrial(r.study) }},
		{"best of unknown study", func(r *rig) (any, error) { return r.st.GetBestTrial(bogus) }},
		{"create trial in unknown study", func(r *rig) (any, error) { return r.st.CreateNewTrial(bogus) }},
		{"create trial 0", (*rig).create},
		{"fresh trial", func(r *rig) (any, error) { return r.st.GetTrial(r.ids[0]) }},
		{"params of trial 0", setAll(0, 0)},
		{"replace a param", func(r *rig) (any, error) {
			if err := r.st.SetTrialParam(r.ids[0], "u", -1.25, dists["u"]); err != nil {
				return nil, err
			}
			return r.st.GetTrialParam(r.ids[0], "u")
		}},
		{"internal categorical", func(r *rig) (any, error) { return r.st.GetTrialParam(r.ids[0], "cat") }},
		{"missing param", func(r *rig) (any, error) { return r.st.GetTrialParam(r.ids[0], "missing") }},
		{"trial attrs", func(r *rig) (any, error) {
			for _, kv := range [][3]string{{"u", "a", "1"}, {"u", "a", "2"}, {"s", "hil:values", "[1,2]"}} {
				set := r.st.SetTrialUserAttr
				if kv[0] == "s" {
					set = r.st.SetTrialSystemAttr
				}
				if err := set(r.ids[0], kv[1], kv[2]); err != nil {
					return nil, err
				}
			}
			u, err := r.st.GetTrialUserAttrs(r.ids[0])
			if err != nil {
				return nil, err
			}
			s, err := r.st.GetTrialSystemAttrs(r.ids[0])
			return []map[string]string{u, s}, err
		}},
		{"intermediate values", func(r *rig) (any, error) {
			if err := r.st.SetTrialIntermediateValue(r.ids[0], 0, 1.5); err != nil {
				return nil, err
			}
			return nil, r.st.SetTrialIntermediateValue(r.ids[0], 3, -2.5)
		}},
		{"repeated step", func(r *rig) (any, error) { return nil, r.st.SetTrialIntermediateValue(r.ids[0], 3, 9) }},
		{"complete trial 0", func(r *rig) (any, error) {
			if err := r.st.SetTrialValue(r.ids[0], 3); err != nil {
				return nil, err
			}
			return nil, r.st.SetTrialState(r.ids[0], goptuna.TrialStateComplete)
		}},
		{"trial 0", func(r *rig) (any, error) { return r.st.GetTrial(r.ids[0]) }},
		{"finished: value", func(r *rig) (any, error) { return nil, r.st.SetTrialValue(r.ids[0], 1) }},
		{"finished: intermediate", func(r *rig) (any, error) { return nil, r.st.SetTrialIntermediateValue(r.ids[0], 7, 1) }},
		{"finished: param", func(r *rig) (any, error) { return nil, r.st.SetTrialParam(r.ids[0], "u", 0, dists["u"]) }},
		{"finished: state", func(r *rig) (any, error) { return nil, r.st.SetTrialState(r.ids[0], goptuna.TrialStateRunning) }},
		{"finished: user attr", func(r *rig) (any, error) { return nil, r.st.SetTrialUserAttr(r.ids[0], "a", "3") }},
		{"finished: system attr", func(r *rig) (any, error) { return nil, r.st.SetTrialSystemAttr(r.ids[0], "a", "3") }},
		{"unknown trial: get", func(r *rig) (any, error) { return r.st.GetTrial(bogus) }},
		{"unknown trial: number", func(r *rig) (any, error) { return r.st.GetTrialNumberFromID(bogus) }},
		{"unknown trial: param", func(r *rig) (any, error) { return r.st.GetTrialParam(bogus, "u") }},
		{"unknown trial: params", func(r *rig) (any, error) { return r.st.GetTrialParams(bogus) }},
		{"unknown trial: attrs", func(r *rig) (any, error) { return r.st.GetTrialSystemAttrs(bogus) }},
		{"unknown trial: study", func(r *rig) (any, error) { return r.st.GetStudyIDFromTrialID(bogus) }},
		{"unknown trial: set value", func(r *rig) (any, error) { return nil, r.st.SetTrialValue(bogus, 1) }},
		{"unknown trial: set state", func(r *rig) (any, error) { return nil, r.st.SetTrialState(bogus, goptuna.TrialStateFail) }},
		{"unknown trial: set param", func(r *rig) (any, error) { return nil, r.st.SetTrialParam(bogus, "u", 0, dists["u"]) }},
		{"unknown trial: set attr", func(r *rig) (any, error) { return nil, r.st.SetTrialUserAttr(bogus, "a", "b") }},
		{"study of trial 0", func(r *rig) (any, error) {
			id, err := r.st.GetStudyIDFromTrialID(r.ids[0])
			return id == r.study, err
		}},
		// Trial 1: waiting, resumed, complete with a value that ties the
		// best so far; trial 2 ties it too (the lower number wins).
		{"create trial 1", (*rig).create},
		{"trial 1 waits", func(r *rig) (any, error) { return nil, r.st.SetTrialState(r.ids[1], goptuna.TrialStateWaiting) }},
		{"trial 1 resumes", func(r *rig) (any, error) { return nil, r.st.SetTrialState(r.ids[1], goptuna.TrialStateRunning) }},
		{"params of trial 1", setAll(1, 0.25)},
		{"complete trial 1", func(r *rig) (any, error) {
			if err := r.st.SetTrialValue(r.ids[1], 7); err != nil {
				return nil, err
			}
			return nil, r.st.SetTrialState(r.ids[1], goptuna.TrialStateComplete)
		}},
		{"create trial 2", (*rig).create},
		{"complete trial 2", func(r *rig) (any, error) {
			if err := r.st.SetTrialValue(r.ids[2], 7); err != nil {
				return nil, err
			}
			return nil, r.st.SetTrialState(r.ids[2], goptuna.TrialStateComplete)
		}},
		{"best of ties", func(r *rig) (any, error) { return r.st.GetBestTrial(r.study) }},
		{"create trial 3", (*rig).create},
		{"prune trial 3", func(r *rig) (any, error) {
			if err := r.st.SetTrialIntermediateValue(r.ids[3], 1, 100); err != nil {
				return nil, err
			}
			if err := r.st.SetTrialValue(r.ids[3], 100); err != nil {
				return nil, err
			}
			return nil, r.st.SetTrialState(r.ids[3], goptuna.TrialStatePruned)
		}},
		{"create trial 4", (*rig).create},
		{"fail trial 4", func(r *rig) (any, error) { return nil, r.st.SetTrialState(r.ids[4], goptuna.TrialStateFail) }},
		{"create trial 5 (stays running)", (*rig).create},
		{"param of trial 5", func(r *rig) (any, error) {
			return nil, r.st.SetTrialParam(r.ids[5], "cat", 0, dists["cat"])
		}},
		{"pruned and failed trials are not best", func(r *rig) (any, error) { return r.st.GetBestTrial(r.study) }},
		{"clone a better trial", func(r *rig) (any, error) {
			base, err := r.st.GetTrial(r.ids[1])
			if err != nil {
				return nil, err
			}
			base.Value = 9
			base.UserAttrs = map[string]string{"cloned": "yes"}
			return r.clone(base)
		}},
		{"clone an enqueued trial", func(r *rig) (any, error) {
			// What goptuna's Study.EnqueueTrial stores.
			return r.clone(goptuna.FrozenTrial{
				State:         goptuna.TrialStateWaiting,
				SystemAttrs:   map[string]string{"fixed_params": `{"u":0.5}`},
				DatetimeStart: time.Now(),
			})
		}},
		{"clone into unknown study", func(r *rig) (any, error) {
			return r.st.CloneTrial(bogus, goptuna.FrozenTrial{State: goptuna.TrialStateWaiting, DatetimeStart: time.Now()})
		}},
		{"pop the enqueued trial", func(r *rig) (any, error) {
			return nil, r.st.SetTrialState(r.ids[7], goptuna.TrialStateRunning)
		}},
		{"best after clone", func(r *rig) (any, error) { return r.st.GetBestTrial(r.study) }},
		{"all trials", func(r *rig) (any, error) { return r.st.GetAllTrials(r.study) }},
		{"each trial", func(r *rig) (any, error) {
			var out []goptuna.FrozenTrial
			for _, id := range r.ids {
				t, err := r.st.GetTrial(id)
				if err != nil {
					return nil, err
				}
				out = append(out, t)
			}
			return out, nil
		}},
		{"summaries", func(r *rig) (any, error) { return r.st.GetAllStudySummaries() }},
		{"minimize", func(r *rig) (any, error) {
			if err := r.st.SetStudyDirection(r.study, goptuna.StudyDirectionMinimize); err != nil {
				return nil, err
			}
			return r.st.GetBestTrial(r.study)
		}},
		{"delete unknown study", func(r *rig) (any, error) { return nil, r.st.DeleteStudy(bogus) }},
		{"delete study", func(r *rig) (any, error) { return nil, r.st.DeleteStudy(r.study) }},
		{"deleted name", func(r *rig) (any, error) { return r.st.GetStudyIDFromName("conformance") }},
	}
	return steps
}

// TestConformsToInMemoryStorage runs one sequence of operations on
// goptuna's InMemoryStorage and on ours and compares every result and error.
func TestConformsToInMemoryStorage(t *testing.T) {
	mem := &rig{st: goptuna.NewInMemoryStorage()}
	pg := &rig{st: studystore.New(openPool(t))}
	for i, s := range script() {
		want, wantErr := mem.do(s.do)
		got, gotErr := pg.do(s.do)
		where := fmt.Sprintf("step %d (%s)", i, s.name)
		switch {
		case wantErr == nil && gotErr != nil:
			t.Fatalf("%s: unexpected error %v", where, gotErr)
		case wantErr != nil && gotErr == nil:
			t.Fatalf("%s: got %v, want an error like %v", where, got, wantErr)
		case wantErr != nil:
			for _, e := range sentinels {
				if wantErr == e && gotErr != e {
					t.Fatalf("%s: error %v, want %v", where, gotErr, e)
				}
			}
			continue
		}
		if !reflect.DeepEqual(norm(got), norm(want)) {
			t.Fatalf("%s:\n got %#v\nwant %#v", where, norm(got), norm(want))
		}
	}
}

func (r *rig) do(f func(*rig) (any, error)) (any, error) { return f(r) }

// TestValuesAndTimesRoundTrip checks what the conformance test normalises
// away: our IDs, study IDs and timestamps, and exact float round trips.
func TestValuesAndTimesRoundTrip(t *testing.T) {
	st := studystore.New(openPool(t))
	sid, err := st.CreateNewStudy("")
	if err != nil {
		t.Fatal(err)
	}
	name, err := st.GetStudyNameFromID(sid)
	if err != nil || len(name) != len(goptuna.DefaultStudyNamePrefix)+36 || name[:len(goptuna.DefaultStudyNamePrefix)] != goptuna.DefaultStudyNamePrefix {
		t.Fatalf("default study name %q, %v", name, err)
	}
	if _, err := st.CreateNewStudy(name); !errors.Is(err, studystore.ErrStudyExists) {
		t.Fatalf("duplicate name: %v", err)
	}
	start := time.Date(2020, 1, 2, 3, 4, 5, 123456000, time.UTC)
	end := start.Add(90 * time.Minute)
	odd := []float64{math.Pi, -0.1, 5e-324, math.MaxFloat64, math.Inf(-1)}
	base := goptuna.FrozenTrial{
		State:              goptuna.TrialStateComplete,
		Value:              math.Nextafter(1, 2),
		DatetimeStart:      start,
		DatetimeComplete:   end,
		IntermediateValues: map[int]float64{},
		InternalParams:     map[string]float64{},
		Distributions:      map[string]interface{}{},
	}
	for i, v := range odd {
		base.IntermediateValues[i] = v
		if !math.IsInf(v, 0) {
			name := fmt.Sprintf("p%d", i)
			base.InternalParams[name] = v
			base.Distributions[name] = goptuna.UniformDistribution{Low: -math.MaxFloat64, High: math.MaxFloat64}
		}
	}
	before := time.Now()
	id, err := st.CloneTrial(sid, base)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.GetTrial(id)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != id || got.StudyID != sid || got.Number != 0 {
		t.Errorf("ids: %+v", got)
	}
	if !got.DatetimeStart.Equal(start) || !got.DatetimeComplete.Equal(end) {
		t.Errorf("times %v %v, want %v %v", got.DatetimeStart, got.DatetimeComplete, start, end)
	}
	if got.Value != base.Value || !reflect.DeepEqual(got.IntermediateValues, base.IntermediateValues) ||
		!reflect.DeepEqual(got.InternalParams, base.InternalParams) || !reflect.DeepEqual(got.Distributions, base.Distributions) {
		t.Errorf("values changed:\n got %+v\nwant %+v", got, base)
	}
	// A new trial starts now and completes when finished.
	id2, err := st.CreateNewTrial(sid)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetTrialState(id2, goptuna.TrialStateFail); err != nil {
		t.Fatal(err)
	}
	t2, err := st.GetTrial(id2)
	if err != nil {
		t.Fatal(err)
	}
	slack := time.Second // the database and this process share a clock
	if t2.Number != 1 || t2.DatetimeStart.Before(before.Add(-slack)) || t2.DatetimeComplete.Before(t2.DatetimeStart) {
		t.Errorf("new trial: number %d, start %v, complete %v (test began %v)", t2.Number, t2.DatetimeStart, t2.DatetimeComplete, before)
	}
	sum, err := st.GetAllStudySummaries()
	if err != nil || len(sum) != 1 {
		t.Fatalf("summaries %v %v", sum, err)
	}
	if !sum[0].DatetimeStart.Equal(start) || sum[0].BestTrial.ID != id || sum[0].Name != name {
		t.Errorf("summary %+v", sum[0])
	}
	// Our own errors for what the in-memory storage does not check.
	if err := st.SetStudyUserAttr(1<<20, "a", "b"); err != goptuna.ErrInvalidStudyID {
		t.Errorf("attr of unknown study: %v", err)
	}
	if _, err := st.GetStudySystemAttrs(1 << 20); err != goptuna.ErrInvalidStudyID {
		t.Errorf("attrs of unknown study: %v", err)
	}
	if _, err := st.GetAllTrials(1 << 20); err != goptuna.ErrInvalidStudyID {
		t.Errorf("trials of unknown study: %v", err)
	}
	if _, err := st.GetStudyNameFromID(1 << 20); err != goptuna.ErrInvalidStudyID {
		t.Errorf("name of unknown study: %v", err)
	}
	if _, err := st.GetStudyIDFromName("nope"); !errors.Is(err, studystore.ErrStudyNotFound) {
		t.Errorf("unknown name: %v", err)
	}
	if err := st.SetStudyDirection(sid, "sideways"); err == nil {
		t.Error("bad direction accepted")
	}
	id3, err := st.CreateNewTrial(sid)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetTrialParam(id3, "c", 3, goptuna.CategoricalDistribution{Choices: []string{"a", "b", "c"}}); err == nil {
		t.Error("categorical index out of range accepted")
	}
	if err := st.SetTrialParam(id3, "c", 0, struct{}{}); !errors.Is(err, goptuna.ErrUnknownDistribution) {
		t.Errorf("unknown distribution: %v", err)
	}
	if err := st.SetTrialIntermediateValue(id3, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTrialIntermediateValue(id3, 0, 2); !errors.Is(err, studystore.ErrStepExists) {
		t.Errorf("repeated step: %v", err)
	}
	if _, err := st.GetTrialParam(id3, "nope"); !errors.Is(err, studystore.ErrParamNotFound) {
		t.Errorf("missing param: %v", err)
	}
	if err := st.SetTrialState(id3, goptuna.TrialStateRunning); err != goptuna.ErrTrialCannotBeUpdated {
		t.Errorf("running to running: %v", err)
	}
	if err := st.DeleteStudy(sid); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetTrial(id); err != goptuna.ErrInvalidTrialID {
		t.Errorf("trial of a deleted study: %v", err)
	}
	if _, err := st.GetAllTrials(sid); err != goptuna.ErrInvalidStudyID {
		t.Errorf("trials of a deleted study: %v", err)
	}
}

// TestCreateStudyLoadIfExists: goptuna.CreateStudy with LoadIfExists loads
// the study the first call created.
func TestCreateStudyLoadIfExists(t *testing.T) {
	st := studystore.New(openPool(t))
	open := func(load bool) (*goptuna.Study, error) {
		return goptuna.CreateStudy("s",
			goptuna.StudyOptionStorage(st),
			goptuna.StudyOptionLogger(nil),
			goptuna.StudyOptionDirection(goptuna.StudyDirectionMaximize),
			goptuna.StudyOptionLoadIfExists(load))
	}
	a, err := open(true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateNewTrial(a.ID); err != nil {
		t.Fatal(err)
	}
	b, err := open(true)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != a.ID || b.Direction() != goptuna.StudyDirectionMaximize {
		t.Fatalf("loaded study %d (%s), created %d", b.ID, b.Direction(), a.ID)
	}
	trials, err := b.GetTrials()
	if err != nil || len(trials) != 1 {
		t.Fatalf("loaded study's trials: %v %v", trials, err)
	}
	if _, err := open(false); !errors.Is(err, studystore.ErrStudyExists) {
		t.Fatalf("create without LoadIfExists: %v", err)
	}
}

// TestTPEOptimize runs goptuna's TPE for 30 trials on our storage. Its
// seeded start-up trials must equal those of the same run in memory (after
// them goptuna v0.9.0's TPE also draws from the global math/rand source,
// so later trials differ from run to run on any storage), and the best
// trial must be the complete one with the smallest value.
func TestTPEOptimize(t *testing.T) {
	const startup = 8
	objective := func(tr goptuna.Trial) (float64, error) {
		x, err := tr.SuggestFloat("x", -5, 5)
		if err != nil {
			return 0, err
		}
		n, err := tr.SuggestInt("n", -3, 3)
		if err != nil {
			return 0, err
		}
		return (x-2)*(x-2) + float64((n+1)*(n+1)), nil
	}
	optimize := func(st goptuna.Storage) []goptuna.FrozenTrial {
		study, err := goptuna.CreateStudy("tpe",
			goptuna.StudyOptionStorage(st),
			goptuna.StudyOptionLogger(nil),
			goptuna.StudyOptionSampler(tpe.NewSampler(tpe.SamplerOptionSeed(3), tpe.SamplerOptionNumberOfStartupTrials(startup))))
		if err != nil {
			t.Fatal(err)
		}
		if err := study.Optimize(objective, 30); err != nil {
			t.Fatal(err)
		}
		trials, err := study.GetTrials()
		if err != nil {
			t.Fatal(err)
		}
		if len(trials) != 30 {
			t.Fatalf("%d trials", len(trials))
		}
		best, err := study.Storage.GetBestTrial(study.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := trials[0]
		for i, tr := range trials {
			if tr.Number != i || tr.State != goptuna.TrialStateComplete || len(tr.Params) != 2 {
				t.Fatalf("trial %d: number %d, state %s, params %v", i, tr.Number, tr.State, tr.Params)
			}
			x, n := tr.Params["x"].(float64), tr.Params["n"].(int)
			if v := (x-2)*(x-2) + float64((n+1)*(n+1)); v != tr.Value {
				t.Fatalf("trial %d: value %g, objective at %v is %g", i, tr.Value, tr.Params, v)
			}
			if tr.Value < want.Value {
				want = tr
			}
		}
		if best.Number != want.Number || best.Value != want.Value || !reflect.DeepEqual(best.Params, want.Params) {
			t.Fatalf("best trial %d (%g), want %d (%g)", best.Number, best.Value, want.Number, want.Value)
		}
		return trials
	}
	pg := optimize(studystore.New(openPool(t)))
	mem := optimize(goptuna.NewInMemoryStorage())
	for i := range startup {
		if !reflect.DeepEqual(pg[i].Params, mem[i].Params) || pg[i].Value != mem[i].Value {
			t.Fatalf("trial %d: %v = %g on PostgreSQL, %v = %g in memory", i, pg[i].Params, pg[i].Value, mem[i].Params, mem[i].Value)
		}
	}
}

// asker drives a search optimizer with the analytic stand-in evaluator.
type asker struct {
	t  *testing.T
	ev *search.AnalyticStandIn
}

func (a asker) ask(o *search.Optimizer, n int) []search.Candidate {
	a.t.Helper()
	var out []search.Candidate
	for range n {
		c, err := o.Ask(context.Background())
		if err != nil {
			a.t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func (a asker) tell(o *search.Optimizer, cs []search.Candidate) {
	a.t.Helper()
	for _, c := range cs {
		m, err := a.ev.Evaluate(o.Spec(), &c.Arch)
		if err != nil {
			a.t.Fatal(err)
		}
		out, err := o.Spec().Outcome(c.Params, m)
		if err != nil {
			a.t.Fatal(err)
		}
		if err := o.Tell(c.TrialID, out); err != nil {
			a.t.Fatal(err)
		}
	}
}

func genomes(cs []search.Candidate) []search.Genome {
	out := make([]search.Genome, len(cs))
	for i, c := range cs {
		out[i] = c.Genome
	}
	return out
}

func newOptimizer(t *testing.T, s *search.Spec, st goptuna.Storage) *search.Optimizer {
	t.Helper()
	o, err := search.NewOptimizer(s, st, "s1")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestSearchOptimizerRestart is the acceptance "restart-safe, the optimizer
// state is the one it had": an NSGA-II search over our storage is stopped
// with two candidates in flight and continued by a new optimizer over a new
// Storage on the same database; trials, populations and every later
// candidate equal those of a search that never stopped.
func TestSearchOptimizerRestart(t *testing.T) {
	spec := search.BenchSpec(search.AlgoNSGA2, 11)
	spec.NSGA2.Population = 6
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	a := asker{t: t, ev: search.DefaultStandIn()}
	const before, after = 10, 10 // batches of 2

	// The search that never stops, on its own schema.
	whole := newOptimizer(t, spec, studystore.New(openPool(t)))
	var want []search.Candidate
	for range before + after {
		cs := a.ask(whole, 2)
		a.tell(whole, cs)
		want = append(want, cs...)
	}
	wantPops, err := search.Populations(whole.Study())
	if err != nil {
		t.Fatal(err)
	}

	// The same search, restarted after `before` batches plus two asks.
	pool := openPool(t)
	first := newOptimizer(t, spec, studystore.New(pool))
	var got []search.Candidate
	for range before {
		cs := a.ask(first, 2)
		a.tell(first, cs)
		got = append(got, cs...)
	}
	inflight := a.ask(first, 2)
	got = append(got, inflight...)
	popsBefore, err := search.Populations(first.Study())
	if err != nil {
		t.Fatal(err)
	}
	if len(popsBefore) < 2 {
		t.Fatalf("only %d populations before the restart; the test needs some", len(popsBefore))
	}
	trialsBefore, err := first.Study().GetTrials()
	if err != nil {
		t.Fatal(err)
	}

	second := newOptimizer(t, spec, studystore.New(pool)) // the restarted coordinator
	if second.Study().ID != first.Study().ID {
		t.Fatalf("restart opened study %d, not %d", second.Study().ID, first.Study().ID)
	}
	popsAfter, err := search.Populations(second.Study())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(popsAfter, popsBefore, slices.Equal) {
		t.Fatalf("populations after restart %v, before %v", popsAfter, popsBefore)
	}
	trialsAfter, err := second.Study().GetTrials()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(trialsAfter, trialsBefore) {
		t.Fatal("the restarted optimizer sees other trials")
	}
	a.tell(second, inflight) // results of the candidates in flight arrive
	for range after - 1 {
		cs := a.ask(second, 2)
		a.tell(second, cs)
		got = append(got, cs...)
	}

	if !slices.EqualFunc(genomes(got), genomes(want), slices.Equal) {
		t.Fatal("the restarted search's candidates differ from the uninterrupted one's")
	}
	for i := range got {
		if got[i].Number != want[i].Number {
			t.Fatalf("candidate %d: trial number %d, uninterrupted %d", i, got[i].Number, want[i].Number)
		}
	}
	gotPops, err := search.Populations(second.Study())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(gotPops, wantPops, slices.Equal) || len(gotPops) <= len(popsBefore) {
		t.Fatalf("final populations %v, uninterrupted %v (before restart %d)", gotPops, wantPops, len(popsBefore))
	}
	trials, err := second.Study().GetTrials()
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range trials {
		if tr.Number != i {
			t.Fatalf("trial numbers not consecutive: position %d has number %d", i, tr.Number)
		}
	}
	res, err := second.Results()
	if err != nil || len(res) != 2*(before+after) {
		t.Fatalf("%d results, want %d (%v)", len(res), 2*(before+after), err)
	}

	// The same search in memory hands out the same candidates.
	mem := newOptimizer(t, spec, goptuna.NewInMemoryStorage())
	var memCands []search.Candidate
	for range before + after {
		cs := a.ask(mem, 2)
		a.tell(mem, cs)
		memCands = append(memCands, cs...)
	}
	if !slices.EqualFunc(genomes(memCands), genomes(want), slices.Equal) {
		t.Fatal("the search over PostgreSQL differs from the one in memory")
	}
}

// TestConcurrentTrialNumbers: trials created at once by several goroutines
// get distinct, consecutive numbers.
func TestConcurrentTrialNumbers(t *testing.T) {
	st := studystore.New(openPool(t))
	sid, err := st.CreateNewStudy("c")
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	ids := make([][]int, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				id, err := st.CreateNewTrial(sid)
				if err != nil {
					errs <- err
					return
				}
				// Attribute writes take a key-share lock on the study;
				// they must not be blocked by, or block, the creators.
				if err := st.SetStudySystemAttr(sid, fmt.Sprint("w", w), fmt.Sprint(id)); err != nil {
					errs <- err
					return
				}
				ids[w] = append(ids[w], id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	trials, err := st.GetAllTrials(sid)
	if err != nil {
		t.Fatal(err)
	}
	if len(trials) != workers*each {
		t.Fatalf("%d trials, want %d", len(trials), workers*each)
	}
	byID := map[int]int{}
	for i, tr := range trials {
		if tr.Number != i {
			t.Fatalf("position %d has number %d", i, tr.Number)
		}
		byID[tr.ID] = tr.Number
	}
	for w := range workers {
		for k := 1; k < len(ids[w]); k++ { // each worker's trials in its order
			if byID[ids[w][k]] <= byID[ids[w][k-1]] {
				t.Fatalf("worker %d: trial %d numbered before its predecessor", w, ids[w][k])
			}
		}
	}
}

// TestFinishedTrialRejectsConcurrentUpdates: of several workers popping one
// waiting trial only one succeeds, and once a trial is finished no racing
// writer changes it.
func TestFinishedTrialRejectsConcurrentUpdates(t *testing.T) {
	st := studystore.New(openPool(t))
	sid, err := st.CreateNewStudy("f")
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.CloneTrial(sid, goptuna.FrozenTrial{State: goptuna.TrialStateWaiting, DatetimeStart: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	const workers = 4
	results := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- st.SetTrialState(id, goptuna.TrialStateRunning)
		}()
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch err {
		case nil:
			won++
		case goptuna.ErrTrialCannotBeUpdated:
		default:
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d workers popped the waiting trial", won)
	}

	// Writers race the completion; whatever they wrote happened before it.
	if err := st.SetTrialValue(id, 1); err != nil {
		t.Fatal(err)
	}
	wg = sync.WaitGroup{}
	var mu sync.Mutex
	var accepted []string
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 10 {
				key := fmt.Sprintf("w%d-%d", w, k)
				err := st.SetTrialSystemAttr(id, key, "x")
				if err == nil {
					mu.Lock()
					accepted = append(accepted, key)
					mu.Unlock()
				} else if err != goptuna.ErrTrialCannotBeUpdated {
					t.Error(err)
				}
			}
		}()
	}
	if err := st.SetTrialState(id, goptuna.TrialStateComplete); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	tr, err := st.GetTrial(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.SystemAttrs) != len(accepted) {
		t.Fatalf("%d attributes stored, %d writes accepted", len(tr.SystemAttrs), len(accepted))
	}
	for _, f := range []func() error{
		func() error { return st.SetTrialValue(id, 2) },
		func() error { return st.SetTrialIntermediateValue(id, 0, 2) },
		func() error { return st.SetTrialParam(id, "x", 0, goptuna.UniformDistribution{Low: 0, High: 1}) },
		func() error { return st.SetTrialUserAttr(id, "a", "b") },
		func() error { return st.SetTrialSystemAttr(id, "a", "b") },
		func() error { return st.SetTrialState(id, goptuna.TrialStateFail) },
		func() error { return st.SetTrialState(id, goptuna.TrialStateRunning) },
	} {
		if err := f(); err != goptuna.ErrTrialCannotBeUpdated {
			t.Errorf("update of a finished trial: %v", err)
		}
	}
	after, err := st.GetTrial(id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, tr) {
		t.Fatal("a finished trial changed")
	}
}

// BenchmarkGetAllTrials reads a study of 500 trials of 20 parameters and 3
// system attributes each (what a sampler does for every trial).
func BenchmarkGetAllTrials(b *testing.B) {
	const nTrials, nParams = 500, 20
	st := studystore.New(openPool(b))
	sid, err := st.CreateNewStudy("bench")
	if err != nil {
		b.Fatal(err)
	}
	cat := goptuna.CategoricalDistribution{Choices: []string{"conv", "gqa", "swa", "linear_attn", "ssm"}}
	uni := goptuna.UniformDistribution{Low: 0, High: 1}
	for n := range nTrials {
		base := goptuna.FrozenTrial{
			State:          goptuna.TrialStateComplete,
			Value:          float64(n),
			DatetimeStart:  time.Now(),
			InternalParams: map[string]float64{},
			Distributions:  map[string]interface{}{},
			SystemAttrs:    map[string]string{"hil:values": "[1,2,3]", "hil:violation": "0", "hil:params": "354483968"},
		}
		for p := range nParams {
			name := fmt.Sprintf("layer%02d", p)
			if p%2 == 0 {
				base.InternalParams[name], base.Distributions[name] = float64((n+p)%5), cat
			} else {
				base.InternalParams[name], base.Distributions[name] = float64(n%7)/7, uni
			}
		}
		if _, err := st.CloneTrial(sid, base); err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("trials=%d/params=%d", nTrials, nParams), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ts, err := st.GetAllTrials(sid)
			if err != nil {
				b.Fatal(err)
			}
			if len(ts) != nTrials || len(ts[nTrials-1].Params) != nParams {
				b.Fatalf("%d trials", len(ts))
			}
		}
	})
}

// TestReviseTrial: ReviseTrial rewrites a complete trial's value and
// system attributes (adding, replacing, keeping the others) and nothing
// else; it refuses a trial that is not complete and an unknown one, and on
// any error (a refusal, a write the database rejects halfway, a rolled-back
// Atomically) the trial is unchanged. An optimizer over the storage
// revises through it.
func TestReviseTrial(t *testing.T) {
	pool := openPool(t)
	st := studystore.New(pool)
	sid, err := st.CreateNewStudy("r")
	if err != nil {
		t.Fatal(err)
	}
	cat := goptuna.CategoricalDistribution{Choices: []string{"a", "b"}}
	complete, err := st.CloneTrial(sid, goptuna.FrozenTrial{
		State: goptuna.TrialStateComplete, Value: 1, DatetimeStart: time.Now(),
		InternalParams: map[string]float64{"x": 1}, Distributions: map[string]interface{}{"x": cat},
		UserAttrs:   map[string]string{"u": "1"},
		SystemAttrs: map[string]string{"hil:values": "[1,2]", "hil:violation": "0", "hil:params": "7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	running, err := st.CreateNewTrial(sid)
	if err != nil {
		t.Fatal(err)
	}
	pruned, err := st.CloneTrial(sid, goptuna.FrozenTrial{State: goptuna.TrialStatePruned, DatetimeStart: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	get := func(id int) goptuna.FrozenTrial {
		t.Helper()
		tr, err := st.GetTrial(id)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	rv := map[string]string{"hil:values": "[3,4]", "hil:first_outcome": `{"values":[1,2],"violation":0}`}
	for _, id := range []int{running, pruned} {
		before := get(id)
		if err := st.ReviseTrial(id, 3, rv); err != goptuna.ErrTrialCannotBeUpdated {
			t.Errorf("revise of a %s trial: %v", before.State, err)
		}
		if !reflect.DeepEqual(get(id), before) {
			t.Errorf("a refused revision changed the %s trial", before.State)
		}
	}
	if err := st.ReviseTrial(pruned+1000, 3, rv); err != goptuna.ErrInvalidTrialID {
		t.Errorf("revise of an unknown trial: %v", err)
	}

	before := get(complete)
	if err := st.ReviseTrial(complete, 3, rv); err != nil {
		t.Fatal(err)
	}
	after := get(complete)
	want := before
	want.Value = 3
	want.SystemAttrs = map[string]string{"hil:values": "[3,4]", "hil:violation": "0", "hil:params": "7",
		"hil:first_outcome": `{"values":[1,2],"violation":0}`}
	if !reflect.DeepEqual(after, want) {
		t.Fatalf("revised trial\n%+v\nwant\n%+v", after, want)
	}
	// Still finished for goptuna's setters.
	if err := st.SetTrialSystemAttr(complete, "hil:values", "[5,6]"); err != goptuna.ErrTrialCannotBeUpdated {
		t.Fatalf("setter on a revised trial: %v", err)
	}

	// The database rejects the attribute write after the value's: neither
	// is kept.
	if err := st.ReviseTrial(complete, 5, map[string]string{"hil:values": "[5,6]", "bad\x00key": "x"}); err == nil {
		t.Fatal("a key with a NUL byte was stored")
	}
	if !reflect.DeepEqual(get(complete), after) {
		t.Fatal("a failed revision changed the trial")
	}
	// Inside an Atomically that rolls back: not kept either.
	boom := errors.New("boom")
	err = st.Atomically(context.Background(), func(pgx.Tx) error {
		if err := st.ReviseTrial(complete, 5, map[string]string{"hil:values": "[5,6]"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || !reflect.DeepEqual(get(complete), after) {
		t.Fatalf("rolled-back revision: %v, trial changed: %v", err, !reflect.DeepEqual(get(complete), after))
	}

	// An optimizer over the storage: Revise lands in PostgreSQL and the
	// next optimizer over it (a restarted coordinator) reads it.
	spec := search.BenchSpec(search.AlgoNSGA2, 4)
	a := asker{t: t, ev: search.DefaultStandIn()}
	o := newOptimizer(t, spec, studystore.New(pool))
	cs := a.ask(o, 3)
	a.tell(o, cs)
	res, err := o.Results()
	if err != nil {
		t.Fatal(err)
	}
	x := search.Outcome{Values: []float64{res[1].Outcome.Values[0] + 1, 1, 2}, Violation: 0.25}
	if err := o.Revise(cs[1].TrialID, x); err != nil {
		t.Fatal(err)
	}
	again := newOptimizer(t, spec, studystore.New(pool))
	res2, err := again.Results()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res2[1].Outcome, x) || !reflect.DeepEqual(res2[0], res[0]) || !reflect.DeepEqual(res2[2], res[2]) {
		t.Fatalf("results after Revise %+v, want trial %d's outcome %+v", res2, cs[1].Number, x)
	}
	tr := get(cs[1].TrialID)
	if tr.Value != -x.Values[0] || tr.SystemAttrs[search.AttrFirstOutcome] == "" {
		t.Fatalf("revised goptuna trial: value %g, attrs %v", tr.Value, tr.SystemAttrs)
	}
}
