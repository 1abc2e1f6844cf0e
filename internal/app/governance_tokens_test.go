package app_test

import (
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// createToken creates a token as p and fails the test on an error.
func (w *world) createToken(p *app.Principal, in app.TokenInput) *app.CreatedToken {
	w.t.Helper()
	t, err := w.svc.CreateToken(w.ctx, p, in)
	if err != nil {
		w.t.Fatal(err)
	}
	return t
}

// storedToken reads token id from the store.
func (w *world) storedToken(id string) *domain.Token {
	w.t.Helper()
	t, err := w.store.GetToken(w.ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return t
}

// While approvals are on, a service token with the admin or manager role
// is written pending with a governance request: its secret is shown once
// and does not authenticate; its requester cannot approve the request;
// another admin approves it, and its apply makes the token live together
// with the request applied.
func TestManagerOrAdminServiceTokenWaitsForAnotherAdmin(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		ada := w.secondAdmin()
		made := w.createToken(w.admin, app.TokenInput{Name: "deploy", Service: true, Role: domain.RoleAdmin})
		if made.Request == nil || made.Secret == "" {
			t.Fatalf("an admin service token with approvals on: %+v", made)
		}
		id := made.Request.ID
		if made.Request.Kind != domain.KindGovernance || made.Request.Policy.Reviewers != domain.ReviewersAdmins || made.Request.Project != "" {
			t.Fatalf("request %+v", made.Request.ChangeRequest)
		}
		if g := made.Request.Changes[0].Governance; g.What != domain.GovernServiceToken || g.Token != made.ID || g.NewToken.Hash != "" || g.NewToken.Role != domain.RoleAdmin {
			t.Fatalf("governance change %+v (the request keeps no hash)", g)
		}
		if tok := w.storedToken(made.ID); tok.PendingRequest != id || tok.Hash == "" {
			t.Fatalf("stored %+v: not pending on %s", tok, id)
		}
		_, err := w.svc.Authenticate(w.ctx, made.Secret)
		wantCode(t, err, domain.CodeUnauthenticated)
		listed, _, err := w.svc.ListTokens(w.ctx, w.admin, "", domain.Page{Limit: 50})
		if err != nil || len(listed) != 1 || listed[0].PendingRequest != id {
			t.Fatalf("the list shows %+v, want it pending (%v)", listed, err)
		}

		// the requester never approves it, a manager does not either
		_, err = w.svc.Review(w.ctx, w.admin, id, domain.DecisionApprove, "mine", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		_, err = w.svc.Review(w.ctx, w.carol, id, domain.DecisionApprove, "a manager", app.ChannelAPI)
		wantCode(t, err, domain.CodeForbidden)
		_, err = w.svc.Apply(w.ctx, w.admin, id)
		wantCode(t, err, domain.CodeConflict) // not approved
		if _, err := w.svc.Authenticate(w.ctx, made.Secret); err == nil {
			t.Fatal("a refused apply made the token live")
		}

		w.must(w.svc.Review(w.ctx, ada, id, domain.DecisionApprove, "agreed", app.ChannelAPI))
		_, err = w.svc.Apply(w.ctx, w.carol, id)
		wantCode(t, err, domain.CodeForbidden) // a token's apply needs the admin role
		v, err := w.svc.Apply(w.ctx, w.admin, id)
		if err != nil || v.Status != domain.StatusApplied {
			t.Fatalf("apply: %v %+v", err, v)
		}
		p, err := w.svc.Authenticate(w.ctx, made.Secret)
		if err != nil || p.TokenID != made.ID || p.Role != domain.RoleAdmin {
			t.Fatalf("the applied token does not authenticate as itself: %+v %v", p, err)
		}
		if tok := w.storedToken(made.ID); tok.Pending() {
			t.Fatalf("still pending after its apply: %+v", tok)
		}
		entries, _, err := w.svc.ListAudit(w.ctx, w.admin, domain.AuditFilter{}, domain.Page{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		var applied bool
		for _, e := range entries {
			applied = applied || (e.Action == domain.ActionRequestApplied && e.ChangeRequest == id && e.Diff != nil)
		}
		if !applied {
			t.Fatal("no change_request.applied entry with the token's rights")
		}
		// applying again changes nothing
		if v, err := w.svc.Apply(w.ctx, w.admin, id); err != nil || v.Status != domain.StatusApplied {
			t.Fatalf("applied twice: %v", err)
		}
	})
}

// A manager's rights, limited to a project, are governed too; editor and
// viewer service tokens, and members' tokens (capped at their member's
// rights), are created live; with approvals off every token is.
func TestWhichTokensNeedASecondAdmin(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		w.secondAdmin()
		for _, c := range []struct {
			name string
			in   app.TokenInput
			gov  bool
		}{
			{"manager limited to shop", app.TokenInput{Name: "ops", Service: true, Role: domain.RoleManager, Projects: []string{"shop"}}, true},
			{"editor", app.TokenInput{Name: "ci", Service: true, Role: domain.RoleEditor}, false},
			{"viewer limited to shop", app.TokenInput{Name: "dash", Service: true, Role: domain.RoleViewer, Projects: []string{"shop"}}, false},
			{"the admin's own token", app.TokenInput{Name: "laptop", Role: domain.RoleAdmin}, false},
		} {
			made := w.createToken(w.admin, c.in)
			_, authErr := w.svc.Authenticate(w.ctx, made.Secret)
			if (made.Request != nil) != c.gov || (authErr == nil) == c.gov {
				t.Errorf("%s: request %v, authenticates: %v; want governed %v", c.name, made.Request != nil, authErr == nil, c.gov)
			}
		}
		w.approvalsOff()
		made := w.createToken(w.admin, app.TokenInput{Name: "root", Service: true, Role: domain.RoleAdmin})
		if made.Request != nil || made.Pending() {
			t.Fatalf("with approvals off an admin token is created live: %+v", made)
		}
		if _, err := w.svc.Authenticate(w.ctx, made.Secret); err != nil {
			t.Fatal(err)
		}
	})
}

// A request rejected, withdrawn or expired leaves its token inert for
// good; a pending token can be revoked, and a request whose token was
// revoked meanwhile refuses its apply (409) and makes nothing live.
func TestPendingTokenStaysInert(t *testing.T) {
	onEveryStore(t, func(t *testing.T, w *world) {
		ada := w.secondAdmin()
		rejected := w.createToken(w.admin, app.TokenInput{Name: "a", Service: true, Role: domain.RoleAdmin})
		w.must(w.svc.Review(w.ctx, ada, rejected.Request.ID, domain.DecisionReject, "no", app.ChannelAPI))
		_, err := w.svc.Apply(w.ctx, w.admin, rejected.Request.ID)
		wantCode(t, err, domain.CodeConflict)

		withdrawn := w.createToken(w.admin, app.TokenInput{Name: "b", Service: true, Role: domain.RoleManager})
		w.must(w.svc.Withdraw(w.ctx, w.admin, withdrawn.Request.ID))

		revoked := w.createToken(w.admin, app.TokenInput{Name: "c", Service: true, Role: domain.RoleAdmin})
		w.must(w.svc.Review(w.ctx, ada, revoked.Request.ID, domain.DecisionApprove, "ok", app.ChannelAPI))
		if err := w.svc.RevokeToken(w.ctx, w.admin, revoked.ID); err != nil {
			t.Fatal(err)
		}
		_, err = w.svc.Apply(w.ctx, w.admin, revoked.Request.ID)
		wantCode(t, err, domain.CodeConflict)
		if v, err := w.svc.GetRequest(w.ctx, w.admin, revoked.Request.ID); err != nil || v.Status == domain.StatusApplied {
			t.Fatalf("the request of a revoked token applied: %v %+v", err, v)
		}

		for _, tok := range []*app.CreatedToken{rejected, withdrawn, revoked} {
			if _, err := w.svc.Authenticate(w.ctx, tok.Secret); err == nil {
				t.Errorf("token %s (%s) authenticates", tok.ID, tok.Name)
			}
			if stored := w.storedToken(tok.ID); stored.PendingRequest != tok.Request.ID {
				t.Errorf("token %s: %+v", tok.ID, stored)
			}
		}
		if err := w.svc.RevokeToken(w.ctx, w.admin, rejected.ID); err != nil {
			t.Fatalf("a pending token is revoked like any: %v", err)
		}
	})
}
