package httpapi_test

import (
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// Archiving a flag stops serving it: where production serves it and
// needs approval, DELETE opens a change request (202) instead; where
// nothing gated serves it, it archives at once. A restore is the same.
func TestArchivingAServedFlagNeedsApproval(t *testing.T) {
	a := newTestAPI(t)
	a.do("POST", "/v1/projects", map[string]any{"key": "shop", "name": "Shop"}).want(t, 201)
	for _, key := range []string{"served", "idle"} {
		a.do("POST", "/v1/projects/shop/flags", map[string]any{"key": key, "name": key,
			"variants": []map[string]any{{"key": "on", "value": true}, {"key": "control", "value": false}}}).want(t, 201)
	}
	a.do("PUT", "/v1/projects/shop/flags/served/environments/production", map[string]any{
		"enabled": true, "rules": []any{}, "off_variant": "control",
		"default_rule": map[string]any{"rollout": 100, "weights": []map[string]any{{"variant": "on", "weight": 1}}}}, ifMatch("0")).want(t, 200)
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true, "version": 0}).want(t, 200)

	var proposed struct {
		ID, Kind string
		Status   domain.CRStatus
	}
	a.do("DELETE", "/v1/projects/shop/flags/served", nil).want(t, 202).json(&proposed)
	if proposed.Kind != "flag" || proposed.Status != domain.StatusPending {
		t.Fatalf("the archive request: %+v", proposed)
	}
	var f domain.Flag
	a.do("GET", "/v1/projects/shop/flags/served", nil).want(t, 200).json(&f)
	if f.Archived {
		t.Fatal("a served flag was archived without approval")
	}
	// OFREP would still serve it; a flag nothing gated serves archives at once
	a.do("DELETE", "/v1/projects/shop/flags/idle", nil).want(t, 200).json(&f)
	if !f.Archived {
		t.Fatal("an idle flag was not archived")
	}
}
