// Command local runs the whole of Countersign in one process on one machine:
// the API on the embedded store (or DynamoDB, when configured). `make run`
// starts it. It is not deployed.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/localrun"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "countersign:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := config.FromEnv(os.Getenv, config.StoreBolt)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return localrun.Run(ctx, cfg, os.Stdout, os.Stderr)
}
