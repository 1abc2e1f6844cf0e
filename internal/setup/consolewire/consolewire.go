// Package consolewire builds what the console function serves: the pages
// for people (httpapi.NewPages: signing in, e-mail action links) with the
// web console (internal/console) at every other path outside /v1/, and
// sign-in with an OpenID provider. The console function and the local
// process use it. It links html/template's execution, OpenID Connect and
// Secrets Manager, which the api function (internal/setup/apiwire) does
// not.
package consolewire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/console"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/oidcauth"
	"github.com/countersign/countersign/internal/setup/apiwire"
	"github.com/countersign/countersign/internal/setup/appwire"
)

// New builds the pages for people over svc, with the web console at the
// paths they do not own (Identity then configures how people get in).
func New(svc *app.Service, log *slog.Logger) *httpapi.Server {
	return WithConsole(httpapi.NewPages(svc, log), svc, log)
}

// Whole builds the JSON API and the pages in one server, with the web
// console at every path neither owns: the local process, which serves
// everything the api and console functions serve on AWS.
func Whole(svc *app.Service, log *slog.Logger) *httpapi.Server {
	return WithConsole(httpapi.New(svc, log), svc, log)
}

// WithConsole serves the web console on srv at every path it does not own.
func WithConsole(srv *httpapi.Server, svc *app.Service, log *slog.Logger) *httpapi.Server {
	srv.SetConsole(console.New(svc, srv, log))
	return srv
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

// Identity configures how people get in: the browser sessions
// (apiwire.Sessions: the public address, the session lifetimes), and
// sign-in with the OpenID provider oc when it is not nil. A client secret
// in Secrets Manager (oc.ClientSecretARN) is read at the first sign-in,
// by a GetSecretValue call signed with awsCfg's credentials. keyFile is appwire.Links's: the OpenID
// Connect flow cookie is sealed with a key derived from the action link
// key.
func Identity(ctx context.Context, cfg config.Config, oc *oidcauth.Config, awsCfg func() (aws.Config, error),
	svc *app.Service, srv *httpapi.Server, clk clock.Clock, log *slog.Logger, keyFile string) error {
	if err := apiwire.Sessions(cfg, svc, srv); err != nil {
		return err
	}
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
		// read at the first sign-in: most cold starts of the console
		// function serve pages to people signed in already
		c.ClientSecretFunc = oidcauth.SecretsManagerSecret(ac, c.ClientSecretARN)
	}
	key, err := appwire.LinkKey(cfg, keyFile)
	if err != nil {
		return err
	}
	h, err := oidcauth.New(c, oidcauth.Deps{SignIn: OIDCSignIn(svc, srv), Clock: clk, Key: key, Log: log})
	if err != nil {
		return err
	}
	svc.SetOIDCProvisioning(c.AllowedDomains, c.Role)
	srv.SetSignInProvider(h)
	// nothing is logged here: the handler says how sign-in is configured
	// when it first discovers the provider, at the first sign-in (a log
	// line at init was a measurable part of the console's cold start)
	return nil
}

// OIDCSignIn is what happens once the OpenID provider vouched for someone:
// the application matches (or provisions) the member and starts a
// session, the browser gets the session cookie and goes on to next. A
// refusal (an unknown or unverified identity) is shown to the person.
func OIDCSignIn(svc *app.Service, srv *httpapi.Server) oidcauth.SignIn {
	return oidcauth.SignInFunc(func(w http.ResponseWriter, r *http.Request, id oidcauth.Identity, next string) error {
		ns, err := svc.SignInOIDC(r.Context(), app.OIDCIdentity{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, Name: id.Name, EmailVerified: id.EmailVerified}, r.UserAgent())
		var de *domain.Error
		if errors.As(err, &de) && de.Code == domain.CodeForbidden {
			return oidcauth.Refused(de.Message, err)
		}
		if err != nil {
			return err
		}
		srv.StartSession(w, r, ns)
		if next == "" || next == "/" {
			next = httpapi.HomePath
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	})
}
