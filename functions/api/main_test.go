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

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/lambdahttp"
	"github.com/countersign/countersign/internal/setup/apiwire"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// The token the sample events in events/ carry.
const eventsToken = "cs_events_sample_token_0123456789abcdef"

// Every API Gateway sample event goes through the Lambda handler the way the
// Lambda runtime hands it over: as JSON bytes to lambda.NewHandler(...).Invoke.
func TestSampleEventsThroughLambdaHandler(t *testing.T) {
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := app.New(store, clock.System{}, log)
	h := apiwire.New(svc, log)
	if _, err := svc.Bootstrap(context.Background(), eventsToken); err != nil {
		t.Fatal(err)
	}
	handler := lambda.NewHandler(lambdahttp.Handler(h))

	// In dependency order: the project before its flag, the flag before its targeting.
	cases := []struct {
		file   string
		status int
		check  func(t *testing.T, body string)
	}{
		{"apigw-healthz.json", 200, func(t *testing.T, b string) { contains(t, b, `"status":"ok"`) }},
		{"apigw-unauthenticated.json", 401, func(t *testing.T, b string) { contains(t, b, `"code":"unauthenticated"`) }},
		{"apigw-create-project.json", 201, func(t *testing.T, b string) { contains(t, b, `"key":"shop"`) }},
		{"apigw-create-project-base64.json", 201, func(t *testing.T, b string) { contains(t, b, `"key":"base64shop"`) }},
		{"apigw-create-flag.json", 201, func(t *testing.T, b string) { contains(t, b, `"key":"new-checkout"`) }},
		{"apigw-update-targeting.json", 200, func(t *testing.T, b string) {
			var c domain.FlagConfig
			if err := json.Unmarshal([]byte(b), &c); err != nil {
				t.Fatal(err)
			}
			if c.Version != 1 || !c.Enabled || c.Rules[0].Rollout != 10 || c.OffVariant != "control" {
				t.Fatalf("targeting after the event: %+v", c)
			}
		}},
		{"apigw-list-projects.json", 200, func(t *testing.T, b string) {
			contains(t, b, `"key":"shop"`)
			contains(t, b, `"key":"base64shop"`)
		}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		seen[c.file] = true
		t.Run(c.file, func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join("..", "..", "events", c.file))
			if err != nil {
				t.Fatal(err)
			}
			out, err := handler.Invoke(context.Background(), payload)
			if err != nil {
				t.Fatal(err)
			}
			var res events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != c.status {
				t.Fatalf("want %d, got %d: %s", c.status, res.StatusCode, res.Body)
			}
			if res.Headers["X-Request-Id"] == "" {
				t.Error("no request id header")
			}
			c.check(t, res.Body)
		})
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", "events", "apigw-*.json"))
	for _, f := range files {
		if name := filepath.Base(f); strings.HasPrefix(name, "apigw-ofrep-") || name == "apigw-ruleset.json" {
			continue // the evaluate function's events (functions/evaluate)
		}
		if !seen[filepath.Base(f)] {
			t.Errorf("sample event %s is not exercised by this test", filepath.Base(f))
		}
	}
}

// A body that is not valid base64 is refused, not a crash.
func TestBadBase64Body(t *testing.T) {
	h := lambdahttp.Handler(nil)
	res, err := h(context.Background(), events.APIGatewayV2HTTPRequest{
		RawPath: "/v1/projects", Body: "***", IsBase64Encoded: true,
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"}},
	})
	if err != nil || res.StatusCode != 400 || !strings.Contains(res.Body, "malformed") {
		t.Fatalf("got %d %s %v", res.StatusCode, res.Body, err)
	}
}

func contains(t *testing.T, body, want string) {
	t.Helper()
	if !strings.Contains(body, want) {
		t.Fatalf("response lacks %s: %s", want, body)
	}
}
