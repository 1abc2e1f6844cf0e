package httpapi_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

// bolaWorld is two projects, alpha and beta, each with a flag, a segment,
// an SDK key and a pending change request, and two callers who may act in
// alpha only: amy (no organisation role, admin in alpha) and a service
// token with the admin role limited to alpha.
type bolaWorld struct {
	a              *testAPI
	amy            string // amy's token
	limited        string // the limited service token
	amyID, otherID string // amy, and a member of the organisation
	betaRequest    string // beta's pending request
	betaKey        string // beta's SDK key id
	otherToken     string // the id of another member's token
	betaEntries    int    // audit entries of beta, as the admin sees them
	betaFreeze     string // a freeze of beta (ahead: it holds nothing yet)
}

func newBolaWorld(t *testing.T) *bolaWorld {
	a := newTestAPI(t)
	w := &bolaWorld{a: a}
	for _, p := range []string{"alpha", "beta"} {
		a.project(p)
		a.flag(p, twoVariants)
		a.do("POST", "/v1/projects/"+p+"/segments", map[string]any{"key": "testers", "name": "Testers", "included": []string{"u1"}}).want(t, 201)
		var key struct {
			ID string `json:"id"`
		}
		a.do("POST", "/v1/projects/"+p+"/environments/production/sdk-keys", map[string]any{"name": "web"}).want(t, 201).json(&key)
		if p == "beta" {
			w.betaKey = key.ID
		}
	}
	// amy is made an admin of alpha before approvals are on (after, the
	// promotion would need a second admin)
	var amy domain.Member
	a.do("POST", "/v1/members", map[string]any{"email": "amy@example.com", "name": "Amy", "role": "none",
		"project_roles": map[string]any{"alpha": "admin"}}).want(t, 201).json(&amy)
	// so is the limited admin token (after, it would wait for a second admin)
	var limited struct {
		Token string `json:"token"`
	}
	a.do("POST", "/v1/tokens", map[string]any{"name": "alpha-ci", "service": true, "role": "admin", "projects": []string{"alpha"}}).want(t, 201).json(&limited)
	w.limited = limited.Token
	a.do("PUT", "/v1/settings", map[string]any{"approvals": true, "version": 0}).want(t, 200)
	a.do("POST", "/v1/teams", map[string]any{"key": "ops", "name": "Ops"}).want(t, 201)
	var fz struct {
		ID string `json:"id"`
	}
	now := a.svc.Now()
	a.do("POST", "/v1/freezes", map[string]any{"name": "Beta's freeze", "project": "beta", "from": now.Add(24 * time.Hour), "to": now.Add(48 * time.Hour)}).want(t, 201).json(&fz)
	w.betaFreeze = fz.ID
	for _, p := range []string{"alpha", "beta"} {
		var cr struct {
			ID string `json:"id"`
		}
		a.do("PATCH", "/v1/projects/"+p+"/flags/new-checkout/environments/production", map[string]any{"enabled": true}, mergePatch()).want(t, 202).json(&cr)
		if p == "beta" {
			w.betaRequest = cr.ID
		}
	}
	tok, err := a.svc.CreateToken(t.Context(), principalFor(amy), tokenInput("amy"))
	if err != nil {
		t.Fatal(err)
	}
	w.amy, w.amyID = tok.Secret, amy.ID
	var other domain.Member
	a.do("POST", "/v1/members", map[string]any{"email": "olga@example.com", "name": "Olga", "role": "editor"}).want(t, 201).json(&other)
	w.otherID = other.ID
	otherTok, err := a.svc.CreateToken(t.Context(), principalFor(other), tokenInput("olga"))
	if err != nil {
		t.Fatal(err)
	}
	w.otherToken = otherTok.ID
	w.betaEntries = len(w.audit(t, "", "?project=beta"))
	return w
}

// snapshot is everything of beta an admin reads, and the organisation's
// switches and members: what no call of amy's or the limited token's may
// change.
func (w *bolaWorld) snapshot(t *testing.T) string {
	t.Helper()
	var parts []string
	for _, path := range []string{
		"/v1/projects/beta", "/v1/projects/beta/environments", "/v1/projects/beta/flags/new-checkout",
		"/v1/projects/beta/flags/new-checkout/environments/production", "/v1/projects/beta/flags/new-checkout/environments/staging",
		"/v1/projects/beta/segments/testers", "/v1/projects/beta/environments/production/sdk-keys",
		"/v1/projects/beta/environments/production/approval-settings", "/v1/change-requests/" + w.betaRequest,
		"/v1/change-requests/" + w.betaRequest + "/comments", "/v1/settings", "/v1/members", "/v1/tokens",
		"/v1/teams", "/v1/teams/ops", "/v1/freezes/" + w.betaFreeze,
	} {
		r := w.a.do("GET", path, nil).want(t, 200)
		// a token's use is recorded: not a change
		parts = append(parts, path+" "+lastUsed.ReplaceAllString(string(r.body), ""))
	}
	return strings.Join(parts, "\n")
}

var lastUsed = regexp.MustCompile(`,?"last_used_at":"[^"]*"`)

// audit lists the audit log as tok sees it ("" the admin).
func (w *bolaWorld) audit(t *testing.T, tok, query string) []domain.AuditEntry {
	t.Helper()
	var opts []opt
	if tok != "" {
		opts = append(opts, withToken(tok))
	}
	var l struct {
		Items []domain.AuditEntry `json:"items"`
	}
	w.a.do("GET", "/v1/audit"+query+limitSep(query)+"limit=200", nil, opts...).want(t, 200).json(&l)
	return l.Items
}

func limitSep(q string) string {
	if q == "" {
		return "?"
	}
	return "&"
}

// A member of project alpha cannot read or change project beta, route by
// route (BOLA: broken object level authorisation): reads and writes of
// beta's objects answer 404, as if they did not exist, lists leave beta
// out, and the organisation's routes answer 403. So does a service token
// limited to alpha. A route missing from the table fails the test, and
// nothing of beta changed after every call.
func TestBOLA(t *testing.T) {
	w := newBolaWorld(t)
	a := w.a
	before := w.snapshot(t)
	const (
		beta   = "/v1/projects/beta"
		flag   = beta + "/flags/new-checkout"
		prod   = flag + "/environments/production"
		keys   = beta + "/environments/production/sdk-keys"
		notFnd = 404
	)
	cr := "/v1/change-requests/" + w.betaRequest
	type call func(t *testing.T, tok, who string)
	hidden := func(method, path string, body any, opts ...opt) call {
		return func(t *testing.T, tok, who string) {
			a.do(method, path, body, append(opts, withToken(tok))...).wantProblem(t, notFnd, domain.CodeNotFound)
		}
	}
	refused := func(method, path string, body any, opts ...opt) call {
		return func(t *testing.T, tok, who string) {
			a.do(method, path, body, append(opts, withToken(tok))...).wantProblem(t, 403, domain.CodeForbidden)
		}
	}
	bola := map[string]call{
		"GET /v1/session": func(t *testing.T, tok, who string) { a.do("GET", "/v1/session", nil, withToken(tok)).want(t, notFnd) },
		"DELETE /v1/session": func(t *testing.T, tok, who string) {
			a.do("DELETE", "/v1/session", nil, withToken(tok)).want(t, notFnd)
		},
		"GET /v1/projects": func(t *testing.T, tok, who string) {
			var l struct {
				Items []domain.Project `json:"items"`
			}
			a.do("GET", "/v1/projects", nil, withToken(tok)).want(t, 200).json(&l)
			if len(l.Items) != 1 || l.Items[0].Key != "alpha" {
				t.Errorf("%s lists projects %v, want alpha alone", who, l.Items)
			}
		},
		"POST /v1/projects":                                                           refused("POST", "/v1/projects", map[string]any{"key": "gamma", "name": "Gamma"}),
		"GET /v1/projects/{project}":                                                  hidden("GET", beta, nil),
		"PATCH /v1/projects/{project}":                                                hidden("PATCH", beta, map[string]any{"name": "Mine"}, mergePatch()),
		"DELETE /v1/projects/{project}":                                               hidden("DELETE", beta, nil),
		"GET /v1/projects/{project}/environments":                                     hidden("GET", beta+"/environments", nil),
		"POST /v1/projects/{project}/environments":                                    hidden("POST", beta+"/environments", map[string]any{"name": "QA"}),
		"GET /v1/projects/{project}/environments/{environment}":                       hidden("GET", beta+"/environments/production", nil),
		"PATCH /v1/projects/{project}/environments/{environment}":                     hidden("PATCH", beta+"/environments/production", map[string]any{"protected": false}, mergePatch()),
		"GET /v1/projects/{project}/flags":                                            hidden("GET", beta+"/flags", nil),
		"POST /v1/projects/{project}/flags":                                           hidden("POST", beta+"/flags", map[string]any{"key": "x", "name": "X", "variants": []map[string]any{{"key": "x"}}}),
		"GET /v1/projects/{project}/flags/{flag}":                                     hidden("GET", flag, nil),
		"PATCH /v1/projects/{project}/flags/{flag}":                                   hidden("PATCH", flag, map[string]any{"description": "mine"}, mergePatch()),
		"DELETE /v1/projects/{project}/flags/{flag}":                                  hidden("DELETE", flag, nil),
		"GET /v1/projects/{project}/segments":                                         hidden("GET", beta+"/segments", nil),
		"POST /v1/projects/{project}/segments":                                        hidden("POST", beta+"/segments", map[string]any{"name": "Mine"}),
		"GET /v1/projects/{project}/segments/{segment}":                               hidden("GET", beta+"/segments/testers", nil),
		"PUT /v1/projects/{project}/segments/{segment}":                               hidden("PUT", beta+"/segments/testers", map[string]any{"name": "Mine", "version": 1}),
		"PATCH /v1/projects/{project}/segments/{segment}":                             hidden("PATCH", beta+"/segments/testers", map[string]any{"name": "Mine"}, mergePatch()),
		"DELETE /v1/projects/{project}/segments/{segment}":                            hidden("DELETE", beta+"/segments/testers", nil),
		"GET /v1/projects/{project}/flags/{flag}/environments/{environment}":          hidden("GET", prod, nil),
		"PUT /v1/projects/{project}/flags/{flag}/environments/{environment}":          hidden("PUT", prod, map[string]any{"enabled": false}, ifMatch("1")),
		"PATCH /v1/projects/{project}/flags/{flag}/environments/{environment}":        hidden("PATCH", prod, map[string]any{"enabled": false}, mergePatch()),
		"POST /v1/projects/{project}/flags/{flag}/environments/{environment}/promote": hidden("POST", prod+"/promote", map[string]any{"from": "staging"}),
		"GET /v1/members":  func(t *testing.T, tok, who string) { a.do("GET", "/v1/members", nil, withToken(tok)).want(t, 200) },
		"POST /v1/members": refused("POST", "/v1/members", map[string]any{"email": "mal@example.com", "name": "Mal", "role": "admin"}),
		"GET /v1/members/{member}": func(t *testing.T, tok, who string) {
			a.do("GET", "/v1/members/"+w.otherID, nil, withToken(tok)).want(t, 200)
		},
		"PATCH /v1/members/{member}":                     refused("PATCH", "/v1/members/"+w.otherID, map[string]any{"role": "viewer"}, mergePatch()),
		"DELETE /v1/members/{member}":                    refused("DELETE", "/v1/members/"+w.otherID, nil),
		"POST /v1/members/{member}/invitation":           refused("POST", "/v1/members/"+w.otherID+"/invitation", nil),
		"GET /v1/members/{member}/sessions":              refused("GET", "/v1/members/"+w.otherID+"/sessions", nil),
		"DELETE /v1/members/{member}/sessions/{session}": refused("DELETE", "/v1/members/"+w.otherID+"/sessions/s_nonexistent", nil),
		"GET /v1/tokens": func(t *testing.T, tok, who string) {
			var l struct {
				Items []domain.Token `json:"items"`
			}
			a.do("GET", "/v1/tokens", nil, withToken(tok)).want(t, 200).json(&l)
			for _, it := range l.Items {
				if it.MemberID != w.amyID {
					t.Errorf("%s lists token %s of %q", who, it.ID, it.MemberID)
				}
			}
		},
		"POST /v1/tokens":           refused("POST", "/v1/tokens", map[string]any{"name": "mine", "service": true, "role": "admin"}),
		"DELETE /v1/tokens/{token}": hidden("DELETE", "/v1/tokens/"+w.otherToken, nil),
		"GET /v1/settings":          func(t *testing.T, tok, who string) { a.do("GET", "/v1/settings", nil, withToken(tok)).want(t, 200) },
		"PUT /v1/settings":          refused("PUT", "/v1/settings", map[string]any{"approvals": false, "version": 1}),
		"GET /v1/projects/{project}/environments/{environment}/approval-settings": hidden("GET", beta+"/environments/production/approval-settings", nil),
		"PUT /v1/projects/{project}/environments/{environment}/approval-settings": hidden("PUT", beta+"/environments/production/approval-settings",
			map[string]any{"required": "off", "min_approvals": 1, "reviewers": "peer", "apply": "manual", "version": 0}),
		"GET /v1/change-requests": func(t *testing.T, tok, who string) {
			for _, q := range []string{"", "?project=beta"} {
				var l struct {
					Items []domain.ChangeRequest `json:"items"`
				}
				a.do("GET", "/v1/change-requests"+q, nil, withToken(tok)).want(t, 200).json(&l)
				for _, c := range l.Items {
					if c.Project != "alpha" {
						t.Errorf("%s lists request %s of %s", who, c.ID, c.Project)
					}
				}
				if q == "" && len(l.Items) != 1 {
					t.Errorf("%s lists %d requests, want alpha's one", who, len(l.Items))
				}
			}
		},
		"POST /v1/change-requests": hidden("POST", "/v1/change-requests", map[string]any{"project": "beta", "flag": "new-checkout", "environment": "production",
			"proposed_config": map[string]any{"enabled": false}}),
		"GET /v1/change-requests/{id}":                hidden("GET", cr, nil),
		"PATCH /v1/change-requests/{id}":              hidden("PATCH", cr, map[string]any{"title": "mine"}, mergePatch()),
		"POST /v1/change-requests/{id}/reviews":       hidden("POST", cr+"/reviews", map[string]any{"decision": "approve", "comment": "lgtm"}),
		"POST /v1/change-requests/{id}/acknowledge":   hidden("POST", cr+"/acknowledge", map[string]any{"comment": "seen"}),
		"GET /v1/change-requests/{id}/comments":       hidden("GET", cr+"/comments", nil),
		"POST /v1/change-requests/{id}/comments":      hidden("POST", cr+"/comments", map[string]any{"comment": "hello"}),
		"POST /v1/change-requests/{id}/apply":         hidden("POST", cr+"/apply", nil),
		"POST /v1/change-requests/{id}/withdraw":      hidden("POST", cr+"/withdraw", nil),
		"POST /v1/change-requests/{id}/submit":        hidden("POST", cr+"/submit", nil),
		"DELETE /v1/change-requests/{id}/changes/{n}": hidden("DELETE", cr+"/changes/0", nil),
		"POST /v1/projects/{project}/environments/{environment}/promote": hidden("POST", beta+"/environments/production/promote",
			map[string]any{"from": "staging", "flags": []string{"new-checkout"}}),
		"GET /v1/audit": func(t *testing.T, tok, who string) {
			if w.betaEntries == 0 {
				t.Fatal("beta has no audit entries to hide")
			}
			for _, q := range []string{"", "?project=beta"} {
				for _, e := range w.audit(t, tok, q) {
					if e.Project != "alpha" {
						t.Errorf("%s reads audit entry %s (%s) of project %q", who, e.ID, e.Action, e.Project)
					}
				}
			}
		},
		"GET /v1/notifications/dead-letters":                                           refused("GET", "/v1/notifications/dead-letters", nil),
		"GET /v1/projects/{project}/environments/{environment}/sdk-keys":               hidden("GET", keys, nil),
		"POST /v1/projects/{project}/environments/{environment}/sdk-keys":              hidden("POST", keys, map[string]any{"name": "mine"}),
		"DELETE /v1/projects/{project}/environments/{environment}/sdk-keys/{key}":      hidden("DELETE", keys+"/"+w.betaKey, nil),
		"POST /v1/projects/{project}/environments/{environment}/sdk-keys/{key}/rotate": hidden("POST", keys+"/"+w.betaKey+"/rotate", map[string]any{}),
		// teams belong to no project: every member reads them, whatever
		// their roles; only organisation managers write them
		"GET /v1/teams":           func(t *testing.T, tok, who string) { a.do("GET", "/v1/teams", nil, withToken(tok)).want(t, 200) },
		"POST /v1/teams":          refused("POST", "/v1/teams", map[string]any{"key": "mine", "name": "Mine"}),
		"GET /v1/teams/{team}":    func(t *testing.T, tok, who string) { a.do("GET", "/v1/teams/ops", nil, withToken(tok)).want(t, 200) },
		"PATCH /v1/teams/{team}":  refused("PATCH", "/v1/teams/ops", map[string]any{"members": []string{w.amyID}}, mergePatch()),
		"DELETE /v1/teams/{team}": refused("DELETE", "/v1/teams/ops", nil),
		// a freeze of beta does not exist for them, and the list leaves it out
		"GET /v1/freezes": func(t *testing.T, tok, who string) {
			var l struct {
				Items []struct {
					ID      string `json:"id"`
					Project string `json:"project"`
				} `json:"items"`
			}
			for _, q := range []string{"", "?project=beta"} {
				a.do("GET", "/v1/freezes"+q, nil, withToken(tok)).want(t, 200).json(&l)
				for _, f := range l.Items {
					if f.ID == w.betaFreeze || f.Project == "beta" {
						t.Errorf("%s lists beta's freeze %s", who, f.ID)
					}
				}
			}
		},
		"POST /v1/freezes": hidden("POST", "/v1/freezes", map[string]any{"name": "Mine", "project": "beta",
			"from": a.svc.Now().Add(time.Hour), "to": a.svc.Now().Add(2 * time.Hour)}),
		"GET /v1/freezes/{freeze}":    hidden("GET", "/v1/freezes/"+w.betaFreeze, nil),
		"PATCH /v1/freezes/{freeze}":  hidden("PATCH", "/v1/freezes/"+w.betaFreeze, map[string]any{"project": "alpha"}, mergePatch()),
		"DELETE /v1/freezes/{freeze}": hidden("DELETE", "/v1/freezes/"+w.betaFreeze, nil),
	}
	for _, rt := range httpapi.New(a.svc, nil).Routes() {
		if rt.Public || !strings.HasPrefix(rt.Pattern, "/v1/") {
			continue
		}
		k := rt.Method + " " + rt.Pattern
		c, ok := bola[k]
		if !ok {
			t.Errorf("TestBOLA has no call for %s: say what a member of another project gets", k)
			continue
		}
		t.Run(k, func(t *testing.T) {
			for _, who := range []struct{ name, tok string }{{"amy", w.amy}, {"the limited token", w.limited}} {
				c(t, who.tok, who.name)
			}
		})
	}
	if after := w.snapshot(t); after != before {
		t.Errorf("beta changed:\n%s", firstDifference(before, after))
	}
	// and what alpha's admin may do in alpha works: the check is not a
	// blanket refusal
	a.do("GET", "/v1/projects/alpha/flags/new-checkout", nil, withToken(w.amy)).want(t, 200)
	a.do("PATCH", "/v1/projects/alpha/flags/new-checkout", map[string]any{"description": "amy's"}, mergePatch(), withToken(w.amy)).want(t, 200)
	a.do("GET", "/v1/projects/alpha/environments/production/sdk-keys", nil, withToken(w.limited)).want(t, 200)
}

func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("before: %s\nafter:  %s", al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines before, %d after", len(al), len(bl))
}
