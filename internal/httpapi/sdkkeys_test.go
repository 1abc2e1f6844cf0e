package httpapi_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

func TestSDKKeys(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	path := "/v1/projects/shop/environments/production/sdk-keys"
	_, manager := a.newMemberToken(domain.RoleManager)
	a.do("POST", path, map[string]any{"name": "web"}, withToken(manager)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("POST", path, map[string]any{"name": ""}).wantProblem(t, 422, domain.CodeInvalid, "/name")
	a.do("POST", "/v1/projects/shop/environments/nope/sdk-keys", map[string]any{"name": "x"}).wantProblem(t, 404, domain.CodeNotFound)
	var k httpapi.SDKKeyView
	a.do("POST", path, map[string]any{"name": "web"}).want(t, 201).json(&k)
	if !strings.HasPrefix(k.Key, "cs_sdk_") || k.Environment != "production" {
		t.Fatalf("created: %+v", k)
	}
	var l httpapi.List[httpapi.SDKKeyView]
	a.do("GET", path, nil).want(t, 200).json(&l)
	if len(l.Items) != 1 || l.Items[0].Key != "" {
		t.Fatalf("listed keys never show their secret: %+v", l.Items)
	}
	a.do("DELETE", path+"/"+k.ID, nil).want(t, 204)
	a.do("DELETE", path+"/nope", nil).wantProblem(t, 404, domain.CodeNotFound)
	a.do("GET", path, nil).want(t, 200).json(&l)
	if l.Items[0].RevokedAt == nil {
		t.Fatal("not revoked")
	}
}

func TestSDKKeyRotation(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	path := "/v1/projects/shop/environments/production/sdk-keys"
	var k httpapi.SDKKeyView
	a.do("POST", path, map[string]any{"name": "web"}).want(t, 201).json(&k)
	rotate := path + "/" + k.ID + "/rotate"

	_, manager := a.newMemberToken(domain.RoleManager)
	a.do("POST", rotate, map[string]any{}, withToken(manager)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("POST", path+"/nope/rotate", map[string]any{}).wantProblem(t, 404, domain.CodeNotFound)
	a.do("POST", rotate, map[string]any{"old_key_expires_at": a.clock.Now().Add(-time.Hour)}).wantProblem(t, 422, domain.CodeInvalid, "/old_key_expires_at")
	a.do("POST", rotate, map[string]any{"old_key_expires_at": a.clock.Now().Add(31 * 24 * time.Hour)}).wantProblem(t, 422, domain.CodeInvalid, "/old_key_expires_at")
	a.do("POST", rotate, map[string]any{"old_key_expires_at": "tomorrow"}).wantProblem(t, 422, domain.CodeInvalid, "/old_key_expires_at")
	a.do("POST", rotate, map[string]any{"grace": "1h"}).wantProblem(t, 422, domain.CodeInvalid, "/grace")

	// with a day's grace: the old key names its successor and its expiry
	until := a.clock.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	var r httpapi.RotatedSDKKeyView
	a.do("POST", rotate, map[string]any{"old_key_expires_at": until}).want(t, 201).json(&r)
	if !strings.HasPrefix(r.Key, "cs_sdk_") || r.Key == k.Key || r.Name != "web" || r.Replaces != k.ID ||
		r.Old.ID != k.ID || r.Old.ReplacedBy != r.ID || r.Old.ExpiresAt == nil || !r.Old.ExpiresAt.Equal(until) || r.Old.RevokedAt != nil || r.Old.Key != "" {
		t.Fatalf("rotated: %+v", r)
	}
	// the old key is not rotated twice
	a.do("POST", rotate, map[string]any{}).wantProblem(t, 409, domain.CodeConflict)
	// the new one, at once
	var r2 httpapi.RotatedSDKKeyView
	a.do("POST", path+"/"+r.ID+"/rotate", map[string]any{}).want(t, 201).json(&r2)
	if r2.Old.RevokedAt == nil || r2.Old.ExpiresAt != nil || r2.Replaces != r.ID {
		t.Fatalf("rotated at once: %+v", r2)
	}
	// every SDK key write is audited, naming the key and never its secret
	var audit struct {
		Items []map[string]any `json:"items"`
	}
	res := a.do("GET", "/v1/audit?project=shop", nil).want(t, 200)
	res.json(&audit)
	var seen []string
	for _, e := range audit.Items {
		if id, _ := e["sdk_key"].(string); id != "" {
			seen = append(seen, e["action"].(string)+" "+id+" "+e["environment"].(string))
		}
	}
	want := []string{"sdk_key.created " + k.ID + " production", "sdk_key.rotated " + k.ID + " production", "sdk_key.rotated " + r.ID + " production"}
	slices.Sort(seen) // entries of one second may list in any order
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Fatalf("audit of SDK key writes: %v, want %v", seen, want)
	}
	if body := string(res.body); strings.Contains(body, k.Key) || strings.Contains(body, r.Key) || strings.Contains(body, r2.Key) {
		t.Fatal("the audit log must not hold SDK key secrets")
	}
	var l httpapi.List[httpapi.SDKKeyView]
	a.do("GET", path, nil).want(t, 200).json(&l)
	if len(l.Items) != 3 {
		t.Fatalf("three keys: %+v", l.Items)
	}
	for _, it := range l.Items {
		if it.Key != "" {
			t.Fatalf("listed keys never show their secret: %+v", it)
		}
	}
}

// Deleting a project revokes its SDK keys and says so in the audit log.
func TestDeleteProjectRevokesAndAuditsSDKKeys(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	var k httpapi.SDKKeyView
	a.do("POST", "/v1/projects/shop/environments/production/sdk-keys", map[string]any{"name": "web"}).want(t, 201).json(&k)
	a.do("DELETE", "/v1/projects/shop", nil).want(t, 204)
	var audit struct {
		Items []map[string]any `json:"items"`
	}
	a.do("GET", "/v1/audit?project=shop", nil).want(t, 200).json(&audit)
	found := false
	for _, e := range audit.Items {
		if e["action"] == "project.deleted" {
			found = true
			if reason, _ := e["reason"].(string); !strings.Contains(reason, k.ID) {
				t.Fatalf("project.deleted must name the revoked key %s: %v", k.ID, e)
			}
		}
	}
	if !found {
		t.Fatalf("no project.deleted entry: %v", audit.Items)
	}
	a.project("shop")
	var l httpapi.List[httpapi.SDKKeyView]
	a.do("GET", "/v1/projects/shop/environments/production/sdk-keys", nil).want(t, 200).json(&l)
	for _, it := range l.Items {
		if it.ID == k.ID && it.RevokedAt == nil {
			t.Fatalf("the deleted project's key is not revoked: %+v", it)
		}
	}
}
