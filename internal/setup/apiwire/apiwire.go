// Package apiwire builds what the api function serves: the HTTP API with
// the web console, and how people get in (the public address, session
// lifetimes, sign-in with an OpenID provider). The api function and the
// local process use it; it links neither e-mail nor events (the API writes
// the outbox, and the notifier delivers it).
package apiwire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/console"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/oidcauth"
	"github.com/countersign/countersign/internal/setup/appwire"
)

// New builds the HTTP API over svc, with the web console at the paths the
// API does not own (Identity then configures how people get in).
func New(svc *app.Service, log *slog.Logger) *httpapi.Server {
	api := httpapi.New(svc, log)
	api.SetConsole(console.New(svc, api, log))
	return api
}

// OIDCFromEnv reads sign-in with an OpenID provider (COUNTERSIGN_OIDC_*,
// oidcauth.ConfigFromEnv) with Countersign's public address baseURL
// (config.Config.BaseURL); nil when it is not configured. Only the
// processes that serve sign-in read these variables.
func OIDCFromEnv(getenv func(string) string, baseURL string) (*oidcauth.Config, error) {
	oc, err := oidcauth.ConfigFromEnv(getenv)
	if oc != nil {
		oc.BaseURL = baseURL
	}
	return oc, err
}

// Identity configures how people get in: the public address (the origin
// cookie-authenticated writes must come from, and whether cookies are
// Secure), the session lifetimes, and sign-in with the OpenID provider oc
// when it is not nil. A client secret in Secrets Manager
// (oc.ClientSecretARN) is read with a client made from awsCfg, at the first
// sign-in. keyFile is appwire.Links's: the OpenID Connect flow cookie is
// sealed with a key derived from the action link key.
func Identity(ctx context.Context, cfg config.Config, oc *oidcauth.Config, awsCfg func() (aws.Config, error),
	svc *app.Service, api *httpapi.Server, clk clock.Clock, log *slog.Logger, keyFile string) error {
	if err := api.SetBaseURL(cfg.BaseURL); err != nil {
		return fmt.Errorf("COUNTERSIGN_BASE_URL: %w", err)
	}
	svc.SetSessionLifetimes(cfg.SessionIdle, cfg.SessionLifetime)
	if oc == nil {
		return nil
	}
	c := *oc
	if c.ClientSecretARN != "" && c.ClientSecretFunc == nil {
		if awsCfg == nil {
			return fmt.Errorf("%s is set, but this process has no AWS configuration to read it with", oidcauth.EnvClientSecretARN)
		}
		ac, err := awsCfg()
		if err != nil {
			return fmt.Errorf("AWS configuration for %s: %w", oidcauth.EnvClientSecretARN, err)
		}
		c.ClientSecretFunc = oidcauth.SecretsManagerSecret(secretsmanager.NewFromConfig(ac), c.ClientSecretARN)
	}
	key, err := appwire.LinkKey(cfg, keyFile)
	if err != nil {
		return err
	}
	h, err := oidcauth.New(c, oidcauth.Deps{SignIn: OIDCSignIn(svc, api), Clock: clk, Key: key, Log: log})
	if err != nil {
		return err
	}
	svc.SetOIDCProvisioning(c.AllowedDomains, c.Role)
	api.SetSignInProvider(h)
	log.Info("sign-in with OpenID Connect", "issuer", c.Issuer, "provisioning_domains", c.AllowedDomains, "provisioning_role", c.Role)
	return nil
}

// OIDCSignIn is what happens once the OpenID provider vouched for someone:
// the application matches (or provisions) the member and starts a
// session, the browser gets the session cookie and goes on to next. A
// refusal (an unknown or unverified identity) is shown to the person.
func OIDCSignIn(svc *app.Service, api *httpapi.Server) oidcauth.SignIn {
	return oidcauth.SignInFunc(func(w http.ResponseWriter, r *http.Request, id oidcauth.Identity, next string) error {
		ns, err := svc.SignInOIDC(r.Context(), app.OIDCIdentity{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, Name: id.Name, EmailVerified: id.EmailVerified}, r.UserAgent())
		var de *domain.Error
		if errors.As(err, &de) && de.Code == domain.CodeForbidden {
			return oidcauth.Refused(de.Message, err)
		}
		if err != nil {
			return err
		}
		api.StartSession(w, r, ns)
		if next == "" || next == "/" {
			next = httpapi.HomePath
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	})
}
