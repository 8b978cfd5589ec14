package api

import (
	"encoding/json"
	"time"
)

// DeviceStatus is a device's derived presence.
type DeviceStatus string

// Device statuses.
const (
	DeviceOnline  DeviceStatus = "online"
	DeviceBusy    DeviceStatus = "busy"
	DeviceOffline DeviceStatus = "offline"
	DeviceRevoked DeviceStatus = "revoked"
)

// Device is a registered measurement device.
type Device struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Tags       []string        `json:"tags"`
	Class      string          `json:"class"`
	Profile    json.RawMessage `json:"profile"`
	NKey       string          `json:"nkey"`
	CreatedAt  time.Time       `json:"created_at"`
	LastSeen   *time.Time      `json:"last_seen,omitempty"`
	LastStatus *string         `json:"last_status,omitempty"`
	LastTempC  *float64        `json:"last_temp_c,omitempty"`
	RevokedAt  *time.Time      `json:"revoked_at,omitempty"`
	// Measurements counts the measurements the device has reported.
	Measurements int64 `json:"measurements"`
	// Status is derived: revoked, offline, online (idle) or busy.
	Status DeviceStatus `json:"status"`
}

// DeviceList is the body of GET /api/v1/devices.
type DeviceList struct {
	Devices []Device `json:"devices"`
}

// DevicePatch is the body of PATCH /api/v1/devices/{id}; nil fields stay.
type DevicePatch struct {
	Name *string   `json:"name,omitempty"`
	Tags *[]string `json:"tags,omitempty"`
}

// RevokeResponse is the body of DELETE /api/v1/devices/{id}.
type RevokeResponse struct {
	Device        Device `json:"device"`
	CancelledJobs uint64 `json:"cancelled_jobs"`
}

// EnrollmentTokenRequest is the body of POST /api/v1/enrollment-tokens.
type EnrollmentTokenRequest struct {
	// TTLSeconds is how long the token stays valid; default 86400 (24 h),
	// at most 30 days.
	TTLSeconds *int64 `json:"ttl_seconds,omitempty"`
}

// EnrollmentToken carries a new enrollment token's secret, shown only in
// this answer.
type EnrollmentToken struct {
	ID        int64     `json:"id"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AgentManifest lists the agent downloads (GET /downloads/manifest.json).
type AgentManifest struct {
	Version string `json:"version"`
	// CoordinatorURL is the address devices should enroll with
	// (HIL_ADVERTISE, else derived from the listen address); empty when
	// unknown.
	CoordinatorURL string                   `json:"coordinator_url,omitempty"`
	Files          map[string]AgentDownload `json:"files"`
}

// AgentDownload is one entry of the manifest. SHA256 and Size are empty
// when the binary is not in the agent directory (`make agents` puts it
// there).
type AgentDownload struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256,omitempty"`
	Size   int64  `json:"size,omitempty"`
}
