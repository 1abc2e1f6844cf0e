// Package setup builds the adapters a process needs from its configuration;
// the mains in functions/ call it and stay thin.
package setup

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/console"
	"github.com/countersign/countersign/internal/httpapi"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// OpenStore opens the store the configuration names. The returned close
// function releases it.
func OpenStore(ctx context.Context, cfg config.Config) (domain.Store, func() error, error) {
	switch cfg.Store {
	case config.StoreBolt:
		s, err := boltstore.Open(cfg.DataDir)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case config.StoreDynamoDB:
		return openDynamo(ctx, cfg)
	}
	return nil, nil, fmt.Errorf("unknown store %q", cfg.Store)
}

// API builds the application service and the HTTP API over a store, with
// the web console at the paths the API does not own (Identity then
// configures how people get in).
func API(store domain.Store, clk clock.Clock, log *slog.Logger) (*app.Service, *httpapi.Server) {
	svc := app.New(store, clk, log)
	api := httpapi.New(svc, log)
	api.SetConsole(console.New(svc, api, log))
	return svc, api
}
