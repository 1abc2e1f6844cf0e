package oidcauth

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// A sign-in in progress lives in one cookie, not in the store: the login
// route writes it, the callback reads and clears it. It holds the secrets
// the callback needs (state, nonce, PKCE verifier) and where to go after.
//
// The cookie is sealed with AES-256-GCM under a key derived from the key
// the caller gives (the e-mail action link key, through HMAC with a label
// of its own, so neither use can stand in for the other). Random values
// compared with the callback's would do for the state alone, but the
// cookie also carries `next` and the verifier, and an attacker who can
// write cookies for this site (a sibling subdomain) must not be able to
// choose those: sealing means only this Countersign can have made a flow
// cookie. Encryption keeps the PKCE verifier and nonce unreadable for
// anything that sees the cookie store. The expiry inside is checked on the
// service clock, whatever the browser does with Max-Age. The cookie is
// HttpOnly, SameSite=Lax (the provider's redirect back is a top-level GET,
// which Lax lets through), Path=/auth/oidc and Secure unless Countersign
// is plain http on loopback.
//
// One sign-in per browser at a time: starting a second replaces the first,
// whose callback is then refused as a state mismatch.

const (
	cookieName   = "countersign_oidc"
	flowLifetime = 10 * time.Minute
	maxNextLen   = 1024
	flowVersion  = 1
	flowKeyLabel = "countersign oidcauth flow cookie v1"
)

// flow is what the cookie carries.
type flow struct {
	V        int    `json:"v"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"p"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"` // unix seconds, service clock
}

// sealer seals and opens flow cookies. Its AEAD is made at the first
// sign-in, not at the console function's cold start: most invocations
// serve people signed in already, and the key derivation and AES-GCM's
// set-up were a measurable part of that start (docs/benchmarks.md,
// "Fourth round").
type sealer struct {
	aead func() (cipher.AEAD, error)
	ad   []byte // binds a cookie to the issuer and client it was made for
}

func newSealer(key []byte, issuer, clientID string) (*sealer, error) {
	if len(key) < 16 {
		return nil, errors.New("oidcauth: the cookie key must have at least 16 bytes")
	}
	key = slices.Clone(key)
	return &sealer{
		aead: sync.OnceValues(func() (cipher.AEAD, error) {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(flowKeyLabel))
			block, err := aes.NewCipher(m.Sum(nil))
			if err != nil {
				return nil, err
			}
			return cipher.NewGCM(block)
		}),
		ad: []byte(cookieName + "\x00" + issuer + "\x00" + clientID),
	}, nil
}

func (s *sealer) seal(f flow) (string, error) {
	aead, err := s.aead()
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(f)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, s.ad)), nil
}

var errBadFlow = errors.New("oidcauth: the flow cookie is not one of ours, or it expired")

// open returns the flow in value if this sealer made it and it has not
// expired at now (unix seconds).
func (s *sealer) open(value string, now int64) (flow, error) {
	var f flow
	aead, err := s.aead()
	if err != nil {
		return f, err
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return f, errBadFlow
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, raw[:n], raw[n:], s.ad)
	if err != nil {
		return f, errBadFlow
	}
	if err := json.Unmarshal(plain, &f); err != nil || f.V != flowVersion || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return flow{}, fmt.Errorf("%w: malformed", errBadFlow)
	}
	if now >= f.Expires {
		return flow{}, fmt.Errorf("%w: expired", errBadFlow)
	}
	return f, nil
}

// randomString is 32 random bytes, base64url: a state or a nonce.
func randomString() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand.Read does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
