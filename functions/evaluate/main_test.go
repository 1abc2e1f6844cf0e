package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// sampleKey is the SDK key of the sample events in events/ (x-api-key in
// apigw-ofrep-evaluate.json, Authorization: Bearer in apigw-ofrep-bulk.json
// and apigw-ruleset.json), for shop/production.
const sampleKey = "cs_sdk_events_sample_key_0123456789abcdef"

// The sample events of the evaluate function's routes (template.yaml,
// EvaluateFunction.Events).
const (
	singleEvent  = "apigw-ofrep-evaluate.json" // OFREPFlag: POST /ofrep/v1/evaluate/flags/{key}
	bulkEvent    = "apigw-ofrep-bulk.json"     // OFREPBulk: POST /ofrep/v1/evaluate/flags
	rulesetEvent = "apigw-ruleset.json"        // Ruleset: GET /v1/projects/{project}/environments/{environment}/ruleset
	// OFREPBulkPreflight: OPTIONS /ofrep/v1/evaluate/flags, a browser's
	// preflight from https://shop.example.com (shop/production allows it)
	preflightEvent = "apigw-ofrep-preflight.json"
)

// sampleClientKey is a client key for shop/production, whose allowed
// origins are sampleOrigin's.
const (
	sampleClientKey = "cs_client_events_sample_key_0123456789"
	sampleOrigin    = "https://shop.example.com"
)

// sampleHandler is the evaluate Lambda's handler as the runtime calls it
// (lambda.Start wraps it the same way), over a bbolt store holding project
// shop with flag new-checkout (in production: country DE gets "on", everyone
// else "control") and the sample SDK key for shop/production.
func sampleHandler(t *testing.T) lambda.Handler {
	t.Helper()
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx := context.Background()
	now := clocktest.At(0, 0, 0, 0)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(store.CreateProject(ctx, &domain.Project{Key: "shop", Name: "Shop"}, domain.DefaultEnvironments()))
	must(store.CreateFlag(ctx, &domain.Flag{Project: "shop", Key: "new-checkout", Name: "N", Tags: []string{}, BucketingUnit: "user_id", BucketingSalt: "salt1234",
		EvaluationMode: "remote", Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}, {Key: "control", Value: json.RawMessage(`false`)}}}, nil))
	_, err = store.UpdateFlagConfig(ctx, "shop", "new-checkout", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Enabled = true
		c.Rules = []domain.Rule{{Name: "de", Conditions: []domain.Condition{{Attribute: "country", Operator: "is", Values: []string{"DE"}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}}
		c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "control", Weight: 1}}}
		return nil
	})
	must(err)
	must(store.CreateSDKKey(ctx, &domain.SDKKey{ID: "sk_sample", Project: "shop", Environment: "production", Name: "sample", Hash: evaluate.HashSDKKey(sampleKey), CreatedAt: now}))
	must(store.CreateSDKKey(ctx, &domain.SDKKey{ID: "sk_client", Project: "shop", Environment: "production", Name: "web", Hash: evaluate.HashSDKKey(sampleClientKey),
		CreatedAt: now, Kind: domain.SDKKeyClient}))
	_, err = store.UpdateEnvironment(ctx, "shop", "production", func(e *domain.Environment, _ *domain.Audit) error {
		e.AllowedOrigins = []string{sampleOrigin}
		return nil
	})
	must(err)
	_, err = store.UpdateFlag(ctx, "shop", "new-checkout", func(f *domain.Flag, _ []domain.FlagConfig, _ *domain.Audit) error { f.ClientExposed = true; return nil })
	must(err)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return lambda.NewHandler(lambdahttp.Handler(evaluate.NewHandler(evaluate.New(store, clock.NewFixed(now), 0), log)))
}

// readEvent reads a sample event of events/.
func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withHeaders is the event with its headers set to kv (name, value pairs;
// names lower-case, as API Gateway sends them), everything else as it was.
func withHeaders(t *testing.T, event []byte, kv ...string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(event, &ev); err != nil {
		t.Fatal(err)
	}
	h, _ := ev["headers"].(map[string]any)
	if h == nil {
		h = map[string]any{}
		ev["headers"] = h
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// invoke hands the event's bytes to the handler as the Lambda runtime does
// and decodes the bytes it answers (at once: Invoke's result is a pooled
// buffer the next invocation reuses).
func invoke(t *testing.T, h lambda.Handler, payload []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	out, err := h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var res events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("the handler answered %q: %v", out, err)
	}
	if res.IsBase64Encoded {
		t.Fatalf("a base64 body: %s", res.Body)
	}
	return res
}

// header reads a response header by name, case-insensitively, as API
// Gateway and HTTP clients do.
func header(res events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range res.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// The sample OFREP event goes through the evaluate Lambda's handler as the
// runtime hands it over.
func TestSampleOFREPEvent(t *testing.T) {
	res := invoke(t, sampleHandler(t), readEvent(t, singleEvent))
	var body map[string]any
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatalf("%v: %s", err, res.Body)
	}
	if res.StatusCode != 200 || body["key"] != "new-checkout" || body["value"] != true || body["variant"] != "on" || body["reason"] != "TARGETING_MATCH" {
		t.Fatalf("OFREP response %d %s", res.StatusCode, res.Body)
	}
}

// The bulk event answers every flag with an ETag, and the same call sent
// with that ETag in If-None-Match answers 304 without a body.
func TestSampleOFREPBulkEvent(t *testing.T) {
	h := sampleHandler(t)
	event := readEvent(t, bulkEvent)
	res := invoke(t, h, event)
	if res.StatusCode != 200 {
		t.Fatalf("bulk: %d %s", res.StatusCode, res.Body)
	}
	if ct := header(res, "Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("bulk: Content-Type %q", ct)
	}
	etag := header(res, "ETag")
	if etag == "" {
		t.Fatalf("bulk: no ETag among %v", res.Headers)
	}
	var body struct {
		Flags []struct {
			Key     string `json:"key"`
			Value   any    `json:"value"`
			Variant string `json:"variant"`
			Reason  string `json:"reason"`
		} `json:"flags"`
	}
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatalf("bulk: %v: %s", err, res.Body)
	}
	if len(body.Flags) != 1 {
		t.Fatalf("bulk: flags %+v, want new-checkout only: %s", body.Flags, res.Body)
	}
	if f := body.Flags[0]; f.Key != "new-checkout" || f.Value != true || f.Variant != "on" || f.Reason != "TARGETING_MATCH" {
		t.Errorf("bulk: flag %+v, want new-checkout true (on, TARGETING_MATCH): %s", f, res.Body)
	}

	// The same call, revalidated with the ETag of the first answer.
	res = invoke(t, h, withHeaders(t, event, "if-none-match", etag))
	if res.StatusCode != 304 || res.Body != "" {
		t.Errorf("bulk with If-None-Match %s: %d %q, want 304 and no body", etag, res.StatusCode, res.Body)
	}
	// Another ETag is not a match.
	res = invoke(t, h, withHeaders(t, event, "if-none-match", `"stale"`))
	if res.StatusCode != 200 || !strings.Contains(res.Body, `"flags"`) {
		t.Errorf(`bulk with If-None-Match "stale": %d %s, want 200 and the flags`, res.StatusCode, res.Body)
	}
}

// The ruleset event answers the environment's ruleset (for local
// evaluation) with an ETag, and 304 when revalidated with it.
func TestSampleRulesetEvent(t *testing.T) {
	h := sampleHandler(t)
	event := readEvent(t, rulesetEvent)
	res := invoke(t, h, event)
	if res.StatusCode != 200 {
		t.Fatalf("ruleset: %d %s", res.StatusCode, res.Body)
	}
	etag := header(res, "ETag")
	if etag == "" {
		t.Fatalf("ruleset: no ETag among %v", res.Headers)
	}
	var body struct {
		Project     string  `json:"project"`
		Environment string  `json:"environment"`
		Version     float64 `json:"version"`
		Flags       []struct {
			Key      string `json:"key"`
			Variants []struct {
				Key string `json:"key"`
			} `json:"variants"`
		} `json:"flags"`
	}
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatalf("ruleset: %v: %s", err, res.Body)
	}
	if body.Project != "shop" || body.Environment != "production" || body.Version <= 0 {
		t.Errorf("ruleset: project %q environment %q version %v, want shop/production and a version", body.Project, body.Environment, body.Version)
	}
	if len(body.Flags) != 1 || body.Flags[0].Key != "new-checkout" || len(body.Flags[0].Variants) != 2 {
		t.Errorf("ruleset: flags %+v, want new-checkout with its two variants", body.Flags)
	}

	res = invoke(t, h, withHeaders(t, event, "if-none-match", etag))
	if res.StatusCode != 304 || res.Body != "" {
		t.Errorf("ruleset with If-None-Match %s: %d %q, want 304 and no body", etag, res.StatusCode, res.Body)
	}
}

// Every evaluate route answers 401 to an SDK key that is not one, whichever
// way the event carries it.
func TestSampleEventsWithWrongSDKKey(t *testing.T) {
	h := sampleHandler(t)
	const wrong = "cs_sdk_events_wrong_key_0123456789abcdef"
	for _, name := range []string{singleEvent, bulkEvent, rulesetEvent} {
		t.Run(name, func(t *testing.T) {
			event := readEvent(t, name)
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(event, &ev); err != nil {
				t.Fatal(err)
			}
			var kv []string
			if _, has := ev.Headers["x-api-key"]; has {
				kv = append(kv, "x-api-key", wrong)
			}
			if _, has := ev.Headers["authorization"]; has {
				kv = append(kv, "authorization", "Bearer "+wrong)
			}
			if len(kv) == 0 {
				t.Fatalf("events/%s carries no SDK key (x-api-key or authorization)", name)
			}
			res := invoke(t, h, withHeaders(t, event, kv...))
			if res.StatusCode != 401 || !strings.HasPrefix(header(res, "WWW-Authenticate"), "Bearer") {
				t.Errorf("wrong SDK key: %d %v %s, want 401 with WWW-Authenticate: Bearer", res.StatusCode, res.Headers, res.Body)
			}
			if strings.Contains(res.Body, "new-checkout") {
				t.Errorf("wrong SDK key: the answer shows a flag: %s", res.Body)
			}
		})
	}
}

// A browser's preflight of the bulk route, as API Gateway delivers it to
// the function (template.yaml routes OPTIONS here), is answered for the
// allowed origin; then the page's bulk call with the client key gets its
// answer with the CORS headers, varying on Origin, and another origin is
// refused.
func TestSamplePreflightAndClientKeyEvents(t *testing.T) {
	h := sampleHandler(t)
	res := invoke(t, h, readEvent(t, preflightEvent))
	if res.StatusCode != 204 || header(res, "Access-Control-Allow-Origin") != sampleOrigin || header(res, "Access-Control-Allow-Methods") != "POST" ||
		!strings.Contains(header(res, "Access-Control-Allow-Headers"), "Authorization") || !strings.Contains(header(res, "Vary"), "Origin") {
		t.Fatalf("preflight: %d %v", res.StatusCode, res.Headers)
	}
	res = invoke(t, h, withHeaders(t, readEvent(t, preflightEvent), "origin", "https://shop.example.com.evil.test"))
	if res.StatusCode != 403 || header(res, "Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from a look-alike origin: %d %v", res.StatusCode, res.Headers)
	}
	bulk := withHeaders(t, readEvent(t, bulkEvent), "authorization", "Bearer "+sampleClientKey, "origin", sampleOrigin)
	res = invoke(t, h, bulk)
	if res.StatusCode != 200 || header(res, "Access-Control-Allow-Origin") != sampleOrigin || header(res, "Vary") != "Origin" ||
		!strings.Contains(header(res, "Access-Control-Expose-Headers"), "ETag") || !strings.Contains(res.Body, `"key":"new-checkout"`) {
		t.Fatalf("the page's bulk call: %d %v %s", res.StatusCode, res.Headers, res.Body)
	}
	res = invoke(t, h, withHeaders(t, bulk, "origin", "https://evil.test"))
	if res.StatusCode != 403 || header(res, "Access-Control-Allow-Origin") != "" {
		t.Fatalf("another origin: %d %v", res.StatusCode, res.Headers)
	}
}
