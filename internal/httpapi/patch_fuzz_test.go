package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
)

// patchTargets are representative resources a PATCH applies to, with the
// read-only fields their handlers pass to applyPatch.
func patchTargets() []struct {
	kind     string
	readOnly []string
	apply    func(*patchRequest) (before, after any, err error)
} {
	created := clocktest.At(-31, 9, 0, 0)
	updated := created.Add(36 * time.Hour)
	applyAt := updated.Add(24 * time.Hour)
	flag := func() domain.Flag {
		return domain.Flag{Project: "shop", Key: "new-checkout", Name: "New checkout", Tags: []string{"checkout"},
			BucketingUnit: "user", EvaluationMode: domain.EvaluationRemote,
			Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}, {Key: "control", Value: json.RawMessage(`{"color":"blue"}`)}},
			Version:  3, CreatedAt: created, UpdatedAt: updated}
	}
	config := func() domain.FlagConfig {
		return domain.FlagConfig{Project: "shop", Flag: "new-checkout", Environment: "staging", Enabled: true,
			Rules: []domain.Rule{{Name: "staff", Conditions: []domain.Condition{{Attribute: "email", Operator: "ends_with", Values: []string{"@example.com"}}},
				Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}},
			DefaultRule: domain.Allocation{Rollout: 12.5, Weights: []domain.Weight{{Variant: "on", Weight: 1}, {Variant: "control", Weight: 1}}},
			OffVariant:  "control", Version: 7, UpdatedAt: updated}
	}
	return []struct {
		kind     string
		readOnly []string
		apply    func(*patchRequest) (before, after any, err error)
	}{
		{"project", projectReadOnly, func(p *patchRequest) (any, any, error) {
			cur := domain.Project{Key: "shop", Name: "Shop", Description: "the shop", Version: 2, CreatedAt: created, UpdatedAt: updated}
			before := cur
			err := patchView(p, "project", &cur, projectView, (*ProjectView).toDomain, projectReadOnly...)
			return before, cur, err
		}},
		{"environment", environmentReadOnly, func(p *patchRequest) (any, any, error) {
			cur := domain.Environment{Project: "shop", Key: "production", Name: "Production", Protected: true, Version: 1, CreatedAt: created, UpdatedAt: updated}
			before := cur
			err := patchView(p, "environment", &cur, environmentView, (*EnvironmentView).toDomain, environmentReadOnly...)
			return before, cur, err
		}},
		{"flag", flagReadOnly, func(p *patchRequest) (any, any, error) {
			cur := flag()
			err := patchView(p, "flag", &cur, flagView, (*FlagView).toDomain, flagReadOnly...)
			return flag(), cur, err
		}},
		{"targeting", configReadOnly, func(p *patchRequest) (any, any, error) {
			cur := config()
			err := patchView(p, "targeting", &cur, flagConfigView, (*FlagConfigView).toDomain, configReadOnly...)
			return config(), cur, err
		}},
		{"member", memberReadOnly, func(p *patchRequest) (any, any, error) {
			cur := domain.Member{ID: "m_0123", Email: "viewer@example.com", Name: "Viewer", Role: domain.RoleViewer, Version: 4, CreatedAt: created, UpdatedAt: updated}
			before := cur
			err := patchView(p, "member", &cur, memberView, (*MemberView).toDomain, memberReadOnly...)
			return before, cur, err
		}},
		{"change request", nil, func(p *patchRequest) (any, any, error) {
			c := config()
			cur := crEditable{Title: "Go to half", ProposedConfig: mapPtr(&c, flagConfigView), NotifyReviewers: []string{"m_1"}, ApplyAt: &applyAt, Version: 2}
			before := cur
			err := applyPatch(p, "change request", &cur)
			return before, cur, err
		}},
	}
}

var patchMediaTypes = []string{mediaMergePatch, mediaJSONPatch, mediaJSON}

// FuzzApplyPatch sends any body, as each PATCH media type, through readPatch
// and applyPatch on each kind of resource: nothing panics, every refusal is
// a domain error answered with a 4xx status, and whatever is accepted leaves
// the read-only fields and the version as they were.
func FuzzApplyPatch(f *testing.F) {
	for _, body := range []string{
		// read-only fields removed or set to null
		`{"id": null}`,
		`{"created_at": null}`,
		`[{"op":"remove","path":"/id"}]`,
		`[{"op":"remove","path":"/created_at"}]`,
		`{"version": null}`,
		`[{"op":"remove","path":"/version"}]`,
		`{"key": null, "project": null, "updated_at": null}`,
		`[{"op":"replace","path":"/updated_at","value":null}]`,
		`[{"op":"add","path":"/created_at","value":null}]`,
		`[{"op":"replace","path":"/version","value":null}]`,
		// tests the JSON Patch package panicked on
		`[{"op":"test","path":""}]`,
		`[{"op":"test","path":"","value":null}]`,
		`[{"op":"test","path":"/tags","value":[null]}]`,
		`[{"op":"replace","path":"/tags","value":null},{"op":"add","path":"/tags/0","value":"x"}]`,
		// valid patches
		`{"name": "Renamed", "description": "changed"}`,
		`{"version": 3, "tags": ["a", "b"]}`,
		`{"enabled": false, "default_rule": {"rollout": 50}}`,
		`{"title": "Roll out to 10 % first", "apply_at": "2026-12-01T09:00:00Z"}`, // calendar-free: a patch body, applied to a struct without a clock
		`[{"op":"test","path":"/version","value":3},{"op":"replace","path":"/name","value":"x"}]`,
		`[{"op":"add","path":"/tags/-","value":"new"},{"op":"move","from":"/tags/0","path":"/tags/1"}]`,
		`[{"op":"copy","from":"/variants","path":"/variants/-"}]`,
		// results that are not an object, and numbers out of range
		`[{"op":"replace","path":"","value":null}]`,
		`[{"op":"replace","path":"","value":[1,2]}]`,
		`{"version": 99999999999999999999999}`,
		`{"version": 1e400, "default_rule": {"rollout": 1e400}}`,
		`{"created_at": 1e400}`,
		`[{"op":"test","path":"/created_at","value":-1e-400}]`,
		`null`,
		`[]`,
		`"patch"`,
	} {
		for media := range patchMediaTypes {
			f.Add([]byte(body), uint8(media))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, media uint8) {
		r := httptest.NewRequest("PATCH", "/v1/x", bytes.NewReader(body))
		r.Header.Set("Content-Type", patchMediaTypes[int(media)%len(patchMediaTypes)])
		p, err := readPatch(httptest.NewRecorder(), r)
		if err != nil {
			wantClientError(t, "readPatch", err)
			return
		}
		for _, target := range patchTargets() {
			before, after, err := target.apply(p)
			if err != nil {
				wantClientError(t, target.kind, err)
				continue
			}
			b, a := fields(t, before), fields(t, after)
			for _, name := range append([]string{"version"}, target.readOnly...) {
				if !bytes.Equal(b[name], a[name]) {
					t.Fatalf("%s: the patch %q changed %s from %s to %s", target.kind, body, name, b[name], a[name])
				}
			}
		}
	})
}

// wantClientError fails unless err is a domain error whose code is answered
// with a 4xx status.
func wantClientError(t *testing.T, where string, err error) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("%s: not a domain error (it would be a 500): %v", where, err)
	}
	if status := statusFor(domain.ErrorCode(err)); status < 400 || status > 499 {
		t.Fatalf("%s: code %q is answered with %d: %v", where, de.Code, status, err)
	}
}

func fields(t *testing.T, v any) map[string]json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
