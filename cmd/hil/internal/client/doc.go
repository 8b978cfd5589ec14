// Package client is a small typed HTTP client of the coordinator's REST API
// (/api/v1) for the hil command-line tool. Every call sends the API token as
// a bearer token. Error responses ({code, message, details}) become *Error,
// whose message lists field errors one per line.
//
// Requests and answers are the coordinator's own API types (package
// coordinator/api), so the client and the server cannot drift apart.
package client
