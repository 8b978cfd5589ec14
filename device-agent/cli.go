package agent

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
)

// IO bundles the standard streams a subcommand uses.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

type command struct {
	summary string
	run     func(ctx context.Context, args []string, st IO) error
}

// commands is the one table of device-agent subcommands.
var commands = map[string]command{
	"profile": {summary: "print the hardware profile of this device", run: runProfile},
	"enroll":  {summary: "enroll this device with a coordinator (one-time token)", run: runEnroll},
	"run":     {summary: "connect to the coordinator and measure jobs until stopped", run: runRun},
	"measure": {summary: "measure one job from stdin (the agent's child process)", run: runMeasure},
	"bench":   {summary: "time prompt processing and generation of an architecture (llama-bench style)", run: runBench},
	"farm":    {summary: "run the phones adb sees as measuring devices (push, enroll, start, watch)", run: runFarm},
}

// Main runs the device-agent command line and returns the process exit code.
func Main(ctx context.Context, args []string, st IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(st.Stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(st.Stderr, "device-agent: unknown command %q\n\n", args[0])
		usage(st.Stderr)
		return 2
	}
	if err := cmd.run(ctx, args[1:], st); err != nil {
		if err == errUsage {
			return 2
		}
		fmt.Fprintf(st.Stderr, "device-agent %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// errUsage reports a usage error whose message the flag package already printed.
var errUsage = fmt.Errorf("usage")

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: device-agent <command> [flags]\n\ncommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, commands[n].summary)
	}
	b.WriteString("\nRun 'device-agent <command> -h' for a command's flags.\n")
	io.WriteString(w, b.String())
}
