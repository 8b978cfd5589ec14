package httpapi

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/url"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hilsearch/hilsearch/coordinator/api"
	"github.com/hilsearch/hilsearch/coordinator/wire"
	"github.com/hilsearch/hilsearch/search"
	"github.com/hilsearch/hilsearch/workload"
)

// documented maps every component schema of openapi.json to the Go type it
// describes: the types the handlers serve and the hil client decodes.
var documented = map[string]any{
	"Error":                  api.ErrorBody{},
	"FieldError":             api.FieldError{},
	"Health":                 api.Health{},
	"Ready":                  api.Ready{},
	"EnrollmentTokenRequest": api.EnrollmentTokenRequest{},
	"EnrollmentToken":        api.EnrollmentToken{},
	"EnrollRequest":          wire.EnrollRequest{},
	"NATSIdentity":           wire.NATSIdentity{},
	"EnrollResponse":         wire.EnrollResponse{},
	"Device":                 api.Device{},
	"DeviceList":             api.DeviceList{},
	"DevicePatch":            api.DevicePatch{},
	"RevokeResponse":         api.RevokeResponse{},
	"Stat":                   wire.Stat{},
	"Energy":                 wire.Energy{},
	"Sustained":              wire.Sustained{},
	"SustainedWindow":        wire.SustainedWindow{},
	"Gates":                  wire.Gates{},
	"Workload":               workload.Workload{},
	"FidelitySpec":           api.FidelitySpec{},
	"FidelityRequest":        api.FidelityRequest{},
	"FidelityEntry":          api.FidelityEntry{},
	"FidelityCheck":          api.FidelityCheck{},
	"FidelityFigure":         api.FidelityFigure{},
	"FidelityRow":            api.FidelityRow{},
	"FidelityMetric":         api.FidelityMetric{},
	"GuardReport":            api.GuardReport{},
	"Redispatch":             api.Redispatch{},
	"ScreeningSavings":       api.ScreeningSavings{},
	"FidelityReport":         api.FidelityReport{},
	"JobRequest":             api.JobRequest{},
	"Measurement":            wire.Measurement{},
	"Job":                    api.Job{},
	"AgentManifest":          api.AgentManifest{},
	"SearchSpec":             search.Spec{},
	"Search":                 api.Search{},
	"SearchList":             api.SearchList{},
	"SearchPreview":          api.SearchPreview{},
	"SearchPresets":          api.SearchPresets{},
	"SearchStateConflict":    api.SearchStateConflict{},
	"Trial":                  api.Trial{},
	"TrialPage":              api.TrialPage{},
	"ParetoView":             api.ParetoView{},
	"HypervolumeView":        api.HypervolumeView{},
	"SessionRequest":         api.SessionRequest{},
	"SessionInfo":            api.SessionInfo{},
	"Token":                  api.Token{},
	"TokenList":              api.TokenList{},
	"TokenRequest":           api.TokenRequest{},
	"TokenCreated":           api.TokenCreated{},
	"Reference":              api.Reference{},
	"ReferenceList":          api.ReferenceList{},
	"Progress":               api.Progress{},
	"TrialTarget":            api.TrialTarget{},
	"ParetoPoint":            api.ParetoPoint{},
	"HypervolumePoint":       api.HypervolumePoint{},
	"AgentDownload":          api.AgentDownload{},
	"TrialEvent":             api.TrialEvent{},
	"SearchEvent":            api.SearchEvent{},
	"JobEvent":               api.JobEvent{},
	"DeviceEvent":            api.DeviceEvent{},
	"ExportCheck":            api.ExportCheck{},
	"ExportShare":            api.ExportShare{},
	"DevicePredictors":       api.DevicePredictors{},
	"DevicePredictor":        api.DevicePredictor{},
	"ScreenedCandidate":      api.ScreenedCandidate{},
	"ScreenedList":           api.ScreenedList{},
	"EvaluatorRegistration":  wire.EvaluatorRegistration{},
	"Evaluator":              api.Evaluator{},
	"EvaluatorCreated":       api.EvaluatorCreated{},
	"EvaluatorSecret":        api.EvaluatorSecret{},
	"Evaluation":             api.Evaluation{},
	"EvalAnswerReply":        api.EvalAnswerReply{},
}

// opaque types are documented as a plain object; docs/search.md describes
// the search spec and its space field by field.
var opaque = map[reflect.Type]bool{
	reflect.TypeOf(search.Spec{}):      true,
	reflect.TypeOf(search.Space{}):     true,
	reflect.TypeOf(search.Predictor{}): true,
	reflect.TypeOf(json.RawMessage{}):  true,
	reflect.TypeOf((*any)(nil)).Elem(): true,
	// docs/evaluators/registration.schema.json specifies it.
	reflect.TypeOf(wire.EvaluatorRegistration{}): true,
}

// notBodies are api types that are not JSON bodies: query parameters (the
// operations' parameters document them) and the event interface.
var notBodies = map[string]bool{"TrialQuery": true, "ExportQuery": true}

// TestOpenAPIMatchesTypes is the golden test between openapi.json and the
// API types: every schema property is a field of its Go type and every
// field a property, recursively (nested objects, arrays, maps, $refs), with
// matching JSON kinds; every body type of package api has a schema. It
// fails when a field is added on one side only: change both.
func TestOpenAPIMatchesTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	schemas := doc.Components.Schemas
	byType := map[reflect.Type]string{}
	for name, v := range documented {
		byType[reflect.TypeOf(v)] = name
	}
	for name := range schemas {
		if _, ok := documented[name]; !ok {
			t.Errorf("schema %s documents no Go type (add it to documented)", name)
		}
	}
	names := make([]string, 0, len(documented))
	for name := range documented {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s, ok := schemas[name]
		if !ok {
			t.Errorf("%T has no schema %s in openapi.json", documented[name], name)
			continue
		}
		c := checker{t: t, schemas: schemas, byType: byType}
		c.compare(name, s, reflect.TypeOf(documented[name]), true)
	}

	// Every JSON body type of package api is documented.
	fset := token.NewFileSet()
	files, _ := filepath.Glob(filepath.Join("..", "..", "api", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, sp := range gd.Specs {
				ts := sp.(*ast.TypeSpec)
				if _, isStruct := ts.Type.(*ast.StructType); !isStruct || notBodies[ts.Name.Name] {
					continue
				}
				found := false
				for _, v := range documented {
					rt := reflect.TypeOf(v)
					found = found || (rt.PkgPath() == "github.com/hilsearch/hilsearch/coordinator/api" && rt.Name() == ts.Name.Name)
				}
				if !found {
					t.Errorf("api.%s is not documented in openapi.json", ts.Name.Name)
				}
			}
		}
	}
}

type checker struct {
	t       *testing.T
	schemas map[string]map[string]any
	byType  map[reflect.Type]string
}

var timeType = reflect.TypeOf(time.Time{})

// compare checks schema s (at path) against Go type typ. top is true for
// the component schema of typ itself.
func (c checker) compare(path string, s map[string]any, typ reflect.Type, top bool) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if typ == reflect.TypeOf(json.RawMessage{}) && opaque[reflect.TypeOf(documented[name])] {
			return // stored JSON of an opaque type (a search's spec)
		}
		if want, ok := c.byType[typ]; !ok || want != name {
			c.t.Errorf("%s: $ref %s, but the field is %s (documented as %q)", path, name, typ, want)
		}
		return
	}
	if name, ok := c.byType[typ]; ok && !top {
		c.t.Errorf("%s: %s is inline; use $ref #/components/schemas/%s", path, typ, name)
	}
	kind, _ := s["type"].(string)
	switch {
	case typ == reflect.TypeFor[workload.Threads]():
		// a count or "auto" (workload.Threads marshals both)
		if _, ok := s["oneOf"].([]any); !ok {
			c.t.Errorf("%s: %s is a count or \"auto\", the schema needs a oneOf", path, typ)
		}
	case opaque[typ]:
		if len(s) > 0 && kind != "object" && kind != "" {
			c.t.Errorf("%s: %s is an object, schema says %q", path, typ, kind)
		}
		if _, has := s["properties"]; has && typ.Kind() == reflect.Struct {
			c.t.Errorf("%s: %s is documented as opaque; drop the properties or the opaque entry", path, typ)
		}
	case typ == timeType:
		c.expect(path, kind, "string", typ)
	case typ.Kind() == reflect.Struct:
		c.expect(path, kind, "object", typ)
		props, _ := s["properties"].(map[string]any)
		fields := jsonFields(typ)
		for name, ft := range fields {
			p, ok := props[name].(map[string]any)
			if !ok {
				c.t.Errorf("%s: field %q of %s is not in the schema", path, name, typ)
				continue
			}
			c.compare(path+"."+name, p, ft, false)
		}
		for name := range props {
			if _, ok := fields[name]; !ok {
				c.t.Errorf("%s: property %q is not a field of %s", path, name, typ)
			}
		}
	case typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array:
		c.expect(path, kind, "array", typ)
		items, _ := s["items"].(map[string]any)
		c.compare(path+"[]", items, typ.Elem(), false)
	case typ.Kind() == reflect.Map:
		c.expect(path, kind, "object", typ)
		ap, _ := s["additionalProperties"].(map[string]any)
		c.compare(path+"{}", ap, typ.Elem(), false)
	case typ.Kind() == reflect.String:
		c.expect(path, kind, "string", typ)
	case typ.Kind() == reflect.Bool:
		c.expect(path, kind, "boolean", typ)
	case typ.Kind() == reflect.Float32 || typ.Kind() == reflect.Float64:
		c.expect(path, kind, "number", typ)
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		c.expect(path, kind, "integer", typ)
	default:
		c.t.Errorf("%s: no rule for %s", path, typ)
	}
}

func (c checker) expect(path, got, want string, typ reflect.Type) {
	if got != want {
		c.t.Errorf("%s: %s is a JSON %s, schema says %q", path, typ, want, got)
	}
}

// jsonFields maps the JSON names of typ's fields (embedded structs
// flattened, "-" skipped) to their types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && name == "" {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// TestOpenAPIQueryParameters: the query parameters of the trial listing and
// the export are the fields of api.TrialQuery and api.ExportQuery (which the
// hil client encodes and the handlers read).
func TestOpenAPIQueryParameters(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	for path, q := range map[string]interface{ Values() url.Values }{
		"/api/v1/searches/{id}/trials": api.TrialQuery{State: api.TrialComplete, Mixer: "gqa", Sort: "params", Limit: 1, Offset: 1},
		"/api/v1/searches/{id}/export": api.ExportQuery{Format: "gguf", Trial: 1, Precision: "f16"},
	} {
		var documented []string
		for _, p := range doc.Paths[path]["get"].Parameters {
			if p.In == "query" {
				documented = append(documented, p.Name)
			}
		}
		var encoded []string
		for k := range q.Values() {
			encoded = append(encoded, k)
		}
		sort.Strings(documented)
		sort.Strings(encoded)
		if strings.Join(documented, ",") != strings.Join(encoded, ",") {
			t.Errorf("GET %s: openapi.json has query parameters %v, %T encodes %v", path, documented, q, encoded)
		}
	}
}
