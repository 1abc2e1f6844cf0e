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
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/setup/apiwire"
	"github.com/countersign/countersign/internal/setup/consolewire"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// The token the API calls of these tests carry.
const eventsToken = "cs_events_sample_token_0123456789abcdef"

// The split as API Gateway makes it (template.yaml): the console function
// answers the pages and the api function the JSON API, each path in one of
// them; a path sent to the wrong one answers not found. (A session the
// console function starts works in the api function:
// TestOIDCSignInThroughLambdaHandler.)
func TestPagesAndAPIThroughLambdaHandlers(t *testing.T) {
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := app.New(store, clock.System{}, log)
	pages := lambda.NewHandler(lambdahttp.Handler(consolewire.New(svc, log)))
	api := lambda.NewHandler(lambdahttp.Handler(apiwire.New(svc, log)))
	if _, err := svc.Bootstrap(ctx, eventsToken); err != nil {
		t.Fatal(err)
	}
	call := func(h lambda.Handler, method, path string, headers map[string]string, cookies []string, body string) events.APIGatewayV2HTTPResponse {
		t.Helper()
		hs := map[string]string{"host": "flags.example.com", "x-forwarded-proto": "https"}
		for k, v := range headers {
			hs[k] = v
		}
		rawPath, query, _ := strings.Cut(path, "?")
		ev, err := json.Marshal(events.APIGatewayV2HTTPRequest{
			Version: "2.0", RawPath: rawPath, RawQueryString: query, Headers: hs, Cookies: cookies, Body: body,
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: rawPath, SourceIP: "192.0.2.1"},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := h.Invoke(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var res events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	html := map[string]string{"accept": "text/html"}

	// the console function: pages
	if res := call(pages, "GET", "/login", html, nil, ""); res.StatusCode != 200 || !strings.Contains(res.Body, "<form") {
		t.Errorf("console GET /login: %d %s", res.StatusCode, res.Body)
	}
	if res := call(pages, "GET", "/projects", html, nil, ""); res.StatusCode != 303 || res.Headers["Location"] != "/login?next="+url.QueryEscape("/projects") {
		t.Errorf("console GET /projects without a session: %d %v", res.StatusCode, res.Headers)
	}
	if res := call(pages, "GET", "/a/not-a-link", html, nil, ""); res.StatusCode < 400 || !strings.Contains(res.Headers["Content-Type"], "text/html") {
		t.Errorf("console GET /a/...: %d %v", res.StatusCode, res.Headers)
	}
	if res := call(pages, "GET", "/v1/projects", nil, nil, ""); res.StatusCode != 404 || !strings.Contains(res.Body, `"code":"not_found"`) {
		t.Errorf("console GET /v1/projects: %d %s", res.StatusCode, res.Body)
	}

	// the api function: the JSON API, and no page
	bearer := map[string]string{"authorization": "Bearer " + eventsToken}
	if res := call(api, "GET", "/healthz", nil, nil, ""); res.StatusCode != 200 {
		t.Errorf("api GET /healthz: %d %s", res.StatusCode, res.Body)
	}
	if res := call(api, "GET", "/v1/projects", bearer, nil, ""); res.StatusCode != 200 || !strings.Contains(res.Body, `"items"`) {
		t.Errorf("api GET /v1/projects: %d %s", res.StatusCode, res.Body)
	}
	for _, p := range []string{"/", "/login", "/projects", "/a/not-a-link", "/auth/oidc/login"} {
		if res := call(api, "GET", p, html, nil, ""); res.StatusCode != 404 || !strings.Contains(res.Body, `"code":"not_found"`) {
			t.Errorf("api GET %s: %d %s", p, res.StatusCode, res.Body)
		}
	}

}
