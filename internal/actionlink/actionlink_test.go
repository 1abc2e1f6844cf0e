package actionlink_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/clock/clocktest"
)

func signer(t *testing.T, key string) *actionlink.Signer {
	s, err := actionlink.NewSigner([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTripAndTampering(t *testing.T) {
	s := signer(t, strings.Repeat("k", 32))
	c := actionlink.Claims{Request: "cr_1", Revision: 2, Member: "m_1", Action: actionlink.Approve, Expires: clocktest.At(7, 0, 0, 0).Unix()}
	tok := s.Issue(c)
	got, err := s.Parse(tok)
	if err != nil || got.Request != "cr_1" || got.Revision != 2 || got.Member != "m_1" || got.Action != "approve" || got.Nonce == "" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if s.Issue(c) == tok {
		t.Fatal("every link gets its own nonce")
	}
	// every change to the token is detected
	p, sig, _ := strings.Cut(tok, ".")
	for name, bad := range map[string]string{
		"flipped payload": p[:len(p)-2] + "xx" + "." + sig,
		"flipped sig":     p + "." + sig[:len(sig)-2] + "xx",
		"no sig":          p,
		"empty":           "",
		"other key":       signer(t, strings.Repeat("z", 32)).Issue(c),
	} {
		if _, err := s.Parse(bad); err != actionlink.ErrTampered {
			t.Errorf("%s: %v", name, err)
		}
	}
	// a forged payload with a valid-looking structure but another action
	c.Action = "delete"
	if _, err := s.Parse(s.Issue(c)); err != actionlink.ErrTampered {
		t.Fatalf("unknown action: %v", err)
	}
	if _, err := actionlink.NewSigner([]byte("short")); err == nil {
		t.Fatal("short keys are refused")
	}
}

func TestCSRFIsTiedToTheLink(t *testing.T) {
	s := signer(t, strings.Repeat("k", 32))
	a := s.Issue(actionlink.Claims{Request: "cr_1", Member: "m", Action: "approve"})
	b := s.Issue(actionlink.Claims{Request: "cr_2", Member: "m", Action: "approve"})
	if !s.CheckCSRF(a, s.CSRF(a)) || s.CheckCSRF(a, s.CSRF(b)) || s.CheckCSRF(a, "") {
		t.Fatal("CSRF must match its own link only")
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "link.key")
	k1, err := actionlink.LoadOrCreateKey(path)
	if err != nil || len(k1) != 32 {
		t.Fatalf("%v %d", err, len(k1))
	}
	k2, err := actionlink.LoadOrCreateKey(path)
	if err != nil || string(k1) != string(k2) {
		t.Fatal("the key must survive a restart")
	}
}
