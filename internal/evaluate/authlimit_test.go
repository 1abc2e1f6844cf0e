package evaluate_test

import (
	"testing"

	"github.com/countersign/countersign/internal/evaluate"
)

// Failed SDK key checks are limited per client address; a valid key is
// never limited, and the window passes.
func TestFailedSDKKeysAreLimited(t *testing.T) {
	e := setup(t)
	const body = `{"context":{"targetingKey":"u1"}}`
	bad := []string{"Authorization", "Bearer cs_sdk_not_a_key_0123456789"}
	for i := range evaluate.MaxAuthFailures {
		if code, _, _ := e.post("/ofrep/v1/evaluate/flags/a", body, bad...); code != 401 {
			t.Fatalf("failure %d: %d", i+1, code)
		}
	}
	code, out, h := e.post("/ofrep/v1/evaluate/flags", body, bad...)
	if code != 429 || h.Get("Retry-After") != "60" || out["errorDetails"] == nil {
		t.Fatalf("over the limit: %d %v %v", code, h, out)
	}
	if code, _, _ := e.post("/ofrep/v1/evaluate/flags/a", body); code != 200 {
		t.Fatalf("a valid key from the same address: %d", code)
	}
	e.clock.Advance(evaluate.AuthFailureWindow)
	if code, _, _ := e.post("/ofrep/v1/evaluate/flags/a", body, bad...); code != 401 {
		t.Fatalf("after the window: %d", code)
	}
}
