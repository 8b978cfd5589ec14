package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hilsearch/hilsearch/coordinator/api"
)

// APIError is one entry of the error catalogue. Every error the API returns
// is one of these, rendered as {"code", "message", "details"}.
type APIError struct {
	Status  int
	Code    string
	Message string
}

// The error catalogue: the only errors handlers return. Codes are stable;
// clients may rely on them.
var (
	ErrBadJSON             = APIError{http.StatusBadRequest, "invalid_json", "the request body is not valid JSON for this endpoint"}
	ErrUnknownField        = APIError{http.StatusBadRequest, "unknown_field", "the request body has a field this endpoint does not accept"}
	ErrValidation          = APIError{http.StatusUnprocessableEntity, "validation_failed", "a field has an invalid value"}
	ErrBadQuery            = APIError{http.StatusBadRequest, "invalid_query", "a query parameter has an invalid value"}
	ErrBodyTooLarge        = APIError{http.StatusRequestEntityTooLarge, "body_too_large", "the request body exceeds 1 MiB"}
	ErrUnsupportedMedia    = APIError{http.StatusUnsupportedMediaType, "unsupported_media_type", "the request body must be application/json"}
	ErrUnauthorized        = APIError{http.StatusUnauthorized, "unauthorized", "a valid API token is required (Authorization: Bearer <token>)"}
	ErrEnrollUnknown       = APIError{http.StatusUnauthorized, "enrollment_token_invalid", "the enrollment token is not known"}
	ErrEnrollUsed          = APIError{http.StatusUnauthorized, "enrollment_token_used", "the enrollment token was already used"}
	ErrEnrollExpired       = APIError{http.StatusUnauthorized, "enrollment_token_expired", "the enrollment token has expired"}
	ErrNKeyInUse           = APIError{http.StatusConflict, "nkey_in_use", "this NATS key is already enrolled; create a new key pair"}
	ErrDeviceNotFound      = APIError{http.StatusNotFound, "device_not_found", "no live device has this ID"}
	ErrJobNotFound         = APIError{http.StatusNotFound, "job_not_found", "no job has this ID"}
	ErrDownloadNotFound    = APIError{http.StatusNotFound, "download_not_found", "no such download; see /downloads/manifest.json"}
	ErrDownloadUnavailable = APIError{http.StatusServiceUnavailable, "download_unavailable", "this agent binary is not built; build the agents with `make agents` into the agent directory (HIL_AGENT_DIR)"}
	ErrSearchInvalid       = APIError{http.StatusBadRequest, "search_invalid", "the search spec is invalid; details name each field"}
	ErrSearchNotFound      = APIError{http.StatusNotFound, "search_not_found", "no search has this ID"}
	ErrSearchState         = APIError{http.StatusConflict, "search_state_conflict", "the search's state does not allow this"}
	ErrTrialNotFound       = APIError{http.StatusNotFound, "trial_not_found", "the search has no trial with this number"}
	ErrFidelityNotFound    = APIError{http.StatusNotFound, "fidelity_not_found", "no cross-check has this ID"}
	ErrNotExportable       = APIError{http.StatusUnprocessableEntity, "not_exportable", "this architecture cannot be exported in that format"}
	ErrRouteNotFound       = APIError{http.StatusNotFound, "route_not_found", "no such API route"}
	ErrMethodNotAllowed    = APIError{http.StatusMethodNotAllowed, "method_not_allowed", "this route does not accept that method"}
	ErrIdempotencyReused   = APIError{http.StatusConflict, "idempotency_key_reused", "this Idempotency-Key created a different job before; use a new key for a new job"}
	ErrCapacity            = APIError{http.StatusServiceUnavailable, "capacity_exceeded", "the fleet is at its configured capacity (a NATS JetStream limit); retry later or raise the limit"}
	ErrUnavailable         = APIError{http.StatusServiceUnavailable, "unavailable", "a backing service (PostgreSQL or NATS) is not reachable"}
	ErrInternal            = APIError{http.StatusInternalServerError, "internal", "internal error; the coordinator log has the details"}
)

// Catalogue lists every APIError, for the OpenAPI document and tests.
var Catalogue = []APIError{
	ErrBadJSON, ErrUnknownField, ErrValidation, ErrBadQuery, ErrBodyTooLarge, ErrUnsupportedMedia,
	ErrUnauthorized, ErrEnrollUnknown, ErrEnrollUsed, ErrEnrollExpired, ErrNKeyInUse,
	ErrDeviceNotFound, ErrJobNotFound, ErrDownloadNotFound, ErrDownloadUnavailable,
	ErrSearchInvalid, ErrSearchNotFound, ErrSearchState, ErrTrialNotFound, ErrFidelityNotFound, ErrNotExportable, ErrCSRF,
	ErrForbidden, ErrTokenNotFound, ErrBadText, ErrBadPath,
	ErrEvaluatorNotFound, ErrEvaluatorExists, ErrEvaluatorNATS, ErrNoEvaluators,
	ErrRouteNotFound, ErrMethodNotAllowed, ErrIdempotencyReused, ErrCapacity, ErrUnavailable, ErrInternal,
}

// atCapacity reports whether err is a JetStream limit being reached (its
// consumer limit, or its account's resources), which the API answers with
// 503 capacity_exceeded instead of 500.
func atCapacity(err error) bool {
	var ae *jetstream.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode {
	case jetstream.JSErrCodeMaximumConsumersLimit, jsErrInsufficientResources:
		return true
	}
	return false
}

// jsErrInsufficientResources is the server's "insufficient resources"
// error code (nats-server JSInsufficientResourcesErr); nats.go names no
// constant for it.
const jsErrInsufficientResources jetstream.ErrorCode = 10023

func fail(c *gin.Context, e APIError, details any) {
	c.AbortWithStatusJSON(e.Status, api.ErrorBody{Code: e.Code, Message: e.Message, Details: details})
}

func failFields(c *gin.Context, fields ...api.FieldError) {
	fail(c, ErrValidation, fields)
}
