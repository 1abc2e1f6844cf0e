package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/console"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// Rendering budget: a console page, on the server, from the request to
// the last byte, with 1 000 flags and 1 000 change requests in the store
// (issue 12: under 20 ms). scripts/test.sh runs these benchmarks and they
// fail over the budget; docs/benchmarks.md has the figures.
//
//	go test -run '^$' -bench Console -benchtime 20x ./internal/console/
const pageBudget = 20 * time.Millisecond

// benchWorld is a store with 1 000 flags in project "shop" and, in gated
// production, 1 000 change requests: 100 pending (all waiting on the
// reviewer whose pages are measured), 100 approved, 500 applied, 300
// withdrawn.
type benchWorld struct {
	srv      *httptest.Server
	cookie   *http.Cookie
	requests []string
}

var benchSeeded *benchWorld

func seedBench(b *testing.B) *benchWorld {
	b.Helper()
	if benchSeeded != nil {
		return benchSeeded
	}
	dir, err := osTempDir()
	if err != nil {
		b.Fatal(err)
	}
	store, err := boltstore.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	clk := clocktest.Clock(0, 9, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := app.New(store, clk, log)
	ctx := context.Background()
	if _, err := svc.Bootstrap(ctx, adminToken); err != nil {
		b.Fatal(err)
	}
	admin, _ := svc.Authenticate(ctx, adminToken)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	_, err = svc.CreateProject(ctx, admin, app.ProjectInput{Key: "shop", Name: "Shop"})
	must(err)
	_, err = svc.UpdateOrgSettings(ctx, admin, nil, app.OrgSettingsInput{Approvals: true})
	must(err)
	mk := func(email string) *domain.Member {
		m, err := svc.CreateMember(ctx, admin, app.MemberInput{Email: email, Name: strings.Split(email, "@")[0], Role: domain.RoleEditor})
		must(err)
		return m
	}
	req, rev := mk("rita@example.com"), mk("rex@example.com")
	rp, vp := &app.Principal{MemberID: req.ID, Role: req.Role}, &app.Principal{MemberID: rev.ID, Role: rev.Role}
	w := &benchWorld{}
	for i := range 1000 {
		key := fmt.Sprintf("flag-%04d", i)
		_, err := svc.CreateFlag(ctx, admin, "shop", app.FlagInput{Key: key, Name: "Flag " + key, Tags: []string{fmt.Sprintf("team-%d", i%7)},
			Variants: []domain.Variant{{Key: "on", Value: json.RawMessage("true")}, {Key: "control", Value: json.RawMessage("false")}}})
		must(err)
		out, err := svc.ChangeFlagConfig(ctx, rp, "shop", key, "production", nil, app.ChangeOptions{Title: "Roll out " + key},
			func(c *domain.FlagConfig) error {
				c.Enabled = true
				c.Rules = []domain.Rule{{Name: "beta", Conditions: []domain.Condition{{Attribute: "plan", Operator: domain.OpIn, Values: []string{"beta", "pro"}}},
					Allocation: domain.Allocation{Rollout: 25, Weights: []domain.Weight{{Variant: "on", Weight: 1}, {Variant: "control", Weight: 3}}}}}
				return nil
			})
		must(err)
		id := out.Request.ID
		w.requests = append(w.requests, id)
		switch i % 10 {
		case 0: // 100 pending
		case 1, 2, 3: // 300 withdrawn
			_, err := svc.Withdraw(ctx, rp, id)
			must(err)
		default: // 600 approved, 500 of them applied
			_, err := svc.Review(ctx, vp, id, domain.DecisionApprove, "ok", app.ChannelAPI)
			must(err)
			if i%10 != 4 {
				_, err := svc.Apply(ctx, rp, id)
				must(err)
			}
		}
	}
	api := httpapi.New(svc, log)
	api.SetConsole(console.New(svc, api, log))
	w.srv = httptest.NewServer(api)
	// the reviewer's session, from a sign-in link
	tok, _, err := svc.IssueSignInLink(ctx, rev.ID, domain.LinkSignIn)
	must(err)
	ns, err := svc.SignInWithLink(ctx, tok, "bench")
	must(err)
	w.cookie = &http.Cookie{Name: httpapi.SessionCookie, Value: ns.Secret}
	benchSeeded = w
	return w
}

func benchPage(b *testing.B, path string) {
	w := seedBench(b)
	h := w.srv.Config.Handler
	run := func() int {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(w.cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
		return rec.Body.Len()
	}
	size := run()
	b.ResetTimer()
	times := make([]time.Duration, 0, b.N)
	for range b.N {
		start := time.Now() // wall clock: the time one page takes
		run()
		times = append(times, time.Since(start)) // wall clock: the time one page takes
	}
	b.StopTimer()
	slices.Sort(times)
	median, worst := times[len(times)/2], times[len(times)-1]
	b.ReportMetric(float64(median.Microseconds())/1000, "ms/page")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
	b.ReportMetric(float64(size)/1024, "KB")
	// The budget holds for the median page of the measured run (the probe
	// run, b.N = 1, times one cold page): a page the garbage collector or
	// another process on the machine interrupts is the worst, reported
	// beside it.
	if b.N >= 10 && median > pageBudget {
		b.Errorf("GET %s takes %v (median of %d), over the %v budget", path, median, b.N, pageBudget)
	}
}

func BenchmarkConsoleInbox(b *testing.B)       { benchPage(b, "/") }
func BenchmarkConsoleRequestList(b *testing.B) { benchPage(b, "/requests?status=pending") }
func BenchmarkConsoleRequestPage(b *testing.B) { benchPage(b, "/requests/"+seedBench(b).requests[510]) }
func BenchmarkConsoleFlagList(b *testing.B)    { benchPage(b, "/projects/shop") }
func BenchmarkConsoleFlagSearch(b *testing.B) {
	benchPage(b, "/projects/shop?q="+url.QueryEscape("flag-09"))
}
func BenchmarkConsoleFlagPage(b *testing.B) { benchPage(b, "/projects/shop/flags/flag-0500") }
func BenchmarkConsoleTargetingEdit(b *testing.B) {
	benchPage(b, "/projects/shop/flags/flag-0500/targeting/production")
}
func BenchmarkConsoleAudit(b *testing.B) { benchPage(b, "/audit") }

// osTempDir is a directory for the benchmark's store, kept for the whole
// run (b.TempDir would go with the first benchmark).
func osTempDir() (string, error) { return os.MkdirTemp("", "countersign-console-bench-") }
