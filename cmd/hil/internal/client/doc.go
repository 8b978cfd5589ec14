// Package client is a small typed HTTP client of the coordinator's REST API
// (/api/v1) for the hil command-line tool. Every call sends the API token as
// a bearer token. Error responses ({code, message, details}) become *Error,
// whose message lists field errors one per line.
//
// The types here mirror the JSON the coordinator serves; they are declared
// again rather than imported because the coordinator's are internal to it.
package client
