package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A path that is not clean is redirected to the clean one before any
// route sees it, /v1 to /v1/, as the ServeMux in front of the router did;
// a clean path without a route is the API's 404.
func TestUncleanPathsRedirect(t *testing.T) {
	a := newTestAPI(t)
	for target, location := range map[string]string{
		"/v1//projects":             "/v1/projects",
		"/v1/./projects?limit=1":    "/v1/projects?limit=1",
		"/v1/projects/shop/../..":   "/v1/",
		"/v1":                       "/v1/",
		"/a/../v1/projects":         "/v1/projects",
		"/healthz/":                 "",
		"/v1/no-such-route":         "",
		"/v1/projects/%2e%2e/flags": "",
	} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		rec := httptest.NewRecorder()
		a.api.ServeHTTP(rec, req)
		switch {
		case location != "" && (rec.Code != http.StatusTemporaryRedirect || rec.Header().Get("Location") != location):
			t.Errorf("GET %s: %d to %q, want 307 to %q", target, rec.Code, rec.Header().Get("Location"), location)
		case location == "" && (rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json")):
			t.Errorf("GET %s: %d %s %s, want the API's 404", target, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}
