package coordinator_test

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/hilsearch/hilsearch/coordinator"
	"github.com/hilsearch/hilsearch/coordinator/testenv"
)

// TestTokenCommands: `coordinator token create|list|revoke` against a real
// database: the secret goes to stdout once, the list never shows it, and a
// revoked token stops authenticating.
func TestTokenCommands(t *testing.T) {
	dsn := testenv.Postgres(t)
	e := func(k string) string {
		if k == "DATABASE_URL" {
			return dsn
		}
		return ""
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := coordinator.Main(t.Context(), args, e, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, secret, msg := run("token", "create", "--name", "ci", "--scope", "read-only", "--ttl", "720h")
	secret = strings.TrimSpace(secret)
	if code != 0 || !strings.HasPrefix(secret, "hil_") || !strings.Contains(msg, "read-only") || !strings.Contains(msg, "expires") {
		t.Fatalf("create: %d %q %q", code, secret, msg)
	}
	code, forever, msg := run("token", "create", "--name", "farm", "--scope", "enroll-only", "--ttl", "0")
	if code != 0 || !strings.Contains(msg, "does not expire") {
		t.Fatalf("create --ttl 0: %d %q %q", code, forever, msg)
	}
	for _, bad := range [][]string{
		{"token", "create", "--name", "x", "--scope", "root"},
		{"token", "create", "--name", ""},
		{"token", "create", "--name", "x", "--ttl", "5s"},
		{"token", "create", "--name", "x", "--ttl", "-1h"},
		{"token", "revoke"},
		{"token", "revoke", "abc"},
	} {
		if code, _, msg := run(bad...); code == 0 {
			t.Errorf("%v: exit 0 (%s)", bad, msg)
		}
	}
	if code, _, _ := run("token", "nope"); code != 2 {
		t.Errorf("unknown token subcommand: exit %d, want 2", code)
	}
	code, list, msg := run("token", "list")
	if code != 0 || strings.Contains(list, secret) || strings.Contains(list, strings.TrimSpace(forever)) {
		t.Fatalf("list: %d %s %s", code, list, msg)
	}
	rows := regexp.MustCompile(`(?m)^(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s`).FindAllStringSubmatch(list, -1)
	if len(rows) != 2 || rows[1][2] != "ci" || rows[1][3] != "read-only" || rows[1][4] != "active" || rows[0][3] != "enroll-only" {
		t.Fatalf("list:\n%s", list)
	}
	if !strings.Contains(list, "never") {
		t.Fatalf("list does not show the token without expiry:\n%s", list)
	}
	// Revoke by ID, with the ID after a flag that takes a value.
	if code, out, msg := run("token", "revoke", "--log-level", "warn", rows[1][1]); code != 0 || !strings.Contains(out, `"ci"`) {
		t.Fatalf("revoke: %d %s %s", code, out, msg)
	}
	if code, _, msg := run("token", "revoke", "999999"); code != 1 || !strings.Contains(msg, "no API token") {
		t.Fatalf("revoke unknown: %d %s", code, msg)
	}
	_, list, _ = run("token", "list")
	if !regexp.MustCompile(`(?m)^` + rows[1][1] + `\s+ci\s+read-only\s+revoked\s`).MatchString(list) {
		t.Fatalf("after revoke:\n%s", list)
	}
	if n := testenv.QueryInt(t, dsn, `SELECT count(*) FROM api_tokens WHERE revoked_at IS NOT NULL`); n != 1 {
		t.Fatalf("%d revoked tokens in the database", n)
	}
}
