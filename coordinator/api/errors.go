package api

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	// Code is stable; clients may rely on it (the catalogue is
	// coordinator/internal/httpapi/errors.go).
	Code    string `json:"code"`
	Message string `json:"message"`
	// Details are a FieldError, a list of them, or other data.
	Details any `json:"details,omitempty"`
}

// FieldError names the field a validation error is about, by its JSON path
// ("workload.threads", "targets[1].name").
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error renders "field: message".
func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}
