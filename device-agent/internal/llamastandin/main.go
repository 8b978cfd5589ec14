// Command llamastandin is a STAND-IN for llama.cpp's llama-bench, for the
// agent's tests of process handling only: the tests build it, point the
// llama.cpp runtime at it and check what the agent does when llama-bench
// succeeds, hangs, crashes, prints bad JSON or grows too big. It times
// nothing; its numbers are made up, so nothing it prints may be stored as a
// measurement (the tests use a private agent, never a database).
//
// LLAMA_STANDIN_MODE chooses the behaviour:
//
//	ok      print one JSON row per test the arguments ask for (-p, -n, -d,
//	        -pg, -r), in llama-bench's -o json layout, with build_commit
//	        "stand-in"
//	sleep   sleep for an hour (a hang)
//	crash   write an error to stderr and exit with status 2
//	badjson print text that is not JSON
//	memory  touch 512 MiB, then sleep for an hour
//
// It checks that -m names a readable file whose first bytes are "GGUF".
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	args := map[string][]string{}
	for i := 1; i+1 < len(os.Args); i += 2 {
		args[os.Args[i]] = append(args[os.Args[i]], os.Args[i+1])
	}
	model := first(args["-m"])
	f, err := os.Open(model)
	if err != nil {
		fmt.Fprintf(os.Stderr, "llama-bench stand-in: %v\n", err)
		os.Exit(1)
	}
	magic := make([]byte, 4)
	if _, err := f.Read(magic); err != nil || string(magic) != "GGUF" {
		fmt.Fprintf(os.Stderr, "llama-bench stand-in: %s is not a GGUF file\n", model)
		os.Exit(1)
	}
	f.Close()
	switch os.Getenv("LLAMA_STANDIN_MODE") {
	case "sleep":
		time.Sleep(time.Hour)
	case "crash":
		fmt.Fprintln(os.Stderr, "llama-bench stand-in: simulated crash")
		os.Exit(2)
	case "badjson":
		fmt.Println("[{ this is not json")
	case "memory":
		b := make([]byte, 512<<20)
		for i := range b {
			b[i] = byte(i)
		}
		time.Sleep(time.Hour)
		fmt.Println(len(b))
	default:
		printRows(args)
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func ints(v []string) []int {
	var out []int
	for _, s := range v {
		for _, f := range strings.Split(s, ",") {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
	}
	return out
}

// printRows prints the tests llama-bench would run for args, each
// repetition "taking" 1 ms per token.
func printRows(args map[string][]string) {
	reps, _ := strconv.Atoi(first(args["-r"]))
	reps = max(reps, 1)
	type test struct{ p, n, d int }
	var tests []test
	depths := ints(args["-d"])
	if len(depths) == 0 {
		depths = []int{0}
	}
	for _, d := range depths {
		for _, p := range ints(args["-p"]) {
			if p > 0 {
				tests = append(tests, test{p, 0, d})
			}
		}
		for _, n := range ints(args["-n"]) {
			if n > 0 {
				tests = append(tests, test{0, n, d})
			}
		}
		for _, pg := range args["-pg"] {
			v := ints([]string{pg})
			tests = append(tests, test{v[0], v[1], d})
		}
	}
	var rows []map[string]any
	for _, t := range tests {
		var ns []int64
		var ts []float64
		for i := 0; i < reps; i++ {
			v := int64(t.p+t.n) * int64(time.Millisecond)
			ns = append(ns, v)
			ts = append(ts, float64(t.p+t.n)*1e9/float64(v))
		}
		rows = append(rows, map[string]any{
			"build_commit": "stand-in", "build_number": 0, "cpu_info": "stand-in", "backends": "CPU",
			"model_type": "stand-in", "model_size": 1024, "model_n_params": 1,
			"n_prompt": t.p, "n_gen": t.n, "n_depth": t.d, "samples_ns": ns, "samples_ts": ts,
		})
	}
	b, _ := json.MarshalIndent(rows, "", "  ")
	fmt.Println(string(b))
}
