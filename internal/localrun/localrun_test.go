package localrun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
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
	deadline := time.Now().Add(10 * time.Second)
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
		if time.Now().After(deadline) {
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

// COUNTERSIGN_ADMIN_TOKEN is used as the bootstrap token, and nothing is printed.
func TestConfiguredAdminToken(t *testing.T) {
	const tok = "scripted-admin-token-0123456789"
	env := map[string]string{"COUNTERSIGN_ADMIN_TOKEN": tok, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t)}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	console, stop := start(t, cfg)
	defer stop()
	if console.String() != "" {
		t.Fatalf("nothing should be printed with a configured token: %q", console.String())
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
	step("PUT", "/v1/settings", `{"approvals":true,"version":0}`, 200)
	s := step("GET", "/v1/projects/shop/environments/production/approval-settings", "", 200)
	s["auto_approve_after"] = "48h"
	s["allow_self_approval"] = true
	body, _ := json.Marshal(s)
	step("PUT", "/v1/projects/shop/environments/production/approval-settings", string(body), 200)
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
	deadline := time.Now().Add(2 * time.Second)
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
		if time.Now().After(deadline) {
			t.Fatalf("not auto-approved within the ticks: %v", got["status"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	step("POST", "/dev/clock", `{"advance":"-1h"}`, 422)
	step("POST", "/dev/clock", `{"warp":1}`, 400)
}

// Without the dev flag the route does not exist.
func TestNoDevRoutesWithoutFlag(t *testing.T) {
	const tok = "plain-admin-token-0123456789abcdef"
	env := map[string]string{"COUNTERSIGN_ADMIN_TOKEN": tok, "COUNTERSIGN_DATA_DIR": t.TempDir(), "COUNTERSIGN_ADDR": freeAddr(t)}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.StoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	for _, m := range []string{"GET", "POST"} {
		if got, _ := jsonCall(t, m, "http://"+cfg.Addr+"/dev/clock", tok, `{"advance":"1h"}`); got != 404 {
			t.Fatalf("%s /dev/clock without COUNTERSIGN_DEV: %d", m, got)
		}
	}
}
