// Package oidcauth signs people in with an OpenID provider (Okta, Entra ID,
// Google Workspace, Cognito, Keycloak, ...): the authorization code flow
// with PKCE (S256), state and nonce; the ID token verified against the
// provider's discovery document and JWKS (github.com/coreos/go-oidc/v3),
// the code exchanged with golang.org/x/oauth2.
//
//	GET /auth/oidc/login?next=/path   starts a sign-in: a flow cookie, then off to the provider
//	GET /auth/oidc/callback           the provider's answer: checked, then SignIn.Complete
//
// The package knows nothing of members or sessions: it hands the identity
// the provider vouched for (issuer, subject, verified e-mail, name) to the
// SignIn it is given, which matches it to a member, starts the session and
// answers. It does not import the HTTP API; the wiring (internal/setup)
// joins the two.
package oidcauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
)

// Identity is who the provider says signed in. Complete is only ever given
// one with a verified e-mail address.
type Identity struct {
	Issuer        string // the configured issuer, equal to the ID token's iss
	Subject       string // the ID token's sub: the provider's stable id of the person
	Email         string
	Name          string // may be empty
	EmailVerified bool   // always true when Complete is called
}

// SignIn is what happens once the provider has vouched for someone.
type SignIn interface {
	// Complete signs in the identity the provider vouched for and writes
	// the response (session cookie, then a redirect to next, which is
	// already a safe same-origin path), or returns an error and writes
	// nothing. An error made with Refused becomes a 403 page showing its
	// message; any other error a 500 that shows nothing of it.
	Complete(w http.ResponseWriter, r *http.Request, id Identity, next string) error
}

// SignInFunc adapts a function to SignIn.
type SignInFunc func(w http.ResponseWriter, r *http.Request, id Identity, next string) error

// Complete calls f.
func (f SignInFunc) Complete(w http.ResponseWriter, r *http.Request, id Identity, next string) error {
	return f(w, r, id, next)
}

// ErrRefused matches (errors.Is) every error made with Refused.
var ErrRefused = errors.New("oidcauth: sign-in refused")

type refusal struct {
	message string
	cause   error
}

func (e *refusal) Error() string {
	if e.cause != nil {
		return "oidcauth: sign-in refused: " + e.message + ": " + e.cause.Error()
	}
	return "oidcauth: sign-in refused: " + e.message
}
func (e *refusal) Unwrap() error        { return e.cause }
func (e *refusal) Is(target error) bool { return target == ErrRefused }

// Refused is the error a SignIn returns for an identity it does not let
// in: message is shown to the person (so it must be safe to show them),
// cause is only logged.
func Refused(message string, cause error) error { return &refusal{message: message, cause: cause} }

// SecretFunc gives the client secret (from Secrets Manager, on AWS).
type SecretFunc func(ctx context.Context) (string, error)

// Deps are what a Handler needs besides its configuration.
type Deps struct {
	SignIn SignIn
	// Clock is the service's clock: the flow cookie's expiry and the ID
	// token's exp are checked against it.
	Clock clock.Clock
	// Key seals the flow cookie (at least 16 bytes; a key of its own is
	// derived from it).
	Key []byte
	Log *slog.Logger
	// HTTPClient talks to the provider (discovery, JWKS, token, userinfo);
	// nil means one with a 10 s timeout.
	HTTPClient *http.Client
}

// Route is one route the Handler serves.
type Route struct{ Method, Pattern string }

// Routes lists the Handler's routes, for the deployment's checks (every
// one must reach the API function).
func Routes() []Route {
	return []Route{{http.MethodGet, LoginPath}, {http.MethodGet, CallbackPath}}
}

const (
	discoveryTimeout = 10 * time.Second
	maxRetryDelay    = 30 * time.Second
)

// Handler serves the sign-in routes.
type Handler struct {
	cfg    Config
	signIn SignIn
	clk    clock.Clock
	log    *slog.Logger
	client *http.Client
	seal   *sealer
	secure bool

	mu        sync.Mutex
	disc      *discovered
	lastErr   error
	nextTry   time.Time
	lastDelay time.Duration
}

// discovered is what the provider's discovery document gives.
type discovered struct {
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    oauth2.Config
}

// New builds the handler. It does not contact the provider: discovery (and
// fetching the client secret) happens at the first sign-in and is retried,
// after a growing pause, until it works, so Countersign starts and serves
// everything else while the provider is down.
func New(cfg Config, deps Deps) (*Handler, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = append([]string(nil), DefaultScopes...)
	}
	if cfg.Role == "" {
		cfg.Role = domain.RoleViewer
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.SignIn == nil || deps.Clock == nil {
		return nil, errors.New("oidcauth: New needs a SignIn and the service's clock")
	}
	seal, err := newSealer(deps.Key, cfg.Issuer, cfg.ClientID)
	if err != nil {
		return nil, err
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := deps.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: discoveryTimeout}
	}
	redirect, _ := url.Parse(cfg.redirectURL())
	return &Handler{
		cfg: cfg, signIn: deps.SignIn, clk: deps.Clock, log: log.With("component", "oidc"),
		client: client, seal: seal, secure: redirect.Scheme == "https",
	}, nil
}

// Name is the provider's name for the login page: "Sign in with " + Name().
func (h *Handler) Name() string { return h.cfg.Name }

// LoginURL is the same-origin address that starts a sign-in and comes back
// to next (made safe with SafeNext).
func (h *Handler) LoginURL(next string) string {
	return LoginPath + "?next=" + url.QueryEscape(SafeNext(next))
}

// Config is the handler's configuration (for the wiring: auto-provisioning).
func (h *Handler) Config() Config { return h.cfg }

// ServeHTTP serves LoginPath and CallbackPath.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case LoginPath, CallbackPath:
	default:
		h.fail(w, r, domain.CodeNotFound, "Not found", "There is nothing here.", "no such route", nil)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, domain.CodeMethodNotAllowed, "Method not allowed", "This address only answers GET.", "method", nil)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if r.URL.Path == LoginPath {
		h.login(w, r)
	} else {
		h.callback(w, r)
	}
}

// provider returns what discovery found, discovering first if needed.
// Failed attempts are retried by later requests, at most every 1, 2, 4 ...
// 30 s; until then they answer the last error at once.
func (h *Handler) provider(ctx context.Context) (*discovered, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disc != nil {
		return h.disc, nil
	}
	now := h.clk.Now()
	if h.lastErr != nil && now.Before(h.nextTry) {
		return nil, h.lastErr
	}
	d, err := h.discover(ctx)
	if err != nil {
		h.lastDelay = min(max(2*h.lastDelay, time.Second), maxRetryDelay)
		h.nextTry, h.lastErr = now.Add(h.lastDelay), err
		h.log.WarnContext(ctx, "the OpenID provider's discovery failed; trying again at the next sign-in", "issuer", h.cfg.Issuer, "retry_after", h.lastDelay.String(), "err", err)
		return nil, err
	}
	h.disc, h.lastErr = d, nil
	// plain strings: a slice or a named type would go through encoding/json
	h.log.InfoContext(ctx, "discovered the OpenID provider", "issuer", h.cfg.Issuer, "authorization_endpoint", d.oauth.Endpoint.AuthURL,
		"provisioning_domains", strings.Join(h.cfg.AllowedDomains, ","), "provisioning_role", string(h.cfg.Role))
	return d, nil
}

func (h *Handler) discover(ctx context.Context) (*discovered, error) {
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	ctx = oidc.ClientContext(ctx, h.client)
	p, err := oidc.NewProvider(ctx, h.cfg.Issuer)
	if err != nil {
		return nil, err
	}
	secret := h.cfg.ClientSecret
	if secret == "" && h.cfg.ClientSecretFunc != nil {
		if secret, err = h.cfg.ClientSecretFunc(ctx); err != nil {
			return nil, fmt.Errorf("read the client secret: %w", err)
		}
	}
	if secret == "" {
		return nil, errNoSecret
	}
	endpoint := p.Endpoint()
	endpoint.AuthStyle = authStyle(p)
	return &discovered{
		provider: p,
		// The verifier checks the signature against the provider's JWKS (only
		// with the algorithms its discovery document lists: never "none" or
		// HMAC with a guessable key), the issuer, the audience (our client
		// id) and the expiry, on the service's clock.
		verifier: p.Verifier(&oidc.Config{ClientID: h.cfg.ClientID, Now: h.clk.Now}),
		oauth: oauth2.Config{
			ClientID:     h.cfg.ClientID,
			ClientSecret: secret,
			Endpoint:     endpoint,
			RedirectURL:  h.cfg.redirectURL(),
			Scopes:       h.cfg.Scopes,
		},
	}, nil
}

// authStyle is how the client authenticates at the token endpoint: HTTP
// Basic (client_secret_basic, the default of OpenID Connect Discovery when
// the provider names none), else the form (client_secret_post). Said once,
// rather than oauth2's guessing, which on a refused code sends the secret
// a second time the other way.
func authStyle(p *oidc.Provider) oauth2.AuthStyle {
	var meta struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
	}
	_ = p.Claims(&meta)
	if len(meta.Methods) == 0 || slices.Contains(meta.Methods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	if slices.Contains(meta.Methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	next := SafeNext(r.URL.Query().Get("next"))
	d, err := h.provider(r.Context())
	if err != nil {
		h.fail(w, r, domain.CodeProviderDown, "Sign-in is unavailable",
			"Countersign cannot reach "+h.cfg.Name+" right now. Try again in a minute, or ask for a sign-in link by e-mail.", "discovery", err)
		return
	}
	f := flow{V: flowVersion, State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
		Next: next, Expires: h.clk.Now().Add(flowLifetime).Unix()}
	value, err := h.seal.seal(f)
	if err != nil {
		h.fail(w, r, domain.CodeInternal, "Something went wrong", "Something went wrong on our side. Try again.", "seal", err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: value, Path: cookiePath, MaxAge: int(flowLifetime / time.Second),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, d.oauth.AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// refusedByProvider are the authorization errors that mean "this person
// was not let in" rather than "something is broken".
var refusedByProvider = map[string]bool{
	"access_denied": true, "login_required": true, "consent_required": true,
	"interaction_required": true, "account_selection_required": true,
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	// The flow cookie works once, whatever happens next.
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: cookiePath, MaxAge: -1,
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
	ctx := r.Context()
	q := r.URL.Query()

	startAgain := "This sign-in was not started in this browser, took too long, or was already used. Start again from the sign-in page."
	c, err := r.Cookie(cookieName)
	if err != nil {
		h.fail(w, r, domain.CodeMalformed, "Sign-in not completed", startAgain, "no flow cookie", nil)
		return
	}
	f, err := h.seal.open(c.Value, h.clk.Now().Unix())
	if err != nil {
		h.fail(w, r, domain.CodeMalformed, "Sign-in not completed", startAgain, "flow cookie", err)
		return
	}
	state := q.Get("state")
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		h.fail(w, r, domain.CodeMalformed, "Sign-in not completed", startAgain, "state mismatch", nil)
		return
	}
	// RFC 9207: a provider that names itself must be ours (mix-up attacks).
	if iss, has := q["iss"]; has && (len(iss) != 1 || iss[0] != h.cfg.Issuer) {
		h.fail(w, r, domain.CodeMalformed, "Sign-in not completed", startAgain, "iss mismatch", fmt.Errorf("iss %q", iss))
		return
	}
	if e := q.Get("error"); e != "" {
		cause := fmt.Errorf("provider error %q: %.200s", e, q.Get("error_description"))
		if refusedByProvider[e] {
			h.fail(w, r, domain.CodeForbidden, "Not signed in", h.cfg.Name+" did not sign you in.", "provider refused", cause)
		} else {
			h.fail(w, r, domain.CodeProviderError, "Sign-in failed", h.cfg.Name+" could not sign you in. Try again later.", "provider error", cause)
		}
		return
	}
	code := q.Get("code")
	if code == "" {
		h.fail(w, r, domain.CodeMalformed, "Sign-in not completed", "The answer from "+h.cfg.Name+" has no authorization code. Start again from the sign-in page.", "no code", nil)
		return
	}
	d, err := h.provider(ctx)
	if err != nil {
		h.fail(w, r, domain.CodeProviderDown, "Sign-in is unavailable",
			"Countersign cannot reach "+h.cfg.Name+" right now. Try again in a minute.", "discovery", err)
		return
	}
	pctx := oidc.ClientContext(ctx, h.client)
	tok, err := d.oauth.Exchange(pctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			h.fail(w, r, domain.CodeMalformed, "Sign-in not completed", "The sign-in expired or was already used. Start again from the sign-in page.", "code exchange refused", err)
		} else {
			h.fail(w, r, domain.CodeProviderError, "Sign-in failed", h.cfg.Name+" did not complete the sign-in. Try again later.", "code exchange", err)
		}
		return
	}
	id, reason, err := h.identity(pctx, d, tok, f.Nonce)
	if err != nil {
		msg := "The answer from " + h.cfg.Name + " could not be verified, so Countersign did not sign you in."
		switch reason {
		case "no email":
			msg = "Your account at " + h.cfg.Name + " has no e-mail address, which Countersign needs to know who you are."
		case "email not verified":
			msg = "Your account at " + h.cfg.Name + " has not verified its e-mail address, so Countersign cannot tell who you are."
		case "userinfo":
			h.fail(w, r, domain.CodeProviderError, "Sign-in failed", h.cfg.Name+" did not complete the sign-in. Try again later.", reason, err)
			return
		}
		h.fail(w, r, domain.CodeForbidden, "Not signed in", msg, reason, err)
		return
	}
	if err := h.signIn.Complete(w, r, id, f.Next); err != nil {
		var ref *refusal
		if errors.As(err, &ref) {
			h.fail(w, r, domain.CodeForbidden, "Not signed in", ref.message, "refused", err, "subject", id.Subject)
			return
		}
		h.fail(w, r, domain.CodeInternal, "Something went wrong", "Something went wrong on our side. Try again.", "sign-in", err)
		return
	}
	h.log.InfoContext(ctx, "signed in with OpenID Connect", "issuer", id.Issuer, "subject", id.Subject)
}

// identity verifies the ID token of tok and answers whom it names, or why
// not (reason, for the log and the page).
func (h *Handler) identity(ctx context.Context, d *discovered, tok *oauth2.Token, nonce string) (Identity, string, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, "no id_token", errors.New("the token response has no id_token")
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return Identity{}, "id token expired", err
		}
		return Identity{}, "id token invalid", err
	}
	if idt.Nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, "nonce mismatch", errors.New("the ID token's nonce is not the one this sign-in sent")
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return Identity{}, "at_hash mismatch", err
		}
	}
	if idt.Subject == "" {
		return Identity{}, "id token invalid", errors.New("the ID token has no sub")
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return Identity{}, "id token invalid", err
	}
	// Providers that follow the core spec to the letter (Okta, oidc-provider)
	// put the e-mail only in the userinfo answer when an access token is
	// issued; its sub must be the ID token's (OpenID Connect Core 5.3.2).
	if (c.Email == "" || !c.EmailVerified) && d.provider.UserInfoEndpoint() != "" {
		ui, err := d.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, "userinfo", err
		}
		if ui.Subject != idt.Subject {
			return Identity{}, "userinfo subject mismatch", fmt.Errorf("userinfo sub %q is not the ID token's", ui.Subject)
		}
		var uc claims
		if err := ui.Claims(&uc); err != nil {
			return Identity{}, "userinfo", err
		}
		if uc.Email != "" {
			c.Email, c.EmailVerified = uc.Email, uc.EmailVerified
		}
		if c.Name == "" {
			c.Name = uc.Name
		}
	}
	c.Email = strings.TrimSpace(c.Email)
	if c.Email == "" {
		return Identity{}, "no email", errors.New("neither the ID token nor userinfo has an email claim")
	}
	if !c.EmailVerified {
		return Identity{}, "email not verified", errors.New("email_verified is not true")
	}
	return Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: c.Email, Name: strings.TrimSpace(c.Name), EmailVerified: true}, "", nil
}

// claims are the ones Countersign reads.
type claims struct {
	Email         string   `json:"email"`
	EmailVerified flexBool `json:"email_verified"`
	Name          string   `json:"name"`
}

// flexBool reads true, or the string "true" that some providers (Cognito)
// send; anything else is false.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	switch x := v.(type) {
	case bool:
		*b = flexBool(x)
	case string:
		*b = flexBool(strings.EqualFold(x, "true"))
	default:
		*b = false
	}
	return nil
}
