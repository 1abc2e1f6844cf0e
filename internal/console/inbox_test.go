package console_test

import (
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

func TestInboxSignedOutRedirectsToLogin(t *testing.T) {
	w := newWorld(t)
	p := w.anonymous().get("/requests?status=pending").want(303)
	if got := p.location(); got != "/login?next=%2Frequests%3Fstatus%3Dpending" {
		t.Fatalf("redirect to %q", got)
	}
}

func TestInboxShowsEmptyQueues(t *testing.T) {
	w := newWorld(t)
	ada := w.member("ada@example.com", domain.RoleEditor)
	b := w.signIn(ada)
	b.get("/").want(200).has("Waiting on you", "Nothing waits on your review.", "ada")
}
