package evaluate_test

// OFREP through the Lambda handler path against a floor: the cost of
// encoding/json decoding the same request body and encoding the same
// response payload, which any JSON-over-HTTP evaluator pays at least.
//
//	go test -run '^$' -bench 'LambdaPath|JSONFloor' -benchmem -count 5 ./internal/evaluate/ | scripts/loadtest/bench-ratio.sh
//
// The target: single evaluation within 1.5× of the floor.
//
// BenchmarkLambdaInvoke and BenchmarkJSONFloorInvoke are the same pair from
// bytes in to bytes out: the event's JSON, as the Lambda runtime hands it
// over, through lambda.NewHandler(...).Invoke, which decodes the event and
// encodes the response (aws-lambda-go's part, outside the pair above),
// against encoding/json decoding the event and its body and encoding the
// answer and the response event. Run the pairs interleaved, so that a busy
// spell of a shared machine does not fall on one side only:
//
//	for i in 1 2 3 4 5; do go test -run '^$' -bench 'LambdaPath|JSONFloor|LambdaInvoke' -benchmem -count 1 ./internal/evaluate/; done | scripts/loadtest/bench-ratio.sh

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/store/boltstore"
)

const benchSDKKey = "cs_sdk_bench_key_0123456789abcdef0123"

// benchClientKey is a client key of the same environment, which allows
// benchOrigin; every benchmark flag is exposed to clients.
const (
	benchClientKey = "cs_client_bench_key_0123456789abcdef"
	benchOrigin    = "https://shop.example.com"
)

// benchBody is a typical OpenFeature context: a targeting key and a few
// attributes, one of which the flags' rule tests.
const benchBody = `{"context":{"targetingKey":"user-4711","country":"DE","plan":"pro","email":"ada@example.com","app_version":"3.2.1"}}`

// benchFlagKey names flag i of a benchmark project.
func benchFlagKey(i int) string { return fmt.Sprintf("flag-%03d", i) }

// benchVariants cycles through the four value types.
func benchVariants(i int) []domain.Variant {
	switch i % 4 {
	case 0:
		return []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}, {Key: "control", Value: json.RawMessage(`false`)}}
	case 1:
		return []domain.Variant{{Key: "on", Value: json.RawMessage(`"blue"`)}, {Key: "control", Value: json.RawMessage(`"green"`)}}
	case 2:
		return []domain.Variant{{Key: "on", Value: json.RawMessage(`1`)}, {Key: "control", Value: json.RawMessage(`2.5`)}}
	default:
		return []domain.Variant{{Key: "on", Value: json.RawMessage(`{"a":1}`)}, {Key: "control", Value: json.RawMessage(`{"b":[1,2]}`)}}
	}
}

// benchHandler is the evaluate Lambda's handler over a bbolt store holding
// project "p<n>" with n flags, each with one rule (country is DE, 50 %
// rollout, so the user is hashed) and a default rule split 1:1, and an SDK
// key for its production environment. The evaluator's refresh is an hour:
// every benchmarked call is served from the cached compiled ruleset.
func benchHandler(b *testing.B, n int) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	b.Helper()
	store, err := boltstore.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	ctx := context.Background()
	project := fmt.Sprintf("p%d", n)
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	must(store.CreateProject(ctx, &domain.Project{Key: project, Name: project}, domain.DefaultEnvironments()))
	for i := range n {
		k := benchFlagKey(i)
		must(store.CreateFlag(ctx, &domain.Flag{Project: project, Key: k, Name: k, Tags: []string{}, BucketingUnit: "user_id", BucketingSalt: "salt-" + k,
			EvaluationMode: "remote", Variants: benchVariants(i), ClientExposed: true}, nil))
		_, err := store.UpdateFlagConfig(ctx, project, k, "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
			c.Enabled = true
			c.OffVariant = "control"
			c.Rules = []domain.Rule{{Name: "Germany", Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}}},
				Allocation: domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}}
			c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}, {Variant: "control", Weight: 1}}}
			return nil
		})
		must(err)
	}
	must(store.CreateSDKKey(ctx, &domain.SDKKey{ID: "bench", Project: project, Environment: "production", Name: "bench", Hash: evaluate.HashSDKKey(benchSDKKey)}))
	must(store.CreateSDKKey(ctx, &domain.SDKKey{ID: "bench-client", Project: project, Environment: "production", Name: "bench-client",
		Hash: evaluate.HashSDKKey(benchClientKey), Kind: domain.SDKKeyClient}))
	_, err = store.UpdateEnvironment(ctx, project, "production", func(e *domain.Environment, _ *domain.Audit) error {
		e.AllowedOrigins = []string{benchOrigin}
		return nil
	})
	must(err)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return lambdahttp.Handler(evaluate.NewHandler(evaluate.New(store, clock.System{}, time.Hour), log))
}

// benchEvent is the API Gateway HTTP API (payload 2.0) event of an OFREP
// call, as the evaluate function's routes deliver it (template.yaml), with
// the headers API Gateway passes on.
func benchEvent(path string) events.APIGatewayV2HTTPRequest {
	route, params := "POST /ofrep/v1/evaluate/flags", map[string]string(nil)
	if key, ok := strings.CutPrefix(path, "/ofrep/v1/evaluate/flags/"); ok {
		route, params = "POST /ofrep/v1/evaluate/flags/{key}", map[string]string{"key": key}
	}
	return events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: route,
		RawPath:  path,
		Headers: map[string]string{
			"accept":            "application/json",
			"authorization":     "Bearer " + benchSDKKey,
			"content-length":    fmt.Sprint(len(benchBody)),
			"content-type":      "application/json",
			"host":              "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com",
			"user-agent":        "OpenFeature-ofrep-provider",
			"x-amzn-trace-id":   "Root=1-6740f000-0123456789abcdef01234563",
			"x-forwarded-for":   "198.51.100.23",
			"x-forwarded-port":  "443",
			"x-forwarded-proto": "https",
		},
		PathParameters: params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route,
			AccountID:    "123456789012",
			Stage:        "$default",
			RequestID:    "Cs03aBcDeFgHiJ=",
			APIID:        "a1b2c3d4e5",
			DomainName:   "a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com",
			DomainPrefix: "a1b2c3d4e5",
			Time:         "21/Nov/2026:12:00:03 +0000",
			TimeEpoch:    1795262403000,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: path, Protocol: "HTTP/1.1", SourceIP: "198.51.100.23",
				UserAgent: "OpenFeature-ofrep-provider"},
		},
		Body: benchBody,
	}
}

// benchEventJSON is benchEvent as the Lambda runtime hands it to the
// function: its JSON, without the empty requestContext.authentication
// (mTLS client certificate) object the Go type always encodes and API
// Gateway leaves out when there is no client certificate.
func benchEventJSON(b *testing.B, path string) []byte {
	b.Helper()
	raw, err := json.Marshal(benchEvent(path))
	if err != nil {
		b.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		b.Fatal(err)
	}
	delete(ev["requestContext"].(map[string]any), "authentication")
	if raw, err = json.Marshal(ev); err != nil {
		b.Fatal(err)
	}
	return raw
}

var benchCases = []struct {
	name  string
	flags int    // flags in the project
	path  string // OFREP route
}{
	{"single", 10, "/ofrep/v1/evaluate/flags/" + benchFlagKey(0)},
	{"bulk10", 10, "/ofrep/v1/evaluate/flags"},
	{"bulk100", 100, "/ofrep/v1/evaluate/flags"},
}

func BenchmarkLambdaPath(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			h := benchHandler(b, c.flags)
			ev := benchEvent(c.path)
			ctx := context.Background()
			res, err := h(ctx, ev) // warms the caches, and checks the answer
			if err != nil || res.StatusCode != 200 {
				b.Fatalf("%v %d %s", err, res.StatusCode, res.Body)
			}
			b.SetBytes(int64(len(ev.Body) + len(res.Body)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := h(ctx, ev)
				if err != nil || res.StatusCode != 200 {
					b.Fatalf("%v %d", err, res.StatusCode)
				}
			}
		})
	}
}

// BenchmarkLambdaPathClient is BenchmarkLambdaPath with the environment's
// client key from a page of its allowed origin (informational: the ratio
// script pairs LambdaPath with the floor only): what a client key adds,
// the origin check, the CORS headers, and the rate limiter's count. Each
// call comes from another address of 2^16, so that no window fills.
func BenchmarkLambdaPathClient(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			h := benchHandler(b, c.flags)
			ev := benchEvent(c.path)
			ev.Headers = maps.Clone(ev.Headers)
			ev.Headers["authorization"] = "Bearer " + benchClientKey
			ev.Headers["origin"] = benchOrigin
			ctx := context.Background()
			res, err := h(ctx, ev)
			if err != nil || res.StatusCode != 200 || res.Headers["Access-Control-Allow-Origin"] != benchOrigin {
				b.Fatalf("%v %d %v %s", err, res.StatusCode, res.Headers, res.Body)
			}
			b.SetBytes(int64(len(ev.Body) + len(res.Body)))
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				ev.RequestContext.HTTP.SourceIP = sourceIPs[n&0xffff]
				res, err := h(ctx, ev)
				if err != nil || res.StatusCode != 200 {
					b.Fatalf("%v %d", err, res.StatusCode)
				}
			}
		})
	}
}

// sourceIPs are 2^16 client addresses.
var sourceIPs = func() []string {
	out := make([]string, 1<<16)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.%d.%d", i>>8, i&255)
	}
	return out
}()

// The floor's types are the wire format: what the request body decodes to
// and what the response encodes from.
type floorRequest struct {
	Context map[string]any `json:"context"`
}

type floorSuccess struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value,omitempty"`
	Reason   string          `json:"reason"`
	Variant  string          `json:"variant"`
	Metadata map[string]any  `json:"metadata,omitempty"`
}

type floorBulk struct {
	Flags    []floorSuccess `json:"flags"`
	Metadata map[string]any `json:"metadata"`
}

// floorPayload is the response the Lambda path answers for case c, decoded
// from its real answer so the floor encodes the same bytes, and that answer.
func floorPayload(b *testing.B, c int) (any, events.APIGatewayV2HTTPResponse) {
	b.Helper()
	res, err := benchHandler(b, benchCases[c].flags)(context.Background(), benchEvent(benchCases[c].path))
	if err != nil || res.StatusCode != 200 {
		b.Fatalf("%v %d %s", err, res.StatusCode, res.Body)
	}
	if benchCases[c].name == "single" {
		var s floorSuccess
		if err := json.Unmarshal([]byte(res.Body), &s); err != nil {
			b.Fatal(err)
		}
		return &s, res
	}
	var bulk floorBulk
	if err := json.Unmarshal([]byte(res.Body), &bulk); err != nil || len(bulk.Flags) != benchCases[c].flags {
		b.Fatalf("%v: %d flags", err, len(bulk.Flags))
	}
	return &bulk, res
}

func BenchmarkJSONFloor(b *testing.B) {
	for i, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			payload, _ := floorPayload(b, i)
			body := []byte(benchBody)
			out, err := json.Marshal(payload)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body) + len(out)))
			b.ReportAllocs()
			for b.Loop() {
				var req floorRequest
				if err := json.Unmarshal(body, &req); err != nil {
					b.Fatal(err)
				}
				if _, err := json.Marshal(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// invokeOK is how every answer of Invoke here begins: aws-lambda-go encodes
// events.APIGatewayV2HTTPResponse's fields in order, statusCode first.
var invokeOK = []byte(`{"statusCode":200,`)

// The whole invocation from bytes: the event's JSON through
// lambda.NewHandler(...).Invoke, which decodes it into
// events.APIGatewayV2HTTPRequest, calls the handler of BenchmarkLambdaPath
// and encodes its events.APIGatewayV2HTTPResponse, as the Lambda runtime
// does between receiving an invocation and posting its response.
func BenchmarkLambdaInvoke(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			h := lambda.NewHandler(benchHandler(b, c.flags))
			event := benchEventJSON(b, c.path)
			ctx := context.Background()
			out, err := h.Invoke(ctx, event) // warms the caches, and checks the answer
			if err != nil {
				b.Fatal(err)
			}
			var res events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &res); err != nil || res.StatusCode != 200 || !bytes.HasPrefix(out, invokeOK) {
				b.Fatalf("%v %s", err, out)
			}
			b.SetBytes(int64(len(event) + len(out)))
			b.ReportAllocs()
			for b.Loop() {
				out, err := h.Invoke(ctx, event)
				if err != nil || !bytes.HasPrefix(out, invokeOK) {
					b.Fatalf("%v %s", err, out)
				}
			}
		})
	}
}

// The floor of BenchmarkLambdaInvoke, bytes in to bytes out with
// encoding/json: decode the same event's JSON into
// events.APIGatewayV2HTTPRequest and its body as BenchmarkJSONFloor does,
// encode the same answer as BenchmarkJSONFloor does, and encode an
// events.APIGatewayV2HTTPResponse carrying it with the handler's status and
// headers.
func BenchmarkJSONFloorInvoke(b *testing.B) {
	for i, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			payload, real := floorPayload(b, i)
			event := benchEventJSON(b, c.path)
			floor := func() ([]byte, error) {
				var ev events.APIGatewayV2HTTPRequest
				if err := json.Unmarshal(event, &ev); err != nil {
					return nil, err
				}
				var req floorRequest
				if err := json.Unmarshal([]byte(ev.Body), &req); err != nil {
					return nil, err
				}
				body, err := json.Marshal(payload)
				if err != nil {
					return nil, err
				}
				return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: real.StatusCode, Headers: real.Headers, Body: string(body)})
			}
			out, err := floor()
			if err != nil {
				b.Fatal(err)
			}
			var res events.APIGatewayV2HTTPResponse // the same answer as the handler's
			if err := json.Unmarshal(out, &res); err != nil || res.StatusCode != 200 || res.Body != strings.TrimSuffix(real.Body, "\n") {
				b.Fatalf("%v: the floor answers %s, the handler %q", err, out, real.Body)
			}
			b.SetBytes(int64(len(event) + len(out)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := floor(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
