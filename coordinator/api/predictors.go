package api

import (
	"time"

	"github.com/hilsearch/hilsearch/search"
)

// DevicePredictors is the body of GET /api/v1/devices/{id}/predictor: the
// device's fitted predictors, one per runtime and workload hash, newest
// fit first. A device that has measured nothing yet has none.
type DevicePredictors struct {
	DeviceID   string            `json:"device_id"`
	Predictors []DevicePredictor `json:"predictors"`
}

// DevicePredictor is one fitted predictor of a device. Predictor carries
// per metric the features, coefficients, fit error (relative residual and
// leave-one-out spread), the number of rows (measurements and block probes)
// and every row's residual, plus the observations it was fitted from, so a
// client predicts with it exactly as the coordinator does
// (search.Predictor.Predict; hil predict).
type DevicePredictor struct {
	Runtime      string `json:"runtime"`
	WorkloadHash string `json:"workload_hash"`
	// Measurements counts the measurements it was fitted from.
	Measurements int `json:"measurements"`
	// FittedAt is the last refit.
	FittedAt  time.Time         `json:"fitted_at"`
	Predictor *search.Predictor `json:"predictor"`
}
