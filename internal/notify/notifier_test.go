package notify_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/notify/catcher"
	"github.com/countersign/countersign/internal/notify/eventbus"
	"github.com/countersign/countersign/internal/notify/sesmail"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// outage fails the first n sends (retryable, like SES throttling), then
// hands messages to the catcher.
type outage struct {
	mu     sync.Mutex
	n      int
	err    error
	inner  *catcher.Catcher
	called int
}

func (o *outage) Send(ctx context.Context, m sesmail.Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.called++
	if o.n != 0 {
		if o.n > 0 {
			o.n--
		}
		return "", o.err
	}
	return o.inner.Send(ctx, m)
}

type fixture struct {
	store   *boltstore.Store
	svc     *app.Service
	clock   *clock.Manual
	mail    *outage
	box     *catcher.Catcher
	mailer  notify.Mailer // what the notifier sends with: mail, unless the options said otherwise
	events  *eventbus.LogPublisher
	logs    *logBuffer // the notifier's JSON log (and metric) lines
	log     *slog.Logger
	n       *notify.Notifier
	request string
}

// fixtureOpts change the fixture.
type fixtureOpts struct {
	// mailer replaces the outage over the catcher.
	mailer func(f *fixture) notify.Mailer
	// emails of the reviewers m_a and m_b (default a@example.com and
	// b@example.com), and of a third reviewer m_c if not empty
	emailA, emailB, emailC string
}

// logBuffer is a log destination safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newFixture opens a request in production that two reviewers are asked to review.
func newFixture(t *testing.T, failures int, err error) *fixture {
	return newFixtureWith(t, failures, err, fixtureOpts{})
}

func newFixtureWith(t *testing.T, failures int, err error, opts fixtureOpts) *fixture {
	store, e := boltstore.Open(t.TempDir())
	if e != nil {
		t.Fatal(e)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{store: store, clock: clocktest.Clock(2, 8, 0), logs: &logBuffer{}}
	log := slog.New(slog.NewJSONHandler(f.logs, nil))
	f.log = log
	f.svc = app.New(store, f.clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	signer, _ := actionlink.NewSigner([]byte(strings.Repeat("s", 32)))
	f.svc.WithLinks(signer)
	f.box = catcher.New("cs@example.com", f.clock.Now)
	f.mail = &outage{n: failures, err: err, inner: f.box}
	f.mailer = f.mail
	if opts.mailer != nil {
		f.mailer = opts.mailer(f)
	}
	f.events = eventbus.NewLogPublisher(log, 100)
	f.n = f.notifier()
	ctx := context.Background()
	emailA, emailB := cmp.Or(opts.emailA, "a@example.com"), cmp.Or(opts.emailB, "b@example.com")
	members := []domain.Member{{ID: "m_admin", Email: "admin@example.com", Name: "Admin", Role: domain.RoleAdmin}, {ID: "m_req", Email: "req@example.com", Name: "Req", Role: domain.RoleEditor},
		{ID: "m_a", Email: emailA, Name: "A", Role: domain.RoleEditor}, {ID: "m_b", Email: emailB, Name: "B", Role: domain.RoleEditor}}
	reviewers := []string{"m_a", "m_b"}
	if opts.emailC != "" {
		members = append(members, domain.Member{ID: "m_c", Email: opts.emailC, Name: "C", Role: domain.RoleEditor})
		reviewers = append(reviewers, "m_c")
	}
	for _, m := range members {
		if e := store.CreateMember(ctx, &m); e != nil {
			t.Fatal(e)
		}
	}
	admin := &app.Principal{MemberID: "m_admin", TokenID: "t", Role: domain.RoleAdmin}
	req := &app.Principal{MemberID: "m_req", TokenID: "t2", Role: domain.RoleEditor}
	must := func(_ any, e error) {
		if e != nil {
			t.Fatal(e)
		}
	}
	must(f.svc.CreateProject(ctx, admin, app.ProjectInput{Key: "shop", Name: "Shop"}))
	must(f.svc.CreateFlag(ctx, admin, "shop", app.FlagInput{Key: "f", Name: "F", Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`true`)}}}))
	must(f.svc.UpdateOrgSettings(ctx, admin, nil, app.OrgSettingsInput{Approvals: true}))
	out, e := f.svc.ChangeFlagConfig(ctx, req, "shop", "f", "production", nil, app.ChangeOptions{NotifyReviewers: reviewers},
		func(c *domain.FlagConfig) error { c.Enabled = true; return nil })
	if e != nil || out.Request == nil {
		t.Fatalf("propose: %v", e)
	}
	f.request = out.Request.ID
	return f
}

// notifier is a notifier on the fixture's store: a new one is a restart
// (or another instance), which knows only what the store keeps.
func (f *fixture) notifier() *notify.Notifier {
	return notify.New(f.store, f.svc, f.mailer, f.events, f.clock, f.log, "cs@example.com", "http://cs.test")
}

func (f *fixture) createdItem(t *testing.T) *domain.OutboxItem {
	items, err := f.store.ListOutbox(context.Background(), f.clock.Now().Add(365*24*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Entry.Action == "change_request.created" {
			return &it
		}
	}
	all, _, _ := f.store.ListDeadLetters(context.Background(), domain.Page{})
	for _, it := range all {
		if it.Entry.Action == "change_request.created" {
			return &it
		}
	}
	return nil
}

// SES failing for the first attempts still ends with exactly one e-mail per
// recipient: what was sent is recorded, retries send only what is missing.
func TestOutageEndsWithOneMailEach(t *testing.T) {
	f := newFixture(t, 3, errors.New("throttled"))
	ctx := context.Background()
	for round := range 20 {
		if _, _, err := f.n.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Hour) // past any backoff
		if round > 10 && f.createdItem(t) == nil {
			break
		}
	}
	per := map[string]int{}
	for _, m := range f.box.Mails() {
		if strings.HasPrefix(m.Subject, "Review requested") {
			per[m.To[0]]++
		}
	}
	if per["a@example.com"] != 1 || per["b@example.com"] != 1 || len(per) != 2 {
		t.Fatalf("want exactly one review mail each, got %v", per)
	}
	it, _ := f.store.GetOutbox(ctx, f.createdItemID(t))
	if it.State != domain.OutboxDelivered || it.Attempts == 0 || !strings.Contains(strings.Join(it.Done, " "), "email:m_a") {
		t.Fatalf("outbox item after the outage: %+v", it)
	}
	// the event went out once too
	n := 0
	for _, e := range f.events.Events() {
		if e.Type == eventbus.TypeChangeRequestCreated {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("created events: %d", n)
	}
}

func (f *fixture) createdItemID(t *testing.T) string {
	entries, _, err := f.store.ListAudit(context.Background(), domain.AuditFilter{}, domain.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == "change_request.created" {
			return e.ID
		}
	}
	t.Fatal("no created entry")
	return ""
}

// Delivering the same item twice (a stream record redelivered) sends once.
func TestRedeliveryIsDeduplicated(t *testing.T) {
	f := newFixture(t, 0, nil)
	id := f.createdItemID(t)
	for range 3 {
		if err := f.n.Deliver(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.box.Mails()) != 2 {
		t.Fatalf("want the two review mails once, got %d", len(f.box.Mails()))
	}
}

// A permanent refusal, or too many failures, ends in the dead letters.
func TestDeadLetters(t *testing.T) {
	f := newFixture(t, -1, sesmail.ErrInvalidMessage)
	id := f.createdItemID(t)
	if err := f.n.Deliver(context.Background(), id); err == nil {
		t.Fatal("want the failure back")
	}
	dead, _, err := f.store.ListDeadLetters(context.Background(), domain.Page{})
	if err != nil || len(dead) != 1 || dead[0].ID != id || dead[0].Attempts != 1 {
		t.Fatalf("a permanent failure is dead at once: %+v %v", dead, err)
	}

	g := newFixture(t, -1, errors.New("SES is down"))
	for range notify.MaxAttempts + 2 {
		_, _, _ = g.n.Drain(context.Background())
		g.clock.Advance(2 * time.Hour)
	}
	dead, _, _ = g.store.ListDeadLetters(context.Background(), domain.Page{})
	found := false
	for _, it := range dead {
		found = found || (it.Entry.Action == "change_request.created" && it.Attempts == notify.MaxAttempts && it.LastError != "")
	}
	if !found {
		t.Fatalf("after %d retryable failures the item is dead: %+v", notify.MaxAttempts, dead)
	}
}

// The requester hears of each review, with its comment, and an approval of a
// manually applied request brings an Apply now link; a mention reaches the
// member mentioned.
func TestRequesterHearsOfReviewsAndMentions(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	a := &app.Principal{MemberID: "m_a", TokenID: "ta", Role: domain.RoleEditor}
	if _, err := f.svc.Comment(ctx, a, f.request, "@b@example.com can you double-check?"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Review(ctx, a, f.request, domain.DecisionApprove, "ship it on Monday", app.ChannelAPI); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.n.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var approved, mention bool
	for _, m := range f.box.Mails() {
		if m.To[0] == "req@example.com" && strings.HasPrefix(m.Subject, "Approved") &&
			strings.Contains(m.Text, `"ship it on Monday"`) && strings.Contains(m.Text, "Apply now: http://cs.test/a/") {
			approved = true
		}
		if m.To[0] == "b@example.com" && strings.HasPrefix(m.Subject, "You were mentioned") && strings.Contains(m.Text, "double-check") {
			mention = true
		}
	}
	if !approved || !mention {
		for _, m := range f.box.Mails() {
			t.Logf("%v %q\n%s", m.To, m.Subject, m.Text)
		}
		t.Fatalf("approved mail to the requester %v, mention mail %v", approved, mention)
	}
}

func linkToken(t *testing.T, text, label string) string {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, label+": http://cs.test/a/"); ok {
			return rest
		}
	}
	t.Fatalf("no %s link in %s", label, text)
	return ""
}

func (f *fixture) reviewLink(t *testing.T, to string) string {
	t.Helper()
	if _, _, err := f.n.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.box.Mails() {
		if m.To[0] == to && strings.HasPrefix(m.Subject, "Review requested") {
			return linkToken(t, m.Text, "Approve")
		}
	}
	t.Fatalf("no review mail to %s", to)
	return ""
}

// Each refusal of a link has its own status and says why.
func TestLinkRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 0, nil)
	toA, toB := f.reviewLink(t, "a@example.com"), f.reviewLink(t, "b@example.com")
	// decided: b's link after a approved (one approval needed) → 409, saying by whom
	st, err := f.svc.InspectLink(ctx, toA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ActOnLink(ctx, toA, st.CSRF, "fine"); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.InspectLink(ctx, toB)
	if de, ok := err.(*domain.Error); !ok || de.Code != domain.CodeConflict || !strings.Contains(de.Message, "approved by member:m_a") {
		t.Fatalf("a decided request: %v", err)
	}

	// withdrawn → 410
	g := newFixture(t, 0, nil)
	link := g.reviewLink(t, "a@example.com")
	if _, err := g.svc.Withdraw(ctx, &app.Principal{MemberID: "m_req", TokenID: "t", Role: domain.RoleEditor}, g.request); err != nil {
		t.Fatal(err)
	}
	_, err = g.svc.InspectLink(ctx, link)
	if de, ok := err.(*domain.Error); !ok || de.Code != domain.CodeGone || !strings.Contains(de.Message, "withdrawn") {
		t.Fatalf("a withdrawn request: %v", err)
	}

	// not allowed: the recipient became a viewer since → 403
	h := newFixture(t, 0, nil)
	link = h.reviewLink(t, "b@example.com")
	if _, err := h.store.UpdateMember(ctx, "m_b", func(m *domain.Member) error { m.Role = domain.RoleViewer; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.InspectLink(ctx, link)
	if de, ok := err.(*domain.Error); !ok || de.Code != domain.CodeForbidden {
		t.Fatalf("a recipient who may no longer review: %v", err)
	}
}

// A member who turned e-mail off still gets what waits on them, nothing else.
func TestEmailOptOut(t *testing.T) {
	f := newFixture(t, 0, nil)
	ctx := context.Background()
	for _, id := range []string{"m_b", "m_req"} {
		if _, err := f.store.UpdateMember(ctx, id, func(m *domain.Member) error { m.EmailOptOut = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := f.n.Drain(ctx); err != nil { // the review requests
		t.Fatal(err)
	}
	a := &app.Principal{MemberID: "m_a", TokenID: "ta", Role: domain.RoleEditor}
	if _, err := f.svc.Comment(ctx, a, f.request, "@m_b look"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Review(ctx, a, f.request, domain.DecisionApprove, "ok", app.ChannelAPI); err != nil {
		t.Fatal(err)
	}
	if d, failed, err := f.n.Drain(ctx); err != nil || failed > 0 {
		dead, _, _ := f.store.ListDeadLetters(ctx, domain.Page{})
		t.Fatalf("drain: %d delivered, %d failed, %v %+v", d, failed, err, dead)
	}
	var subjects []string
	for _, m := range f.box.Mails() {
		subjects = append(subjects, m.To[0]+": "+m.Subject)
	}
	got := strings.Join(subjects, "\n")
	if !strings.Contains(got, "b@example.com: Review requested") || strings.Contains(got, "b@example.com: You were mentioned") ||
		strings.Contains(got, "req@example.com") {
		t.Fatalf("with e-mail off, only the review request reaches b, nothing reaches the requester:\n%s", got)
	}
}
