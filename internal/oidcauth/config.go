package oidcauth

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/countersign/countersign/internal/domain"
)

// Paths of the routes this package serves. The flow cookie is scoped to
// the parent, so no other route of Countersign ever receives it.
const (
	LoginPath    = "/auth/oidc/login"
	CallbackPath = "/auth/oidc/callback"
	cookiePath   = "/auth/oidc"
)

// DefaultName is what the login page calls the provider when
// COUNTERSIGN_OIDC_NAME is unset: "Sign in with single sign-on".
const DefaultName = "single sign-on"

// DefaultScopes are asked for when COUNTERSIGN_OIDC_SCOPES is unset.
var DefaultScopes = []string{"openid", "email", "profile"}

// Config is the configuration of sign-in with one OpenID provider.
type Config struct {
	Issuer string // COUNTERSIGN_OIDC_ISSUER: the provider's issuer URL; its discovery document is Issuer + /.well-known/openid-configuration
	Name   string // COUNTERSIGN_OIDC_NAME: shown on the login page, "Sign in with <Name>"

	ClientID     string // COUNTERSIGN_OIDC_CLIENT_ID
	ClientSecret string // COUNTERSIGN_OIDC_CLIENT_SECRET
	// ClientSecretARN (COUNTERSIGN_OIDC_CLIENT_SECRET_ARN) names a Secrets
	// Manager secret holding the client secret (AWS). The caller turns it
	// into ClientSecretFunc (SecretsManagerSecret); ClientSecret and
	// ClientSecretARN are exclusive.
	ClientSecretARN string
	// ClientSecretFunc, when set, is asked for the client secret the first
	// time the provider is needed (with the discovery, and retried with it).
	ClientSecretFunc SecretFunc

	// RedirectURL (COUNTERSIGN_OIDC_REDIRECT_URL) is registered at the
	// provider; empty means BaseURL + CallbackPath.
	RedirectURL string
	// BaseURL is Countersign's public address (COUNTERSIGN_BASE_URL, read by
	// internal/config; the caller copies it here).
	BaseURL string

	Scopes []string // COUNTERSIGN_OIDC_SCOPES: space- or comma-separated; default openid email profile

	// Auto-provisioning, applied by the application (app.SetOIDCProvisioning):
	// a verified address in one of AllowedDomains that is no member yet
	// becomes a member with Role. No domains: unknown identities are refused.
	AllowedDomains []string    // COUNTERSIGN_OIDC_ALLOWED_DOMAINS: comma-separated
	Role           domain.Role // COUNTERSIGN_OIDC_ROLE: viewer (default), editor or manager
}

// The environment variables ConfigFromEnv reads.
const (
	EnvIssuer          = "COUNTERSIGN_OIDC_ISSUER"
	EnvName            = "COUNTERSIGN_OIDC_NAME"
	EnvClientID        = "COUNTERSIGN_OIDC_CLIENT_ID"
	EnvClientSecret    = "COUNTERSIGN_OIDC_CLIENT_SECRET"
	EnvClientSecretARN = "COUNTERSIGN_OIDC_CLIENT_SECRET_ARN"
	EnvRedirectURL     = "COUNTERSIGN_OIDC_REDIRECT_URL"
	EnvScopes          = "COUNTERSIGN_OIDC_SCOPES"
	EnvAllowedDomains  = "COUNTERSIGN_OIDC_ALLOWED_DOMAINS"
	EnvRole            = "COUNTERSIGN_OIDC_ROLE"
)

var allEnv = []string{EnvIssuer, EnvName, EnvClientID, EnvClientSecret, EnvClientSecretARN, EnvRedirectURL, EnvScopes, EnvAllowedDomains, EnvRole}

// ConfigFromEnv reads the configuration. Without COUNTERSIGN_OIDC_ISSUER
// sign-in with OpenID Connect is off and it answers nil, nil (an error if
// another COUNTERSIGN_OIDC_ variable is set, as that is a half-done setup).
// BaseURL is left to the caller.
func ConfigFromEnv(getenv func(string) string) (*Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	if get(EnvIssuer) == "" {
		for _, k := range allEnv {
			if get(k) != "" {
				return nil, fmt.Errorf("%s is set but %s is not: set the provider's issuer URL to sign in with OpenID Connect, or unset %s", k, EnvIssuer, k)
			}
		}
		return nil, nil
	}
	c := &Config{
		Issuer:          get(EnvIssuer),
		Name:            get(EnvName),
		ClientID:        get(EnvClientID),
		ClientSecret:    get(EnvClientSecret),
		ClientSecretARN: get(EnvClientSecretARN),
		RedirectURL:     get(EnvRedirectURL),
		Role:            domain.Role(strings.ToLower(get(EnvRole))),
	}
	if c.Name == "" {
		c.Name = DefaultName
	}
	if s := get(EnvScopes); s != "" {
		c.Scopes = strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	} else {
		c.Scopes = append([]string(nil), DefaultScopes...)
	}
	for d := range strings.SplitSeq(get(EnvAllowedDomains), ",") {
		if d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@")); d != "" {
			c.AllowedDomains = append(c.AllowedDomains, d)
		}
	}
	if c.Role == "" {
		c.Role = domain.RoleViewer
	}
	return c, c.check(false)
}

var domainName = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
})

// Validate reports the first problem of the configuration, in terms of
// its environment variables.
func (c *Config) Validate() error { return c.check(true) }

// check validates c; withBase also requires a redirect URL or a base URL,
// which ConfigFromEnv cannot know yet.
func (c *Config) check(withBase bool) error {
	if err := checkURL(EnvIssuer, c.Issuer); err != nil {
		return err
	}
	if c.ClientID == "" {
		return fmt.Errorf("%s is not set: the client id Countersign is registered with at the provider", EnvClientID)
	}
	switch {
	case c.ClientSecret != "" && c.ClientSecretARN != "":
		return fmt.Errorf("set %s or %s, not both", EnvClientSecret, EnvClientSecretARN)
	case c.ClientSecret == "" && c.ClientSecretARN == "" && c.ClientSecretFunc == nil:
		return fmt.Errorf("%s (or, on AWS, %s) is not set: Countersign signs in as a confidential client", EnvClientSecret, EnvClientSecretARN)
	}
	if c.ClientSecretARN != "" && !strings.HasPrefix(c.ClientSecretARN, "arn:") {
		return fmt.Errorf("%s must be the ARN of a Secrets Manager secret (arn:aws:secretsmanager:...), not %q", EnvClientSecretARN, c.ClientSecretARN)
	}
	if c.RedirectURL != "" {
		if err := checkURL(EnvRedirectURL, c.RedirectURL); err != nil {
			return err
		}
		if u, _ := url.Parse(c.RedirectURL); u.Path != CallbackPath || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%s must end in %s, where Countersign receives the provider's answer, not %q", EnvRedirectURL, CallbackPath, c.RedirectURL)
		}
	} else if withBase {
		if c.BaseURL == "" {
			return fmt.Errorf("neither %s nor COUNTERSIGN_BASE_URL is set: the provider must know where to send people back", EnvRedirectURL)
		}
		if err := checkURL("COUNTERSIGN_BASE_URL", c.BaseURL); err != nil {
			return fmt.Errorf("%w (set %s to choose the redirect URL)", err, EnvRedirectURL)
		}
	}
	if !slices.Contains(c.Scopes, "openid") {
		return fmt.Errorf("%s must include openid, has %q", EnvScopes, strings.Join(c.Scopes, " "))
	}
	for _, d := range c.AllowedDomains {
		if !domainName().MatchString(d) {
			return fmt.Errorf("%s: %q is not a domain name like example.com", EnvAllowedDomains, d)
		}
	}
	switch c.Role {
	case domain.RoleViewer, domain.RoleEditor, domain.RoleManager:
	case domain.RoleAdmin:
		return fmt.Errorf("%s cannot be admin: members an identity provider creates get viewer, editor or manager; an admin promotes them", EnvRole)
	default:
		return fmt.Errorf("%s must be viewer, editor or manager, not %q", EnvRole, c.Role)
	}
	return nil
}

// redirectURL is where the provider sends the browser back.
func (c *Config) redirectURL() string {
	if c.RedirectURL != "" {
		return c.RedirectURL
	}
	return strings.TrimRight(c.BaseURL, "/") + CallbackPath
}

// checkURL accepts an absolute https URL, or plain http to a loopback
// host (a provider or a Countersign on this machine): anything else would
// send codes, tokens or the flow cookie in the clear.
func checkURL(name, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%s must be an absolute https URL, not %q", name, raw)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return fmt.Errorf("%s must use https (plain http only on loopback, for a provider or a Countersign on this machine), not %q", name, raw)
	}
	return nil
}

// loopbackHost reports whether host names this machine only.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var errNoSecret = errors.New("oidcauth: the client secret is empty")
