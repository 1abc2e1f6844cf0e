package setup

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
)

// Lambda is what every Lambda function starts from: its configuration (from
// the environment, DynamoDB by default), logger, store, and the service with
// its action link key.
type Lambda struct {
	Config  config.Config
	Log     *slog.Logger
	Store   domain.Store
	Service *app.Service
	Handler http.Handler // the HTTP API over Service
	Close   func() error
}

// ForLambda builds it.
func ForLambda(ctx context.Context) (*Lambda, error) {
	cfg, err := config.FromEnv(os.Getenv, config.StoreDynamoDB)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger(os.Stdout)
	store, closeStore, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	svc, api := API(store, clock.System{}, log)
	if err := Links(cfg, svc, ""); err != nil {
		closeStore()
		return nil, err
	}
	if err := Identity(ctx, cfg, svc, api, clock.System{}, log, ""); err != nil {
		closeStore()
		return nil, err
	}
	if os.Getenv("COUNTERSIGN_BASE_URL") == "" {
		// No public address configured (the first deploy, before
		// PublicBaseUrl is known): take it from each request, so that cookies
		// are Secure and writes are checked against the API's own host.
		_ = api.SetBaseURL("")
	}
	return &Lambda{Config: cfg, Log: log, Store: store, Service: svc, Handler: api, Close: closeStore}, nil
}
