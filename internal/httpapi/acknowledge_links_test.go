package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/notify/catcher"
	"github.com/countersign/countersign/internal/notify/eventbus"
)

// ackWorld is project shop with approvals on, where rita (editor) holds
// production's bypass grant and bypassed it once; rex (editor) may
// acknowledge that; olga works in another project only (no organisation
// role, editor in "other"). Links are signed with signer.
type ackWorld struct {
	a                *testAPI
	signer           *actionlink.Signer
	rita, rex, olga  string // member ids
	ritaTok, olgaTok string
	id               string // the review after rita's bypass
}

func newAckWorld(t *testing.T) *ackWorld {
	t.Helper()
	a := newTestAPI(t)
	signer, err := actionlink.NewSigner([]byte(strings.Repeat("ack-link-key-", 3)))
	if err != nil {
		t.Fatal(err)
	}
	a.svc.WithLinks(signer)
	w := &ackWorld{a: a, signer: signer}
	a.project("shop")
	a.project("other")
	a.flag("shop", twoVariants)
	w.rita, w.ritaTok = a.newMemberTokenNamed("rita", domain.RoleEditor)
	w.rex, _ = a.newMemberTokenNamed("rex", domain.RoleEditor)
	var olga domain.Member
	a.do("POST", "/v1/members", map[string]any{"email": "olga@example.com", "name": "Olga", "role": "none",
		"project_roles": map[string]any{"other": "editor"}}).want(t, 201).json(&olga)
	w.olga = olga.ID
	tok, err := a.svc.CreateToken(t.Context(), principalFor(olga), tokenInput("olga's"))
	if err != nil {
		t.Fatal(err)
	}
	w.olgaTok = tok.Secret
	const settingsPath = "/v1/projects/shop/environments/production/approval-settings"
	var settings map[string]any
	a.do("GET", settingsPath, nil).want(t, 200).json(&settings)
	settings["bypass"] = []map[string]any{{"member_id": w.rita}}
	a.do("PUT", settingsPath, settings).want(t, 200)
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true, "version": 0}).want(t, 200)
	w.id = w.bypass(t, "INC-9 payments failing")
	return w
}

// bypass turns the flag on or off in production as rita, with reason:
// the id of the review after it opened.
func (w *ackWorld) bypass(t *testing.T, reason string) string {
	t.Helper()
	var live domain.FlagConfig
	w.a.do("GET", prodPath, nil).want(t, 200).json(&live)
	w.a.do("PATCH", prodPath, map[string]any{"enabled": !live.Enabled}, mergePatch(), withToken(w.ritaTok),
		header("Countersign-Bypass-Reason", reason)).want(t, 200)
	var list struct {
		Items []struct {
			ID     string `json:"id"`
			Bypass struct {
				Reason string `json:"reason"`
			} `json:"bypass"`
		} `json:"items"`
	}
	w.a.do("GET", "/v1/change-requests?status=review_after", nil).want(t, 200).json(&list)
	for _, it := range list.Items {
		if it.Bypass.Reason == reason {
			return it.ID
		}
	}
	t.Fatalf("the bypass %q opened no review after", reason)
	return ""
}

func (w *ackWorld) stored(t *testing.T, id string) *domain.ChangeRequest {
	t.Helper()
	cr, err := w.a.store.GetChangeRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

// link is an Acknowledge link of request id for member.
func (w *ackWorld) link(t *testing.T, id, member string) string {
	t.Helper()
	cr := &domain.ChangeRequest{ID: id, Revision: 1}
	if got, err := w.a.store.GetChangeRequest(context.Background(), id); err == nil {
		cr = got
	}
	tok, _, err := w.a.svc.IssueLink(cr, member, actionlink.Acknowledge)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// confirm posts a link's confirmation form with the link's own form token.
func (w *ackWorld) confirm(tok, comment string) *response {
	return w.a.browser().do("POST", "/a/"+tok, url.Values{"csrf": {w.signer.CSRF(tok)}, "comment": {comment}}.Encode(), form())
}

var linkMessage = regexp.MustCompile(`<p id="message">([^<]*)</p>`)

// message is a link page's message.
func message(r *response) string {
	m := linkMessage.FindStringSubmatch(string(r.body))
	if m == nil {
		return ""
	}
	return m[1]
}

// The bypass mail carries an Acknowledge link to each member who may
// acknowledge, none to the one who bypassed; GET shows what it would do
// and changes nothing; the confirmation's POST acknowledges, audited as
// done by e-mail; the link then works no more.
func TestAcknowledgeLinkFromTheBypassMail(t *testing.T) {
	w := newAckWorld(t)
	a := w.a
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mails := catcher.New("cs@example.com", a.clock.Now)
	n := notify.New(a.store, a.svc, mails, eventbus.NewLogPublisher(log, 100), a.clock, log, "cs@example.com", a.srv.URL)
	if _, _, err := n.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{} // recipient → their Acknowledge link
	linkRe := regexp.MustCompile(`Acknowledge: ` + regexp.QuoteMeta(a.srv.URL) + `/a/(\S+)`)
	for _, m := range mails.Mails() {
		if !strings.HasPrefix(m.Subject, "Acknowledge a bypass") {
			continue
		}
		match := linkRe.FindStringSubmatch(m.Text)
		if match == nil || !strings.Contains(m.HTML, `<a href="`+a.srv.URL+"/a/"+match[1]+`">Acknowledge</a>`) {
			t.Fatalf("the mail to %v has no Acknowledge link in both parts:\n%s\n%s", m.To, m.Text, m.HTML)
		}
		links[m.To[0]] = match[1]
	}
	if links["rex@example.com"] == "" {
		t.Fatalf("rex got no Acknowledge link: %v", links)
	}
	if _, ok := links["rita@example.com"]; ok {
		t.Fatal("the one who bypassed was asked to acknowledge it")
	}
	tok := links["rex@example.com"]

	before := w.stored(t, w.id)
	for range 2 { // a mail scanner, then the person
		page := a.browser().do("GET", "/a/"+tok, nil).want(t, 200)
		for _, s := range []string{"Acknowledge the bypass", "INC-9 payments failing", `id="due"`, `name="csrf"`, `id="comment"`} {
			if !strings.Contains(string(page.body), s) {
				t.Fatalf("the link's page lacks %q:\n%s", s, page.body)
			}
		}
	}
	if after := w.stored(t, w.id); after.Version != before.Version || after.Status != domain.StatusReviewAfter || len(after.UsedLinks) != 0 {
		t.Fatalf("GET changed the request: %+v", after)
	}
	// no form token, or another link's: refused, nothing done
	a.browser().do("POST", "/a/"+tok, url.Values{"comment": {"ok"}}.Encode(), form()).want(t, 403)
	other := w.link(t, w.id, w.rex)
	a.browser().do("POST", "/a/"+tok, url.Values{"csrf": {w.signer.CSRF(other)}, "comment": {"ok"}}.Encode(), form()).want(t, 403)
	// a comment is required
	w.confirm(tok, "").want(t, 422)
	if after := w.stored(t, w.id); after.Version != before.Version {
		t.Fatalf("a refused form changed the request: %+v", after)
	}

	done := w.confirm(tok, "checked the change: right call").want(t, 200)
	if !strings.Contains(message(done), "now applied") {
		t.Fatalf("after the confirmation: %s", done.body)
	}
	cr := w.stored(t, w.id)
	if cr.Status != domain.StatusApplied || len(cr.UsedLinks) != 1 {
		t.Fatalf("acknowledged: %s, used links %v", cr.Status, cr.UsedLinks)
	}
	admin, err := a.svc.Authenticate(context.Background(), adminToken)
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := a.svc.ListAudit(context.Background(), admin, domain.AuditFilter{Project: "shop"}, domain.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(entries, func(e domain.AuditEntry) bool { return e.Action == domain.ActionRequestAcknowledged })
	if i < 0 || entries[i].Channel != app.ChannelEmail || entries[i].Actor != "member:"+w.rex || entries[i].Reason != "checked the change: right call" {
		t.Fatalf("the acknowledgement's audit: %+v", entries)
	}

	// replayed: refused, by GET and POST, and nothing more is written
	a.browser().do("GET", "/a/"+tok, nil).want(t, 409)
	if r := w.confirm(tok, "again"); r.StatusCode != 409 || !strings.Contains(message(r), "already used") {
		t.Fatalf("replay: %d %s", r.StatusCode, r.body)
	}
	// a fresh link of another reviewer finds nothing to do
	if r := w.confirm(w.link(t, w.id, w.rex), "me too"); r.StatusCode != 409 || !strings.Contains(message(r), "acknowledged by member:"+w.rex) {
		t.Fatalf("after the acknowledgement: %d %s", r.StatusCode, r.body)
	}
	if after := w.stored(t, w.id); after.Version != cr.Version {
		t.Fatalf("refused links wrote: version %d, want %d", after.Version, cr.Version)
	}
}

// An Acknowledge link is refused, by GET and POST alike, and changes
// nothing: for the member who bypassed; for a member of another project
// (the same answer as a link to a request that does not exist, so that
// it confirms nothing); forged, altered or signed with another key; and
// once expired.
func TestAcknowledgeLinkRefusals(t *testing.T) {
	w := newAckWorld(t)
	a := w.a
	before := w.stored(t, w.id)
	refused := func(name, tok string, status int, says string) *response {
		t.Helper()
		get := a.browser().do("GET", "/a/"+tok, nil)
		post := w.confirm(tok, "fine")
		for _, r := range []*response{get, post} {
			if r.StatusCode != status || !strings.Contains(message(r), says) || strings.Contains(string(r.body), `name="csrf"`) {
				t.Fatalf("%s: %s %d %q, want %d saying %q:\n%s", name, r.Request.Method, r.StatusCode, message(r), status, says, r.body)
			}
		}
		if message(get) != message(post) {
			t.Fatalf("%s: GET says %q, POST %q", name, message(get), message(post))
		}
		return get
	}
	refused("the bypasser's own link", w.link(t, w.id, w.rita), 403, "cannot acknowledge their own bypass")

	missing := refused("a link to a request that does not exist", w.link(t, "cr_nonexistent", w.rex), 403, "not one Countersign sent")
	olga := refused("a link for a member of another project", w.link(t, w.id, w.olga), 403, "not one Countersign sent")
	if string(olga.body) != string(missing.body) {
		t.Fatalf("another project's member is told more than a stranger:\n%s\n%s", olga.body, missing.body)
	}
	// nor does the API show her the request, or list it as overdue
	a.do("GET", "/v1/change-requests/"+w.id, nil, withToken(w.olgaTok)).want(t, 404)

	good := w.link(t, w.id, w.rex)
	p, sig, _ := strings.Cut(good, ".")
	other, err := actionlink.NewSigner([]byte(strings.Repeat("another-key-", 3)))
	if err != nil {
		t.Fatal(err)
	}
	forged := other.Issue(actionlink.Claims{Request: w.id, Revision: 1, Member: w.rex, Action: actionlink.Acknowledge, Expires: a.clock.Now().Add(time.Hour).Unix()})
	for name, tok := range map[string]string{
		"altered payload":   p[:len(p)-3] + "AAA." + sig,
		"altered signature": p + "." + sig[:len(sig)-3] + "AAA",
		"another key":       forged,
		"made up":           "not-a-token",
	} {
		refused(name, tok, 403, "not one Countersign sent")
	}

	a.clock.Advance(app.DefaultLinkTTL + time.Minute)
	refused("an expired link", good, 410, "expired")

	if after := w.stored(t, w.id); after.Version != before.Version || after.Status != domain.StatusReviewAfter || len(after.UsedLinks) != 0 {
		t.Fatalf("refused links changed the request: %+v", after)
	}
}

// GET /v1/change-requests?overdue=true lists the reviews after a bypass
// past their due time by the service's clock (not yet swept by the
// timers), unacknowledged, only in projects the caller may read;
// overdue=false lists every other request; another value is 422.
func TestListOverdueReviewsAfter(t *testing.T) {
	w := newAckWorld(t)
	a := w.a
	ids := func(path string, opts ...opt) []string {
		t.Helper()
		var list struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
		}
		a.do("GET", path, nil, opts...).want(t, 200).json(&list)
		var out []string
		for _, it := range list.Items {
			out = append(out, it.ID)
		}
		return out
	}
	if got := ids("/v1/change-requests?overdue=true"); len(got) != 0 {
		t.Fatalf("overdue at once: %v", got)
	}
	a.clock.Advance(24*time.Hour + time.Second)
	later := w.bypass(t, "INC-10 search down")
	if got := ids("/v1/change-requests?overdue=true"); !slices.Equal(got, []string{w.id}) {
		t.Fatalf("overdue after 24 hours: %v, want [%s]", got, w.id)
	}
	if got := ids("/v1/change-requests?overdue=true&project=shop&status=review_after&limit=1"); !slices.Equal(got, []string{w.id}) {
		t.Fatalf("with the other filters: %v", got)
	}
	if got := ids("/v1/change-requests?overdue=true&status=pending"); len(got) != 0 {
		t.Fatalf("overdue and pending: %v", got)
	}
	if got := ids("/v1/change-requests?overdue=false"); slices.Contains(got, w.id) || !slices.Contains(got, later) {
		t.Fatalf("not overdue: %v", got)
	}
	if got := ids("/v1/change-requests?overdue=true", withToken(w.olgaTok)); len(got) != 0 {
		t.Fatalf("another project's member sees %v", got)
	}
	a.do("GET", "/v1/change-requests?overdue=maybe", nil).wantProblem(t, 422, domain.CodeInvalid, "?overdue")
	// acknowledged, it is overdue no more
	a.do("POST", "/v1/change-requests/"+w.id+"/acknowledge", map[string]any{"comment": "late, but right"}).want(t, 200)
	if got := ids("/v1/change-requests?overdue=true"); len(got) != 0 {
		t.Fatalf("after the acknowledgement: %v", got)
	}
}

// The overdue mail carries the Acknowledge link again to those who may
// acknowledge, and none to the one who bypassed (told too); its link
// acknowledges.
func TestOverdueMailCarriesAcknowledgeLinks(t *testing.T) {
	w := newAckWorld(t)
	a := w.a
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mails := catcher.New("cs@example.com", a.clock.Now)
	n := notify.New(a.store, a.svc, mails, eventbus.NewLogPublisher(log, 100), a.clock, log, "cs@example.com", a.srv.URL)
	a.clock.Advance(24*time.Hour + time.Minute)
	if r, err := a.svc.Sweep(context.Background()); err != nil || !slices.Equal(r.Overdue, []string{w.id}) {
		t.Fatalf("sweep: %+v %v", r, err)
	}
	if _, _, err := n.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	linkRe := regexp.MustCompile(`Acknowledge: ` + regexp.QuoteMeta(a.srv.URL) + `/a/(\S+)`)
	links := map[string]string{}
	for _, m := range mails.Mails() {
		if strings.HasPrefix(m.Subject, "Overdue: acknowledge a bypass") {
			links[m.To[0]] = ""
			if match := linkRe.FindStringSubmatch(m.Text); match != nil {
				links[m.To[0]] = match[1]
			}
		}
	}
	if tok, told := links["rita@example.com"]; !told || tok != "" {
		t.Fatalf("the one who bypassed: told %t, link %q", told, tok)
	}
	if links["rex@example.com"] == "" {
		t.Fatalf("rex has no link in the overdue mail: %v", links)
	}
	if r := w.confirm(links["rex@example.com"], "late, but right"); r.StatusCode != 200 || w.stored(t, w.id).Status != domain.StatusApplied {
		t.Fatalf("the overdue mail's link: %d %s", r.StatusCode, r.body)
	}
}
