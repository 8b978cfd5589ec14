package search

import (
	"errors"
	"strings"
)

// Sentinel errors. Check them with errors.Is.
var (
	// ErrInvalidSpec wraps every validation failure of a search spec.
	ErrInvalidSpec = errors.New("invalid search spec")
	// ErrSpaceExhausted is returned by Ask when no admissible candidate
	// was found within the attempt limit (for example a budget that the
	// space meets only in rare corners).
	ErrSpaceExhausted = errors.New("no admissible candidate found")
	// ErrUnknownTrial is returned by Tell and Fail for a trial that the
	// optimizer did not hand out, or that is already finished.
	ErrUnknownTrial = errors.New("unknown or finished trial")
	// ErrNotComplete is returned by Revise for a trial of another study,
	// an unknown one, or one that is not complete with a recorded outcome.
	ErrNotComplete = errors.New("unknown or not complete trial")
	// ErrNotRevisable is returned by Revise when the optimizer's storage
	// does not implement Reviser.
	ErrNotRevisable = errors.New("the storage cannot revise a finished trial")
	// ErrBadOutcome is returned by Tell, Revise and Spec.Outcome when the values do
	// not match the objectives.
	ErrBadOutcome = errors.New("bad outcome")
	// ErrUnknownPreset is returned for a preset name that does not exist.
	ErrUnknownPreset = errors.New("unknown preset")
)

// FieldError is one problem in a search spec, located by its JSON path
// (for example "objectives[1].metric").
type FieldError struct {
	// Field is the JSON path of the offending value.
	Field string `json:"field"`
	// Message says what is wrong, in lower case.
	Message string `json:"message"`
}

// Error renders "field: message".
func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// ValidationError lists every problem found in a search spec. It matches
// ErrInvalidSpec under errors.Is.
type ValidationError struct {
	// Fields holds the problems in the order they were found.
	Fields []FieldError `json:"fields"`
}

// Error joins the field errors with "; ".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Error()
	}
	return "invalid search spec: " + strings.Join(parts, "; ")
}

// Is reports whether target is ErrInvalidSpec.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidSpec }

// fieldErrs collects field errors during validation.
type fieldErrs struct{ list []FieldError }

func (f *fieldErrs) add(field, msg string) {
	f.list = append(f.list, FieldError{Field: field, Message: msg})
}

func (f *fieldErrs) err() error {
	if len(f.list) == 0 {
		return nil
	}
	return &ValidationError{Fields: f.list}
}
