package search

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Quality scores (docs/evaluators.md §6): an objective or constraint may
// name "<score>@<evaluator>", a score an evaluator (a worker outside the
// coordinator) computes for a candidate. Which evaluators exist and which
// scores they declare is the coordinator's knowledge: the search package
// only checks the form, and ResolveScores checks the names against a
// lookup the coordinator gives.

// EvaluatorUse configures one evaluator a search uses.
type EvaluatorUse struct {
	// Settings is passed to the evaluator as given ({} when absent).
	Settings json.RawMessage `json:"settings,omitempty"`
	// Seed seeds the evaluations; defaults to the search's seed.
	Seed *uint64 `json:"seed,omitempty"`
	// Timeout is a Go duration; default: the evaluator's registration.
	Timeout string `json:"timeout,omitempty"`
}

// MaxEvaluatorTimeout bounds evaluators.<name>.timeout.
const MaxEvaluatorTimeout = 7 * 24 * time.Hour

var scoreName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// evaluatorName is a NATS subject token: lower-case letters, digits and
// dashes.
var evaluatorName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidEvaluatorName reports whether name can name an evaluator.
func ValidEvaluatorName(name string) bool { return evaluatorName.MatchString(name) }

// ValidScoreName reports whether name can name a score.
func ValidScoreName(name string) bool { return scoreName.MatchString(name) }

// isScoreRef reports whether ref is "<score>@<evaluator>": not a device
// metric, and its evaluator is not a target.
func (s *Spec) isScoreRef(ref string) bool {
	m, t := splitMetric(ref)
	if m.Valid() || t == "" {
		return false
	}
	for _, tg := range s.Targets {
		if tg.Name == t {
			return false
		}
	}
	return true
}

// ScoreRef is one "<score>@<evaluator>" a search refers to.
type ScoreRef struct {
	Score     string
	Evaluator string
}

// ScoreRefs lists the scores the objectives and constraints name, in
// order, without repeats.
func (s *Spec) ScoreRefs() []ScoreRef {
	var out []ScoreRef
	add := func(ref string) {
		if !s.isScoreRef(ref) {
			return
		}
		m, t := splitMetric(ref)
		r := ScoreRef{Score: string(m), Evaluator: t}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	for _, o := range s.Objectives {
		add(o.Metric)
	}
	for _, c := range s.Constraints {
		add(c.Metric)
	}
	return out
}

// EvaluatorNames lists the evaluators the search uses (those its metrics
// name), sorted.
func (s *Spec) EvaluatorNames() []string {
	var out []string
	for _, r := range s.ScoreRefs() {
		if !slices.Contains(out, r.Evaluator) {
			out = append(out, r.Evaluator)
		}
	}
	sort.Strings(out)
	return out
}

// EvaluatorUseOf is the search's configuration of evaluator name, with
// the defaults applied except the timeout (0 when the registration's).
func (s *Spec) EvaluatorUseOf(name string) (settings json.RawMessage, seed uint64, timeout time.Duration) {
	u := s.Evaluators[name]
	settings = u.Settings
	if len(settings) == 0 {
		settings = json.RawMessage("{}")
	}
	seed = uint64(s.Seed)
	if s.Seed < 0 {
		seed = 0
	}
	if u.Seed != nil {
		seed = *u.Seed
	}
	if u.Timeout != "" {
		timeout, _ = time.ParseDuration(u.Timeout)
	}
	return settings, seed, timeout
}

// validateScoreRef checks the form of a "<score>@<evaluator>" reference.
func validateScoreRef(fe *fieldErrs, f, ref string, at int) {
	m, t := splitMetric(ref)
	if !scoreName.MatchString(string(m)) {
		fe.add(f+".metric", fmt.Sprintf("unknown metric %q (device metrics: %s; or a score <score>@<evaluator> with a score name of lower-case letters, digits and '_')", string(m), metricList()))
	}
	if !evaluatorName.MatchString(t) {
		fe.add(f+".metric", fmt.Sprintf("%q is neither a target nor a valid evaluator name (lower-case letters, digits, '-')", t))
	}
	if at != 0 {
		fe.add(f+".at", "a score takes no at")
	}
}

func metricList() string {
	var s []string
	for _, m := range Metrics {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ")
}

// validateEvaluators checks the evaluators section.
func (s *Spec) validateEvaluators(fe *fieldErrs, targets map[string]bool) {
	used := map[string]bool{}
	for _, n := range s.EvaluatorNames() {
		used[n] = true
	}
	names := make([]string, 0, len(s.Evaluators))
	for n := range s.Evaluators {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		u := s.Evaluators[n]
		f := "evaluators." + n
		switch {
		case !evaluatorName.MatchString(n):
			fe.add(f, "invalid evaluator name (lower-case letters, digits, '-')")
		case targets[n]:
			fe.add(f, fmt.Sprintf("%q names a target; a name after '@' is a target or an evaluator, never both", n))
		case !used[n]:
			fe.add(f, "no objective or constraint names a score of this evaluator")
		}
		if len(u.Settings) > 0 {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(u.Settings, &obj); err != nil || obj == nil {
				fe.add(f+".settings", "must be a JSON object")
			}
		}
		if u.Seed != nil && *u.Seed > 1<<53 {
			fe.add(f+".seed", "must be at most 2^53")
		}
		if u.Timeout != "" {
			d, err := time.ParseDuration(u.Timeout)
			switch {
			case err != nil:
				fe.add(f+".timeout", fmt.Sprintf("not a Go duration: %q", u.Timeout))
			case d < time.Second || d > MaxEvaluatorTimeout:
				fe.add(f+".timeout", fmt.Sprintf("must be between 1s and %s", MaxEvaluatorTimeout))
			}
		}
	}
}

// ScoreDecl is what ResolveScores needs to know of a declared score.
type ScoreDecl struct {
	Direction Direction
}

// ResolveScores checks every "<score>@<evaluator>" against lookup (which
// returns the declared scores of a registered evaluator, or false when
// there is none) and gives score objectives without a direction the
// declared one. The errors name each field.
func (s *Spec) ResolveScores(lookup func(evaluator string) (map[string]ScoreDecl, bool)) []FieldError {
	var fe fieldErrs
	check := func(f, ref string) (ScoreDecl, bool) {
		if !s.isScoreRef(ref) {
			return ScoreDecl{}, false
		}
		m, t := splitMetric(ref)
		decl, ok := lookup(t)
		if !ok {
			fe.add(f+".metric", fmt.Sprintf("%q is neither a target of this search nor a registered evaluator", t))
			return ScoreDecl{}, false
		}
		d, ok := decl[string(m)]
		if !ok {
			var known []string
			for k := range decl {
				known = append(known, k)
			}
			sort.Strings(known)
			fe.add(f+".metric", fmt.Sprintf("evaluator %q declares no score %q (it declares %s)", t, string(m), strings.Join(known, ", ")))
			return ScoreDecl{}, false
		}
		return d, true
	}
	for i := range s.Objectives {
		o := &s.Objectives[i]
		if d, ok := check(fmt.Sprintf("objectives[%d]", i), o.Metric); ok && o.Direction == "" {
			o.Direction = d.Direction
		}
	}
	for i, c := range s.Constraints {
		check(fmt.Sprintf("constraints[%d]", i), c.Metric)
	}
	return fe.list
}
