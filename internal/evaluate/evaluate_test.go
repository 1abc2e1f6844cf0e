package evaluate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/store/boltstore"
)

const key = "cs_sdk_test_key_0123456789abcdef"

type env struct {
	t     *testing.T
	store *boltstore.Store
	clock *clock.Manual
	srv   *httptest.Server
}

func setup(t *testing.T) *env {
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	clk := clocktest.Clock(0, 0, 0)
	if err := store.CreateProject(ctx, &domain.Project{Key: "shop", Name: "Shop"}, domain.DefaultEnvironments()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "archived"} {
		f := &domain.Flag{Project: "shop", Key: k, Name: k, Tags: []string{}, BucketingUnit: "user_id", BucketingSalt: "salt1234", EvaluationMode: "remote",
			Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`"ON"`)}, {Key: "off-ish", Value: json.RawMessage(`"OFF"`)}}, Archived: k == "archived"}
		if err := store.CreateFlag(ctx, f, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.CreateSDKKey(ctx, &domain.SDKKey{ID: "k", Project: "shop", Environment: "production", Name: "k", Hash: evaluate.HashSDKKey(key)}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: store, clock: clk}
	h := evaluate.NewHandler(evaluate.New(store, clk, time.Second), slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.target(50)
	return e
}

// target sets flag a in production: 100 % "on" when rollout is 100, else a
// rollout of the default rule.
func (e *env) target(rollout float64) {
	e.t.Helper()
	_, err := e.store.UpdateFlagConfig(context.Background(), "shop", "a", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		c.OffVariant = "off-ish"
		c.DefaultRule = domain.Allocation{Rollout: rollout, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) post(path, body string, headers ...string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out, res.Header
}

func TestOFREPSingle(t *testing.T) {
	e := setup(t)
	code, out, _ := e.post("/ofrep/v1/evaluate/flags/a", `{"context":{"targetingKey":"user-1"}}`)
	if code != 200 || out["key"] != "a" || (out["variant"] != "on" && out["variant"] != "off-ish") {
		t.Fatalf("%d %v", code, out)
	}
	for name, c := range map[string]struct {
		path, body string
		status     int
		errCode    string
	}{
		"not found":       {"/ofrep/v1/evaluate/flags/nope", `{"context":{"targetingKey":"u"}}`, 404, "FLAG_NOT_FOUND"},
		"archived":        {"/ofrep/v1/evaluate/flags/archived", `{"context":{"targetingKey":"u"}}`, 404, "FLAG_NOT_FOUND"},
		"parse error":     {"/ofrep/v1/evaluate/flags/a", `{"context":`, 400, "PARSE_ERROR"},
		"invalid context": {"/ofrep/v1/evaluate/flags/a", `{"context":[1,2]}`, 400, "INVALID_CONTEXT"},
		"key not string":  {"/ofrep/v1/evaluate/flags/a", `{"context":{"targetingKey":7}}`, 400, "INVALID_CONTEXT"},
		"no key":          {"/ofrep/v1/evaluate/flags/a", `{"context":{"country":"DE"}}`, 400, "TARGETING_KEY_MISSING"},
	} {
		code, out, _ := e.post(c.path, c.body)
		if code != c.status || out["errorCode"] != c.errCode {
			t.Errorf("%s: want %d %s, got %d %v", name, c.status, c.errCode, code, out)
		}
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/ofrep/v1/evaluate/flags/a", strings.NewReader(`{"context":{}}`))
	req.Header.Set("X-API-Key", "cs_sdk_wrong_key_000000000000000")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 401 {
		t.Fatalf("wrong key: %v %v", err, res.StatusCode)
	}
}

// Bulk with ETag / If-None-Match, and the refresh bound: a change is
// visible after the refresh interval, not before.
func TestOFREPBulkETagAndRefresh(t *testing.T) {
	e := setup(t)
	e.target(100)
	code, out, h := e.post("/ofrep/v1/evaluate/flags", `{"context":{"targetingKey":"u"}}`)
	flags, _ := out["flags"].([]any)
	if code != 200 || len(flags) != 1 || h.Get("ETag") == "" {
		t.Fatalf("bulk: %d %v %v", code, out, h)
	}
	etag := h.Get("ETag")
	if code, _, _ := e.post("/ofrep/v1/evaluate/flags", `{"context":{"targetingKey":"u"}}`, "If-None-Match", etag); code != 304 {
		t.Fatalf("unchanged: want 304, got %d", code)
	}
	e.target(0) // everyone out: the off variant
	if _, out, _ := e.post("/ofrep/v1/evaluate/flags/a", `{"context":{"targetingKey":"u"}}`); out["variant"] != "on" {
		t.Fatalf("within the refresh interval the cached ruleset serves: %v", out)
	}
	e.clock.Advance(time.Second)
	if _, out, _ := e.post("/ofrep/v1/evaluate/flags/a", `{"context":{"targetingKey":"u"}}`); out["variant"] != "off-ish" || out["value"] != "OFF" {
		t.Fatalf("after the refresh interval the change is served: %v", out)
	}
	if code, _, h := e.post("/ofrep/v1/evaluate/flags", `{"context":{"targetingKey":"u"}}`, "If-None-Match", etag); code != 200 || h.Get("ETag") == etag {
		t.Fatalf("changed: want 200 with a new ETag, got %d %s", code, h.Get("ETag"))
	}
}

// The bulk ETag is of the answer: another context (another user, or the
// same user with other attributes) with an old ETag gets its own answer,
// not a 304; If-None-Match takes lists, weak tags and "*".
func TestOFREPBulkETagFollowsTheContext(t *testing.T) {
	e := setup(t) // a: 50 % rollout
	body := func(user string) string { return `{"context":{"targetingKey":"` + user + `"}}` }
	variant := func(user string) any {
		_, out, _ := e.post("/ofrep/v1/evaluate/flags/a", body(user))
		return out["variant"]
	}
	other := ""
	for i := range 100 {
		if u := fmt.Sprintf("u%d", i); variant(u) != variant("u") {
			other = u
			break
		}
	}
	if other == "" {
		t.Fatal("no user with another variant than u at 50 %")
	}
	_, _, h := e.post("/ofrep/v1/evaluate/flags", body("u"))
	etag := h.Get("ETag")
	if code, out, h2 := e.post("/ofrep/v1/evaluate/flags", body(other), "If-None-Match", etag); code != 200 || h2.Get("ETag") == etag || out["flags"] == nil {
		t.Fatalf("another user with u's ETag: want 200 with its own answer and ETag, got %d %v %s", code, out, h2.Get("ETag"))
	}
	for _, inm := range []string{etag, `"x", ` + etag, "W/" + etag, "*"} {
		if code, _, _ := e.post("/ofrep/v1/evaluate/flags", body("u"), "If-None-Match", inm); code != 304 {
			t.Fatalf("If-None-Match %s: want 304, got %d", inm, code)
		}
	}
	if code, _, _ := e.post("/ofrep/v1/evaluate/flags", body("u"), "If-None-Match", `"x", "y"`); code != 200 {
		t.Fatalf("If-None-Match without u's ETag: want 200, got %d", code)
	}
}

func TestRulesetRouteIsScopedToTheKey(t *testing.T) {
	e := setup(t)
	get := func(path string) int {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("X-API-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := get("/v1/projects/shop/environments/production/ruleset"); got != 200 {
		t.Fatalf("own environment: %d", got)
	}
	if got := get("/v1/projects/shop/environments/staging/ruleset"); got != 403 {
		t.Fatalf("another environment: %d", got)
	}
	// a revoked key stops within the refresh interval
	if _, err := e.store.RevokeSDKKey(context.Background(), "shop", "production", "k", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	if got := get("/v1/projects/shop/environments/production/ruleset"); got != 401 {
		t.Fatalf("revoked key: %d", got)
	}
}

// A key rotated with a grace period keeps working until it expires, beside
// its successor; one rotated at once stops within the refresh interval.
func TestRotatedKeys(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	status := func(secret string) int {
		req, _ := http.NewRequest("POST", e.srv.URL+"/ofrep/v1/evaluate/flags/a", strings.NewReader(`{"context":{"targetingKey":"u"}}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := status(key); got != 200 {
		t.Fatalf("before: %d", got)
	}
	const next = "cs_sdk_next_key_0123456789abcdef"
	expires := e.clock.Now().Add(time.Hour)
	if _, err := e.store.RotateSDKKey(ctx, "shop", "production", "k", &domain.SDKKey{ID: "k2", Project: "shop", Environment: "production", Hash: evaluate.HashSDKKey(next)},
		e.clock.Now(), expires); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	if a, b := status(key), status(next); a != 200 || b != 200 {
		t.Fatalf("during the grace period both keys work: old %d, new %d", a, b)
	}
	e.clock.Advance(time.Hour)
	if a, b := status(key), status(next); a != 401 || b != 200 {
		t.Fatalf("after the grace period only the new key works: old %d, new %d", a, b)
	}
	const third = "cs_sdk_third_key_0123456789abcdef"
	if _, err := e.store.RotateSDKKey(ctx, "shop", "production", "k2", &domain.SDKKey{ID: "k3", Project: "shop", Environment: "production", Hash: evaluate.HashSDKKey(third)},
		e.clock.Now(), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	if a, b := status(next), status(third); a != 401 || b != 200 {
		t.Fatalf("rotated at once: old %d, new %d", a, b)
	}
}

// The ruleset route gives what OFREP serves: no archived flag, every flag
// with the config it serves here (stored or default), no management fields.
func TestRulesetRouteServesWhatOFREPServes(t *testing.T) {
	e := setup(t) // a (configured), archived
	ctx := context.Background()
	if err := e.store.CreateFlag(ctx, &domain.Flag{Project: "shop", Key: "b", Name: "b", Description: "secret plans", Maintainer: "m_ada", Tags: []string{},
		BucketingUnit: "user_id", BucketingSalt: "salt1234", EvaluationMode: "remote",
		Variants: []domain.Variant{{Key: "x", Value: json.RawMessage(`1`)}}}, nil); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	req, _ := http.NewRequest("GET", e.srv.URL+"/v1/projects/shop/environments/production/ruleset", nil)
	req.Header.Set("X-API-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var body struct {
		Flags []map[string]any `json:"flags"`
	}
	if err := json.Unmarshal(raw, &body); err != nil || res.StatusCode != 200 {
		t.Fatalf("ruleset: %d %s", res.StatusCode, raw)
	}
	var keys []string
	for _, f := range body.Flags {
		keys = append(keys, f["key"].(string))
		cfg, _ := f["config"].(map[string]any)
		if cfg == nil || cfg["environment"] != "production" {
			t.Fatalf("flag %v has no production config: %v", f["key"], f)
		}
	}
	if strings.Join(keys, ",") != "a,b" {
		t.Fatalf("served flags %v, want a,b (archived is not served)", keys)
	}
	for _, text := range []string{"secret plans", "m_ada"} {
		if strings.Contains(string(raw), text) {
			t.Fatalf("the ruleset leaks %q: %s", text, raw)
		}
	}
	for _, f := range body.Flags {
		for _, field := range []string{"maintainer", "description", "tags", "name"} {
			if _, ok := f[field]; ok {
				t.Fatalf("flag %v carries the management field %q", f["key"], field)
			}
		}
	}
	if code, out, _ := e.post("/ofrep/v1/evaluate/flags/archived", `{"context":{"targetingKey":"u"}}`); code != 404 || out["errorCode"] != "FLAG_NOT_FOUND" {
		t.Fatalf("archived over OFREP: %d %v", code, out)
	}
}

// A flag whose stored targeting does not compile answers GENERAL; the
// environment's other flags are still served.
func TestOneBrokenFlagDoesNotStopTheOthers(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if err := e.store.CreateFlag(ctx, &domain.Flag{Project: "shop", Key: "broken", Name: "broken", Tags: []string{}, BucketingUnit: "user_id", BucketingSalt: "salt1234",
		EvaluationMode: "remote", Variants: []domain.Variant{{Key: "x", Value: json.RawMessage(`1`)}}}, nil); err != nil {
		t.Fatal(err)
	}
	// written past validation, as data from another version could be
	if _, err := e.store.UpdateFlagConfig(ctx, "shop", "broken", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "no-such-variant", Weight: 1}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	if code, out, _ := e.post("/ofrep/v1/evaluate/flags/broken", `{"context":{"targetingKey":"u"}}`); code != 400 || out["errorCode"] != "GENERAL" {
		t.Fatalf("broken flag: %d %v", code, out)
	}
	if code, out, _ := e.post("/ofrep/v1/evaluate/flags/a", `{"context":{"targetingKey":"u"}}`); code != 200 || out["variant"] == nil {
		t.Fatalf("the other flag: %d %v", code, out)
	}
	code, out, _ := e.post("/ofrep/v1/evaluate/flags", `{"context":{"targetingKey":"u"}}`)
	flags, _ := out["flags"].([]any)
	if code != 200 || len(flags) != 2 {
		t.Fatalf("bulk: %d %v", code, out)
	}
	for _, f := range flags {
		m := f.(map[string]any)
		if (m["key"] == "broken") != (m["errorCode"] == "GENERAL") {
			t.Fatalf("bulk entry: %v", m)
		}
	}
}

func TestOFREPRefusesTrailingDataAndHugeBodies(t *testing.T) {
	e := setup(t)
	if code, out, _ := e.post("/ofrep/v1/evaluate/flags/a", `{"context":{"targetingKey":"u","n":[1]}} trailing`); code != 400 || out["errorCode"] != "PARSE_ERROR" {
		t.Fatalf("trailing data: %d %v", code, out)
	}
	if code, out, _ := e.post("/ofrep/v1/evaluate/flags/a", `{"context":{"targetingKey":"u"}}{"context":{}}`); code != 400 || out["errorCode"] != "PARSE_ERROR" {
		t.Fatalf("two values: %d %v", code, out)
	}
	huge := `{"context":{"targetingKey":"u","pad":"` + strings.Repeat("x", 300<<10) + `"}}`
	if code, out, _ := e.post("/ofrep/v1/evaluate/flags/a", huge); code != 413 || out["errorCode"] != "PARSE_ERROR" {
		t.Fatalf("a 300 KiB body: %d %v", code, out)
	}
}
