package api

// DeviceStatus is a device's derived presence.
type DeviceStatus string

// Device statuses.
const (
	DeviceOnline  DeviceStatus = "online"
	DeviceBusy    DeviceStatus = "busy"
	DeviceOffline DeviceStatus = "offline"
	DeviceRevoked DeviceStatus = "revoked"
)
