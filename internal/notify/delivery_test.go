package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/notify/sesmail"
	"github.com/countersign/countersign/internal/notify/smtpmail"
	"github.com/countersign/countersign/internal/notify/smtpmail/smtptest"
	"github.com/countersign/countersign/internal/setup/localaws"
)

// ---------------------------------------------------------------------------
// SES: the v2 emulator (aws-ses-v2-local) behind a stand-in for what the
// emulator never does, SES refusing and throttling some recipients.

// sesEndpoint is the emulator's endpoint (COUNTERSIGN_SES_ENDPOINT); the
// test fails without it under COUNTERSIGN_REQUIRE_SES=1 and is skipped
// otherwise, like the sesmail tests.
func sesEndpoint(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv("COUNTERSIGN_SES_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("COUNTERSIGN_REQUIRE_SES") == "1" {
			t.Fatal("COUNTERSIGN_SES_ENDPOINT is not set but COUNTERSIGN_REQUIRE_SES=1: start the emulator with scripts/ses-local.sh start")
		}
		t.Skip("no SES emulator (COUNTERSIGN_SES_ENDPOINT unset); make test runs this, or: scripts/ses-local.sh start && COUNTERSIGN_SES_ENDPOINT=$(scripts/ses-local.sh endpoint) go test ./internal/notify/")
	}
	return strings.TrimRight(endpoint, "/")
}

// sandbox is the SES client's HTTP client: SendEmail to an address in
// refuse gets SES's answer for an unverified recipient in the sandbox (400
// MessageRejected), to an address in throttle that answer of SES's
// throttling (429 TooManyRequestsException) its first throttle[addr]
// times (-1: always); everything else goes on to the emulator. It counts
// the SendEmail calls per recipient.
type sandbox struct {
	mu       sync.Mutex
	refuse   map[string]bool
	throttle map[string]int
	calls    map[string]int
}

func (s *sandbox) Do(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		Destination struct{ ToAddresses []string }
	}
	_ = json.Unmarshal(body, &in)
	to := strings.Join(in.Destination.ToAddresses, ",")
	s.mu.Lock()
	s.calls[to]++
	refuse := s.refuse[to]
	throttle := s.throttle[to] != 0
	if s.throttle[to] > 0 {
		s.throttle[to]--
	}
	s.mu.Unlock()
	answer := func(status int, code, msg string) *http.Response {
		raw, _ := json.Marshal(map[string]string{"message": msg})
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Request: req, ContentLength: int64(len(raw)),
			Header: http.Header{"Content-Type": {"application/json"}, "X-Amzn-Errortype": {code}}, Body: io.NopCloser(bytes.NewReader(raw))}
	}
	switch {
	case refuse:
		return answer(400, "MessageRejected", "Email address is not verified. The following identities failed the check in region US-EAST-1: "+to), nil
	case throttle:
		return answer(429, "TooManyRequestsException", "Maximum sending rate exceeded."), nil
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (s *sandbox) count(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[addr]
}

// sesFixture is the fixture with the SES adapter (through the sandbox, one
// try per call so the counts are the notifier's attempts) as its mailer,
// and reviewers with addresses no other test uses.
func sesFixture(t *testing.T, sb *sandbox, a, b string) *fixture {
	endpoint := sesEndpoint(t)
	return newFixtureWith(t, 0, nil, fixtureOpts{emailA: a, emailB: b, mailer: func(f *fixture) notify.Mailer {
		client, err := localaws.SES(context.Background(), endpoint, "")
		if err != nil {
			t.Fatal(err)
		}
		o := client.Options()
		o.HTTPClient, o.RetryMaxAttempts = sb, 1
		return sesmail.New(sesv2.New(o), "cs@example.com", "")
	}})
}

// inbox is the mail the emulator holds for addr.
func inbox(t *testing.T, addr string) []struct{ Subject, Text, HTML string } {
	t.Helper()
	endpoint := sesEndpoint(t)
	resp, err := http.Get(endpoint + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var store struct {
		Emails []struct {
			Destination struct{ To []string } `json:"destination"`
			Subject     string                `json:"subject"`
			Body        struct{ Text, HTML string }
		} `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		t.Fatal(err)
	}
	var out []struct{ Subject, Text, HTML string }
	for _, e := range store.Emails {
		if slices.Contains(e.Destination.To, addr) {
			out = append(out, struct{ Subject, Text, HTML string }{e.Subject, e.Body.Text, e.Body.HTML})
		}
	}
	return out
}

func token() string { return smtptest.Token() }

// metricCounts are the EMF lines in the log, by metric, each checked for
// the contract's shape.
func (f *fixture) metricCounts(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		var rec map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("metric line %s: %v", line, err)
		}
		var aws struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		}
		if err := json.Unmarshal(rec["_aws"], &aws); err != nil || len(aws.CloudWatchMetrics) != 1 || len(aws.CloudWatchMetrics[0].Metrics) != 1 {
			t.Fatalf("metric line %s: %v", line, err)
		}
		d := aws.CloudWatchMetrics[0]
		name := d.Metrics[0].Name
		var v int
		if err := json.Unmarshal(rec[name], &v); err != nil || d.Namespace != metrics.Namespace || d.Metrics[0].Unit != "Count" ||
			len(d.Dimensions) != 1 || len(d.Dimensions[0]) != 1 || d.Dimensions[0][0] != metrics.Dimension {
			t.Fatalf("metric line %s is not the contract's shape", line)
		}
		out[name] += v
	}
	return out
}

func (f *fixture) createdOutbox(t *testing.T) *domain.OutboxItem {
	t.Helper()
	it, err := f.store.GetOutbox(context.Background(), f.createdItemID(t))
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func (f *fixture) drainOnce(t *testing.T, n *notify.Notifier) {
	t.Helper()
	if _, _, err := n.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A first reviewer SES refuses (the SES sandbox: an unverified address)
// does not keep the second from getting the review request; the refused
// one is dead-lettered at once, counted in MailRefused, and never tried
// again.
func TestSESFirstReviewerRefusedSecondGetsMail(t *testing.T) {
	tok := token()
	a, b := "a-"+tok+"@example.com", "b-"+tok+"@example.com"
	sb := &sandbox{refuse: map[string]bool{a: true}, calls: map[string]int{}}
	f := sesFixture(t, sb, a, b)
	f.drainOnce(t, f.n)

	got := inbox(t, b)
	if len(got) != 1 || !strings.HasPrefix(got[0].Subject, "Review requested: ") || !strings.Contains(got[0].Text, "Approve: http://cs.test/a/") ||
		!strings.Contains(got[0].HTML, `href="http://cs.test/a/`) {
		t.Fatalf("the second reviewer's mail in the emulator: %+v", got)
	}
	if got := inbox(t, a); len(got) != 0 {
		t.Fatalf("the refused reviewer's mail reached the emulator: %+v", got)
	}
	it := f.createdOutbox(t)
	da, db := it.Deliveries["email:m_a"], it.Deliveries["email:m_b"]
	if da.State != domain.OutboxDead || !da.Refused || da.Attempts != 1 || !strings.Contains(da.LastError, "MessageRejected") {
		t.Errorf("the refused reviewer's delivery: %+v", da)
	}
	if db.State != domain.OutboxDelivered || db.Attempts != 0 || it.Deliveries["event"].State != domain.OutboxDelivered {
		t.Errorf("the others: %+v", it.Deliveries)
	}
	if it.State != domain.OutboxDead || slices.Contains(it.Done, "email:m_a") || !slices.Contains(it.Done, "email:m_b") {
		t.Errorf("the item: state %s, done %v", it.State, it.Done)
	}
	if m := f.metricCounts(t); m[metrics.MailRefused] != 1 || m[metrics.OutboxDeadLettered] != 0 {
		t.Errorf("metrics %v: want MailRefused 1 and nothing else", m)
	}
	dead, _, err := f.store.ListDeadLetters(context.Background(), domain.Page{})
	if err != nil || len(dead) != 1 || dead[0].ID != it.ID {
		t.Errorf("dead letters: %+v %v", dead, err)
	}
	// later rounds leave it alone
	for range 3 {
		f.clock.Advance(2 * time.Hour)
		f.drainOnce(t, f.notifier())
	}
	if sb.count(a) != 1 || sb.count(b) != 1 || len(inbox(t, b)) != 1 {
		t.Fatalf("SendEmail calls: %d for the refused reviewer, %d for the other (want 1 each), %d mails", sb.count(a), sb.count(b), len(inbox(t, b)))
	}
}

// A throttled recipient is retried with backoff, by a notifier that
// restarted meanwhile (the state is the store's), until its mail goes
// out; the refused one beside it is dead at once and never retried.
func TestSESThrottledRetriedRefusedDeadAtOnce(t *testing.T) {
	tok := token()
	a, b := "a-"+tok+"@example.com", "b-"+tok+"@example.com"
	sb := &sandbox{refuse: map[string]bool{a: true}, throttle: map[string]int{b: 2}, calls: map[string]int{}}
	f := sesFixture(t, sb, a, b)
	start := f.clock.Now()

	if err := f.n.Deliver(context.Background(), f.createdItemID(t)); err == nil {
		t.Fatal("the first round failed for two recipients, and Deliver says nothing")
	}
	it := f.createdOutbox(t)
	da, db := it.Deliveries["email:m_a"], it.Deliveries["email:m_b"]
	if da.State != domain.OutboxDead || !da.Refused || da.Attempts != 1 {
		t.Fatalf("refused: %+v", da)
	}
	if db.State != domain.OutboxPending || db.Attempts != 1 || !db.NextAttemptAt.Equal(start.Add(30*time.Second)) || !strings.Contains(db.LastError, "TooManyRequests") {
		t.Fatalf("throttled: %+v", db)
	}
	if it.State != domain.OutboxPending || !it.NextAttemptAt.Equal(db.NextAttemptAt) || it.Attempts != 1 {
		t.Fatalf("the item waits for the throttled one: %s next %v attempts %d", it.State, it.NextAttemptAt, it.Attempts)
	}

	// not due yet: nothing is tried
	f.clock.Advance(10 * time.Second)
	f.drainOnce(t, f.notifier())
	if sb.count(b) != 1 {
		t.Fatalf("tried before its backoff: %d calls", sb.count(b))
	}
	// due: throttled again, the backoff doubles
	f.clock.Advance(20 * time.Second)
	f.drainOnce(t, f.notifier())
	db = f.createdOutbox(t).Deliveries["email:m_b"]
	if sb.count(b) != 2 || db.Attempts != 2 || !db.NextAttemptAt.Equal(start.Add(30*time.Second+time.Minute)) {
		t.Fatalf("second try: %d calls, %+v", sb.count(b), db)
	}
	f.clock.Advance(time.Minute)
	f.drainOnce(t, f.notifier())

	if got := inbox(t, b); len(got) != 1 || !strings.Contains(got[0].Text, "Approve: http://cs.test/a/") {
		t.Fatalf("the throttled reviewer's mail: %+v", got)
	}
	it = f.createdOutbox(t)
	if db := it.Deliveries["email:m_b"]; db.State != domain.OutboxDelivered || db.Attempts != 2 || db.LastError != "" {
		t.Fatalf("delivered at last: %+v", db)
	}
	if it.State != domain.OutboxDead || sb.count(a) != 1 || sb.count(b) != 3 || len(inbox(t, a)) != 0 {
		t.Fatalf("item %s; calls: refused %d (want 1), throttled %d (want 3)", it.State, sb.count(a), sb.count(b))
	}
	if m := f.metricCounts(t); m[metrics.MailRefused] != 1 || m[metrics.OutboxDeadLettered] != 0 {
		t.Errorf("metrics %v: want MailRefused 1 only", m)
	}
}

// Once the request moves on (approved by the first reviewer), the retry
// for the second, who never got the review request, does not send it any
// more, and never marks it delivered: the delivery is dead, saying why and
// what failed before, and counted in OutboxDeadLettered.
func TestRetryAfterRequestMovesOnNeverMarksDelivered(t *testing.T) {
	tok := token()
	a, b := "a-"+tok+"@example.com", "b-"+tok+"@example.com"
	sb := &sandbox{throttle: map[string]int{b: -1}, calls: map[string]int{}}
	f := sesFixture(t, sb, a, b)
	ctx := context.Background()
	f.drainOnce(t, f.n)
	if len(inbox(t, a)) != 1 || len(inbox(t, b)) != 0 {
		t.Fatalf("first round: %d mails to a, %d to b", len(inbox(t, a)), len(inbox(t, b)))
	}
	if _, err := f.svc.Review(ctx, &app.Principal{MemberID: "m_a", TokenID: "ta", Role: domain.RoleEditor}, f.request, domain.DecisionApprove, "fine", app.ChannelAPI); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	f.drainOnce(t, f.notifier())

	it := f.createdOutbox(t)
	db := it.Deliveries["email:m_b"]
	if db.State != domain.OutboxDead || db.Refused || slices.Contains(it.Done, "email:m_b") {
		t.Fatalf("the reviewer who never got the mail: %+v, done %v", db, it.Done)
	}
	if !strings.Contains(db.LastError, "not sent: the change request is approved now") || !strings.Contains(db.LastError, "TooManyRequests") {
		t.Errorf("its last error says why, and what failed before: %q", db.LastError)
	}
	if it.State != domain.OutboxDead || it.State == domain.OutboxDelivered {
		t.Errorf("the item is %s", it.State)
	}
	if sb.count(b) != 1 || len(inbox(t, b)) != 0 {
		t.Errorf("the review request went out after the request moved on: %d calls, %d mails", sb.count(b), len(inbox(t, b)))
	}
	if m := f.metricCounts(t); m[metrics.OutboxDeadLettered] != 1 || m[metrics.MailRefused] != 0 {
		t.Errorf("metrics %v: want OutboxDeadLettered 1", m)
	}
	if !strings.Contains(f.logs.String(), `"delivery":"email:m_b"`) {
		t.Errorf("the log does not name the delivery:\n%s", f.logs)
	}
}

// Two notifiers on one item (the stream's and the sweep's): while one
// works on it, the other leaves it alone, so each reviewer gets one mail; a
// claim left by a notifier that crashed lapses after ClaimFor.
func TestConcurrentNotifiersSendOnce(t *testing.T) {
	f := newFixture(t, 0, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.mailer = blockingMailer{Mailer: f.mail, first: func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}}
	n1, n2 := f.notifier(), f.notifier()
	id := f.createdItemID(t)
	done := make(chan error)
	go func() { done <- n1.Deliver(context.Background(), id) }()
	<-entered
	if err := n2.Deliver(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if len(f.box.Mails()) != 0 {
		t.Fatal("the second notifier sent while the first one held the item")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := n2.Deliver(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if n := len(f.box.Mails()); n != 2 {
		t.Fatalf("%d mails, want one to each reviewer", n)
	}
	if it := f.createdOutbox(t); it.State != domain.OutboxDelivered || it.ClaimedBy != "" || it.ClaimedUntil != nil {
		t.Fatalf("after both: %+v", it)
	}

	// a crashed notifier's claim
	g := newFixture(t, 0, nil)
	id = g.createdItemID(t)
	if _, err := g.store.UpdateOutbox(context.Background(), id, func(o *domain.OutboxItem) error {
		until := g.clock.Now().Add(notify.ClaimFor)
		o.ClaimedBy, o.ClaimedUntil = "crashed", &until
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_ = g.n.Deliver(context.Background(), id)
	if len(g.box.Mails()) != 0 {
		t.Fatal("sent while another notifier's claim held")
	}
	g.clock.Advance(notify.ClaimFor + time.Second)
	if _, _, err := g.n.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(g.box.Mails()) != 2 || g.createdOutbox(t).State != domain.OutboxDelivered {
		t.Fatalf("after the claim lapsed: %d mails", len(g.box.Mails()))
	}
}

type blockingMailer struct {
	notify.Mailer
	first func()
}

func (m blockingMailer) Send(ctx context.Context, msg sesmail.Message) (string, error) {
	m.first()
	return m.Mailer.Send(ctx, msg)
}

// An outbox item written before per-recipient state (Done only) is
// delivered by what it lacks.
func TestItemFromBeforeDeliveries(t *testing.T) {
	f := newFixture(t, 0, nil)
	id := f.createdItemID(t)
	if _, err := f.store.UpdateOutbox(context.Background(), id, func(o *domain.OutboxItem) error {
		o.Done = []string{"event", "email:m_a"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.n.Deliver(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	ms := f.box.Mails()
	if len(ms) != 1 || ms[0].To[0] != "b@example.com" || len(f.events.Events()) != 0 {
		t.Fatalf("sent %d mails (%v) and %d events; want only b's mail", len(ms), ms, len(f.events.Events()))
	}
	if it := f.createdOutbox(t); it.State != domain.OutboxDelivered || len(it.Deliveries) != 3 {
		t.Fatalf("item %+v", it)
	}
}

// ---------------------------------------------------------------------------
// SMTP: the single process's real mail, through the same outbox rules,
// against a real SMTP server (scripts/smtp-server.sh).

// The server refuses one reviewer (550), greylists another (450 the first
// time) and takes the third: the third's mail arrives at once and its
// link works, the greylisted one's on the retry, and the refused one is
// dead at once and never offered again.
func TestSMTPOneRecipientRefusedOthersGetMail(t *testing.T) {
	srv := smtptest.Start(t)
	tok := token()
	refused, greylisted, fine := "refuse-"+tok+"@example.com", "greylist-"+tok+"@example.com", "fine-"+tok+"@example.com"
	f := newFixtureWith(t, 0, nil, fixtureOpts{emailA: refused, emailB: greylisted, emailC: fine, mailer: func(f *fixture) notify.Mailer {
		return smtpmail.New(srv.Config(t, srv.StartTLS), "cs@example.com")
	}})
	ctx := context.Background()
	f.drainOnce(t, f.n)

	got := srv.Messages(t, fine)
	if len(got) != 1 {
		t.Fatalf("%d messages to %s", len(got), fine)
	}
	m := got[0]
	if !strings.HasPrefix(m.Subject, "Review requested: ") || m.RcptTo[0] != fine || m.User != srv.Username || !m.Secure {
		t.Fatalf("the mail: subject %q, to %v, user %q, secure %v", m.Subject, m.RcptTo, m.User, m.Secure)
	}
	link := linkToken(t, m.Text, "Approve")
	if !strings.Contains(m.HTML, `href="http://cs.test/a/`+link+`"`) {
		t.Fatalf("the HTML part lacks the link %s: %s", link, m.HTML)
	}
	if _, err := f.svc.InspectLink(ctx, link); err != nil {
		t.Fatalf("the mailed link: %v", err)
	}
	if n := len(srv.Messages(t, greylisted)); n != 0 {
		t.Fatalf("greylisted, yet %d messages", n)
	}
	it := f.createdOutbox(t)
	if d := it.Deliveries["email:m_a"]; d.State != domain.OutboxDead || !d.Refused || !strings.Contains(d.LastError, "550") {
		t.Fatalf("refused: %+v", d)
	}
	if d := it.Deliveries["email:m_b"]; d.State != domain.OutboxPending || d.Attempts != 1 || !strings.Contains(d.LastError, "450") {
		t.Fatalf("greylisted: %+v", d)
	}

	f.clock.Advance(time.Minute)
	f.drainOnce(t, f.notifier())
	if got := srv.Messages(t, greylisted); len(got) != 1 || !strings.Contains(got[0].Text, "Approve: http://cs.test/a/") {
		t.Fatalf("the greylisted reviewer's mail on the retry: %d", len(got))
	}
	if rs := srv.Refusals(t, refused); len(rs) != 1 || rs[0].Code != 550 {
		t.Fatalf("the refused reviewer was offered %d times, want once: %+v", len(rs), rs)
	}
	it = f.createdOutbox(t)
	if it.State != domain.OutboxDead || !slices.Contains(it.Done, "email:m_b") || !slices.Contains(it.Done, "email:m_c") || slices.Contains(it.Done, "email:m_a") {
		t.Fatalf("the item: %s, done %v", it.State, it.Done)
	}
	if m := f.metricCounts(t); m[metrics.MailRefused] != 1 || m[metrics.OutboxDeadLettered] != 0 {
		t.Errorf("metrics %v", m)
	}
}

// The server refusing the sender's account (a wrong password) blocks every
// recipient: nobody is dead-lettered at once; each is kept and retried,
// and the log says mail is blocked.
func TestSMTPBlockedIsRetried(t *testing.T) {
	srv := smtptest.Start(t)
	tok := token()
	cfg := srv.Config(t, srv.StartTLS)
	cfg.Password = "wrong"
	f := newFixtureWith(t, 0, nil, fixtureOpts{emailA: "a-" + tok + "@example.com", emailB: "b-" + tok + "@example.com", mailer: func(f *fixture) notify.Mailer {
		return smtpmail.New(cfg, "cs@example.com")
	}})
	f.drainOnce(t, f.n)
	it := f.createdOutbox(t)
	for _, k := range []string{"email:m_a", "email:m_b"} {
		if d := it.Deliveries[k]; d.State != domain.OutboxPending || d.Attempts != 1 || !strings.Contains(d.LastError, "535") {
			t.Errorf("%s: %+v", k, d)
		}
	}
	if !strings.Contains(f.logs.String(), "mail is blocked for every recipient") {
		t.Errorf("the log does not say mail is blocked:\n%s", f.logs)
	}
	if m := f.metricCounts(t); len(m) != 0 {
		t.Errorf("metrics %v: want none yet", m)
	}
	// after MaxAttempts it is given up, counted as dead-lettered, not refused
	for range notify.MaxAttempts {
		f.clock.Advance(2 * time.Hour)
		f.drainOnce(t, f.notifier())
	}
	if m := f.metricCounts(t); m[metrics.OutboxDeadLettered] != 2 || m[metrics.MailRefused] != 0 {
		t.Errorf("metrics %v: want OutboxDeadLettered 2", m)
	}
	if it := f.createdOutbox(t); it.State != domain.OutboxDead || it.Deliveries["email:m_a"].Attempts != notify.MaxAttempts {
		t.Errorf("after %d attempts: %s %+v", notify.MaxAttempts, it.State, it.Deliveries)
	}
}

// failingRequests is the store with GetChangeRequest failing: what an entry
// owes cannot be worked out.
type failingRequests struct {
	notify.Store
	err error
}

func (s failingRequests) GetChangeRequest(context.Context, string) (*domain.ChangeRequest, error) {
	return nil, s.err
}

// When what an entry owes cannot be worked out at its first attempt, the
// item itself is retried with backoff, and dead-lettered (and counted)
// after MaxAttempts.
func TestItemRetriedWhenItsDeliveriesCannotBeWorkedOut(t *testing.T) {
	f := newFixture(t, 0, nil)
	n := notify.New(failingRequests{Store: f.store, err: fmt.Errorf("the table is throttled")}, f.svc, f.mailer, f.events, f.clock, f.log, "cs@example.com", "http://cs.test")
	id := f.createdItemID(t)
	if err := n.Deliver(context.Background(), id); err == nil {
		t.Fatal("no error")
	}
	it := f.createdOutbox(t)
	if it.State != domain.OutboxPending || it.Attempts != 1 || len(it.Deliveries) != 0 || !it.NextAttemptAt.Equal(f.clock.Now().Add(30*time.Second)) ||
		!strings.Contains(it.LastError, "throttled") || it.ClaimedBy != "" {
		t.Fatalf("after a failed first attempt: %+v", it)
	}
	for range notify.MaxAttempts {
		f.clock.Advance(2 * time.Hour)
		_ = n.Deliver(context.Background(), id)
	}
	if it := f.createdOutbox(t); it.State != domain.OutboxDead || it.Attempts != notify.MaxAttempts {
		t.Fatalf("after %d attempts: %s, %d", notify.MaxAttempts, it.State, it.Attempts)
	}
	if m := f.metricCounts(t); m[metrics.OutboxDeadLettered] != 1 {
		t.Fatalf("metrics %v", m)
	}
	if len(f.box.Mails()) != 0 || len(f.events.Events()) != 0 {
		t.Fatal("something was sent")
	}
}
