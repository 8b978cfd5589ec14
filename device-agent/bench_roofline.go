package agent

import (
	"os"
	"strconv"
	"strings"

	"github.com/hilsearch/hilsearch/arch"
	"github.com/hilsearch/hilsearch/kernels/roofline"
)

// benchMachine is the roofline of the machine measured during a bench run:
// one read-bandwidth and one FMA-peak measurement per round (each the best
// of its passes, see roofline.Bandwidth), and their medians over the rounds.
type benchMachine struct {
	BandwidthBytesPerSec float64   `json:"bandwidth_bytes_per_s"`
	BandwidthRounds      []float64 `json:"bandwidth_rounds"`
	BandwidthBufferBytes int64     `json:"bandwidth_buffer_bytes"`
	BandwidthPasses      int       `json:"bandwidth_passes"`
	FMAFLOPsPerSec       float64   `json:"fma_flops_per_s"`
	FMARounds            []float64 `json:"fma_rounds"`
	FMAPasses            int       `json:"fma_passes"`
	FMAPassNs            int64     `json:"fma_pass_ns"`
	Threads              int       `json:"threads"`
	// Variant is roofline.Variant: the loops that measured.
	Variant string `json:"variant"`
}

// decodeBytesPerToken is the bytes one decode step reads at precision p
// with T tokens already in the context, from arch's per-tensor accounting:
// every tensor of spec.Tensors() except token_embd once (layer matrices,
// norms, conv kernels, and output.weight when untied), plus the LM head
// (when tied, the whole token_embd table), plus one token_embd row for the
// lookup, plus the KV cache of every attention layer for the T+1 positions
// the new token attends (its own included; arch.KVBytes, f16 unless
// kvF32). Recurrent state (conv, linear-attention and SSM state),
// activations, logits and scratch are not counted.
func decodeBytesPerToken(s *arch.Spec, p arch.Precision, kvF32 bool, T int) int64 {
	var n int64
	for _, t := range s.Tensors() {
		if t.Name != "token_embd.weight" {
			n += t.Bytes(p)
			continue
		}
		emb := t.Bytes(p)
		n += emb / int64(t.Shape[0]) // one row
		if s.TiedEmbeddings {
			n += emb // the LM head
		}
	}
	return n + s.KVBytes(T+1, kvF32)
}

// tgBytesPerToken is decodeBytesPerToken averaged over the n steps of a
// tg test at depth d (the step i reads the cache at context d+i).
func tgBytesPerToken(s *arch.Spec, p arch.Precision, kvF32 bool, d, n int) float64 {
	var sum float64
	for i := range n {
		sum += float64(decodeBytesPerToken(s, p, kvF32, d+i))
	}
	return sum / float64(max(n, 1))
}

// ppFLOPs is the FLOPs of a p-token prefill after d tokens of context:
// arch.FLOPsPrefill(d+p) − arch.FLOPsPrefill(d), plus one LM head when
// d > 0 (both terms count one head, which cancels; the test computes it
// once). The head is FLOPsDecode(0) minus its layers' LayerFLOPsDecode(·, 0).
func ppFLOPs(s *arch.Spec, d, p int) int64 {
	if d == 0 {
		return s.FLOPsPrefill(p)
	}
	head := s.FLOPsDecode(0)
	for i := range s.Layers {
		head -= s.LayerFLOPsDecode(i, 0)
	}
	return s.FLOPsPrefill(d+p) - s.FLOPsPrefill(d) + head
}

// bandwidthBufferBytes is the size of the buffer Bandwidth streams: 8× the
// last-level cache, at least 512 MiB.
func bandwidthBufferBytes() int64 {
	return max(512<<20, 8*lastLevelCacheBytes())
}

// lastLevelCacheBytes reads the largest cache size of CPU 0 from Linux
// sysfs (0 when unreadable).
func lastLevelCacheBytes() int64 {
	var best int64
	for i := range 8 {
		data, err := os.ReadFile("/sys/devices/system/cpu/cpu0/cache/index" + strconv.Itoa(i) + "/size")
		if err != nil {
			continue
		}
		best = max(best, parseSize(strings.TrimSpace(string(data))))
	}
	return best
}

// parseSize parses sysfs sizes such as "32768K" or "1M" (0 if malformed).
func parseSize(s string) int64 {
	mul := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mul, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mul, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mul, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0
	}
	return v * mul
}

// memAvailableBytes is MemAvailable of /proc/meminfo, 0 when unreadable.
func memAvailableBytes() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == "MemAvailable" {
			f := strings.Fields(v)
			if len(f) > 0 {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	return 0
}

// medianMinMax returns the median (the mean of the middle two for an even
// count), minimum and maximum of x; zeros for an empty x.
func medianMinMax(x []float64) (med, lo, hi float64) {
	if len(x) == 0 {
		return 0, 0, 0
	}
	lo, hi = x[0], x[0]
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return roofline.Median(x), lo, hi
}
