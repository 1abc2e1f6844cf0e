package httpapi_test

import (
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/httpapi"
)

// Every route says how it is held to the projects its caller may read
// (httpapi.Scope), and the scope fits its pattern: a route with {project}
// is checked against the project before its handler runs, one with a
// change request's {id} by the use case that reads the request. The routes
// that touch no one project are listed here with the reason; a new route
// fails this test until it has a scope and, if it names no project, a
// line below.
func TestEveryRouteHasAProjectCheck(t *testing.T) {
	a := newTestAPI(t)
	notInAProject := map[string]string{
		"GET /v1/session":                                "the caller's own session",
		"DELETE /v1/session":                             "the caller's own session",
		"GET /v1/projects":                               "lists the projects the caller may read",
		"POST /v1/projects":                              "an organisation manager creates projects",
		"GET /v1/members":                                "every member may read members, to name reviewers",
		"POST /v1/members":                               "organisation admins manage members",
		"GET /v1/members/{member}":                       "every member may read members, to name reviewers",
		"PATCH /v1/members/{member}":                     "organisation admins manage members (oneself: name and mail only)",
		"DELETE /v1/members/{member}":                    "organisation admins manage members",
		"POST /v1/members/{member}/invitation":           "organisation admins manage members",
		"GET /v1/members/{member}/sessions":              "one's own, or an organisation admin",
		"DELETE /v1/members/{member}/sessions/{session}": "one's own, or an organisation admin",
		"GET /v1/tokens":                                 "one's own, or an organisation admin",
		"POST /v1/tokens":                                "one's own token; service tokens by organisation admins",
		"DELETE /v1/tokens/{token}":                      "one's own, or an organisation admin",
		"GET /v1/settings":                               "the organisation's switches, read by anyone with a role somewhere",
		"PUT /v1/settings":                               "organisation managers",
		"GET /v1/change-requests":                        "filtered to the projects the caller may read",
		"POST /v1/change-requests":                       "the project is in the body: the use case checks the role there",
		"GET /v1/audit":                                  "filtered to the projects the caller may read",
		"GET /v1/notifications/dead-letters":             "organisation admins",
		"GET /v1/teams":                                  "every member may read teams",
		"POST /v1/teams":                                 "organisation managers",
		"GET /v1/teams/{team}":                           "every member may read teams",
		"PATCH /v1/teams/{team}":                         "organisation managers",
		"DELETE /v1/teams/{team}":                        "organisation managers",
		"GET /v1/freezes":                                "filtered to the freezes of projects the caller may read (and those of every project)",
		"POST /v1/freezes":                               "the project is in the body: the use case checks the role there (organisation managers for every project)",
	}
	seen := map[string]bool{}
	for _, rt := range httpapi.New(a.svc, nil).Routes() {
		k := rt.Method + " " + rt.Pattern
		seen[k] = true
		switch {
		case rt.Scope == httpapi.Scope(0):
			t.Errorf("route %s has no project check: give it a Scope", k)
		case rt.Public != (rt.Scope == httpapi.ScopePublic):
			t.Errorf("route %s: public %v, scope %v", k, rt.Public, rt.Scope)
		case rt.Public:
		case strings.Contains(rt.Pattern, "{project}"):
			if rt.Scope != httpapi.ScopeProject {
				t.Errorf("route %s names a project in its path: its scope must be ScopeProject", k)
			}
		case strings.HasPrefix(rt.Pattern, "/v1/change-requests/{id}"):
			if rt.Scope != httpapi.ScopeRequest {
				t.Errorf("route %s names a change request: its scope must be ScopeRequest", k)
			}
		case strings.HasPrefix(rt.Pattern, "/v1/freezes/{freeze}"):
			if rt.Scope != httpapi.ScopeFreeze {
				t.Errorf("route %s names a freeze: its scope must be ScopeFreeze", k)
			}
		case rt.Scope == httpapi.ScopeProject || rt.Scope == httpapi.ScopeRequest || rt.Scope == httpapi.ScopeFreeze:
			t.Errorf("route %s has scope %v but names no project or request in its path", k, rt.Scope)
		default:
			if notInAProject[k] == "" {
				t.Errorf("route %s has no project check: it names no project; say in notInAProject why it needs none", k)
			}
		}
	}
	for k := range notInAProject {
		if !seen[k] {
			t.Errorf("notInAProject lists %s, which is no route", k)
		}
	}
}
