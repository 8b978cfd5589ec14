package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
)

// Parse reads a search spec from JSON strictly (unknown fields and trailing
// data are errors), applies the space preset if one is named, fills
// defaults, and validates. Every problem is reported in a *ValidationError
// (errors.Is(err, ErrInvalidSpec)) naming the field.
func Parse(data []byte) (*Spec, error) {
	var head struct {
		Space struct {
			Preset string `json:"preset"`
		} `json:"space"`
	}
	// The preset is read leniently first; the strict decode below reports
	// any problem in the document.
	_ = json.Unmarshal(data, &head)

	var s Spec
	if head.Space.Preset != "" {
		p, err := SpacePreset(head.Space.Preset)
		if err != nil {
			return nil, &ValidationError{Fields: []FieldError{{
				Field: "space.preset", Message: fmt.Sprintf("unknown preset %q (known: %s)", head.Space.Preset, strings.Join(PresetNames(), ", ")),
			}}}
		}
		s.Space = p
	}
	data, err := renameDecodeLength(data)
	if err != nil {
		return nil, err
	}
	if err := decodeStrict(data, &s); err != nil {
		return nil, err
	}
	s.Space.Preset = ""
	s.applyDefaults()
	if err := s.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) && isZeroSpace(data) {
			// No space at all: one line saying so, not one per field.
			fields := []FieldError{{Field: "space", Message: "missing (give a preset: " + strings.Join(PresetNames(), ", ") + "; or vocab, layers, hidden, mixers, ffn and params)"}}
			for _, f := range ve.Fields {
				if f.Field != "space" && !strings.HasPrefix(f.Field, "space.") {
					fields = append(fields, f)
				}
			}
			ve.Fields = fields
		}
		return nil, err
	}
	return &s, nil
}

// renameDecodeLength reads workload.decode_length, the name search specs
// gave the decode token count before the workload type was shared with
// measurement jobs, as workload.decode_tokens, so stored specs and older
// clients keep working. Only the first JSON value is rewritten; what
// follows it is kept for decodeStrict to report, and a document that is
// not a JSON object is returned as it is.
func renameDecodeLength(data []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if dec.Decode(&doc) != nil {
		return data, nil
	}
	rest := data[dec.InputOffset():]
	var w map[string]json.RawMessage
	if json.Unmarshal(doc["workload"], &w) != nil {
		return data, nil
	}
	old, ok := w["decode_length"]
	if !ok {
		return data, nil
	}
	if _, both := w["decode_tokens"]; both {
		return nil, &ValidationError{Fields: []FieldError{{Field: "workload.decode_length",
			Message: "give decode_tokens only (decode_length is its former name)"}}}
	}
	delete(w, "decode_length")
	w["decode_tokens"] = old
	var err error
	if doc["workload"], err = json.Marshal(w); err != nil {
		return nil, err
	}
	out, err := json.Marshal(doc)
	return append(out, rest...), err
}

// decodeStrict decodes JSON into v, refusing unknown fields and trailing
// data, and turns decoder errors into field errors.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return &ValidationError{Fields: []FieldError{{Message: "trailing data after the JSON document"}}}
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return &ValidationError{Fields: []FieldError{{Message: JSONErrorAt(data, syn.Offset, syn)}}}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{Fields: []FieldError{{Message: JSONErrorAt(data, int64(len(data)), errors.New("unexpected end of JSON input (truncated document?)"))}}}
	case errors.As(err, &typ):
		return &ValidationError{Fields: []FieldError{{Field: typ.Field, Message: fmt.Sprintf("expected %s, got JSON %s", typ.Type, typ.Value)}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		var raw any
		if json.Unmarshal(data, &raw) == nil {
			if path, name := unknownField(raw, reflect.TypeOf(v), ""); name != "" {
				return &ValidationError{Fields: []FieldError{{Field: path, Message: fmt.Sprintf("unknown field %q", name)}}}
			}
		}
		return &ValidationError{Fields: []FieldError{{Message: strings.TrimPrefix(err.Error(), "json: ")}}}
	case errors.Is(err, io.EOF):
		return &ValidationError{Fields: []FieldError{{Message: "empty document"}}}
	}
	return &ValidationError{Fields: []FieldError{{Message: err.Error()}}}
}

// unknownField walks a generic JSON value against a Go type and returns the
// path of the first object key that the type does not declare. The path
// names the containing object ("" at the top level).
func unknownField(raw any, t reflect.Type, path string) (string, string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			return "", ""
		}
		fields := map[string]reflect.Type{}
		collectJSONFields(t, fields)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			ft, ok := lookupFold(fields, k)
			if !ok {
				return path, k
			}
			if p, n := unknownField(obj[k], ft, joinPath(path, k)); n != "" {
				return p, n
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := raw.([]any)
		if !ok {
			return "", ""
		}
		for i, e := range arr {
			if p, n := unknownField(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); n != "" {
				return p, n
			}
		}
	case reflect.Map:
		obj, ok := raw.(map[string]any)
		if !ok {
			return "", ""
		}
		for k, e := range obj {
			if p, n := unknownField(e, t.Elem(), joinPath(path, k)); n != "" {
				return p, n
			}
		}
	}
	return "", ""
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// collectJSONFields maps the JSON names of t's fields (embedded structs
// flattened) to their types.
func collectJSONFields(t reflect.Type, out map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			et := f.Type
			for et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				collectJSONFields(et, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
}

// lookupFold finds k as encoding/json does: exact match first, then
// case-insensitive.
func lookupFold(fields map[string]reflect.Type, k string) (reflect.Type, bool) {
	if t, ok := fields[k]; ok {
		return t, true
	}
	for name, t := range fields {
		if strings.EqualFold(name, k) {
			return t, true
		}
	}
	return nil, false
}

// isZeroSpace reports whether the document has no "space" or an empty one.
func isZeroSpace(data []byte) bool {
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil {
		return false
	}
	raw, ok := doc["space"]
	if !ok {
		return true
	}
	var sp map[string]json.RawMessage
	return json.Unmarshal(raw, &sp) == nil && len(sp) == 0
}

// JSONErrorAt describes a JSON syntax error at byte offset of data with
// its line and column (1-based; the column counts bytes).
func JSONErrorAt(data []byte, offset int64, err error) string {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	if offset < 0 {
		offset = 0
	}
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	msg := strings.TrimPrefix(err.Error(), "json: ")
	return fmt.Sprintf("malformed JSON at line %d, column %d: %s", line, col, msg)
}
