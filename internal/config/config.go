// Package config reads Countersign's configuration from the environment.
// Every variable is listed in the README's configuration table.
package config

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/countersign/countersign/internal/metrics"
)

// Config is the whole configuration of a process.
type Config struct {
	Addr           string        // COUNTERSIGN_ADDR: local listen address
	DataDir        string        // COUNTERSIGN_DATA_DIR: embedded store directory
	AdminToken     string        // COUNTERSIGN_ADMIN_TOKEN: bootstrap token to use instead of a generated one
	Store          string        // COUNTERSIGN_STORE: bolt | dynamodb
	Table          string        // COUNTERSIGN_TABLE: DynamoDB table name
	DynamoEndpoint string        // COUNTERSIGN_DYNAMODB_ENDPOINT: e.g. DynamoDB Local
	LogLevel       string        // COUNTERSIGN_LOG_LEVEL: debug | info | warn | error
	Stage          string        // COUNTERSIGN_STAGE: deployment stage name, for logs
	Dev            bool          // COUNTERSIGN_DEV: development mode: the /dev routes (mail catcher, events, clock) and a movable clock
	DevAnyAddress  bool          // COUNTERSIGN_DEV_ANY_ADDRESS: let development mode listen on an address other than loopback
	TimerInterval  time.Duration // COUNTERSIGN_TIMER_INTERVAL: how often the local runtime sweeps timers
	BaseURL        string        // COUNTERSIGN_BASE_URL: public address e-mail links point to
	MailFrom       string        // COUNTERSIGN_MAIL_FROM: sender of e-mail
	SESEndpoint    string        // COUNTERSIGN_SES_ENDPOINT: send e-mail through this SES endpoint (local runs: instead of the catcher)
	SESConfigSet   string        // COUNTERSIGN_SES_CONFIGURATION_SET
	// SMTPURL sends the single process's e-mail through an SMTP server
	// (COUNTERSIGN_SMTP_URL: smtp://[user[:password]@]host[:port] with
	// STARTTLS, smtps://… with TLS, smtp://…?tls=none to a relay on this
	// machine; smtpmail.ParseURL reads it when the mailer is built).
	SMTPURL        string
	SMTPPassword   string        // COUNTERSIGN_SMTP_PASSWORD: the SMTP password, instead of the URL's
	SMTPCAFile     string        // COUNTERSIGN_SMTP_CA_FILE: PEM certificates trusted for the SMTP server, besides the system's
	EventBus       string        // COUNTERSIGN_EVENT_BUS: EventBridge bus of domain events (AWS)
	LinkKey        string        // COUNTERSIGN_LINK_KEY: hex HMAC key of e-mail action links (local runs: a generated file)
	RulesetRefresh time.Duration // COUNTERSIGN_RULESET_REFRESH: how stale an evaluator's cached ruleset may be

	AdminEmail      string        // COUNTERSIGN_ADMIN_EMAIL: on an empty store, the first admin is created with this address and invited
	SessionIdle     time.Duration // COUNTERSIGN_SESSION_IDLE: a session ends after this long without use
	SessionLifetime time.Duration // COUNTERSIGN_SESSION_LIFETIME: a session ends this long after sign-in at the latest
	// Sign-in with an OpenID provider (COUNTERSIGN_OIDC_*) is read by the
	// processes that serve sign-in (internal/setup/apiwire.OIDCFromEnv), so
	// that this package, which every process links, links no adapter.
}

// Store kinds.
const (
	StoreBolt     = "bolt"
	StoreDynamoDB = "dynamodb"
)

// FromEnv reads the configuration; defaults suit a local run, and
// defaultStore is the store used when COUNTERSIGN_STORE is unset.
func FromEnv(getenv func(string) string, defaultStore string) (Config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := Config{
		Addr:           get("COUNTERSIGN_ADDR", "127.0.0.1:8080"),
		DataDir:        get("COUNTERSIGN_DATA_DIR", ".data"),
		AdminToken:     get("COUNTERSIGN_ADMIN_TOKEN", ""),
		Store:          get("COUNTERSIGN_STORE", defaultStore),
		Table:          get("COUNTERSIGN_TABLE", "countersign"),
		DynamoEndpoint: get("COUNTERSIGN_DYNAMODB_ENDPOINT", ""),
		LogLevel:       get("COUNTERSIGN_LOG_LEVEL", "info"),
		Stage:          get("COUNTERSIGN_STAGE", "local"),
	}
	switch v := get("COUNTERSIGN_DEV", "0"); v {
	case "1", "true":
		c.Dev = true
	case "0", "false":
	default:
		return c, fmt.Errorf("COUNTERSIGN_DEV must be 1 or 0, not %q", v)
	}
	switch v := get("COUNTERSIGN_DEV_ANY_ADDRESS", "0"); v {
	case "1", "true":
		c.DevAnyAddress = true
	case "0", "false":
	default:
		return c, fmt.Errorf("COUNTERSIGN_DEV_ANY_ADDRESS must be 1 or 0, not %q", v)
	}
	if c.Dev && !c.DevAnyAddress && !Loopback(c.Addr) {
		return c, fmt.Errorf("COUNTERSIGN_DEV=1 serves every e-mail and event unauthenticated under /dev, so it listens on loopback only, not on COUNTERSIGN_ADDR=%q; "+
			"use 127.0.0.1:PORT, or set COUNTERSIGN_DEV_ANY_ADDRESS=1 if you really mean to expose it", c.Addr)
	}
	iv, err := time.ParseDuration(get("COUNTERSIGN_TIMER_INTERVAL", "1s"))
	if err != nil || iv < 10*time.Millisecond {
		return c, fmt.Errorf("COUNTERSIGN_TIMER_INTERVAL must be a duration of at least 10ms, like 1s")
	}
	c.TimerInterval = iv
	c.BaseURL = get("COUNTERSIGN_BASE_URL", "http://"+c.Addr)
	c.MailFrom = get("COUNTERSIGN_MAIL_FROM", "countersign@localhost.localdomain")
	c.SESEndpoint = get("COUNTERSIGN_SES_ENDPOINT", "")
	c.SESConfigSet = get("COUNTERSIGN_SES_CONFIGURATION_SET", "")
	c.SMTPURL = get("COUNTERSIGN_SMTP_URL", "")
	c.SMTPPassword = getenv("COUNTERSIGN_SMTP_PASSWORD") // as given: a password may begin or end with a blank
	c.SMTPCAFile = get("COUNTERSIGN_SMTP_CA_FILE", "")
	if c.SMTPURL != "" {
		// the whole URL is checked where the mailer is built (smtpmail,
		// which the Lambda functions do not link); the mistakes here are
		// the ones that would send mail elsewhere than meant
		if !strings.HasPrefix(c.SMTPURL, "smtp://") && !strings.HasPrefix(c.SMTPURL, "smtps://") {
			return c, fmt.Errorf("COUNTERSIGN_SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (TLS)")
		}
		if c.SESEndpoint != "" {
			return c, fmt.Errorf("COUNTERSIGN_SMTP_URL and COUNTERSIGN_SES_ENDPOINT are both set: e-mail goes through one of them; unset the other")
		}
	} else if c.SMTPPassword != "" || c.SMTPCAFile != "" {
		return c, fmt.Errorf("COUNTERSIGN_SMTP_PASSWORD or COUNTERSIGN_SMTP_CA_FILE is set without COUNTERSIGN_SMTP_URL")
	}
	c.EventBus = get("COUNTERSIGN_EVENT_BUS", "")
	c.LinkKey = get("COUNTERSIGN_LINK_KEY", "")
	rr, err := time.ParseDuration(get("COUNTERSIGN_RULESET_REFRESH", "5s"))
	if err != nil || rr < 0 {
		return c, fmt.Errorf("COUNTERSIGN_RULESET_REFRESH must be a duration like 5s")
	}
	c.RulesetRefresh = rr
	c.AdminEmail = get("COUNTERSIGN_ADMIN_EMAIL", "")
	if c.AdminEmail != "" {
		if a, err := mail.ParseAddress(c.AdminEmail); err != nil || a.Address != c.AdminEmail {
			return c, fmt.Errorf("COUNTERSIGN_ADMIN_EMAIL must be a plain e-mail address like ada@example.com, not %q", c.AdminEmail)
		}
	}
	if c.SessionIdle, err = positiveDuration(get("COUNTERSIGN_SESSION_IDLE", "12h"), "COUNTERSIGN_SESSION_IDLE", "12h"); err != nil {
		return c, err
	}
	if c.SessionLifetime, err = positiveDuration(get("COUNTERSIGN_SESSION_LIFETIME", "168h"), "COUNTERSIGN_SESSION_LIFETIME", "168h"); err != nil {
		return c, err
	}
	if c.SessionIdle > c.SessionLifetime {
		return c, fmt.Errorf("COUNTERSIGN_SESSION_IDLE (%s) must not be longer than COUNTERSIGN_SESSION_LIFETIME (%s)", c.SessionIdle, c.SessionLifetime)
	}
	if c.Store != StoreBolt && c.Store != StoreDynamoDB {
		return c, fmt.Errorf("COUNTERSIGN_STORE must be %q or %q, not %q", StoreBolt, StoreDynamoDB, c.Store)
	}
	if _, err := c.level(); err != nil {
		return c, err
	}
	return c, nil
}

func positiveDuration(v, name, example string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("%s must be a duration of at least 1m, like %s, not %q", name, example, v)
	}
	return d, nil
}

// Loopback reports whether the listen address addr (host:port) accepts
// connections from this machine only: an IP loopback address or
// "localhost". An empty host listens on every interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c Config) level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return l, fmt.Errorf("COUNTERSIGN_LOG_LEVEL must be debug, info, warn or error, not %q", c.LogLevel)
	}
	return l, nil
}

// Logger returns the structured JSON logger the configuration asks for.
// Every line names the stage and, with the DynamoDB store, the table: the
// dimension of the custom metrics (internal/metrics), which tells one
// stack's from another's in a shared account.
func (c Config) Logger(w io.Writer) *slog.Logger {
	l, _ := c.level()
	log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("stage", c.Stage)
	if c.Table != "" {
		log = log.With(metrics.Dimension, c.Table)
	}
	return log
}
