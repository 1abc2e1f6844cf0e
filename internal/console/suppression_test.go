package console_test

import (
	"net/url"
	"strconv"
	"testing"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// A bounced reviewer: the members list and the member's page say that mail
// to the address bounced, and when; the request that waits on them says
// it cannot reach them; an admin (only) clears it from the member's page,
// audited, and then none of it shows.
func TestSuppressedAddressIsShown(t *testing.T) {
	f := newCRFixture(t)
	w := f.w
	ids := []string{f.reviewer.ID}
	if _, err := w.svc.EditRequest(w.ctx, w.principal(f.requester), f.cr.ID, nil, app.EditInput{NotifyReviewers: ids}); err != nil {
		t.Fatal(err)
	}
	f.w.signIn(f.requester).get(f.path()).want(200).lacks(`id="unreachable"`)
	if _, err := w.svc.RecordMailEvent(w.ctx, app.MailEvent{Type: app.MailBounce, BounceType: "Permanent", BounceSubType: "General",
		Recipients: []string{"rex@example.com"}, FeedbackID: "fb-rex-1", Diagnostic: "smtp; 550 5.1.1 user unknown", At: w.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	day := w.clock.Now().UTC().Format("2006-01-02")

	admin := w.signIn(w.peopleAdmin())
	admin.get("/members").want(200).peopleUniqueIDs().
		has(`<span id="suppressed-of-` + f.reviewer.ID + `">mail to this address bounced on ` + day + `</span>`).
		lacks(`id="suppressed-of-` + f.requester.ID + `"`)
	member := "/members/" + f.reviewer.ID
	admin.get(member).want(200).peopleUniqueIDs().has(`id="member-suppressed"`, "mail to this address bounced on "+day, "SES feedback id fb-rex-1",
		"General: smtp; 550 5.1.1 user unknown", `action="/members/`+f.reviewer.ID+`/unsuppress"`, `id="unsuppress-`+f.reviewer.ID+`"`)
	// others see it, without the form
	f.w.signIn(f.look).get(member).want(200).has(`id="member-suppressed"`, "mail to this address bounced").lacks("/unsuppress")
	// the request that waits on them
	f.w.signIn(f.requester).get(f.path()).want(200).peopleUniqueIDs().
		has(`id="unreachable"`, "This request waits on 1 reviewer who cannot get mail from Countersign",
			`<li id="unreachable-`+f.reviewer.ID+`"><a href="/members/`+f.reviewer.ID+`">rex</a> (rex@example.com): mail to this address bounced on `+day)

	// a non-admin cannot clear it, even their own
	f.w.signIn(f.reviewer).post(member+"/unsuppress", url.Values{"from": {"member"}}).want(403)
	if w.storedMember(f.reviewer.ID).EmailSuppressed == nil {
		t.Fatal("a non-admin cleared a suppression")
	}
	m := w.storedMember(f.reviewer.ID)
	p := admin.post(member+"/unsuppress", url.Values{"from": {"member"}, "version": {strconv.FormatInt(m.Version, 10)}}).want(303)
	if p.location() != member+"?done=member-unsuppressed" {
		t.Fatalf("redirect to %q", p.location())
	}
	if w.storedMember(f.reviewer.ID).EmailSuppressed != nil {
		t.Fatal("not cleared")
	}
	admin.get(p.location()).want(200).has("Countersign mails this address again").lacks(`id="member-suppressed"`, "/unsuppress")
	cleared := false
	for _, e := range w.peopleAudit(domain.ActionMemberUpdated, f.reviewer.ID) {
		cleared = cleared || e.Actor == "member:"+w.peopleAdmin().ID && e.Channel == app.ChannelConsole
	}
	if !cleared {
		t.Fatal("the clearing is not audited as the admin's, from the console")
	}
	f.w.signIn(f.requester).get(f.path()).want(200).lacks(`id="unreachable"`)
}
