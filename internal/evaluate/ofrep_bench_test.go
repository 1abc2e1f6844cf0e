package evaluate_test

// OFREP through the Lambda handler path against a floor: the cost of
// encoding/json decoding the same request body and encoding the same
// response payload, which any JSON-over-HTTP evaluator pays at least.
//
//	go test -run '^$' -bench 'LambdaPath|JSONFloor' -benchmem -count 5 ./internal/evaluate/ | scripts/loadtest/bench-ratio.sh
//
// The target: single evaluation within 1.5× of the floor.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/store/boltstore"
)

const benchSDKKey = "cs_sdk_bench_key_0123456789abcdef0123"

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
			EvaluationMode: "remote", Variants: benchVariants(i)}, nil))
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
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return lambdahttp.Handler(evaluate.NewHandler(evaluate.New(store, clock.System{}, time.Hour), log))
}

// benchEvent is the API Gateway HTTP API (payload 2.0) event of an OFREP
// call, with the headers API Gateway passes on.
func benchEvent(path string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: "$default",
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
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  "$default",
			Stage:     "$default",
			RequestID: "Cs03aBcDeFgHiJ=",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: path, Protocol: "HTTP/1.1", SourceIP: "198.51.100.23"},
		},
		Body: benchBody,
	}
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
// from its real answer so the floor encodes the same bytes.
func floorPayload(b *testing.B, c int) any {
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
		return &s
	}
	var bulk floorBulk
	if err := json.Unmarshal([]byte(res.Body), &bulk); err != nil || len(bulk.Flags) != benchCases[c].flags {
		b.Fatalf("%v: %d flags", err, len(bulk.Flags))
	}
	return &bulk
}

func BenchmarkJSONFloor(b *testing.B) {
	for i, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			payload := floorPayload(b, i)
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
