// Package apiwire builds what the api function serves: the JSON API
// (httpapi.NewAPI: /v1/, /healthz, /openapi.yaml) and the browser sessions
// it accepts besides API tokens (the public address, session lifetimes).
// The api function and the console function (internal/setup/consolewire)
// use it. It links no page, neither the console nor OpenID Connect (they
// are the console function's), nor e-mail and events (the API writes the
// outbox, and the notifier delivers it).
package apiwire

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/httpapi"
)

// New builds the JSON API over svc alone (Sessions then configures the
// browser sessions it accepts).
func New(svc *app.Service, log *slog.Logger) *httpapi.Server {
	return httpapi.NewAPI(svc, log)
}

// Sessions configures the browser sessions of srv and svc: the public
// address (the origin cookie-authenticated writes must come from, and
// whether cookies are Secure; empty takes it from each request) and the
// session lifetimes. The api and the console functions read the same
// sessions from the store, so both configure them alike.
func Sessions(cfg config.Config, svc *app.Service, srv *httpapi.Server) error {
	if err := srv.SetBaseURL(cfg.BaseURL); err != nil {
		return fmt.Errorf("COUNTERSIGN_BASE_URL: %w", err)
	}
	svc.SetSessionLifetimes(cfg.SessionIdle, cfg.SessionLifetime)
	return nil
}

// FromRequestHost makes srv take the public address from each request
// when getenv has no COUNTERSIGN_BASE_URL (the first deploy, before
// PublicBaseUrl is known), so that cookies are Secure and writes are
// checked against the API's own host. config.Config.BaseURL has a local
// default, which a Lambda function must not use.
func FromRequestHost(getenv func(string) string, srv *httpapi.Server) {
	if getenv("COUNTERSIGN_BASE_URL") == "" {
		_ = srv.SetBaseURL("")
	}
}

// Bootstrap makes the operator's first admin (infra/README.md) when the
// configuration names one: invited at AdminEmail on an empty table, and/or
// given the bootstrap token. Idempotent, and safe when several instances
// of either function start at once; without either setting it does
// nothing (and makes no call).
func Bootstrap(ctx context.Context, cfg config.Config, svc *app.Service) error {
	if cfg.AdminToken == "" && cfg.AdminEmail == "" {
		return nil
	}
	if _, err := svc.BootstrapAdmin(ctx, app.BootstrapInput{Token: cfg.AdminToken, Email: cfg.AdminEmail}); err != nil {
		return fmt.Errorf("bootstrap admin: %w", err)
	}
	return nil
}
