package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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

const sampleKey = "cs_sdk_events_sample_key_0123456789abcdef"

// The sample OFREP event goes through the evaluate Lambda's handler as the
// runtime hands it over.
func TestSampleOFREPEvent(t *testing.T) {
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
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

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := lambda.NewHandler(lambdahttp.Handler(evaluate.NewHandler(evaluate.New(store, clock.NewFixed(now), 0), log)))
	payload, err := os.ReadFile(filepath.Join("..", "..", "events", "apigw-ofrep-evaluate.json"))
	must(err)
	out, err := h.Invoke(ctx, payload)
	must(err)
	var res events.APIGatewayV2HTTPResponse
	must(json.Unmarshal(out, &res))
	var body map[string]any
	must(json.Unmarshal([]byte(res.Body), &body))
	if res.StatusCode != 200 || body["key"] != "new-checkout" || body["value"] != true || body["variant"] != "on" || body["reason"] != "TARGETING_MATCH" {
		t.Fatalf("OFREP response %d %s", res.StatusCode, res.Body)
	}
}
