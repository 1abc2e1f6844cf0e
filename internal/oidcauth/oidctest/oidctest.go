// Package oidctest is the tests' way to the real OpenID provider that
// scripts/oidc/provider.mjs runs (oidc-provider, the OpenID Certified npm
// package): where it is, its client, and a browser's part of a sign-in
// (its sign-in and consent forms) played with net/http and a cookie jar.
//
// `make test` starts the provider (scripts/oidc-provider.sh start) and
// exports its issuer as COUNTERSIGN_OIDC_TEST_ISSUER. Without it, tests
// that need it fail when COUNTERSIGN_REQUIRE_OIDC=1 and are skipped
// otherwise.
package oidctest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// The client and password of scripts/oidc/provider.mjs. RedirectURL is the
// client's redirect URI that the provider always accepts (make run's).
const (
	ClientID     = "countersign-local"
	ClientSecret = "countersign-local-secret-0123456789"
	Password     = "countersign"
	RedirectURL  = "http://127.0.0.1:8080/auth/oidc/callback"
)

// Issuer returns the running provider's issuer, or skips the test (fails
// it, when COUNTERSIGN_REQUIRE_OIDC=1) without one.
func Issuer(t testing.TB) string {
	t.Helper()
	iss := strings.TrimRight(os.Getenv("COUNTERSIGN_OIDC_TEST_ISSUER"), "/")
	if iss == "" {
		if os.Getenv("COUNTERSIGN_REQUIRE_OIDC") == "1" {
			t.Fatal("COUNTERSIGN_OIDC_TEST_ISSUER is not set but COUNTERSIGN_REQUIRE_OIDC=1: start the provider with scripts/oidc-provider.sh start and export the issuer it prints, or run make test, which does both")
		}
		t.Skip("no OpenID provider (COUNTERSIGN_OIDC_TEST_ISSUER unset); make test runs this, or: scripts/oidc-provider.sh start && COUNTERSIGN_OIDC_TEST_ISSUER=$(scripts/oidc-provider.sh endpoint) go test ./...")
	}
	return iss
}

// AtProvider plays the browser at the provider: it opens authURL (the
// authorization request Countersign redirected to), signs in as login with
// the provider's form, gives consent when asked, and returns the URL the
// provider sends the browser back to (RedirectURL with code and state, or
// with an error), without following it. abort cancels at the sign-in form
// instead.
func AtProvider(t testing.TB, authURL, login string, abort bool) *url.URL {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), RedirectURL) {
				return http.ErrUseLastResponse // back at Countersign: the test takes it from here
			}
			return nil
		}}
	res, err := browser.Get(authURL)
	for range 6 {
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if loc := res.Header.Get("Location"); res.StatusCode/100 == 3 && strings.HasPrefix(loc, RedirectURL) {
			back, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			return back
		}
		page := res.Request.URL
		switch {
		case res.StatusCode == 200 && bytes.Contains(body, []byte(`id="login"`)) && abort:
			res, err = browser.Get(page.String() + "/abort")
		case res.StatusCode == 200 && bytes.Contains(body, []byte(`id="login"`)):
			res, err = browser.PostForm(page.String()+"/login", url.Values{"login": {login}, "password": {Password}})
		case res.StatusCode == 200 && bytes.Contains(body, []byte(`id="consent"`)):
			res, err = browser.PostForm(page.String()+"/confirm", url.Values{})
		default:
			t.Fatalf("the provider answered %d at %s: %.600s", res.StatusCode, page, body)
		}
	}
	t.Fatal("the provider did not send the browser back within six pages")
	return nil
}
