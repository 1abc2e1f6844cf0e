package smtpmail_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/notify/sesmail"
	"github.com/countersign/countersign/internal/notify/smtpmail"
	"github.com/countersign/countersign/internal/notify/smtpmail/smtptest"
)

const approveURL = "https://cs.example.test/a/approve.t0k3n-abc_DEF?x=1&y=2"

// reviewMessage is a review request like the notifier's, to one address,
// with what makes encoding hard: UTF-8 in the subject and body, a line
// longer than 78 characters, a line starting with a dot, "=" and "&".
func reviewMessage(to string) sesmail.Message {
	long := strings.Repeat("lang-und-breit ", 12)
	return sesmail.Message{
		From:    "Countersign Prüfung <countersign@example.test>",
		To:      []string{to},
		Subject: "Review requested: „checkout-v2“ (production) — 承認待ち ✅",
		Text: "Carol asks to turn on checkout-v2 in production.\n\n" + long + "\n" +
			".a line that starts with a dot\n" +
			"Approve: " + approveURL + "\n",
		HTML: `<p>Carol asks to turn on <b>checkout-v2</b> — ünïcödé.</p>` + "\n" +
			`<p><a href="https://cs.example.test/a/approve.t0k3n-abc_DEF?x=1&amp;y=2">Approve</a></p>` + "\n",
		Tags: map[string]string{"action": "change_request_created"},
	}
}

func send(t *testing.T, cfg smtpmail.Config, m sesmail.Message) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return smtpmail.New(cfg, "fallback@example.test").Send(ctx, m)
}

// Each listener gets the message: STARTTLS with AUTH PLAIN, TLS from the
// start with AUTH LOGIN, and a plain relay on loopback without either. The
// message is read back from the server: envelope, who authenticated,
// headers, and both parts byte for byte (after decoding), the link intact.
func TestSendAndReadBack(t *testing.T) {
	srv := smtptest.Start(t)
	for _, tt := range []struct {
		name, listener, user string
		secure               bool
	}{
		{"starttls", srv.StartTLS, srv.Username, true},
		{"tls", srv.TLS, srv.Username, true},
		{"plain", srv.Plain, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			to := "reviewer-" + smtptest.Token() + "@example.test"
			m := reviewMessage(to)
			id, err := send(t, srv.Config(t, tt.listener), m)
			if err != nil {
				t.Fatalf("Send: %v (class %v)", err, sesmail.Classify(err))
			}
			got := srv.Messages(t, to)
			if len(got) != 1 {
				t.Fatalf("%d messages to %s, want 1", len(got), to)
			}
			g := got[0]
			if g.Listener != tt.name || g.User != tt.user || g.Secure != tt.secure {
				t.Errorf("listener %q, user %q, secure %v; want %q, %q, %v", g.Listener, g.User, g.Secure, tt.name, tt.user, tt.secure)
			}
			if g.MailFrom != "countersign@example.test" || len(g.RcptTo) != 1 || g.RcptTo[0] != to {
				t.Errorf("envelope %s → %v", g.MailFrom, g.RcptTo)
			}
			if g.Subject != m.Subject {
				t.Errorf("subject %q, want %q", g.Subject, m.Subject)
			}
			if g.Text != m.Text {
				t.Errorf("text part\n%q\nwant\n%q", g.Text, m.Text)
			}
			if g.HTML != m.HTML {
				t.Errorf("HTML part\n%q\nwant\n%q", g.HTML, m.HTML)
			}
			if !strings.Contains(g.Text, "Approve: "+approveURL+"\n") {
				t.Errorf("the action link is not intact in %q", g.Text)
			}
			if mid := g.Header.Get("Message-Id"); mid != "<"+id+">" || !strings.HasSuffix(id, "@example.test") {
				t.Errorf("Message-ID %q, Send returned %q", mid, id)
			}
			if from, err := g.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Countersign Prüfung" || from[0].Address != "countersign@example.test" {
				t.Errorf("From %v %v", from, err)
			}
			if _, err := g.Header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			for _, line := range strings.Split(g.Raw, "\r\n") {
				if len(line) > 998 {
					t.Errorf("a line of %d characters", len(line))
				}
				for _, r := range line {
					if r > 127 {
						t.Fatalf("8-bit data on the wire: %q", line)
					}
				}
			}
		})
	}
}

// A message without a From takes the Sender's.
func TestDefaultFrom(t *testing.T) {
	srv := smtptest.Start(t)
	to := "default-" + smtptest.Token() + "@example.test"
	m := reviewMessage(to)
	m.From = ""
	if _, err := send(t, srv.Config(t, srv.Plain), m); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages(t, to); len(got) != 1 || got[0].MailFrom != "fallback@example.test" {
		t.Fatalf("messages %+v", got)
	}
}

// What each failure is: the class, the step, the server's code.
func TestFailuresClassified(t *testing.T) {
	srv := smtptest.Start(t)
	tok := smtptest.Token()
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	untrusted := srv.Config(t, srv.StartTLS)
	untrusted.RootCAs = x509.NewCertPool()
	wrongPassword := srv.Config(t, srv.StartTLS)
	wrongPassword.Password = "not-the-password"
	noStartTLS := srv.Config(t, srv.Plain)
	noStartTLS.Security = smtpmail.StartTLS
	notTLS := srv.Config(t, srv.StartTLS)
	notTLS.Security = smtpmail.ImplicitTLS
	noAuth := srv.Config(t, srv.Plain)
	noAuth.Username, noAuth.Password = "someone", "secret"
	noLogin := srv.Config(t, srv.StartTLS)
	noLogin.Username, noLogin.Password = "", ""
	refusedHost, refusedPort, _ := net.SplitHostPort(closed)
	down := srv.Config(t, srv.Plain)
	down.Host, down.Port = refusedHost, refusedPort

	tests := []struct {
		name  string
		cfg   smtpmail.Config
		to    string
		class sesmail.Class
		step  string
		code  int
	}{
		{"recipient refused", srv.Config(t, srv.StartTLS), "refuse-" + tok + "@example.test", sesmail.Refused, "rcpt to", 550},
		{"recipient refused on a relay", srv.Config(t, srv.Plain), "refuse-" + tok + "@example.test", sesmail.Refused, "rcpt to", 550},
		{"mailbox busy", srv.Config(t, srv.TLS), "busy-" + tok + "@example.test", sesmail.Transient, "rcpt to", 451},
		{"wrong password", wrongPassword, "a-" + tok + "@example.test", sesmail.Blocked, "auth", 535},
		{"authentication required", noLogin, "a-" + tok + "@example.test", sesmail.Blocked, "mail from", 530},
		{"no STARTTLS offered", noStartTLS, "a-" + tok + "@example.test", sesmail.Blocked, "starttls", 0},
		{"not TLS on smtps", notTLS, "a-" + tok + "@example.test", sesmail.Blocked, "tls", 0},
		{"certificate not trusted", untrusted, "a-" + tok + "@example.test", sesmail.Blocked, "starttls", 0},
		{"no AUTH offered", noAuth, "a-" + tok + "@example.test", sesmail.Blocked, "auth", 0},
		{"nobody listening", down, "a-" + tok + "@example.test", sesmail.Transient, "connect", 0},
		{"recipient that does not parse", srv.Config(t, srv.Plain), "not an address", sesmail.Refused, "message", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := send(t, tt.cfg, reviewMessage(tt.to))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			var se *smtpmail.Error
			if !errors.As(err, &se) {
				t.Fatalf("%v (%T): not an *smtpmail.Error", err, err)
			}
			if se.Class != tt.class || se.Step != tt.step || se.Code != tt.code {
				t.Errorf("%v: class %v, step %q, code %d; want %v, %q, %d", err, se.Class, se.Step, se.Code, tt.class, tt.step, tt.code)
			}
			if got := sesmail.Classify(err); got != tt.class {
				t.Errorf("sesmail.Classify = %v, want %v", got, tt.class)
			}
		})
	}
	// the server saw the refusals it made
	if rs := srv.Refusals(t, "refuse-"+tok+"@example.test"); len(rs) != 2 || rs[0].Code != 550 {
		t.Errorf("refusals %+v", rs)
	}

	// greylisting: refused for now, accepted when tried again
	to := "greylist-" + tok + "@example.test"
	_, err := send(t, srv.Config(t, srv.StartTLS), reviewMessage(to))
	if sesmail.Classify(err) != sesmail.Transient {
		t.Fatalf("greylisted: %v, want a transient failure", err)
	}
	if _, err := send(t, srv.Config(t, srv.StartTLS), reviewMessage(to)); err != nil {
		t.Fatalf("again after greylisting: %v", err)
	}
	if got := srv.Messages(t, to); len(got) != 1 {
		t.Fatalf("%d messages after greylisting, want 1", len(got))
	}
}

// A canceled context ends the send with a Blocked error (nothing is wrong
// with the message), an expired one with a Transient error.
func TestContext(t *testing.T) {
	srv := smtptest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := smtpmail.New(srv.Config(t, srv.StartTLS), "").Send(ctx, reviewMessage("a-"+smtptest.Token()+"@example.test"))
	if err == nil || sesmail.Classify(err) != sesmail.Blocked || !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v (%v)", err, sesmail.Classify(err))
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second)) // wall clock: a deadline already past
	defer cancel()
	_, err = smtpmail.New(srv.Config(t, srv.StartTLS), "").Send(ctx, reviewMessage("a-"+smtptest.Token()+"@example.test"))
	if err == nil || sesmail.Classify(err) != sesmail.Transient {
		t.Fatalf("expired: %v (%v)", err, sesmail.Classify(err))
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url, password string
		want          string // Config.String(), or the error's start with "error: "
		user, pass    string
	}{
		{"smtp://mail.example.com", "", "smtp://mail.example.com:587", "", ""},
		{"smtps://mail.example.com", "", "smtps://mail.example.com:465", "", ""},
		{"smtp://ada%40example.com:p%40ss%3Aword@mail.example.com:2587", "", "smtp://ada%40example.com@mail.example.com:2587", "ada@example.com", "p@ss:word"},
		{"smtps://ada@mail.example.com", "from-the-environment", "smtps://ada@mail.example.com:465", "ada", "from-the-environment"},
		{"smtps://ada:in-the-url@mail.example.com", "from-the-environment", "smtps://ada@mail.example.com:465", "ada", "from-the-environment"},
		{"smtp://127.0.0.1:2525?tls=none", "", "smtp://127.0.0.1:2525?tls=none", "", ""},
		{"smtp://localhost?tls=none", "", "smtp://localhost:25?tls=none", "", ""},
		{"smtp://[::1]:25?tls=none", "", "smtp://[::1]:25?tls=none", "", ""},
		{"smtp://mail.example.com?tls=none", "", "error: COUNTERSIGN_SMTP_URL: tls=none", "", ""},
		{"smtps://127.0.0.1?tls=none", "", "error: COUNTERSIGN_SMTP_URL: tls=none goes with smtp://", "", ""},
		{"smtp://mail.example.com?tls=maybe", "", "error: COUNTERSIGN_SMTP_URL: tls must be", "", ""},
		{"smtp://mail.example.com?starttls=no", "", "error: COUNTERSIGN_SMTP_URL: unknown parameter", "", ""},
		{"http://mail.example.com", "", "error: COUNTERSIGN_SMTP_URL must start with", "", ""},
		{"mail.example.com:587", "", "error: COUNTERSIGN_SMTP_URL must start with", "", ""},
		{"smtp://", "", "error: COUNTERSIGN_SMTP_URL has no host", "", ""},
		{"smtp://mail.example.com/inbox", "", "error: COUNTERSIGN_SMTP_URL is scheme://", "", ""},
		{"smtp://mail.example.com", "secret", "error: COUNTERSIGN_SMTP_PASSWORD is set but", "", ""},
		{"smtp://ada:secret@mail.example.com:bad", "", "error: COUNTERSIGN_SMTP_URL: invalid port", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			c, err := smtpmail.ParseURL(tt.url, tt.password)
			if want, isErr := strings.CutPrefix(tt.want, "error: "); isErr {
				if err == nil || !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("err = %v, want one starting %q", err, want)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.String() != tt.want || c.Username != tt.user || c.Password != tt.pass {
				t.Errorf("%s user %q password %q; want %s %q %q", c, c.Username, c.Password, tt.want, tt.user, tt.pass)
			}
		})
	}
}
