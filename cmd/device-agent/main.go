// Command device-agent runs on a measurement device; see package agent.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	agent "github.com/hilsearch/hilsearch/device-agent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := agent.Main(ctx, os.Args[1:], agent.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
