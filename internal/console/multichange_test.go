package console_test

import (
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A request of several changes shows each change's diff, titled with what
// it changes; a draft is its requester's alone.
func TestRequestPageShowsEveryChange(t *testing.T) {
	f := newCRFixture(t)
	w := f.w
	rita := w.principal(f.requester)
	v, err := w.svc.CreateRequest(w.ctx, rita, app.RequestInput{Project: "shop", Title: "Both stages", Changes: []app.ChangeInput{
		{Flag: "checkout", Environment: "staging", ProposedConfig: &domain.FlagConfig{Enabled: true}},
		{Flag: "checkout", Environment: "development", ProposedConfig: &domain.FlagConfig{Enabled: true}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.signIn(f.reviewer).get("/requests/"+v.ID).want(200).
		has("Both stages", "checkout in staging: ", "checkout in development: ", "<mark>Targeting is on</mark>")

	draft, err := w.svc.CreateRequest(w.ctx, rita, app.RequestInput{Project: "shop", Title: "Not yet", Draft: true})
	if err != nil {
		t.Fatal(err)
	}
	w.signIn(f.reviewer).get("/requests/" + draft.ID).want(404)
	w.signIn(f.requester).get("/requests/"+draft.ID).want(200).has("Not yet", "worked on the draft")
}
