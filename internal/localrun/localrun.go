// Package localrun is the one-process runtime behind `make run`: the same
// HTTP handler the Lambda functions serve, on a local listener.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/setup"
)

// Run serves until ctx ends. Logs go to logs; the one-time bootstrap token
// banner goes to console.
func Run(ctx context.Context, cfg config.Config, logs, console io.Writer) error {
	log := cfg.Logger(logs)
	store, closeStore, err := setup.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()

	svc, handler := setup.API(store, clock.System{}, log)
	secret, err := svc.Bootstrap(ctx, cfg.AdminToken)
	if err != nil {
		return fmt.Errorf("bootstrap the first admin: %w", err)
	}
	if secret != "" && cfg.AdminToken == "" {
		fmt.Fprintf(console, "\n  Countersign created the first admin. Its API token, shown only this once:\n\n    %s\n\n  Use it as: curl -H 'Authorization: Bearer %s' http://%s/v1/projects\n\n", secret, secret, cfg.Addr)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set COUNTERSIGN_ADDR to use another address): %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	log.Info("countersign listening", "addr", ln.Addr().String(), "store", cfg.Store, "data_dir", cfg.DataDir)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
