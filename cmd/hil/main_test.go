package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

// TestArchShowJSONParams runs "hil arch show <preset> --json" in-process for
// every preset and checks the acceptance parameter counts and the fields
// the JSON object must carry.
func TestArchShowJSONParams(t *testing.T) {
	want := map[string]int64{
		"lfm2-350m":    354_483_968,
		"lfm2-700m":    742_489_344,
		"lfm2-1.2b":    1_170_340_608,
		"lfm2-2.6b":    2_569_272_320,
		"llama-3.2-1b": 1_235_814_400,
		"qwen3-0.6b":   596_049_920,
	}
	for name, params := range want {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"arch", "show", name, "--json"}, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, errb.String())
		}
		var r struct {
			Name               string           `json:"name"`
			Params             int64            `json:"params"`
			NonEmbeddingParams int64            `json:"non_embedding_params"`
			Hash               string           `json:"hash"`
			WeightBytes        map[string]int64 `json:"weight_bytes"`
			KVBytesPerToken    *int64           `json:"kv_bytes_per_token"`
			StateBytes         *int64           `json:"state_bytes"`
			FLOPsPrefill       int64            `json:"flops_prefill"`
			FLOPsDecode        int64            `json:"flops_decode"`
			Layers             []struct {
				Mixer string `json:"mixer"`
			} `json:"layers"`
		}
		dec := json.NewDecoder(&out)
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if dec.More() {
			t.Errorf("%s: more than one JSON value printed", name)
		}
		if r.Name != name || r.Params != params {
			t.Errorf("%s: name %q params %d, want %d", name, r.Name, r.Params, params)
		}
		if r.NonEmbeddingParams <= 0 || r.NonEmbeddingParams >= r.Params || len(r.Hash) != 64 ||
			r.KVBytesPerToken == nil || r.StateBytes == nil || r.FLOPsPrefill <= 0 || r.FLOPsDecode <= 0 {
			t.Errorf("%s: incomplete report %+v", name, r)
		}
		for _, p := range []string{"f32", "f16", "q8_0", "q4_0"} {
			if r.WeightBytes[p] <= 0 {
				t.Errorf("%s: weight_bytes[%s] = %d", name, p, r.WeightBytes[p])
			}
		}
		if len(r.Layers) == 0 || r.Layers[0].Mixer == "" {
			t.Errorf("%s: layers %v", name, r.Layers)
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if code := run(context.Background(), nil, &out, &errb); code != 2 {
		t.Errorf("no args: exit %d, want 2", code)
	}
}
