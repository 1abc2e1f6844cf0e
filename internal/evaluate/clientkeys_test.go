package evaluate_test

// Client keys (issue 17): public keys for browsers and mobile apps that
// evaluate the flags exposed to clients only, CORS for the origins their
// environment allows, rate limits, a bounded context, and no way to tell an
// unexposed flag from a missing one.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/store/boltstore"
)

const (
	shopClient    = "cs_client_shop_production_0123456789"
	shopServer    = "cs_sdk_shop_production_0123456789ab"
	stagingClient = "cs_client_shop_staging_0123456789ab"
	otherClient   = "cs_client_other_production_01234567"
	shopOrigin    = "https://shop.example.com"
	otherOrigin   = "https://other.example"
)

// clientEnv is the evaluate handler over bbolt: project shop, whose
// production allows shopOrigin, with flags banner (exposed), pricing (not
// exposed) and old-banner (exposed, archived), a client and a server key for
// production and a client key for staging (which allows no origin);
// project other, whose production allows otherOrigin, with flag
// other-banner (exposed) and a client key.
type clientEnv struct {
	t     testing.TB
	store *boltstore.Store
	clock *clock.Manual
	h     http.Handler
}

func clientSetup(t testing.TB) *clientEnv {
	t.Helper()
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	flag := func(project, key string, exposed, archived bool) {
		t.Helper()
		must(store.CreateFlag(ctx, &domain.Flag{Project: project, Key: key, Name: key, Tags: []string{}, BucketingUnit: "user_id", BucketingSalt: "salt1234",
			EvaluationMode: "remote", Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`"ON"`)}}, ClientExposed: exposed, Archived: archived}, nil))
		if archived {
			return
		}
		for _, env := range []string{"production", "staging"} {
			_, err := store.UpdateFlagConfig(ctx, project, key, env, func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
				c.Enabled = true
				c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
				return nil
			})
			must(err)
		}
	}
	key := func(project, env, id, secret string, kind domain.SDKKeyKind) {
		t.Helper()
		must(store.CreateSDKKey(ctx, &domain.SDKKey{ID: id, Project: project, Environment: env, Name: id, Hash: evaluate.HashSDKKey(secret), Kind: kind}))
	}
	origins := func(project string, allowed ...string) {
		t.Helper()
		_, err := store.UpdateEnvironment(ctx, project, "production", func(e *domain.Environment, _ *domain.Audit) error { e.AllowedOrigins = allowed; return nil })
		must(err)
	}
	for _, p := range []string{"shop", "other"} {
		must(store.CreateProject(ctx, &domain.Project{Key: p, Name: p}, domain.DefaultEnvironments()))
	}
	flag("shop", "banner", true, false)
	flag("shop", "pricing", false, false)
	flag("shop", "old-banner", true, true)
	flag("other", "other-banner", true, false)
	origins("shop", shopOrigin)
	origins("other", otherOrigin)
	key("shop", "production", "shop-client", shopClient, domain.SDKKeyClient)
	key("shop", "production", "shop-server", shopServer, domain.SDKKeyServer)
	key("shop", "staging", "staging-client", stagingClient, domain.SDKKeyClient)
	key("other", "production", "other-client", otherClient, domain.SDKKeyClient)
	clk := clocktest.Clock(0, 0, 0)
	return &clientEnv{t: t, store: store, clock: clk,
		h: evaluate.NewHandler(evaluate.New(store, clk, time.Second), slog.New(slog.NewTextHandler(io.Discard, nil)))}
}

// call sends a request with secret (none when empty) from address 192.0.2.1
// unless headers say RemoteAddr; headers are name, value pairs.
func (e *clientEnv) call(method, path, secret, body string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = "192.0.2.1:40000"
	if secret != "" {
		r.Header.Set("Authorization", "Bearer "+secret)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "RemoteAddr" {
			r.RemoteAddr = headers[i+1]
			continue
		}
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

const userBody = `{"context":{"targetingKey":"user-1"}}`

// bulkKeys are the flag keys of a bulk answer.
func bulkKeys(t *testing.T, w *httptest.ResponseRecorder) []string {
	t.Helper()
	var out struct {
		Flags []struct {
			Key string `json:"key"`
		} `json:"flags"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &out) != nil {
		t.Fatalf("bulk: %d %s", w.Code, w.Body)
	}
	var keys []string
	for _, f := range out.Flags {
		keys = append(keys, f.Key)
	}
	return keys
}

// A client key evaluates the exposed flags; the bulk answer lists only
// them (archived ones are not served to anyone); a server key reads every
// served flag.
func TestClientKeyEvaluatesExposedFlagsOnly(t *testing.T) {
	e := clientSetup(t)
	if w := e.call("POST", "/ofrep/v1/evaluate/flags/banner", shopClient, userBody); w.Code != 200 || !strings.Contains(w.Body.String(), `"value":"ON"`) {
		t.Fatalf("an exposed flag: %d %s", w.Code, w.Body)
	}
	if got := bulkKeys(t, e.call("POST", "/ofrep/v1/evaluate/flags", shopClient, userBody)); !slices.Equal(got, []string{"banner"}) {
		t.Fatalf("bulk with the client key: %v, want [banner]", got)
	}
	if got := bulkKeys(t, e.call("POST", "/ofrep/v1/evaluate/flags", shopServer, userBody)); !slices.Equal(got, []string{"banner", "pricing"}) {
		t.Fatalf("bulk with the server key: %v, want [banner pricing]", got)
	}
	if w := e.call("POST", "/ofrep/v1/evaluate/flags/pricing", shopServer, userBody); w.Code != 200 {
		t.Fatalf("the server key reads an unexposed flag: %d %s", w.Code, w.Body)
	}
	// exposing a flag reaches evaluators within the refresh interval
	if _, err := e.store.UpdateFlag(context.Background(), "shop", "pricing", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error {
		f.ClientExposed = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if got := bulkKeys(t, e.call("POST", "/ofrep/v1/evaluate/flags", shopClient, userBody)); !slices.Equal(got, []string{"banner", "pricing"}) {
		t.Fatalf("bulk after exposing pricing: %v", got)
	}
}

// Enumeration: for a client key, a flag that exists but is not exposed,
// an exposed flag that is archived and a flag that does not exist answer
// alike: status, headers and body, but for the key named.
func TestClientKeyCannotTellUnexposedFromMissing(t *testing.T) {
	e := clientSetup(t)
	type answer struct {
		code   int
		header http.Header
		body   string
	}
	ask := func(flag string, origin ...string) answer {
		headers := []string{}
		if len(origin) > 0 {
			headers = append(headers, "Origin", origin[0])
		}
		w := e.call("POST", "/ofrep/v1/evaluate/flags/"+flag, shopClient, userBody, headers...)
		return answer{w.Code, w.Header(), strings.ReplaceAll(w.Body.String(), flag, "<key>")}
	}
	for _, origin := range [][]string{nil, {shopOrigin}} {
		missing := ask("no-such-flag", origin...)
		if missing.code != 404 || !strings.Contains(missing.body, `"errorCode":"FLAG_NOT_FOUND"`) {
			t.Fatalf("a missing flag: %+v", missing)
		}
		for _, flag := range []string{"pricing", "old-banner", "other-banner"} {
			if got := ask(flag, origin...); got.code != missing.code || got.body != missing.body || fmt.Sprint(got.header) != fmt.Sprint(missing.header) {
				t.Errorf("%s (origin %v) answers %+v, a missing flag %+v", flag, origin, got, missing)
			}
		}
	}
}

// The ruleset route (rules, segments, salts) refuses a client key with a
// problem, whatever environment it names; the server key reads it.
func TestClientKeyRefusedOnTheRulesetRoute(t *testing.T) {
	e := clientSetup(t)
	for _, path := range []string{"/v1/projects/shop/environments/production/ruleset", "/v1/projects/other/environments/production/ruleset"} {
		w := e.call("GET", path, shopClient, "")
		var p struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
			Detail string `json:"detail"`
		}
		if w.Code != 403 || w.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(w.Body.Bytes(), &p) != nil ||
			p.Status != 403 || p.Code != "forbidden" || !strings.Contains(p.Detail, "server key") {
			t.Fatalf("%s with a client key: %d %s %s", path, w.Code, w.Header(), w.Body)
		}
		if strings.Contains(w.Body.String(), "salt1234") || strings.Contains(w.Body.String(), "pricing") {
			t.Fatalf("the refusal leaks the ruleset: %s", w.Body)
		}
	}
	if w := e.call("GET", "/v1/projects/shop/environments/production/ruleset", shopServer, ""); w.Code != 200 {
		t.Fatalf("the server key: %d %s", w.Code, w.Body)
	}
}

// Preflights are answered for origins some environment allows, with what
// OFREP needs, and refused (no CORS headers) for any other: spoofed
// look-alikes, another scheme or port, "null", a method other than POST.
func TestPreflight(t *testing.T) {
	e := clientSetup(t)
	addr := "" // each path from its own address: refused preflights count (TestPreflightFlood)
	preflight := func(path, origin, method string) *httptest.ResponseRecorder {
		return e.call("OPTIONS", path, "", "", "Origin", origin, "Access-Control-Request-Method", method,
			"Access-Control-Request-Headers", "authorization,content-type,if-none-match", "RemoteAddr", addr)
	}
	for i, path := range []string{"/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/banner", "/ofrep/v1/evaluate/flags/no-such-flag"} {
		addr = fmt.Sprintf("198.51.100.%d:1234", i+1)
		for _, origin := range []string{shopOrigin, otherOrigin} {
			w := preflight(path, origin, "POST")
			h := w.Header()
			if w.Code != 204 || h.Get("Access-Control-Allow-Origin") != origin || h.Get("Access-Control-Allow-Methods") != "POST" ||
				h.Get("Access-Control-Max-Age") == "" || !strings.Contains(h.Get("Vary"), "Origin") {
				t.Fatalf("%s from %s: %d %v", path, origin, w.Code, h)
			}
			allowed := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
			for _, need := range []string{"authorization", "x-api-key", "content-type", "if-none-match"} {
				if !strings.Contains(allowed, need) {
					t.Fatalf("%s: the preflight does not allow %s: %q", path, need, allowed)
				}
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Fatalf("credentials allowed: %v", h)
			}
		}
		for _, origin := range []string{"https://shop.example.com.evil.test", "https://evil.test", "null", "http://shop.example.com",
			"https://shop.example.com:8443", "https://SHOP.example.com", "https://shop.example.com/", "https://evilshop.example.com", " https://shop.example.com"} {
			if w := preflight(path, origin, "POST"); w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" || !strings.Contains(w.Header().Get("Vary"), "Origin") {
				t.Fatalf("%s from %q: %d %v", path, origin, w.Code, w.Header())
			}
		}
		if w := preflight(path, shopOrigin, "PUT"); w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s PUT: %d %v", path, w.Code, w.Header())
		}
		if w := e.call("OPTIONS", path, "", ""); w.Code != 204 || w.Header().Get("Allow") != "OPTIONS, POST" || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s OPTIONS without a preflight: %d %v", path, w.Code, w.Header())
		}
	}
}

// Preflights carry no key: refused ones count as failed key checks of
// their address, so a flood of made-up origins is cut off (429) before it
// costs a look at the origin index; another address is not, and the window
// passes.
func TestPreflightFlood(t *testing.T) {
	e := clientSetup(t)
	preflight := func(origin, addr string) *httptest.ResponseRecorder {
		return e.call("OPTIONS", "/ofrep/v1/evaluate/flags", "", "", "Origin", origin, "Access-Control-Request-Method", "POST", "RemoteAddr", addr)
	}
	for i := range evaluate.MaxAuthFailures {
		if w := preflight(fmt.Sprintf("https://made-up-%d.example", i), "203.0.113.5:1"); w.Code != 403 {
			t.Fatalf("refusal %d: %d", i+1, w.Code)
		}
	}
	if w := preflight(shopOrigin, "203.0.113.5:1"); w.Code != 429 || w.Header().Get("Retry-After") == "" || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("past the limit, even for an allowed origin: %d %v", w.Code, w.Header())
	}
	if w := preflight(shopOrigin, "203.0.113.6:1"); w.Code != 204 {
		t.Fatalf("another address: %d", w.Code)
	}
	e.clock.Advance(evaluate.AuthFailureWindow)
	if w := preflight(shopOrigin, "203.0.113.5:1"); w.Code != 204 {
		t.Fatalf("after the window: %d", w.Code)
	}
}

// A client key's answers carry CORS headers for its environment's origins
// only and always vary on Origin; another origin is refused before
// anything is evaluated (even one another project allows); without Origin
// (mobile apps) it is served. A server key never gets CORS headers.
func TestCORSAndVary(t *testing.T) {
	e := clientSetup(t)
	for _, path := range []string{"/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/banner"} {
		w := e.call("POST", path, shopClient, userBody, "Origin", shopOrigin)
		h := w.Header()
		if w.Code != 200 || h.Get("Access-Control-Allow-Origin") != shopOrigin || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "ETag") ||
			h.Get("Vary") != "Origin" {
			t.Fatalf("%s from the allowed origin: %d %v", path, w.Code, h)
		}
		w = e.call("POST", path, shopClient, userBody)
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "Origin" {
			t.Fatalf("%s without Origin: %d %v", path, w.Code, w.Header())
		}
		for _, origin := range []string{otherOrigin, "https://shop.example.com.evil.test", "null", "http://shop.example.com"} {
			w = e.call("POST", path, shopClient, userBody, "Origin", origin)
			if w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "Origin" || strings.Contains(w.Body.String(), "ON") {
				t.Fatalf("%s from %s: %d %v %s", path, origin, w.Code, w.Header(), w.Body)
			}
		}
		// the staging key's environment allows no origin at all
		if w = e.call("POST", path, stagingClient, userBody, "Origin", shopOrigin); w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%s with the staging key: %d %v", path, w.Code, w.Header())
		}
		// a server key from a browser page: served (the server is not a
		// browser's), but no CORS header lets the page read it
		w = e.call("POST", path, shopServer, userBody, "Origin", shopOrigin)
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Access-Control-Expose-Headers") != "" {
			t.Fatalf("%s with the server key from a page: %d %v", path, w.Code, w.Header())
		}
	}
	// a failed key check from an allowed page can be read there (401), not
	// from another page
	w := e.call("POST", "/ofrep/v1/evaluate/flags", "cs_client_revoked_or_mistyped_012345", userBody, "Origin", shopOrigin)
	if w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("a bad key from the allowed page: %d %v", w.Code, w.Header())
	}
	w = e.call("POST", "/ofrep/v1/evaluate/flags", "cs_client_revoked_or_mistyped_012345", userBody, "Origin", "https://evil.test")
	if w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a bad key from another page: %d %v", w.Code, w.Header())
	}
}

// The bulk ETag works across polls from a page: 304 with the CORS headers
// (a page must be able to read it), and a new answer once a flag changes.
func TestClientBulkETagAcrossPolls(t *testing.T) {
	e := clientSetup(t)
	first := e.call("POST", "/ofrep/v1/evaluate/flags", shopClient, userBody, "Origin", shopOrigin)
	etag := first.Header().Get("ETag")
	if first.Code != 200 || etag == "" {
		t.Fatalf("first poll: %d %v", first.Code, first.Header())
	}
	for i := range 3 {
		w := e.call("POST", "/ofrep/v1/evaluate/flags", shopClient, userBody, "Origin", shopOrigin, "If-None-Match", etag)
		if w.Code != 304 || w.Body.Len() != 0 || w.Header().Get("ETag") != etag || w.Header().Get("Access-Control-Allow-Origin") != shopOrigin ||
			w.Header().Get("Vary") != "Origin" {
			t.Fatalf("poll %d: %d %v", i+2, w.Code, w.Header())
		}
	}
	// a change of an unexposed flag changes nothing a client sees: still
	// 304 (the answer carries no ruleset version, which would tell)
	if _, err := e.store.UpdateFlagConfig(context.Background(), "shop", "pricing", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if w := e.call("POST", "/ofrep/v1/evaluate/flags", shopClient, userBody, "Origin", shopOrigin, "If-None-Match", etag); w.Code != 304 {
		t.Fatalf("after a change of an unexposed flag: %d %s", w.Code, w.Body)
	}
	if strings.Contains(first.Body.String(), `"version"`) {
		t.Fatalf("the client's bulk answer carries the ruleset version: %s", first.Body)
	}
	if _, err := e.store.UpdateFlagConfig(context.Background(), "shop", "banner", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	w := e.call("POST", "/ofrep/v1/evaluate/flags", shopClient, userBody, "Origin", shopOrigin, "If-None-Match", etag)
	if w.Code != 200 || w.Header().Get("ETag") == etag || !strings.Contains(w.Body.String(), `"reason":"DISABLED"`) ||
		w.Header().Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("after banner was disabled: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

// A client key is limited per key and client address: past the limit 429
// with Retry-After (readable by the page); another address, another key
// and server keys are not held back; the window passes.
func TestClientKeyRateLimit(t *testing.T) {
	e := clientSetup(t)
	from := func(addr string) []string { return []string{"Origin", shopOrigin, "RemoteAddr", addr + ":1234"} }
	for i := range evaluate.MaxClientRequests {
		path := "/ofrep/v1/evaluate/flags"
		if i%2 == 1 {
			path += "/banner"
		}
		if w := e.call("POST", path, shopClient, userBody, from("198.51.100.7")...); w.Code != 200 {
			t.Fatalf("request %d: %d %s", i+1, w.Code, w.Body)
		}
	}
	w := e.call("POST", "/ofrep/v1/evaluate/flags/banner", shopClient, userBody, from("198.51.100.7")...)
	if w.Code != 429 || w.Header().Get("Retry-After") != "60" || w.Header().Get("Access-Control-Allow-Origin") != shopOrigin ||
		!strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Fatalf("over the limit: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if w := e.call("POST", "/ofrep/v1/evaluate/flags/banner", shopClient, userBody, from("198.51.100.8")...); w.Code != 200 {
		t.Fatalf("another address: %d", w.Code)
	}
	if w := e.call("POST", "/ofrep/v1/evaluate/flags/other-banner", otherClient, userBody, "RemoteAddr", "198.51.100.7:1234"); w.Code != 200 {
		t.Fatalf("another key from the same address: %d", w.Code)
	}
	if w := e.call("POST", "/ofrep/v1/evaluate/flags/banner", shopServer, userBody, "RemoteAddr", "198.51.100.7:1234"); w.Code != 200 {
		t.Fatalf("the server key from the same address: %d", w.Code)
	}
	e.clock.Advance(evaluate.ClientRequestWindow)
	if w := e.call("POST", "/ofrep/v1/evaluate/flags/banner", shopClient, userBody, from("198.51.100.7")...); w.Code != 200 {
		t.Fatalf("after the window: %d", w.Code)
	}
}

// A client key's context is bounded: a larger body is refused (413) before
// it is read as JSON; a server key may send more.
func TestClientKeyContextSize(t *testing.T) {
	e := clientSetup(t)
	big := `{"context":{"targetingKey":"u","pad":"` + strings.Repeat("x", evaluate.MaxClientBody) + `"}}`
	for _, path := range []string{"/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/banner"} {
		w := e.call("POST", path, shopClient, big, "Origin", shopOrigin)
		var out map[string]any
		if w.Code != 413 || json.Unmarshal(w.Body.Bytes(), &out) != nil || out["errorCode"] != "PARSE_ERROR" ||
			!strings.Contains(out["errorDetails"].(string), "client key") || w.Header().Get("Access-Control-Allow-Origin") != shopOrigin {
			t.Fatalf("%s, a body over %d bytes: %d %v %s", path, evaluate.MaxClientBody, w.Code, w.Header(), w.Body)
		}
		if w := e.call("POST", path, shopServer, big); w.Code != 200 {
			t.Fatalf("%s, the server key's: %d %s", path, w.Code, w.Body)
		}
	}
	fits := `{"context":{"targetingKey":"u","pad":"` + strings.Repeat("x", evaluate.MaxClientBody-64) + `"}}`
	if w := e.call("POST", "/ofrep/v1/evaluate/flags/banner", shopClient, fits); w.Code != 200 {
		t.Fatalf("a body within the bound: %d %s", w.Code, w.Body)
	}
}

// A client key of project other reads nothing of shop: no shop flag by key
// (FLAG_NOT_FOUND, as any missing flag), none in bulk, not shop's ruleset,
// and not from shop's origin.
func TestClientKeyOfAnotherProjectReadsNothing(t *testing.T) {
	e := clientSetup(t)
	for _, flag := range []string{"banner", "pricing"} {
		if w := e.call("POST", "/ofrep/v1/evaluate/flags/"+flag, otherClient, userBody); w.Code != 404 || !strings.Contains(w.Body.String(), "FLAG_NOT_FOUND") {
			t.Fatalf("shop's %s with other's key: %d %s", flag, w.Code, w.Body)
		}
	}
	if got := bulkKeys(t, e.call("POST", "/ofrep/v1/evaluate/flags", otherClient, userBody, "Origin", otherOrigin)); !slices.Equal(got, []string{"other-banner"}) {
		t.Fatalf("other's bulk: %v", got)
	}
	if w := e.call("POST", "/ofrep/v1/evaluate/flags", otherClient, userBody, "Origin", shopOrigin); w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other's key from shop's page: %d %v", w.Code, w.Header())
	}
	if w := e.call("GET", "/v1/projects/shop/environments/production/ruleset", otherClient, ""); w.Code != 403 || strings.Contains(w.Body.String(), "banner") {
		t.Fatalf("shop's ruleset with other's key: %d %s", w.Code, w.Body)
	}
}

// A change of an environment's origins reaches the answers and the
// preflights within the refresh interval; a revoked client key stops
// within it too.
func TestOriginChangesAndRevocationReachEvaluation(t *testing.T) {
	e := clientSetup(t)
	const next = "https://www.shop.example.com"
	preflight := func(origin string) int {
		return e.call("OPTIONS", "/ofrep/v1/evaluate/flags", "", "", "Origin", origin, "Access-Control-Request-Method", "POST").Code
	}
	if preflight(next) != 403 || preflight(shopOrigin) != 204 {
		t.Fatal("before the change")
	}
	if _, err := e.store.UpdateEnvironment(context.Background(), "shop", "production", func(env *domain.Environment, _ *domain.Audit) error {
		env.AllowedOrigins = []string{next}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if preflight(next) != 204 || preflight(shopOrigin) != 403 {
		t.Fatal("the preflights after the change")
	}
	if w := e.call("POST", "/ofrep/v1/evaluate/flags", shopClient, userBody, "Origin", next); w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != next {
		t.Fatalf("the new origin: %d %v", w.Code, w.Header())
	}
	if w := e.call("POST", "/ofrep/v1/evaluate/flags", shopClient, userBody, "Origin", shopOrigin); w.Code != 403 {
		t.Fatalf("the old origin: %d", w.Code)
	}
	if _, err := e.store.RevokeSDKKey(context.Background(), "shop", "production", "shop-client", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if w := e.call("POST", "/ofrep/v1/evaluate/flags", shopClient, userBody, "Origin", next); w.Code != 401 {
		t.Fatalf("the revoked client key: %d", w.Code)
	}
}
