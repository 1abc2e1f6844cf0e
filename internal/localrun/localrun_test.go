package localrun_test

import (
	"bytes"
	"context"
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
