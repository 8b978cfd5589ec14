// Package migrations embeds the numbered SQL migrations of the coordinator's
// PostgreSQL schema. They are applied with jackc/tern at start-up and by
// `coordinator migrate`; each file's text above the tern separator line
// upgrades, the text below it downgrades.
package migrations

import "embed"

// FS holds every migration file, named NNN_name.sql.
//
//go:embed *.sql
var FS embed.FS
