// Package api holds the types of the coordinator's HTTP API (/api/v1): the
// request and response bodies, the states they report, the live events of
// GET /api/v1/events and the error body. The HTTP handlers serve them, the
// store returns its rows as them, and the hil command-line client decodes
// them, so each API object has exactly one Go type. The OpenAPI document
// (coordinator/internal/httpapi/openapi.json) describes the same types; a
// golden test compares it with them field by field.
//
// Messages between the coordinator and device agents (enrollment, jobs,
// results) are in coordinator/wire, and the workload in package workload;
// the API embeds those where it serves them.
package api
