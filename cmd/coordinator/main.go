// Command coordinator runs the hilsearch coordinator; see package coordinator.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hilsearch/hilsearch/coordinator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := coordinator.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
