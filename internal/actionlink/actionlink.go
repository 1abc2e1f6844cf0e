// Package actionlink signs and checks the tokens of e-mail action links.
// A token is bound to one request, one revision, one recipient and one
// action, and expires; it is an HMAC-SHA256 over those claims with a key
// from configuration, so it needs no storage to verify. Single use is
// enforced by the request itself (it records the nonces of used links in
// the same write as the action).
package actionlink

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Actions a link can perform.
const (
	Approve = "approve"
	Reject  = "reject"
	Apply   = "apply"
	// Acknowledge acknowledges the review after a bypass.
	Acknowledge = "acknowledge"
)

// Claims are what a token says.
type Claims struct {
	Request  string `json:"r"`
	Revision int    `json:"v"`
	Member   string `json:"m"`
	Action   string `json:"a"`
	Expires  int64  `json:"e"` // unix seconds
	Nonce    string `json:"n"`
}

// ExpiresAt is the expiry as a time.
func (c Claims) ExpiresAt() time.Time { return time.Unix(c.Expires, 0).UTC() }

// ErrTampered says the token is not one this service signed.
var ErrTampered = errors.New("the link is not one Countersign signed, or it was altered")

// MinKeyBytes is the shortest key accepted.
const MinKeyBytes = 32

// Signer signs and verifies tokens with one key.
type Signer struct{ key []byte }

// NewSigner returns a signer; the key must have at least MinKeyBytes bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("the action link key must be at least %d bytes, got %d", MinKeyBytes, len(key))
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

func (s *Signer) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, s.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

var b64 = base64.RawURLEncoding

// Issue returns a token for c; a nonce is filled in when empty.
func (s *Signer) Issue(c Claims) string {
	if c.Nonce == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		c.Nonce = b64.EncodeToString(b)
	}
	payload, _ := json.Marshal(c)
	p := b64.EncodeToString(payload)
	return p + "." + b64.EncodeToString(s.mac("link", p))
}

// Parse verifies a token's signature and returns its claims. It does not
// check expiry or state: callers say why a valid token cannot act.
func (s *Signer) Parse(token string) (Claims, error) {
	p, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 2048 {
		return Claims{}, ErrTampered
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("link", p)) {
		return Claims{}, ErrTampered
	}
	raw, err := b64.DecodeString(p)
	if err != nil {
		return Claims{}, ErrTampered
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil || c.Request == "" || c.Member == "" || c.Nonce == "" {
		return Claims{}, ErrTampered
	}
	switch c.Action {
	case Approve, Reject, Apply, Acknowledge:
	default:
		return Claims{}, ErrTampered
	}
	return c, nil
}

// CSRF is the form token of the confirmation page for token: tied to the
// link, so a form cannot be posted for another link.
func (s *Signer) CSRF(token string) string { return b64.EncodeToString(s.mac("csrf", token)) }

// CheckCSRF reports whether form matches token.
func (s *Signer) CheckCSRF(token, form string) bool {
	got, err := b64.DecodeString(form)
	return err == nil && hmac.Equal(got, s.mac("csrf", token))
}

// LoadOrCreateKey reads a hex key from path, creating a random one (mode
// 0600) when the file does not exist: the local runtime's key.
func LoadOrCreateKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("read action link key %s: not hex: %w", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read action link key: %w", err)
	}
	key := make([]byte, MinKeyBytes)
	_, _ = rand.Read(key)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create action link key: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write action link key: %w", err)
	}
	return key, nil
}
