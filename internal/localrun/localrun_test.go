package localrun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/localrun"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the local runtime until the returned stop is called.
func start(t *testing.T, cfg config.Config) (console *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	console = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- localrun.Run(ctx, cfg, io.Discard, console) }()
	deadline := time.Now().Add(10 * time.Second) // wall clock: a deadline for polling the running process
	for {
		res, err := http.Get("http://" + cfg.Addr + "/healthz")
		if err == nil {
			res.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("runtime stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) { // wall clock: a deadline for polling the running process
			t.Fatal("runtime did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return console, func() {
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("runtime stopped with %v", err)
		}
	}
}

func call(t *testing.T, method, url, token, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// The first start prints a token once; data written survives a restart.
func TestFirstStartTokenAndDurability(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.FromEnv(func(string) string { return "" }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DataDir, cfg.Addr = dir, freeAddr(t)
	base := "http://" + cfg.Addr

	console, stop := start(t, cfg)
	m := regexp.MustCompile(`cs_[a-z2-7]{52}`).FindString(console.String())
	if m == "" {
		t.Fatalf("no token printed on first start: %q", console.String())
	}
	if got := call(t, "POST", base+"/v1/projects", m, `{"key":"shop","name":"Shop"}`); got != 201 {
		t.Fatalf("create project: %d", got)
	}
	stop()

	console, stop = start(t, cfg)
	defer stop()
	if strings.Contains(console.String(), "cs_") {
		t.Fatal("a token must be printed only on the first start")
	}
	if got := call(t, "GET", base+"/v1/projects/shop", m, ""); got != 200 {
		t.Fatalf("after restart the project should be there, got %d", got)
	}
}

// COUNTERSIGN_ADMIN_TOKEN is used as the bootstrap token, and no token is
// printed: only where Countersign runs.
func TestConfiguredAdminToken(t *testing.T) {
	const tok = "scripted-admin-token-0123456789"
	env := map[string]string{"COUNTERSIGN_ADMIN_TOKEN": tok, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t)}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	console, stop := start(t, cfg)
	defer stop()
	if out := console.String(); strings.Contains(out, "token") || strings.Contains(out, tok) || !strings.Contains(out, "http://"+cfg.Addr+"/") {
		t.Fatalf("with a configured token only the address should be printed: %q", out)
	}
	if got := call(t, "GET", "http://"+cfg.Addr+"/v1/projects", tok, ""); got != 200 {
		t.Fatalf("configured token: %d", got)
	}
	if got := call(t, "GET", "http://"+cfg.Addr+"/v1/projects", tok+"x", ""); got != 401 {
		t.Fatalf("wrong token: %d", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for k, v := range map[string]string{"COUNTERSIGN_STORE": "postgres", "COUNTERSIGN_LOG_LEVEL": "loud"} {
		_, err := config.FromEnv(func(key string) string {
			if key == k {
				return v
			}
			return ""
		}, config.StoreBolt)
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: want an error naming the variable, got %v", k, v, err)
		}
	}
}

func jsonCall(t *testing.T, method, url, token, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// The walk: auto-approval after 48h, watched in seconds with the dev
// clock; the in-process ticker does the sweep.
func TestDevClockAutoApprovalEndToEnd(t *testing.T) {
	const tok = "dev-admin-token-0123456789abcdef"
	env := map[string]string{"COUNTERSIGN_ADMIN_TOKEN": tok, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t),
		"COUNTERSIGN_DEV": "1", "COUNTERSIGN_TIMER_INTERVAL": "100ms"}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	base := "http://" + cfg.Addr
	step := func(method, path, body string, want int, headers ...string) map[string]any {
		t.Helper()
		got, out := jsonCall(t, method, base+path, tok, body, headers...)
		if got != want {
			t.Fatalf("%s %s: want %d, got %d: %v", method, path, want, got, out)
		}
		return out
	}
	step("POST", "/v1/projects", `{"key":"shop","name":"Shop"}`, 201)
	step("POST", "/v1/projects/shop/flags", `{"key":"f","name":"F","variants":[{"key":"on","value":true}]}`, 201)
	// settings first: once approvals are on, these weaken them (a
	// governance request)
	s := step("GET", "/v1/projects/shop/environments/production/approval-settings", "", 200)
	s["auto_approve_after"] = "48h"
	s["allow_self_approval"] = true
	body, _ := json.Marshal(s)
	step("PUT", "/v1/projects/shop/environments/production/approval-settings", string(body), 200)
	step("PUT", "/v1/settings", `{"approvals":true,"version":0}`, 200)
	cr := step("PUT", "/v1/projects/shop/flags/f/environments/production", `{"enabled":true}`, 202, "If-Match", `"0"`)
	id := cr["id"].(string)

	before := step("GET", "/dev/clock", "", 200)["now"].(string)
	step("POST", "/dev/clock", `{"advance":"47h"}`, 200)
	time.Sleep(300 * time.Millisecond) // three ticks
	if got := step("GET", "/v1/change-requests/"+id, "", 200)["status"]; got != "pending" {
		t.Fatalf("at 47h: %v", got)
	}
	after := step("POST", "/dev/clock", `{"advance":"2h"}`, 200)["now"].(string)
	t0, _ := time.Parse(time.RFC3339Nano, before)
	t1, _ := time.Parse(time.RFC3339Nano, after)
	if d := t1.Sub(t0); d < 49*time.Hour || d > 49*time.Hour+time.Minute {
		t.Fatalf("the clock moved %v", d)
	}
	deadline := time.Now().Add(2 * time.Second) // wall clock: a deadline for polling the running process
	for {
		got := step("GET", "/v1/change-requests/"+id, "", 200)
		if got["status"] == "approved" {
			tl := got["timeline"].([]any)
			last := tl[len(tl)-1].(map[string]any)
			if last["actor"] != "system:auto-approval" {
				t.Fatalf("approved by %v", last["actor"])
			}
			break
		}
		if time.Now().After(deadline) { // wall clock: a deadline for polling the running process
			t.Fatalf("not auto-approved within the ticks: %v", got["status"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	step("POST", "/dev/clock", `{"advance":"-1h"}`, 422)
	step("POST", "/dev/clock", `{"warp":1}`, 400)
}

// Without development mode no /dev route exists: not the clock, and not the
// mail catcher or the event list, which would show anyone every reviewer's
// action links and every audit event.
func TestNoDevRoutesWithoutFlag(t *testing.T) {
	const tok = "plain-admin-token-0123456789abcdef"
	env := map[string]string{"COUNTERSIGN_ADMIN_TOKEN": tok, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t)}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	console, stop := start(t, cfg)
	defer stop()
	base := "http://" + cfg.Addr
	// a mail to catch, had the catcher been mounted
	if got := call(t, "POST", base+"/v1/members", tok, `{"email":"rev@example.com","name":"Rev","role":"editor"}`); got != 201 {
		t.Fatalf("add a member: %d", got)
	}
	for _, path := range []string{"/dev/mail", "/dev/mail/", "/dev/mail/1", "/dev/mail.json", "/dev/events", "/dev/clock", "/dev/anything"} {
		for _, m := range []string{"GET", "POST"} {
			for _, token := range []string{"", tok} {
				if got, _ := jsonCall(t, m, base+path, token, `{"advance":"1h"}`); got != 404 {
					t.Errorf("%s %s without COUNTERSIGN_DEV (token %q): %d, want 404", m, path, token, got)
				}
			}
		}
	}
	if out := console.String(); strings.Contains(out, "/dev/") || !strings.Contains(out, "Countersign is running at "+base+"/") {
		t.Errorf("the banner outside development mode names /dev routes or not the address:\n%s", out)
	}
}

// Development mode serves the catcher and says where it is, and it listens
// on loopback only unless forced.
func TestDevModeBannerAndLoopback(t *testing.T) {
	const tok = "dev-admin-token-0123456789abcdef"
	env := map[string]string{"COUNTERSIGN_ADMIN_TOKEN": tok, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t), "COUNTERSIGN_DEV": "1"}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	console, stop := start(t, cfg)
	base := "http://" + cfg.Addr
	// a fresh store in development mode: the banner has the first admin's
	// way into the console, a sign-in link that works
	link := regexp.MustCompile(regexp.QuoteMeta(base) + `/signin/[A-Za-z0-9_.-]+`).FindString(console.String())
	if link == "" {
		t.Fatalf("the development banner has no sign-in link for the first admin:\n%s", console.String())
	}
	res, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), "Administrator") {
		t.Fatalf("the banner's sign-in link: %d %s", res.StatusCode, page)
	}
	for _, path := range []string{"/dev/mail", "/dev/mail.json", "/dev/events", "/dev/clock"} {
		if got, _ := jsonCall(t, "GET", base+path, "", ""); got != 200 {
			t.Errorf("GET %s in development mode: %d", path, got)
		}
		for host, want := range map[string]int{"localhost": 200, "LOCALHOST:8080": 200, "[::1]:1": 200, "127.0.0.1": 200,
			"attacker.example": 403, "attacker.example:" + strings.Split(cfg.Addr, ":")[1]: 403, "127.0.0.1.nip.io": 403} {
			// a page that points its own name at 127.0.0.1 (DNS rebinding)
			// reaches the listener with its name in Host
			req, _ := http.NewRequest("GET", base+path, nil)
			req.Host = host
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if got := res.StatusCode; got != want {
				t.Errorf("GET %s with Host %s in development mode: %d, want %d", path, host, got, want)
			}
		}
	}
	stop()
	for _, want := range []string{"development mode", base + "/dev/mail", base + "/", "for trying Countersign on one machine", "COUNTERSIGN_DEV=0"} {
		if !strings.Contains(console.String(), want) {
			t.Errorf("the development banner lacks %q:\n%s", want, console.String())
		}
	}

	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "127.0.0.2:8080": true, "[::1]:8080": true, "localhost:8080": true, "LOCALHOST:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "192.168.1.10:8080": false, "example.com:8080": false, "8080": false,
	} {
		for _, forced := range []string{"", "1"} {
			env := map[string]string{"COUNTERSIGN_DEV": "1", "COUNTERSIGN_ADDR": addr, "COUNTERSIGN_DEV_ANY_ADDRESS": forced}
			_, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
			if want := ok || forced == "1"; (err == nil) != want {
				t.Errorf("COUNTERSIGN_DEV=1 COUNTERSIGN_ADDR=%s COUNTERSIGN_DEV_ANY_ADDRESS=%s: err %v, want accepted %v", addr, forced, err, want)
			} else if err != nil && !strings.Contains(err.Error(), "COUNTERSIGN_DEV_ANY_ADDRESS") {
				t.Errorf("the refusal does not say how to force it: %v", err)
			}
		}
		// outside development mode any address is allowed
		env := map[string]string{"COUNTERSIGN_ADDR": addr}
		if _, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt); err != nil {
			t.Errorf("COUNTERSIGN_ADDR=%s without development mode: %v", addr, err)
		}
	}
}

type caughtMail struct {
	ID      int      `json:"id"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	HTML    string   `json:"html"`
}

func mails(t *testing.T, base string) []caughtMail {
	t.Helper()
	res, err := http.Get(base + "/dev/mail.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out []caughtMail
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitMail waits for a message to addr whose subject contains subject.
func waitMail(t *testing.T, base, addr, subject string, skip int) caughtMail {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second) // wall clock: a deadline for polling the running process
	for {
		n := 0
		for _, m := range mails(t, base) {
			if len(m.To) == 1 && m.To[0] == addr && strings.Contains(m.Subject, subject) {
				if n == skip {
					return m
				}
				n++
			}
		}
		if time.Now().After(deadline) { // wall clock: a deadline for polling the running process
			t.Fatalf("no mail %q to %s (have %+v)", subject, addr, mails(t, base))
		}
		time.Sleep(30 * time.Millisecond)
	}
}

var linkRe = regexp.MustCompile(`(?m)^(Approve|Reject \(need changes\)|Apply now): (\S+)$`)

func linkOf(t *testing.T, m caughtMail, label string) string {
	for _, x := range linkRe.FindAllStringSubmatch(m.Text, -1) {
		if x[1] == label {
			return x[2]
		}
	}
	t.Fatalf("no %s link in %q", label, m.Text)
	return ""
}

func page(t *testing.T, method, url string, form url.Values) (int, string) {
	t.Helper()
	var res *http.Response
	var err error
	if method == "GET" {
		res, err = http.Get(url)
	} else {
		res, err = http.PostForm(url, form)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// The walk of an e-mail approval on the local runtime, through the
// mail catcher.
func TestEmailApprovalEndToEnd(t *testing.T) {
	const tok = "mail-admin-token-0123456789abcdef"
	env := map[string]string{"COUNTERSIGN_ADMIN_TOKEN": tok, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t),
		"COUNTERSIGN_DEV": "1", "COUNTERSIGN_TIMER_INTERVAL": "50ms"}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	base := "http://" + cfg.Addr
	step := func(method, path, body string, want int, headers ...string) map[string]any {
		t.Helper()
		got, out := jsonCall(t, method, base+path, tok, body, headers...)
		if got != want {
			t.Fatalf("%s %s: want %d, got %d: %v", method, path, want, got, out)
		}
		return out
	}
	step("POST", "/v1/members", `{"email":"rev@example.com","name":"Rev","role":"editor"}`, 201)
	step("POST", "/v1/projects", `{"key":"shop","name":"Shop"}`, 201)
	step("POST", "/v1/projects/shop/flags", `{"key":"f","name":"F","variants":[{"key":"on","value":true}]}`, 201)
	step("PUT", "/v1/settings", `{"approvals":true,"version":0}`, 200)
	cr := step("PUT", "/v1/projects/shop/flags/f/environments/production", `{"enabled":true}`, 202, "If-Match", `"0"`)
	id := cr["id"].(string)

	m := waitMail(t, base, "rev@example.com", "Review requested", 0)
	if !strings.Contains(m.Text, "targeting off → on") || !strings.Contains(m.HTML, "<li>targeting off → on</li>") {
		t.Fatalf("the mail shows the diff: %s", m.Text)
	}
	approve := linkOf(t, m, "Approve")

	// ten GETs (a mail scanner): nothing changes, the link stays valid
	var body string
	for range 10 {
		var code int
		code, body = page(t, "GET", approve, nil)
		if code != 200 || !strings.Contains(body, `<button type="submit" id="confirm">Approve</button>`) || strings.Contains(body, "<script") {
			t.Fatalf("confirmation page: %d %s", code, body)
		}
	}
	if got := step("GET", "/v1/change-requests/"+id, "", 200)["status"]; got != "pending" {
		t.Fatalf("GETs changed the request: %v", got)
	}
	csrf := csrfRe.FindStringSubmatch(body)[1]
	if code, _ := page(t, "POST", approve, url.Values{"csrf": {"wrong"}, "comment": {"ok"}}); code != 403 {
		t.Fatalf("a wrong CSRF token: %d", code)
	}
	if code, _ := page(t, "POST", approve, url.Values{"csrf": {csrf}, "comment": {""}}); code != 422 {
		t.Fatalf("a comment is required: %d", code)
	}
	code, body := page(t, "POST", approve, url.Values{"csrf": {csrf}, "comment": {"looks good from my inbox"}})
	if code != 200 || !strings.Contains(body, "approved") {
		t.Fatalf("approve: %d %s", code, body)
	}
	got := step("GET", "/v1/change-requests/"+id, "", 200)
	if got["status"] != "approved" {
		t.Fatalf("after the e-mail approval: %v", got["status"])
	}
	code, body = page(t, "POST", approve, url.Values{"csrf": {csrf}, "comment": {"again"}})
	if code != 409 || !strings.Contains(body, "already used") {
		t.Fatalf("a used link: %d %s", code, body)
	}
	// the audit says it came by e-mail
	audit := step("GET", "/v1/audit?project=shop", "", 200)
	found := false
	for _, e := range audit["items"].([]any) {
		e := e.(map[string]any)
		found = found || (e["action"] == "change_request.approved" && e["channel"] == "email")
	}
	if !found {
		t.Fatalf("the approval is audited with channel email: %v", audit)
	}
	// the requester hears of it, with an Apply now link
	admin := waitMail(t, base, "admin@localhost.localdomain", "Approved", 0)
	_ = linkOf(t, admin, "Apply now")

	// tampered
	if code, _ := page(t, "GET", approve[:len(approve)-3]+"xyz", nil); code != 403 {
		t.Fatalf("a tampered link: %d", code)
	}
	// an edit revokes the links of revision 1; the new revision's mail works
	cr2 := step("PUT", "/v1/projects/shop/flags/f/environments/staging", `{"enabled":true}`, 200, "If-Match", `"0"`)
	_ = cr2
	req2 := step("PATCH", "/v1/projects/shop/flags/f/environments/production", `{"sticky_bucketing":true}`, 202,
		"Content-Type", "application/merge-patch+json")
	id2 := req2["id"].(string)
	old := linkOf(t, waitMail(t, base, "rev@example.com", "Review requested", 1), "Approve")
	step("PATCH", "/v1/change-requests/"+id2, `{"title":"renamed"}`, 200, "Content-Type", "application/merge-patch+json")
	if code, body := page(t, "GET", old, nil); code != 410 || !strings.Contains(body, "edited") {
		t.Fatalf("a link of an edited request: %d %s", code, body)
	}
	fresh := linkOf(t, waitMail(t, base, "rev@example.com", "Review requested", 2), "Approve")
	if code, _ := page(t, "GET", fresh, nil); code != 200 {
		t.Fatalf("the new revision's link: %d", code)
	}
	// links expire (seven days)
	step("POST", "/dev/clock", `{"advance":"169h"}`, 200)
	if code, body := page(t, "GET", fresh, nil); code != 410 || !strings.Contains(body, "expired") {
		t.Fatalf("an expired link: %d %s", code, body)
	}
	// domain events were published
	res, err := http.Get(base + "/dev/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var evs struct {
		Items []map[string]any `json:"items"`
	}
	_ = json.NewDecoder(res.Body).Decode(&evs)
	types := map[string]bool{}
	for _, e := range evs.Items {
		types[e["type"].(string)] = true
	}
	for _, want := range []string{"change_request.created", "change_request.approved", "flag.changed", "settings.changed", "change_request.edited"} {
		if !types[want] {
			t.Errorf("no %s event among %v", want, types)
		}
	}
}

// The development clock's offset survives a restart: timers and outbox
// items written under a moved clock are not frozen until real time
// catches up.
func TestDevClockOffsetSurvivesRestart(t *testing.T) {
	const tok = "dev-admin-token-0123456789abcdef"
	env := map[string]string{"COUNTERSIGN_ADMIN_TOKEN": tok, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t), "COUNTERSIGN_DEV": "1"}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + cfg.Addr
	devNow := func() time.Time {
		t.Helper()
		code, out := jsonCall(t, "GET", base+"/dev/clock", "", "")
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(out["now"]))
		if code != 200 || err != nil {
			t.Fatalf("GET /dev/clock: %d %v %v", code, out, err)
		}
		return at
	}
	_, stop := start(t, cfg)
	if code, out := jsonCall(t, "POST", base+"/dev/clock", "", `{"advance":"50h"}`); code != 200 {
		t.Fatalf("advance: %d %v", code, out)
	}
	stop()
	_, stop = start(t, cfg)
	defer stop()
	ahead := devNow().Sub(time.Now()) // wall clock: the offset clock is real time shifted
	if ahead < 49*time.Hour || ahead > 51*time.Hour {
		t.Fatalf("after a restart the development clock is %v ahead of real time, want about 50h", ahead)
	}
}
