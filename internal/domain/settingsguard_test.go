package domain_test

import (
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// Settings never written are the environment's defaults, which follow its
// protection: their guard must say the protection, or protecting an
// environment would not stop a write decided before.
func TestGuardOfDefaultSettingsSaysProtection(t *testing.T) {
	for _, protected := range []bool{false, true} {
		env := &domain.Environment{Project: "p", Key: "e", Protected: protected}
		g := domain.GuardOf(domain.DefaultApprovalSettings(env))
		if g != (domain.EnvironmentGuard{Environment: "e", Version: 0, Protected: protected}) {
			t.Fatalf("guard of the defaults of an environment protected=%t: %+v", protected, g)
		}
	}
	a := domain.DefaultApprovalSettings(&domain.Environment{Project: "p", Key: "e", Protected: true})
	a.Version = 3
	if g := domain.GuardOf(a); g != (domain.EnvironmentGuard{Environment: "e", Version: 3}) {
		t.Fatalf("guard of written settings names their version alone: %+v", g)
	}
}
