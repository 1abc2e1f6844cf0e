// Command local runs the whole of Countersign in one process on one machine:
// the API on the embedded store (or DynamoDB, when configured). `make run`
// starts it. It is not deployed.
//
// `local recover-admin --email <address>` is the operator's way back when no
// admin member is left: it makes that member an admin on the configured
// store (internal/recovery; docs/operations.md, "Recovering the last admin").
package main

import (
	_ "time/tzdata" // freezes name IANA time zones; the Lambda runtime need not have /usr/share/zoneinfo

	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/localrun"
	"github.com/countersign/countersign/internal/recovery"
)

// localGCPercent is the GC target of the local runtime when GOGC is unset.
const localGCPercent = 400

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
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "recover-admin":
			return recovery.RecoverAdmin(context.Background(), cfg, os.Args[2:], os.Stdout, os.Stderr)
		default:
			return fmt.Errorf("unknown command %q; run without arguments to serve, or: %s", os.Args[1], recovery.RecoverAdminUsage)
		}
	}
	// The local runtime's live heap is a few MB, so Go's default GC target
	// (GOGC=100) collects many times a second under evaluation load, and
	// each cycle's mark work delays requests on a small machine (p99 at
	// 30 000 evaluations/s: docs/benchmarks.md, "OFREP benchmarks"). Four times the live
	// heap costs tens of MB at most; GOGC in the environment still decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(localGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return localrun.Run(ctx, cfg, os.Stdout, os.Stderr)
}
