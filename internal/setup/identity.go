package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/oidcauth"
)

// Identity configures how people get in: the public address (the origin
// cookie-authenticated writes must come from, and whether cookies are
// Secure), the session lifetimes, and sign-in with an OpenID provider
// when COUNTERSIGN_OIDC_ISSUER is set. keyFile is Links's: the OpenID
// Connect flow cookie is sealed with a key derived from the action link
// key.
func Identity(ctx context.Context, cfg config.Config, svc *app.Service, api *httpapi.Server, clk clock.Clock, log *slog.Logger, keyFile string) error {
	if err := api.SetBaseURL(cfg.BaseURL); err != nil {
		return fmt.Errorf("COUNTERSIGN_BASE_URL: %w", err)
	}
	svc.SetSessionLifetimes(cfg.SessionIdle, cfg.SessionLifetime)
	if cfg.OIDC == nil {
		return nil
	}
	oc := *cfg.OIDC
	if oc.ClientSecretARN != "" && oc.ClientSecretFunc == nil {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("load AWS configuration for %s: %w", oidcauth.EnvClientSecretARN, err)
		}
		oc.ClientSecretFunc = oidcauth.SecretsManagerSecret(secretsmanager.NewFromConfig(awsCfg), oc.ClientSecretARN)
	}
	key, err := linkKey(cfg, keyFile)
	if err != nil {
		return err
	}
	h, err := oidcauth.New(oc, oidcauth.Deps{SignIn: OIDCSignIn(svc, api), Clock: clk, Key: key, Log: log})
	if err != nil {
		return err
	}
	svc.SetOIDCProvisioning(oc.AllowedDomains, oc.Role)
	api.SetSignInProvider(h)
	log.Info("sign-in with OpenID Connect", "issuer", oc.Issuer, "provisioning_domains", oc.AllowedDomains, "provisioning_role", oc.Role)
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
