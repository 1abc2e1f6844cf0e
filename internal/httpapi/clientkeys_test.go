package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

// Client keys through the API: created with kind "client", listed with
// their kind, and never a way into the management API; environments take
// their allowed origins by PATCH (422 naming each bad one); flags their
// exposure.
func TestClientKeysThroughTheAPI(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	keys := "/v1/projects/shop/environments/production/sdk-keys"
	var k httpapi.SDKKeyView
	a.do("POST", keys, map[string]any{"name": "storefront", "kind": "client"}).want(t, 201).json(&k)
	if k.Kind != domain.SDKKeyClient || !strings.HasPrefix(k.Key, "cs_client_") {
		t.Fatalf("created: %+v", k)
	}
	a.do("POST", keys, map[string]any{"name": "x", "kind": "public"}).wantProblem(t, 422, domain.CodeInvalid, "/kind")
	var l httpapi.List[httpapi.SDKKeyView]
	a.do("GET", keys, nil).want(t, 200).json(&l)
	if len(l.Items) != 1 || l.Items[0].Kind != domain.SDKKeyClient || l.Items[0].Key != "" {
		t.Fatalf("listed: %+v", l.Items)
	}
	// a client key (public) opens nothing of the management API
	for _, path := range []string{"/v1/projects", "/v1/projects/shop/flags", keys} {
		a.do("GET", path, nil, withToken(k.Key)).wantProblem(t, 401, domain.CodeUnauthenticated)
	}

	env := "/v1/projects/shop/environments/staging"
	a.do("PATCH", env, map[string]any{"allowed_origins": []string{"https://shop.example.com", "https://shop.example.com/x", "null"}}, mergePatch()).
		wantProblem(t, 422, domain.CodeInvalid, "/allowed_origins/1", "/allowed_origins/2")
	var e httpapi.EnvironmentView
	a.do("PATCH", env, map[string]any{"allowed_origins": []string{"https://shop.example.com"}}, mergePatch()).want(t, 200).json(&e)
	if !slices.Equal(e.AllowedOrigins, []string{"https://shop.example.com"}) {
		t.Fatalf("patched: %+v", e)
	}
	a.do("PATCH", env, `[{"op":"add","path":"/allowed_origins/-","value":"http://localhost:5173"}]`, jsonPatch()).want(t, 200).json(&e)
	if !slices.Equal(e.AllowedOrigins, []string{"https://shop.example.com", "http://localhost:5173"}) {
		t.Fatalf("JSON patched: %+v", e)
	}
	a.do("PATCH", env, map[string]any{"allowed_origins": nil}, mergePatch()).want(t, 200).json(&e)
	if e.AllowedOrigins == nil || len(e.AllowedOrigins) != 0 {
		t.Fatalf("cleared: %+v", e)
	}
	_, editor := a.newMemberToken(domain.RoleEditor)
	a.do("PATCH", env, map[string]any{"allowed_origins": []string{"https://evil.test"}}, mergePatch(), withToken(editor)).wantProblem(t, 403, domain.CodeForbidden)
}
