package search

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestParseReadsDecodeLength: specs written before the workload type was
// shared with measurement jobs name the decode token count decode_length;
// they still parse (stored specs, older clients), and a spec is written
// back with decode_tokens.
func TestParseReadsDecodeLength(t *testing.T) {
	if !strings.Contains(validJSON, `"decode_length": 64`) {
		t.Fatal("test bug: validJSON no longer uses decode_length")
	}
	s, err := Parse([]byte(validJSON))
	if err != nil {
		t.Fatal(err)
	}
	if s.Workload.DecodeTokens != 64 {
		t.Fatalf("decode_length 64 read as DecodeTokens %d", s.Workload.DecodeTokens)
	}
	out, _ := json.Marshal(s)
	if !strings.Contains(string(out), `"decode_tokens":64`) || strings.Contains(string(out), "decode_length") {
		t.Fatalf("re-encoded workload: %s", out)
	}
	again, err := Parse(out)
	if err != nil || again.Workload.DecodeTokens != 64 {
		t.Fatalf("re-parse: %v %+v", err, again)
	}
	both := strings.Replace(validJSON, `"decode_length": 64`, `"decode_length": 64, "decode_tokens": 64`, 1)
	if _, err := Parse([]byte(both)); err == nil || !strings.Contains(err.Error(), "workload.decode_length: give decode_tokens only") {
		t.Fatalf("both names: %v", err)
	}
}
