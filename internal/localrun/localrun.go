// Package localrun is the one-process runtime behind `make run`: the same
// HTTP handler the Lambda functions serve, on a local listener, with the
// timer sweep on an in-process ticker.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/devtools"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/notify/catcher"
	"github.com/countersign/countersign/internal/notify/eventbus"
	"github.com/countersign/countersign/internal/notify/sesmail"
	"github.com/countersign/countersign/internal/notify/smtpmail"
	"github.com/countersign/countersign/internal/setup"
	"github.com/countersign/countersign/internal/setup/localaws"
)

// Run serves until ctx ends. Logs go to logs; the one-time bootstrap token
// banner goes to console.
func Run(ctx context.Context, cfg config.Config, logs, console io.Writer) error {
	log := cfg.Logger(logs)
	store, closeStore, err := setup.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()

	// The whole service reads time from this one clock; in development runs
	// it can be moved through /dev/clock.
	var clk clock.Clock = clock.System{}
	var devClock *clock.Manual
	// The development clock's offset is kept in the data directory: timers
	// and outbox items written under a moved clock would otherwise wait,
	// after a restart, for real time to catch up with them.
	clockFile := filepath.Join(cfg.DataDir, "dev-clock-offset")
	if cfg.Dev {
		offset, err := readClockOffset(clockFile)
		if err != nil {
			return err
		}
		devClock = clock.NewOffsetBy(offset)
		clk = devClock
	}
	svc, api := setup.API(store, clk, log)
	keyFile := filepath.Join(cfg.DataDir, "link.key")
	if err := setup.Links(cfg, svc, keyFile); err != nil {
		return err
	}
	if err := setup.Identity(ctx, cfg, svc, api, clk, log, keyFile); err != nil {
		return err
	}

	// E-mail goes through an SMTP server (COUNTERSIGN_SMTP_URL) or SES
	// (COUNTERSIGN_SES_ENDPOINT), else to the built-in catcher (/dev/mail);
	// domain events are logged and listed at /dev/events.
	mailbox := catcher.New(cfg.MailFrom, clk.Now)
	mailer, err := mailerFor(ctx, cfg, mailbox, log)
	if err != nil {
		return err
	}
	caught := mailer == notify.Mailer(mailbox)
	events := eventbus.NewLogPublisher(log, 500)
	notifier := notify.New(store, svc, mailer, events, clk, log, cfg.MailFrom, cfg.BaseURL)
	boot, err := svc.BootstrapAdmin(ctx, app.BootstrapInput{Token: cfg.AdminToken, Email: cfg.AdminEmail})
	if err != nil {
		return fmt.Errorf("bootstrap the first admin: %w", err)
	}
	if boot.Secret != "" && cfg.AdminToken == "" {
		fmt.Fprintf(console, "\n  Countersign created the first admin. Its API token, shown only this once:\n\n    %s\n\n  Use it as: curl -H 'Authorization: Bearer %s' http://%s/v1/projects\n\n", boot.Secret, boot.Secret, cfg.Addr)
	}
	// In development mode, a first admin made without an address gets a
	// sign-in link for the console right here (later ones come from /login,
	// by mail to the catcher, for admin@localhost.localdomain).
	firstSignIn := ""
	if cfg.Dev && boot.Member != "" && boot.Invited == "" {
		tok, _, err := svc.IssueSignInLink(ctx, boot.Member, domain.LinkInvitation)
		if err != nil {
			return fmt.Errorf("a sign-in link for the first admin: %w", err)
		}
		firstSignIn = "/signin/" + tok
	}
	if boot.Invited != "" {
		where := "in that inbox"
		if cfg.Dev && caught {
			where = "in the mail catcher, " + strings.TrimRight(cfg.BaseURL, "/") + "/dev/mail"
		}
		fmt.Fprintf(console, "\n  Countersign created the first admin, %s, and sent an invitation: open it %s.\n\n", boot.Invited, where)
	}

	sweeper := newSweeper(svc, notifier, log)
	mux := http.NewServeMux()
	// The /dev routes show every e-mail (with working action links) and
	// every event to whoever asks, so they exist only in development mode,
	// which listens on loopback unless forced (config.FromEnv).
	if cfg.Dev {
		dev := func(h http.Handler) http.Handler { return loopbackHostOnly(h, cfg.DevAnyAddress) }
		mux.Handle("/dev/mail", dev(mailbox.Handler()))
		mux.Handle("/dev/mail/", dev(mailbox.Handler()))
		mux.Handle("/dev/mail.json", dev(mailbox.Handler()))
		mux.Handle("GET /dev/events", dev(devtools.EventsHandler(events)))
		moved := func() {
			if err := writeClockOffset(clockFile, devClock.Offset()); err != nil {
				log.Error("keeping the development clock's offset failed", "file", clockFile, "err", err)
			}
			sweeper.now()
		}
		mux.Handle("/dev/clock", dev(devtools.ClockHandler(devClock, moved)))
		log.Warn("development mode: /dev/mail shows every e-mail and /dev/clock moves the service's clock; never use COUNTERSIGN_DEV=1 for a team")
	} else {
		// not even the console's sign-in redirect: there is nothing here
		mux.Handle("/dev/", http.NotFoundHandler())
	}
	if !cfg.Dev && caught {
		log.Warn("e-mail is not delivered: set COUNTERSIGN_SMTP_URL to send it through an SMTP server (or COUNTERSIGN_SES_ENDPOINT, SES), or COUNTERSIGN_DEV=1 to read it in the mail catcher on this machine")
	}
	// evaluation (OFREP and the ruleset route) is its own handler, as it is
	// its own Lambda on AWS
	evh := evaluate.NewHandler(evaluate.New(store, clk, cfg.RulesetRefresh), log)
	mux.Handle("/ofrep/", evh)
	mux.Handle("GET /v1/projects/{project}/environments/{environment}/ruleset", evh)
	mux.Handle("/", api)
	handler := http.Handler(mux)

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (set COUNTERSIGN_ADDR to use another address): %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
	}
	log.Info("countersign listening", "addr", ln.Addr().String(), "store", cfg.Store, "data_dir", cfg.DataDir, "timer_interval", cfg.TimerInterval.String(), "dev", cfg.Dev)
	banner(console, cfg, "http://"+ln.Addr().String(), firstSignIn)

	runCtx, stopTimers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { sweeper.run(runCtx, cfg.TimerInterval) })
	defer func() { stopTimers(); wg.Wait() }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loopbackHostOnly serves h only to requests addressed to a loopback name
// (localhost, 127.0.0.1, [::1]). Listening on loopback is not enough: a web
// page can point its own domain at 127.0.0.1 (DNS rebinding) and read the
// caught mail through the browser; such requests carry the page's host
// name. Forced onto another address (COUNTERSIGN_DEV_ANY_ADDRESS), the
// operator has chosen to expose the routes.
func loopbackHostOnly(h http.Handler, anyAddress bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if _, _, err := net.SplitHostPort(host); err != nil {
			host = net.JoinHostPort(strings.Trim(host, "[]"), "0")
		}
		if !anyAddress && !config.Loopback(host) {
			http.Error(w, "development routes answer only to localhost, 127.0.0.1 or [::1]", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// banner tells the person who started the process where to go; with a
// first sign-in link (development mode, a fresh store), how to get in.
func banner(w io.Writer, cfg config.Config, base, firstSignIn string) {
	if !cfg.Dev {
		fmt.Fprintf(w, "\n  Countersign is running at %s/ (the console; the API is under /v1/)\n\n", base)
		return
	}
	fmt.Fprintf(w, "\n  Countersign is running in development mode.\n\n"+
		"    Console:       %[1]s/\n"+
		"    Mail catcher:  %[1]s/dev/mail    every e-mail it sends, with working links\n"+
		"    Events:        %[1]s/dev/events\n"+
		"    Dev clock:     %[1]s/dev/clock   move time to see timers fire\n\n", base)
	if firstSignIn != "" {
		fmt.Fprintf(w, "  Sign in to the console as the first admin (this link works once, for 72 hours):\n\n"+
			"    %s%s\n\n", base, firstSignIn)
	} else {
		fmt.Fprintf(w, "  Sign in at %s/login: the link arrives in the mail catcher (the first admin\n"+
			"  is admin@localhost.localdomain unless COUNTERSIGN_ADMIN_EMAIL said otherwise).\n\n", base)
	}
	fmt.Fprint(w, "  The mail catcher is for trying Countersign on one machine. A team running\n"+
		"  this process for real sets COUNTERSIGN_DEV=0 and sends e-mail through an\n"+
		"  SMTP server (COUNTERSIGN_SMTP_URL) or SES; see the README.\n\n")
}

// mailerFor is where e-mail goes: an SMTP server when COUNTERSIGN_SMTP_URL
// is set, SES when COUNTERSIGN_SES_ENDPOINT is (config.FromEnv refuses
// both), else the catcher.
func mailerFor(ctx context.Context, cfg config.Config, mailbox *catcher.Catcher, log *slog.Logger) (notify.Mailer, error) {
	switch {
	case cfg.SMTPURL != "":
		sc, err := smtpmail.ParseURL(cfg.SMTPURL, cfg.SMTPPassword)
		if err != nil {
			return nil, err
		}
		if cfg.SMTPCAFile != "" {
			if err := sc.LoadCAFile(cfg.SMTPCAFile); err != nil {
				return nil, err
			}
		}
		log.Info("e-mail goes through SMTP", "smtp", sc.String(), "from", cfg.MailFrom)
		return smtpmail.New(sc, cfg.MailFrom), nil
	case cfg.SESEndpoint != "":
		client, err := localaws.SES(ctx, cfg.SESEndpoint, "")
		if err != nil {
			return nil, err
		}
		log.Info("e-mail goes through SES", "endpoint", cfg.SESEndpoint, "from", cfg.MailFrom)
		return sesmail.New(client, cfg.MailFrom, cfg.SESConfigSet), nil
	}
	return mailbox, nil
}

// sweeper runs the timer sweep and the outbox dispatcher on a ticker, and
// at once when asked.
type sweeper struct {
	svc      *app.Service
	notifier *notify.Notifier
	log      *slog.Logger
	kick     chan struct{}
}

func newSweeper(svc *app.Service, n *notify.Notifier, log *slog.Logger) *sweeper {
	return &sweeper{svc: svc, notifier: n, log: log, kick: make(chan struct{}, 1)}
}

// now asks for a sweep without waiting for the next tick.
func (s *sweeper) now() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *sweeper) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		if _, err := s.svc.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("timer sweep failed", "err", err)
		}
		if _, _, err := s.notifier.Drain(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("outbox delivery failed", "err", err)
		}
	}
}

// readClockOffset reads the development clock's kept offset (0 when none
// was kept).
func readClockOffset(file string) (time.Duration, error) {
	raw, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the development clock's offset: %w", err)
	}
	d, err := time.ParseDuration(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("the development clock's offset in %s is not a duration (delete the file to start from real time): %w", file, err)
	}
	return d, nil
}

// writeClockOffset keeps the development clock's offset, replacing the
// file whole (a crash leaves the old offset or the new one).
func writeClockOffset(file string, d time.Duration) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, []byte(d.String()+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
