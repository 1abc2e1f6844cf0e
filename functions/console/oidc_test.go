package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/oidcauth"
	"github.com/countersign/countersign/internal/oidcauth/oidctest"
	"github.com/countersign/countersign/internal/setup/apiwire"
	"github.com/countersign/countersign/internal/setup/appwire"
	"github.com/countersign/countersign/internal/setup/consolewire"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// Signing in with OpenID Connect through the Lambda handlers, as API
// Gateway (payload 2.0) delivers it: the flow cookie arrives in the
// event's cookies, and the callback's two Set-Cookie headers (the flow
// cookie cleared, the session cookie) leave in the response's cookies. The
// console function signs in; the api function (its paths under /v1/, as
// template.yaml routes them) takes the session it started, from the same
// store. The provider is the real one the tests use
// (internal/oidcauth/oidctest).
func TestOIDCSignInThroughLambdaHandler(t *testing.T) {
	issuer := oidctest.Issuer(t)
	ctx := context.Background()
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// the provider stamps the ID token's iat and exp from the wall clock,
	// so the service clock here follows it
	clk := clock.NewOffset()
	base := strings.TrimSuffix(oidctest.RedirectURL, oidcauth.CallbackPath)
	cfg := config.Config{BaseURL: base, LinkKey: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	oc := &oidcauth.Config{
		Issuer: issuer, Name: "Test provider", ClientID: oidctest.ClientID, ClientSecret: oidctest.ClientSecret,
		BaseURL: base, Scopes: oidcauth.DefaultScopes, Role: domain.RoleViewer,
	}
	svc, err := appwire.Service(cfg, store, clk, log, "")
	if err != nil {
		t.Fatal(err)
	}
	pages := consolewire.New(svc, log)
	if err := consolewire.Identity(ctx, cfg, oc, nil, svc, pages, clk, log, ""); err != nil {
		t.Fatal(err)
	}
	api := apiwire.New(svc, log)
	if err := apiwire.Sessions(cfg, svc, api); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, eventsToken); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, query string, cookies []string, body string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RawPath: path, RawQueryString: query, Cookies: cookies, Body: body,
			Headers: map[string]string{"host": strings.TrimPrefix(base, "http://"), "accept": "text/html"},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path, SourceIP: "127.0.0.1"},
			},
		}
		if body != "" {
			ev.Headers["authorization"] = "Bearer " + eventsToken
			ev.Headers["content-type"] = "application/json"
		}
		handler := lambdahttp.Handler(pages)
		if strings.HasPrefix(path, "/v1/") {
			handler = lambdahttp.Handler(api)
		}
		res, err := handler(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	if res := call("POST", "/v1/members", "", nil, `{"email":"ada@example.com","name":"Ada Lovelace","role":"editor"}`); res.StatusCode != 201 {
		t.Fatalf("adding ada: %d %s", res.StatusCode, res.Body)
	}

	res := call("GET", oidcauth.LoginPath, "next="+url.QueryEscape("/v1/session"), nil, "")
	if res.StatusCode != 302 || !strings.HasPrefix(res.Headers["Location"], issuer+"/") {
		t.Fatalf("login: %d %v %s", res.StatusCode, res.Headers, res.Body)
	}
	var flow string
	for _, c := range res.Cookies {
		if strings.HasPrefix(c, "countersign_oidc=") {
			flow, _, _ = strings.Cut(c, ";")
		}
	}
	if flow == "" {
		t.Fatalf("login set no flow cookie: %v", res.Cookies)
	}

	back := oidctest.AtProvider(t, res.Headers["Location"], "ada", false)
	res = call("GET", oidcauth.CallbackPath, back.RawQuery, []string{"other=1", flow}, "")
	if res.StatusCode != 303 || res.Headers["Location"] != "/v1/session" {
		t.Fatalf("callback: %d %v %s", res.StatusCode, res.Headers, res.Body)
	}
	var session string
	cleared := false
	for _, c := range res.Cookies {
		if strings.HasPrefix(c, "countersign_session=") {
			session, _, _ = strings.Cut(c, ";")
		}
		cleared = cleared || strings.HasPrefix(c, "countersign_oidc=;") && strings.Contains(c, "Max-Age=0")
	}
	if session == "" || !cleared {
		t.Fatalf("the callback's cookies %v: want the session cookie and the flow cookie cleared", res.Cookies)
	}

	res = call("GET", "/v1/session", "", []string{session}, "")
	var got struct {
		Channel string `json:"channel"`
		Member  struct {
			Email string `json:"email"`
		} `json:"member"`
	}
	if res.StatusCode != 200 || json.Unmarshal([]byte(res.Body), &got) != nil || got.Member.Email != "ada@example.com" || got.Channel != "oidc" {
		t.Fatalf("/v1/session with the cookie: %d %s", res.StatusCode, res.Body)
	}
}
