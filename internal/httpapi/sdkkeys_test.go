package httpapi_test

import (
	"strings"
	"testing"

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
