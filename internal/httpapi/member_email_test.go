package httpapi_test

import (
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// An address is how a member signs in and how admins know whom they
// promote: a member cannot re-label themselves, and no address may pass for
// another through look-alike letters (ſ for s, the Kelvin sign for K),
// which Unicode case folding would make equal.
func TestMemberAddressesCannotImpersonate(t *testing.T) {
	a := newTestAPI(t)
	sam := a.member("sam@example.com", domain.RoleEditor)
	mal := a.member("mal@example.com", domain.RoleViewer)
	bMal, csrf := a.signedIn(mal.ID)

	// a member changes their name, not their address
	for _, addr := range []string{"ſam@example.com", "ceo@example.com", "MAL@example.com"} {
		bMal.do("PATCH", "/v1/members/"+mal.ID, map[string]any{"email": addr}, mergePatch(), csrfHeader(csrf)).
			wantProblem(t, 403, domain.CodeForbidden)
	}
	bMal.do("PATCH", "/v1/members/"+mal.ID, map[string]any{"name": "Mal B."}, mergePatch(), csrfHeader(csrf)).want(t, 200)

	// nobody, not even an admin, stores a look-alike address
	for _, addr := range []string{"ſam@example.com", "\u212Aate@example.com", "sam@exämple.com"} {
		a.do("PATCH", "/v1/members/"+mal.ID, map[string]any{"email": addr}, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/email")
		a.do("POST", "/v1/members", map[string]any{"email": addr, "name": "X", "role": "viewer"}).wantProblem(t, 422, domain.CodeInvalid, "/email")
	}

	// a link asked for a look-alike of sam's address goes to nobody
	anon := a.browser()
	for _, addr := range []string{"ſam@example.com", "\u017fAM@EXAMPLE.COM"} {
		anon.do("POST", "/v1/auth/email-link", map[string]any{"email": addr}).want(t, 202)
	}
	for _, e := range a.auditActions() {
		if e.Action == domain.ActionSignInLinkRequested && e.Member == sam.ID {
			t.Fatalf("a look-alike address asked a link for sam: %+v", e)
		}
	}
	// ASCII case still does not matter
	anon.do("POST", "/v1/auth/email-link", map[string]any{"email": "SAM@Example.com"}).want(t, 202)
	found := false
	for _, e := range a.auditActions() {
		found = found || (e.Action == domain.ActionSignInLinkRequested && e.Member == sam.ID)
	}
	if !found {
		t.Fatal("SAM@Example.com did not ask a link for sam@example.com")
	}

	// an admin may change an address; the member's sessions end with it
	a.do("PATCH", "/v1/members/"+mal.ID, map[string]any{"email": "mal.b@example.com"}, mergePatch()).want(t, 200)
	bMal.do("GET", "/v1/projects", nil).wantProblem(t, 401, domain.CodeUnauthenticated)
}
