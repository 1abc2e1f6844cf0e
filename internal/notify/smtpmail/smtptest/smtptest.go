// Package smtptest reaches the real SMTP server the tests run against
// (scripts/smtp-server.sh, nodemailer's smtp-server on loopback): where its
// listeners are, and the messages it accepted, parsed.
//
// COUNTERSIGN_SMTP_TEST_URL is its HTTP address (scripts/smtp-server.sh
// endpoint). Without it a test is skipped, or fails when
// COUNTERSIGN_REQUIRE_SMTP=1 (make test sets both).
package smtptest

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/notify/smtpmail"
)

// Server is the running test server.
type Server struct {
	URL string // its HTTP side
	// StartTLS, TLS and Plain are host:port of its listeners: STARTTLS with
	// AUTH PLAIN/LOGIN required; TLS from the first byte with AUTH LOGIN
	// required; neither TLS nor AUTH.
	StartTLS, TLS, Plain string
	Username, Password   string
	// CA trusts its self-signed certificate (for 127.0.0.1 and localhost),
	// which CAPEM is.
	CA    *x509.CertPool
	CAPEM string
}

// Start returns the server from COUNTERSIGN_SMTP_TEST_URL.
func Start(t testing.TB) *Server {
	t.Helper()
	base := strings.TrimRight(os.Getenv("COUNTERSIGN_SMTP_TEST_URL"), "/")
	if base == "" {
		if os.Getenv("COUNTERSIGN_REQUIRE_SMTP") == "1" {
			t.Fatal("COUNTERSIGN_SMTP_TEST_URL is not set but COUNTERSIGN_REQUIRE_SMTP=1: start the SMTP test server with scripts/smtp-server.sh start")
		}
		t.Skip("no SMTP test server (COUNTERSIGN_SMTP_TEST_URL unset); make test runs this, or: scripts/smtp-server.sh start && COUNTERSIGN_SMTP_TEST_URL=$(scripts/smtp-server.sh endpoint) go test ./internal/notify/...")
	}
	var info struct {
		StartTLS string `json:"starttls"`
		TLS      string `json:"tls"`
		Plain    string `json:"plain"`
		Username string `json:"username"`
		Password string `json:"password"`
		CA       string `json:"ca"`
	}
	get(t, base+"/info", &info)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(info.CA)) {
		t.Fatalf("%s/info: no PEM certificate in %q", base, info.CA)
	}
	return &Server{URL: base, StartTLS: info.StartTLS, TLS: info.TLS, Plain: info.Plain, Username: info.Username, Password: info.Password, CA: pool, CAPEM: info.CA}
}

// Config is a smtpmail configuration for one of the listeners (s.StartTLS,
// s.TLS or s.Plain), with the server's account on the two that want it.
func (s *Server) Config(t testing.TB, listener string) smtpmail.Config {
	t.Helper()
	host, port, err := net.SplitHostPort(listener)
	if err != nil {
		t.Fatal(err)
	}
	c := smtpmail.Config{Host: host, Port: port, RootCAs: s.CA, HelloName: "countersign.test", Timeout: 10 * time.Second}
	switch listener {
	case s.StartTLS:
		c.Security, c.Username, c.Password = smtpmail.StartTLS, s.Username, s.Password
	case s.TLS:
		c.Security, c.Username, c.Password = smtpmail.ImplicitTLS, s.Username, s.Password
	default:
		c.Security = smtpmail.NoTLS
	}
	return c
}

// Message is one message the server accepted.
type Message struct {
	ID       string   `json:"id"`
	Listener string   `json:"listener"` // starttls, tls, plain
	User     string   `json:"user"`     // who authenticated, "" for nobody
	Secure   bool     `json:"secure"`   // TLS, from the start or after STARTTLS
	MailFrom string   `json:"mail_from"`
	RcptTo   []string `json:"rcpt_to"`
	Raw      string   `json:"raw"`

	// parsed from Raw
	Header  mail.Header
	Subject string // decoded
	Text    string // the text/plain part, decoded, with LF line ends
	HTML    string // the text/html part, likewise
}

// Messages are the messages to addr, oldest first, parsed.
func (s *Server) Messages(t testing.TB, addr string) []Message {
	t.Helper()
	var ms []Message
	get(t, s.URL+"/messages?to="+url.QueryEscape(addr), &ms)
	for i := range ms {
		if err := ms[i].parse(); err != nil {
			t.Fatalf("message %s to %s: %v\n%s", ms[i].ID, addr, err, ms[i].Raw)
		}
	}
	return ms
}

// Refusal is a recipient the server refused.
type Refusal struct {
	Listener string `json:"listener"`
	Address  string `json:"address"`
	Code     int    `json:"code"`
}

// Refusals are the server's refusals of addr, oldest first.
func (s *Server) Refusals(t testing.TB, addr string) []Refusal {
	t.Helper()
	var rs []Refusal
	get(t, s.URL+"/refusals?to="+url.QueryEscape(addr), &rs)
	return rs
}

func (m *Message) parse() error {
	msg, err := mail.ReadMessage(strings.NewReader(m.Raw))
	if err != nil {
		return err
	}
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		return fmt.Errorf("content type %q (%v): want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		body, err := io.ReadAll(p)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); pt {
		case "text/plain":
			m.Text = text
		case "text/html":
			m.HTML = text
		}
	}
	return nil
}

func get(t testing.TB, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v: %s", url, resp.StatusCode, err, raw)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, raw)
	}
}

// Token is a fresh lowercase token for addresses only one test uses (the
// server is shared by every package's tests).
func Token() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
