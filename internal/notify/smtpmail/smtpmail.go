// Package smtpmail sends Countersign's e-mail through an SMTP server: the
// real mail of the single process (`make run`, COUNTERSIGN_SMTP_URL), for a
// team that runs Countersign on its own machine. It is a notify.Mailer, like
// the SES adapter (sesmail), and classifies its errors the same way
// (sesmail.Classify reads them), so the outbox retries, refuses and
// dead-letters SMTP mail by the same rules.
//
// It is built on the standard library: net/smtp speaks the protocol
// (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, with dot-stuffing), crypto/tls
// the TLS, mime/multipart and mime/quotedprintable the message. Countersign
// sends one shape of message (a subject, a plain-text and an HTML part, one
// recipient), and net/smtp's replies carry their code
// (*textproto.Error), which is what the classification needs.
//
// One message is one connection: connect (TLS from the first byte with
// smtps://), EHLO, STARTTLS (required with smtp://), AUTH when there are
// credentials (PLAIN, LOGIN or CRAM-MD5, whichever the server offers first
// in that order; never without TLS except to this machine), MAIL FROM, RCPT
// TO, DATA, QUIT.
package smtpmail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/notify/sesmail"
)

// Security is how the connection is protected.
type Security int

const (
	// StartTLS (smtp://): a plain connection upgraded with STARTTLS before
	// anything else; a server that does not offer it is refused.
	StartTLS Security = iota + 1
	// ImplicitTLS (smtps://): TLS from the first byte.
	ImplicitTLS
	// NoTLS (smtp://…?tls=none): no TLS at all, for a relay on this machine
	// only (a loopback host).
	NoTLS
)

// Config is where and how mail leaves.
type Config struct {
	Host     string // host name or address: the TLS certificate must name it
	Port     string
	Security Security
	// Username and Password: AUTH when Username is set.
	Username string
	Password string
	// RootCAs are the certificate authorities trusted for the server's
	// certificate; nil means the system's.
	RootCAs *x509.CertPool
	// HelloName is the name given in EHLO; empty means this machine's host
	// name.
	HelloName string
	// Timeout bounds one send when the context has no deadline; 0 means 60s.
	Timeout time.Duration
}

// ParseURL reads COUNTERSIGN_SMTP_URL:
//
//	smtp://[user[:password]@]host[:port]            STARTTLS required, port 587
//	smtps://[user[:password]@]host[:port]           TLS from the first byte, port 465
//	smtp://host[:port]?tls=none                     no TLS: a loopback host only, port 25
//
// The user and password are percent-encoded in the URL; password, when
// not empty (COUNTERSIGN_SMTP_PASSWORD), replaces the URL's, so that the URL
// itself need not hold the secret.
func ParseURL(raw, password string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("COUNTERSIGN_SMTP_URL: %v", redactErr(err))
	}
	c := Config{Host: u.Hostname(), Port: u.Port()}
	var defaultPort string
	switch u.Scheme {
	case "smtp":
		c.Security, defaultPort = StartTLS, "587"
	case "smtps":
		c.Security, defaultPort = ImplicitTLS, "465"
	default:
		return Config{}, fmt.Errorf("COUNTERSIGN_SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (TLS), not %q", u.Scheme+":")
	}
	if c.Host == "" {
		return Config{}, errors.New("COUNTERSIGN_SMTP_URL has no host, like smtp://mail.example.com")
	}
	if u.Path != "" && u.Path != "/" || u.Fragment != "" || u.Opaque != "" {
		return Config{}, errors.New("COUNTERSIGN_SMTP_URL is scheme://[user[:password]@]host[:port][?tls=none], with no path")
	}
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return Config{}, fmt.Errorf("COUNTERSIGN_SMTP_URL: unknown parameter %q (the only one is tls=none)", k)
		}
	}
	switch v := q.Get("tls"); v {
	case "":
	case "none":
		if c.Security != StartTLS {
			return Config{}, errors.New("COUNTERSIGN_SMTP_URL: tls=none goes with smtp://, not smtps://")
		}
		if !Loopback(c.Host) {
			return Config{}, fmt.Errorf("COUNTERSIGN_SMTP_URL: tls=none (mail and its sign-in links in clear text) is for a relay on this machine only, not %s; use STARTTLS (smtp://) or TLS (smtps://)", c.Host)
		}
		c.Security, defaultPort = NoTLS, "25"
	default:
		return Config{}, fmt.Errorf("COUNTERSIGN_SMTP_URL: tls must be none or absent, not %q", v)
	}
	if c.Port == "" {
		c.Port = defaultPort
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	if password != "" {
		c.Password = password
	}
	if c.Password != "" && c.Username == "" {
		return Config{}, errors.New("COUNTERSIGN_SMTP_PASSWORD is set but COUNTERSIGN_SMTP_URL has no user name (smtp://user@host)")
	}
	return c, nil
}

// redactErr drops the URL (which may hold a password) from a url.Parse error.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// String is the configuration without its password, for logs.
func (c Config) String() string {
	scheme, query := "smtp", ""
	switch c.Security {
	case ImplicitTLS:
		scheme = "smtps"
	case NoTLS:
		query = "?tls=none"
	}
	user := ""
	if c.Username != "" {
		user = url.User(c.Username).String() + "@"
	}
	return scheme + "://" + user + net.JoinHostPort(c.Host, c.Port) + query
}

// LoadCAFile trusts the PEM certificates in file, besides the system's
// (COUNTERSIGN_SMTP_CA_FILE: a relay with a certificate from a private CA).
func (c *Config) LoadCAFile(file string) error {
	pem, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("COUNTERSIGN_SMTP_CA_FILE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("COUNTERSIGN_SMTP_CA_FILE %s holds no PEM certificate", file)
	}
	c.RootCAs = pool
	return nil
}

// Loopback reports whether host is this machine: localhost or a loopback
// address.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sender sends Messages through one SMTP server.
type Sender struct {
	cfg  Config
	from string
	now  func() time.Time
}

var _ interface {
	Send(context.Context, sesmail.Message) (string, error)
} = (*Sender)(nil)

// New returns a Sender; from is the sender address of messages that have
// none.
func New(cfg Config, from string) *Sender {
	return &Sender{cfg: cfg, from: from, now: time.Now}
}

// Error is a failed send: the step it failed at, the server's reply code
// (0 without one) and its class (sesmail.Classify reads it).
type Error struct {
	Step  string // connect, tls, hello, starttls, auth, mail from, rcpt to, data, message
	Code  int
	Class sesmail.Class
	Err   error
}

func (e *Error) Error() string            { return "smtpmail: " + e.Step + ": " + e.Err.Error() }
func (e *Error) Unwrap() error            { return e.Err }
func (e *Error) MailClass() sesmail.Class { return e.Class }

// Classification, by the step and the server's reply:
//
//   - any 4xx reply (421 closing, 450/451/452 mailbox busy, greylisting,
//     out of storage, 454 TLS or AUTH temporarily unavailable): Transient;
//   - 5xx to RCPT TO (550 no such mailbox, 553 bad address, 554 refused by
//     policy): Refused, this recipient only; but 530 (authentication
//     required) and a refusal to relay: Blocked, as they concern every
//     recipient;
//   - 5xx to DATA or to the message (554 content refused, 552 too big):
//     Refused, this message;
//   - 5xx anywhere else (the greeting, EHLO, STARTTLS, AUTH 535 wrong
//     credentials, MAIL FROM 550/553 sender refused): Blocked;
//   - no STARTTLS offered on smtp://, no AUTH offered with credentials, a
//     certificate that does not verify, a server that does not speak TLS
//     on smtps://, a host name that does not resolve, a sender address that
//     does not parse: Blocked;
//   - a recipient address that does not parse: Refused;
//   - a context deadline and any network failure without a reply (refused
//     or reset connection, timeout): Transient; a canceled context:
//     Blocked.
func classify(step string, err error) (sesmail.Class, int) {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		switch {
		case tp.Code >= 400 && tp.Code < 500:
			return sesmail.Transient, tp.Code
		case tp.Code >= 500:
			switch step {
			case "rcpt to":
				if tp.Code == 530 || strings.Contains(strings.ToLower(tp.Msg), "relay") {
					return sesmail.Blocked, tp.Code
				}
				return sesmail.Refused, tp.Code
			case "data", "message":
				return sesmail.Refused, tp.Code
			}
			return sesmail.Blocked, tp.Code
		}
	}
	if errors.Is(err, context.Canceled) {
		return sesmail.Blocked, 0
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return sesmail.Transient, 0
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		dns      *net.DNSError
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &record):
		return sesmail.Blocked, 0
	case errors.As(err, &dns) && dns.IsNotFound:
		return sesmail.Blocked, 0
	}
	return sesmail.Transient, 0
}

func fail(step string, err error) *Error {
	class, code := classify(step, err)
	return &Error{Step: step, Code: code, Class: class, Err: err}
}

// Send sends m to its recipients in one SMTP transaction and returns the
// Message-ID it gave the message. Every error is an *Error.
func (s *Sender) Send(ctx context.Context, m sesmail.Message) (string, error) {
	if m.From == "" {
		m.From = s.from
	}
	from, to, err := check(m)
	if err != nil {
		return "", err
	}
	id := messageID(from.Address)
	raw, err := build(m, from, to, id, s.now())
	if err != nil {
		return "", &Error{Step: "message", Class: sesmail.Refused, Err: err}
	}

	deadline, ok := ctx.Deadline()
	if !ok {
		timeout := s.cfg.Timeout
		if timeout <= 0 {
			timeout = 60 * time.Second
		}
		deadline = time.Now().Add(timeout)
	}
	addr := net.JoinHostPort(s.cfg.Host, s.cfg.Port)
	conn, err := (&net.Dialer{Deadline: deadline}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fail("connect", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	// a canceled context ends the conversation at once
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	ctxErr := func(step string, err error) *Error {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return fail(step, err)
	}

	tlsConfig := &tls.Config{ServerName: s.cfg.Host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	if s.cfg.Security == ImplicitTLS {
		tc := tls.Client(conn, tlsConfig)
		if err := tc.HandshakeContext(ctx); err != nil {
			return "", ctxErr("tls", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		return "", ctxErr("hello", err)
	}
	defer c.Close()
	if err := c.Hello(s.helloName()); err != nil {
		return "", ctxErr("hello", err)
	}
	if s.cfg.Security == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return "", &Error{Step: "starttls", Class: sesmail.Blocked,
				Err: fmt.Errorf("%s does not offer STARTTLS, which smtp:// requires (smtps:// is TLS from the first byte; ?tls=none is for a relay on this machine)", addr)}
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return "", ctxErr("starttls", err)
		}
	}
	if s.cfg.Username != "" {
		auth, err := s.auth(c)
		if err != nil {
			return "", &Error{Step: "auth", Class: sesmail.Blocked, Err: err}
		}
		if err := c.Auth(auth); err != nil {
			return "", ctxErr("auth", err)
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return "", ctxErr("mail from", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return "", ctxErr("rcpt to", fmt.Errorf("<%s>: %w", a.Address, err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return "", ctxErr("data", err)
	}
	if _, err := w.Write(raw); err != nil {
		return "", ctxErr("message", err)
	}
	if err := w.Close(); err != nil { // the server's verdict on the message
		return "", ctxErr("message", err)
	}
	_ = c.Quit() // the message is accepted; a failed goodbye changes nothing
	return id, nil
}

func (s *Sender) helloName() string {
	if s.cfg.HelloName != "" {
		return s.cfg.HelloName
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// auth picks the first of PLAIN, LOGIN and CRAM-MD5 the server offers.
func (s *Sender) auth(c *smtp.Client) (smtp.Auth, error) {
	ok, offered := c.Extension("AUTH")
	if !ok {
		return nil, fmt.Errorf("COUNTERSIGN_SMTP_URL has a user name, but the server offers no AUTH")
	}
	mechs := strings.Fields(strings.ToUpper(offered))
	has := func(m string) bool {
		for _, x := range mechs {
			if x == m {
				return true
			}
		}
		return false
	}
	switch {
	case has("PLAIN"):
		return smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host), nil
	case has("LOGIN"):
		return &loginAuth{user: s.cfg.Username, pass: s.cfg.Password, host: s.cfg.Host}, nil
	case has("CRAM-MD5"):
		return smtp.CRAMMD5Auth(s.cfg.Username, s.cfg.Password), nil
	}
	return nil, fmt.Errorf("the server offers AUTH %s; Countersign speaks PLAIN, LOGIN and CRAM-MD5", offered)
}

// loginAuth is AUTH LOGIN (not in net/smtp, offered alone by some
// providers): the user name and the password, each when asked. Like
// net/smtp's PLAIN, it sends nothing without TLS unless the server is this
// machine.
type loginAuth struct {
	user, pass, host string
	step             int
}

func (a *loginAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !Loopback(server.Name) {
		return "", nil, errors.New("smtpmail: refusing to send the password over a connection without TLS")
	}
	if server.Name != a.host {
		return "", nil, errors.New("smtpmail: wrong host name")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	switch prompt := strings.ToLower(strings.TrimSpace(string(fromServer))); {
	case strings.HasPrefix(prompt, "user"), prompt == "" && a.step == 1:
		return []byte(a.user), nil
	case strings.HasPrefix(prompt, "pass"), prompt == "" && a.step == 2:
		return []byte(a.pass), nil
	}
	return nil, fmt.Errorf("smtpmail: unexpected AUTH LOGIN challenge %q", fromServer)
}

// check parses m's addresses and checks its parts, as sesmail does before
// calling SES: an error wraps sesmail.ErrInvalidMessage; a bad sender
// blocks every message, anything else refuses this one.
func check(m sesmail.Message) (*mail.Address, []*mail.Address, error) {
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, nil, &Error{Step: "message", Class: sesmail.Blocked, Err: fmt.Errorf("%w: From address %q: %v", sesmail.ErrInvalidMessage, m.From, err)}
	}
	var problems []string
	if len(m.To) == 0 {
		problems = append(problems, "no recipient")
	}
	var to []*mail.Address
	for _, r := range m.To {
		a, err := mail.ParseAddress(r)
		if err != nil {
			problems = append(problems, fmt.Sprintf("recipient %q: %v", r, err))
			continue
		}
		to = append(to, a)
	}
	switch {
	case strings.TrimSpace(m.Subject) == "":
		problems = append(problems, "empty subject")
	case strings.ContainsAny(m.Subject, "\r\n"):
		problems = append(problems, "subject has a line break")
	}
	if strings.TrimSpace(m.Text) == "" {
		problems = append(problems, "empty text part")
	}
	if strings.TrimSpace(m.HTML) == "" {
		problems = append(problems, "empty HTML part")
	}
	if len(problems) > 0 {
		return nil, nil, &Error{Step: "message", Class: sesmail.Refused, Err: fmt.Errorf("%w: %s", sesmail.ErrInvalidMessage, strings.Join(problems, "; "))}
	}
	return from, to, nil
}

// messageID is a new Message-ID in the sender's domain.
func messageID(from string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	domain := "countersign.invalid"
	if at := strings.LastIndexByte(from, '@'); at >= 0 && at < len(from)-1 {
		domain = from[at+1:]
	}
	return hex.EncodeToString(b[:]) + "@" + domain
}

// build writes the message: UTF-8 headers (RFC 2047 where needed), and a
// multipart/alternative body of the plain text and the HTML, each
// quoted-printable (7-bit, lines within limits, whatever the content).
func build(m sesmail.Message, from *mail.Address, to []*mail.Address, id string, date time.Time) ([]byte, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", strings.Join(tos, ", "))
	// encoded words folded onto lines of their own (the blank between two
	// of them is not part of the subject)
	header("Subject", strings.ReplaceAll(mime.QEncoding.Encode("utf-8", m.Subject), "?= =?", "?=\r\n =?"))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+">")
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
