package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/cryptotest"
	"time"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

// The golden test pins what the API answers, byte for byte: one scenario
// drives every route of the route table that answers JSON (and the
// routes that answer 204) over fully populated data, and each response
// body is compared with its file under testdata/golden; index.tsv pins the
// steps' order, routes, statuses, ETags and Locations. The files were
// written by the API as it was before its view types existed (views.go),
// so they are the contract the views keep: a json tag changed on a domain
// struct, a field added to one, or a view that forgets a field shows up
// here. The check "no secrets" reads them for members and values no client
// may see. (TestUsedLinksNeverReachClients covers what the scenario leaves
// out on purpose: an e-mail action link used.)
//
// The scenario is deterministic: the service runs on the tests' fixed
// clock, moved on by a minute before each step, and crypto/rand is
// replaced for the test by a seeded stream (testing/cryptotest), so ids,
// salts, secrets and request ids come out the same on every run. Only
// timestamps are normalised, to their distance from clocktest.Epoch
// ("<epoch+9h1m0s>", also inside the cursors of lists sorted by time), so
// that COUNTERSIGN_TEST_EPOCH may move the clock.
//
// go test ./internal/httpapi -run 'TestGoldenResponses|TestViewsJSON' -update-golden
// rewrites the files (and testdata/views); that is for a deliberate change
// of the API, reviewed in the diff, never to make a refactoring pass.

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden from the current API")

const goldenDir = "testdata/golden"

// goldenStep is one recorded exchange.
type goldenStep struct {
	name     string
	method   string
	path     string
	pattern  string // the route table's "METHOD pattern" that served it
	status   int
	etag     string
	location string
	body     []byte // normalised
}

type goldenRun struct {
	t       *testing.T
	a       *testAPI
	routes  *http.ServeMux
	steps   []goldenStep
	names   map[string]bool
	secrets map[string]string // values that no body may contain → what they are
}

// notJSONRoutes answer pages, a YAML document or redirects, not JSON: the
// golden scenario leaves them to their own tests.
var notJSONRoutes = map[string]string{
	"GET /openapi.yaml":       "the YAML document itself (TestOpenAPIServed)",
	"GET /a/{token}":          "an HTML page (links_fuzz_test.go)",
	"POST /a/{token}":         "an HTML page (links_fuzz_test.go)",
	"GET /login":              "an HTML page (auth_test.go)",
	"POST /login":             "an HTML page (auth_test.go)",
	"GET /signin/{token}":     "an HTML page (auth_test.go)",
	"POST /signin/{token}":    "a redirect (auth_test.go)",
	"POST /logout":            "a redirect (auth_test.go)",
	"GET /auth/oidc/login":    "a redirect to the identity provider (oidcauth)",
	"GET /auth/oidc/callback": "a redirect from the identity provider (oidcauth)",
}

func newGoldenRun(t *testing.T) *goldenRun {
	// Before anything draws random bytes: the ids of the bootstrap admin
	// and token too must come out the same on every run.
	cryptotest.SetGlobalRandom(t, 20011104)
	a := newTestAPI(t)
	g := &goldenRun{t: t, a: a, routes: http.NewServeMux(), names: map[string]bool{}, secrets: map[string]string{}}
	for _, rt := range a.api.Routes() {
		g.routes.Handle(rt.Method+" "+rt.Pattern, http.NotFoundHandler())
	}
	return g
}

// do advances the clock by a minute, sends the request as a.do does (the
// OpenAPI check included), requires the status and records the exchange
// under name.
func (g *goldenRun) do(name string, status int, method, path string, body any, opts ...opt) *response {
	return g.by(g.a, name, status, method, path, body, opts...)
}

// by is do with another client (a browser, another member's token).
func (g *goldenRun) by(c *testAPI, name string, status int, method, path string, body any, opts ...opt) *response {
	g.t.Helper()
	g.a.clock.Advance(time.Minute)
	r := c.do(method, path, body, opts...).want(g.t, status)
	g.record(name, r)
	return r
}

func (g *goldenRun) record(name string, r *response) {
	g.t.Helper()
	if g.names[name] {
		g.t.Fatalf("two golden steps are named %q", name)
	}
	g.names[name] = true
	_, pattern := g.routes.Handler(r.Request)
	if ct := r.Header.Get("Content-Type"); len(r.body) > 0 && ct != "application/json" && ct != "application/problem+json" {
		g.t.Fatalf("%s: %s %s answered %s, not JSON", name, r.Request.Method, r.Request.URL.Path, ct)
	}
	g.steps = append(g.steps, goldenStep{name: name, method: r.Request.Method, path: r.Request.URL.RequestURI(), pattern: pattern,
		status: r.StatusCode, etag: r.Header.Get("ETag"), location: r.Header.Get("Location"), body: normaliseTimes(r.body)})
}

// secret names a value that must never appear in a response body.
func (g *goldenRun) secret(value, what string) {
	if value != "" {
		g.secrets[value] = what
	}
}

// timestampRe matches the RFC 3339 times encoding/json writes.
var timestampRe = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})`)

// cursorRe matches a list's next_cursor; timeCursorRe what the store's
// cursors of lists sorted by time hold (nanoseconds since 1970, an id).
var (
	cursorRe     = regexp.MustCompile(`"next_cursor":"([A-Za-z0-9_-]+)"`)
	timeCursorRe = regexp.MustCompile(`^(\d{19,20})#([A-Za-z0-9_]+)$`)
)

// normaliseTimes writes each timestamp as its distance from the tests'
// epoch. A time that encoding/json would not have written that way (or
// the zero time, which no clock makes) is left as it is. A cursor that
// holds a time (the audit log's, the change requests') is shown decoded,
// its time so normalised.
func normaliseTimes(body []byte) []byte {
	sinceEpoch := func(at time.Time) string { return "<epoch+" + at.Sub(clocktest.Epoch).String() + ">" }
	body = cursorRe.ReplaceAllFunc(body, func(b []byte) []byte {
		raw, err := base64.RawURLEncoding.DecodeString(string(cursorRe.FindSubmatch(b)[1]))
		m := timeCursorRe.FindSubmatch(raw)
		if err != nil || m == nil {
			return b
		}
		ns, err := strconv.ParseInt(string(m[1]), 10, 64)
		if err != nil {
			return b
		}
		return []byte(`"next_cursor":"<cursor ` + sinceEpoch(time.Unix(0, ns).UTC()) + "#" + string(m[2]) + `>"`)
	})
	return timestampRe.ReplaceAllFunc(body, func(b []byte) []byte {
		at, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil || at.Format(time.RFC3339Nano) != string(b) || at.Year() < 1000 {
			return b
		}
		return []byte(sinceEpoch(at))
	})
}

func decode[T any](t *testing.T, r *response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%s %s: %v\n%s", r.Request.Method, r.Request.URL.Path, err, r.body)
	}
	return v
}

type idOnly struct {
	ID string `json:"id"`
}

// runGoldenScenario drives every JSON route over fully populated data:
// flags with variants and rules, targeting in several environments,
// approval settings with designated reviewers, bypass grants, expiry and
// auto-approval, change requests of both kinds with edits, reviews,
// comments with mentions, apply and withdraw, a request made by a service
// token and one scheduled, members with a suppressed address, tokens used
// and revoked, SDK keys rotated and revoked, sessions, audit entries with
// diffs, a dead letter, and a few problems.
func runGoldenScenario(g *goldenRun) {
	t, a := g.t, g.a
	ctx := context.Background()
	g.secret(adminToken, "the bootstrap token's secret")

	g.do("health", 200, "GET", "/healthz", nil)

	// ---- projects and environments ----
	g.do("projects-create", 201, "POST", "/v1/projects", map[string]any{"key": "shop", "name": "Shop", "description": "The web shop"})
	g.do("projects-create-other", 201, "POST", "/v1/projects", map[string]any{"name": "Old Site"})
	g.do("projects-list", 200, "GET", "/v1/projects", nil)
	g.do("projects-list-page", 200, "GET", "/v1/projects?limit=1", nil)
	g.do("projects-get", 200, "GET", "/v1/projects/shop", nil)
	g.do("projects-merge-patch", 200, "PATCH", "/v1/projects/shop", map[string]any{"description": "Where people buy things"}, mergePatch(), ifMatch("1"))
	g.do("projects-json-patch", 200, "PATCH", "/v1/projects/shop",
		`[{"op":"test","path":"/version","value":2},{"op":"replace","path":"/name","value":"Web shop"}]`, jsonPatch())
	g.do("projects-delete", 204, "DELETE", "/v1/projects/old-site", nil)

	g.do("environments-list", 200, "GET", "/v1/projects/shop/environments", nil)
	g.do("environments-create", 201, "POST", "/v1/projects/shop/environments", map[string]any{"name": "QA Lab"})
	g.do("environments-get", 200, "GET", "/v1/projects/shop/environments/qa-lab", nil)
	g.do("environments-merge-patch", 200, "PATCH", "/v1/projects/shop/environments/qa-lab", map[string]any{"protected": true}, mergePatch())
	g.do("environments-json-patch", 200, "PATCH", "/v1/projects/shop/environments/qa-lab",
		`[{"op":"replace","path":"/name","value":"QA"}]`, jsonPatch(), ifMatch("2"))

	// ---- members and tokens ----
	member := func(name string, role domain.Role) (id, token string) {
		m := decode[idOnly](t, g.do("members-create-"+name, 201, "POST", "/v1/members",
			map[string]any{"email": name + "@example.com", "name": strings.ToUpper(name[:1]) + name[1:], "role": role}))
		tok, err := a.svc.CreateToken(ctx, principalFor(domain.Member{ID: m.ID, Role: role}), tokenInput("t-"+name))
		if err != nil {
			t.Fatal(err)
		}
		g.secret(tok.Secret, name+"'s token secret")
		return m.ID, tok.Secret
	}
	edID, ed := member("ed", domain.RoleEditor)
	revID, rev := member("rev", domain.RoleManager)
	ritaID, rita := member("rita", domain.RoleEditor)
	samID, _ := member("sam", domain.RoleEditor)
	vicID, vic := member("vic", domain.RoleViewer)
	goneID, _ := member("gone", domain.RoleViewer)
	g.do("members-list", 200, "GET", "/v1/members", nil)
	g.do("members-list-page", 200, "GET", "/v1/members?limit=2", nil)
	g.do("members-get", 200, "GET", "/v1/members/"+edID, nil)
	g.do("members-merge-patch", 200, "PATCH", "/v1/members/"+vicID, map[string]any{"name": "Victor"}, mergePatch())
	g.do("members-json-patch", 200, "PATCH", "/v1/members/"+vicID,
		`[{"op":"test","path":"/role","value":"viewer"},{"op":"replace","path":"/email","value":"victor@example.com"}]`, jsonPatch())
	g.do("members-invitation", 202, "POST", "/v1/members/"+vicID+"/invitation", nil)
	g.do("members-delete", 204, "DELETE", "/v1/members/"+goneID, nil)
	// sam's mail bounced: the member shows it, and requests waiting on sam
	// list sam as unreachable
	if _, err := a.svc.RecordMailEvent(ctx, app.MailEvent{Type: app.MailBounce, BounceType: "Permanent", BounceSubType: "General",
		Recipients: []string{"sam@example.com"}, Diagnostic: "smtp; 550 5.1.1 user unknown", FeedbackID: "fb-sam",
		At: a.clock.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	g.do("members-get-suppressed", 200, "GET", "/v1/members/"+samID, nil)

	capped := decode[idOnly](t, g.do("tokens-create-capped", 201, "POST", "/v1/tokens", map[string]any{"name": "ci", "role": "viewer"}))
	svc := decode[struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}](t, g.do("tokens-create-service", 201, "POST", "/v1/tokens", map[string]any{"name": "deployer", "service": true, "role": "editor"}))
	g.secret(svc.Token, "the service token's secret")
	g.do("tokens-create-own", 201, "POST", "/v1/tokens", map[string]any{"name": "laptop"})
	g.do("tokens-delete", 204, "DELETE", "/v1/tokens/"+capped.ID, nil)

	// project roles: pia has no organisation role and edits shop; a
	// token limited to shop; blog does not exist for pia
	g.do("projects-create-blog", 201, "POST", "/v1/projects", map[string]any{"key": "blog", "name": "Blog"})
	pia := decode[idOnly](t, g.do("members-create-project-roles", 201, "POST", "/v1/members",
		map[string]any{"email": "pia@example.com", "name": "Pia", "role": "none", "project_roles": map[string]any{"shop": "editor"}}))
	g.do("members-patch-project-roles", 200, "PATCH", "/v1/members/"+pia.ID,
		map[string]any{"project_roles": map[string]any{"blog": "viewer"}}, mergePatch())
	g.do("members-patch-project-roles-remove", 200, "PATCH", "/v1/members/"+pia.ID,
		map[string]any{"project_roles": map[string]any{"blog": nil}}, mergePatch())
	piaTok, err := a.svc.CreateToken(ctx, principalFor(domain.Member{ID: pia.ID, Role: domain.RoleNone, Projects: map[string]domain.Role{"shop": domain.RoleEditor}}), tokenInput("t-pia"))
	if err != nil {
		t.Fatal(err)
	}
	g.secret(piaTok.Secret, "pia's token secret")
	g.do("projects-list-project-role", 200, "GET", "/v1/projects", nil, withToken(piaTok.Secret))
	g.do("projects-get-no-role", 404, "GET", "/v1/projects/blog", nil, withToken(piaTok.Secret))
	g.do("members-create-project-roles-unknown", 422, "POST", "/v1/members",
		map[string]any{"email": "pat@example.com", "name": "Pat", "role": "viewer", "project_roles": map[string]any{"nowhere": "editor"}})
	limited := decode[struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}](t, g.do("tokens-create-limited", 201, "POST", "/v1/tokens", map[string]any{"name": "shop-deployer", "service": true, "role": "editor", "projects": []string{"shop"}}))
	g.secret(limited.Token, "the limited service token's secret")
	g.do("tokens-create-limited-unknown", 422, "POST", "/v1/tokens", map[string]any{"name": "x", "service": true, "role": "editor", "projects": []string{"nowhere"}})
	g.do("settings-limited-token", 403, "PUT", "/v1/settings", map[string]any{"approvals": false, "version": 0}, withToken(limited.Token))

	// ---- teams: every member reads them (pia, who has no organisation
	// role, too); managers write them ----
	teams := "/v1/teams"
	g.do("teams-create", 201, "POST", teams, map[string]any{"key": "reviewers", "name": "Reviewers", "members": []string{revID, ritaID}})
	g.do("teams-create-minimal", 201, "POST", teams, map[string]any{"name": "Site Reliability"}, withToken(rev))
	g.do("teams-list", 200, "GET", teams, nil)
	g.do("teams-list-page", 200, "GET", teams+"?limit=1", nil)
	g.do("teams-get", 200, "GET", teams+"/reviewers", nil)
	g.do("teams-get-no-org-role", 200, "GET", teams+"/reviewers", nil, withToken(piaTok.Secret))
	g.do("teams-merge-patch", 200, "PATCH", teams+"/reviewers", map[string]any{"name": "Payment reviewers"}, mergePatch(), ifMatch("1"))
	g.do("teams-json-patch", 200, "PATCH", teams+"/reviewers",
		`[{"op":"test","path":"/version","value":2},{"op":"add","path":"/members/-","value":"`+edID+`"}]`, jsonPatch())
	g.do("problem-team-invalid", 422, "POST", teams, map[string]any{"key": "Bad Key!", "name": "x", "members": []string{edID, edID}})
	g.do("problem-team-unknown-member", 422, "PATCH", teams+"/reviewers", map[string]any{"members": []string{revID, "m_nobody"}}, mergePatch())
	g.do("problem-team-exists", 409, "POST", teams, map[string]any{"key": "reviewers", "name": "Again"})
	g.do("problem-team-stale", 409, "PATCH", teams+"/reviewers", map[string]any{"name": "x"}, mergePatch(), ifMatch("1"))
	g.do("problem-team-forbidden", 403, "PATCH", teams+"/reviewers", map[string]any{"name": "x"}, mergePatch(), withToken(ed))
	g.do("problem-team-not-found", 404, "GET", teams+"/nope", nil)
	g.do("teams-delete", 204, "DELETE", teams+"/site-reliability", nil)

	// ---- flags and targeting ----
	g.do("flags-create", 201, "POST", "/v1/projects/shop/flags", map[string]any{
		"key": "new-checkout", "name": "New checkout", "description": "The one-page checkout", "tags": []string{"checkout", "web"},
		"maintainer": edID, "bucketing_unit": "account_id", "bucketing_salt": "salt-of-the-checkout", "evaluation_mode": "local",
		"variants": []map[string]any{
			{"key": "on", "value": true, "name": "On", "description": "the new page"},
			{"key": "control", "value": map[string]any{"color": "blue", "steps": []int{1, 2, 3}}, "name": "Control"},
			{"key": "half", "value": 0.5},
		},
	})
	g.do("flags-create-minimal", 201, "POST", "/v1/projects/shop/flags", map[string]any{"name": "Payment v2", "variants": []map[string]any{{"key": "treatment"}}})
	g.do("flags-create-doomed", 201, "POST", "/v1/projects/shop/flags", map[string]any{"key": "doomed", "name": "Doomed", "variants": []map[string]any{{"key": "x"}}})
	g.do("flags-list", 200, "GET", "/v1/projects/shop/flags", nil)
	g.do("flags-list-tag", 200, "GET", "/v1/projects/shop/flags?tag=checkout", nil)
	g.do("flags-get", 200, "GET", "/v1/projects/shop/flags/new-checkout", nil)
	g.do("flags-merge-patch", 200, "PATCH", "/v1/projects/shop/flags/new-checkout", map[string]any{"description": "One page, fewer steps"}, mergePatch())
	g.do("flags-json-patch", 200, "PATCH", "/v1/projects/shop/flags/new-checkout",
		`[{"op":"add","path":"/tags/-","value":"q4"},{"op":"replace","path":"/variants/2/name","value":"Half"}]`, jsonPatch())
	g.do("flags-archive", 200, "DELETE", "/v1/projects/shop/flags/payment-v2", nil)
	g.do("flags-list-archived", 200, "GET", "/v1/projects/shop/flags?archived=true", nil)
	g.do("flags-archive-doomed", 200, "DELETE", "/v1/projects/shop/flags/doomed", nil)
	g.do("flags-delete-hard", 204, "DELETE", "/v1/projects/shop/flags/doomed?hard=true", nil)

	staging := "/v1/projects/shop/flags/new-checkout/environments/staging"
	production := "/v1/projects/shop/flags/new-checkout/environments/production"
	g.do("targeting-get-default", 200, "GET", staging, nil)
	g.do("targeting-put", 200, "PUT", staging, map[string]any{
		"enabled": true,
		"rules": []map[string]any{
			{"name": "staff", "conditions": []map[string]any{
				{"attribute": "email", "operator": "ends_with", "values": []string{"@example.com"}},
				{"attribute": "plan", "operator": "in", "values": []string{"gold", "platinum"}},
			}, "rollout": 100, "weights": []map[string]any{{"variant": "on", "weight": 1}}},
			{"name": "new app", "conditions": []map[string]any{
				{"attribute": "app_version", "operator": "semver_gt", "values": []string{"2.3.0"}},
				{"attribute": "beta", "operator": "exists"},
			}, "rollout": 33.33, "weights": []map[string]any{{"variant": "on", "weight": 1}, {"variant": "control", "weight": 2}}},
		},
		"default_rule":     map[string]any{"rollout": 12.5, "weights": []map[string]any{{"variant": "half", "weight": 3}, {"variant": "control", "weight": 1}}},
		"off_variant":      "control",
		"sticky_bucketing": true,
		"exposure_event":   "checkout_seen",
		"version":          0,
	})
	g.do("targeting-get", 200, "GET", staging, nil)
	g.do("targeting-merge-patch", 200, "PATCH", staging, map[string]any{"default_rule": map[string]any{"rollout": 25}}, mergePatch())
	g.do("targeting-json-patch", 200, "PATCH", staging,
		`[{"op":"test","path":"/version","value":2},{"op":"replace","path":"/rules/1/conditions/0/values/0","value":"2.4.0"}]`, jsonPatch())
	g.do("targeting-put-production", 200, "PUT", production, map[string]any{
		"enabled": true, "default_rule": map[string]any{"rollout": 10, "weights": []map[string]any{{"variant": "on", "weight": 1}}},
	}, ifMatch("0"))

	// ---- settings ----
	g.do("settings-get", 200, "GET", "/v1/settings", nil)
	g.do("approval-settings-get-default", 200, "GET", "/v1/projects/shop/environments/production/approval-settings", nil)
	g.do("approval-settings-put", 200, "PUT", "/v1/projects/shop/environments/production/approval-settings", map[string]any{
		"project": "shop", "environment": "production", "required": "all", "tags": []string{}, "min_approvals": 2,
		"allow_self_approval": false, "rejection_blocks_apply": true, "reviewers": "designated",
		"designated_reviewers": []string{revID, samID}, "auto_approve_after": "48h", "expire_after": "168h", "apply": "manual",
		"lock_while_pending": true, "api_token_bypass": false, "allow_unapproved_schedule_deletion": true,
		"bypass": []map[string]any{{"member_id": ritaID}, {"token_id": svc.ID}}, "version": 0,
	})
	g.do("approval-settings-put-staging", 200, "PUT", "/v1/projects/shop/environments/staging/approval-settings", map[string]any{
		"required": "tags", "tags": []string{"q4"}, "min_approvals": 1, "reviewers": "peer", "apply": "on_approval",
		"auto_approve_after": "24h", "api_token_bypass": false,
	}, ifMatch("0"))
	g.do("approval-settings-get", 200, "GET", "/v1/projects/shop/environments/production/approval-settings", nil)
	g.do("settings-put", 200, "PUT", "/v1/settings", map[string]any{"approvals": true, "version": 0})

	// four-eyes on the rules: with approvals on, turning them off is a
	// governance request, which another admin (gia, arranged in the store:
	// the API refuses to add an admin alone while approvals are on)
	// reviews; the requester cannot
	if err := a.store.CreateMember(ctx, &domain.Member{ID: "m_gia", Email: "gia@example.com", Name: "Gia", Role: domain.RoleAdmin,
		CreatedAt: a.clock.Now(), UpdatedAt: a.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	giaTok, err := a.svc.CreateToken(ctx, principalFor(domain.Member{ID: "m_gia", Role: domain.RoleAdmin}), tokenInput("t-gia"))
	if err != nil {
		t.Fatal(err)
	}
	g.secret(giaTok.Secret, "gia's token secret")
	gov := decode[idOnly](t, g.do("governance-approvals-off", 202, "PUT", "/v1/settings", map[string]any{"approvals": false, "version": 1}))
	g.do("problem-governance-own-review", 403, "POST", "/v1/change-requests/"+gov.ID+"/reviews", map[string]any{"decision": "approve", "comment": "mine"})
	g.do("governance-review", 200, "POST", "/v1/change-requests/"+gov.ID+"/reviews", map[string]any{"decision": "approve", "comment": "agreed"}, withToken(giaTok.Secret))
	g.do("governance-withdraw", 200, "POST", "/v1/change-requests/"+gov.ID+"/withdraw", nil)
	g.do("problem-governance-add-admin", 409, "POST", "/v1/members", map[string]any{"email": "boss@example.com", "name": "Boss", "role": "admin"})

	// a bypass, audited with its reason
	g.do("targeting-bypass", 200, "PATCH", production, map[string]any{"enabled": false}, mergePatch(), withToken(rita),
		header("Countersign-Bypass-Reason", "incident 42: checkout errors"))
	// ... which opened its review after: another reviewer acknowledges it
	after := decode[struct {
		Items []idOnly `json:"items"`
	}](t, g.do("change-requests-list-review-after", 200, "GET", "/v1/change-requests?status=review_after", nil))
	if len(after.Items) != 1 {
		t.Fatalf("the bypass opened %d reviews after, want 1", len(after.Items))
	}
	g.do("problem-acknowledge-own-bypass", 403, "POST", "/v1/change-requests/"+after.Items[0].ID+"/acknowledge",
		map[string]any{"comment": "all good"}, withToken(rita))
	g.do("change-requests-acknowledge", 200, "POST", "/v1/change-requests/"+after.Items[0].ID+"/acknowledge",
		map[string]any{"comment": "looked at it: the right call"})

	// ---- a targeting request: rejected, edited, approved, commented, applied ----
	cr1 := decode[idOnly](t, g.do("targeting-gated-merge-patch", 202, "PATCH", production,
		map[string]any{"enabled": true, "default_rule": map[string]any{"rollout": 50}}, mergePatch(), withToken(ed),
		header("Countersign-Change-Title", "Half of production"), header("Countersign-Notify-Reviewers", revID)))
	crPath := "/v1/change-requests/" + cr1.ID
	g.do("change-requests-get", 200, "GET", crPath, nil)
	g.do("change-requests-review-reject", 200, "POST", crPath+"/reviews", map[string]any{"decision": "reject", "comment": "too big a step"}, withToken(rev))
	g.do("change-requests-json-patch", 200, "PATCH", crPath,
		`[{"op":"replace","path":"/proposed_config/default_rule/rollout","value":25},{"op":"replace","path":"/description","value":"A quarter first"}]`,
		jsonPatch(), withToken(ed))
	g.do("change-requests-merge-patch", 200, "PATCH", crPath, map[string]any{"title": "A quarter of production", "notify_reviewers": []string{revID, samID}},
		mergePatch(), withToken(ed))
	for i := range 4 { // the fourth mention within the hour mails no one
		g.do(fmt.Sprintf("change-requests-comment-%d", i+1), 201, "POST", crPath+"/comments",
			map[string]any{"comment": fmt.Sprintf("@%s please look (%d)", revID, i+1)}, withToken(vic))
	}
	g.do("change-requests-comments", 200, "GET", crPath+"/comments", nil)
	g.do("change-requests-comments-page", 200, "GET", crPath+"/comments?limit=2&cursor=c1", nil)
	g.do("change-requests-review-approve", 200, "POST", crPath+"/reviews", map[string]any{"decision": "approve", "comment": "a quarter is fine"}, withToken(rev))
	g.do("change-requests-review-approve-admin", 200, "POST", crPath+"/reviews", map[string]any{"decision": "approve", "comment": "ok"})
	g.do("change-requests-apply", 200, "POST", crPath+"/apply", nil, withToken(ed))
	g.do("change-requests-get-applied", 200, "GET", crPath, nil)
	g.do("targeting-get-applied", 200, "GET", production, nil)

	// ---- a flag-level request, withdrawn ----
	cr2 := decode[idOnly](t, g.do("flags-gated-json-patch", 202, "PATCH", "/v1/projects/shop/flags/new-checkout",
		`[{"op":"replace","path":"/variants/0/value","value":{"layout":"one-page"}}]`, jsonPatch(), withToken(ed)))
	g.do("change-requests-withdraw", 200, "POST", "/v1/change-requests/"+cr2.ID+"/withdraw", nil, withToken(ed))

	// ---- a scheduled request made by a service token ----
	cr3 := decode[idOnly](t, g.do("change-requests-create-service", 201, "POST", "/v1/change-requests", map[string]any{
		"project": "shop", "flag": "new-checkout", "environment": "staging", "title": "Everyone in staging", "description": "before the release",
		"proposed_config":  map[string]any{"enabled": true, "default_rule": map[string]any{"rollout": 100, "weights": []map[string]any{{"variant": "on", "weight": 1}}}},
		"notify_reviewers": []string{edID}, "apply_at": a.clock.Now().Add(36 * time.Hour),
	}, withToken(svc.Token)))
	g.do("change-requests-get-scheduled", 200, "GET", "/v1/change-requests/"+cr3.ID, nil)

	// ---- a flag-level request opened explicitly, and a targeting PUT gated ----
	g.do("change-requests-create-flag", 201, "POST", "/v1/change-requests", map[string]any{
		"project": "shop", "flag": "new-checkout", "title": "Rename the half variant",
		"proposed_flag": map[string]any{"name": "New checkout", "description": "One page, fewer steps", "tags": []string{"checkout", "web", "q4"},
			"maintainer": edID, "bucketing_unit": "account_id", "bucketing_salt": "salt-of-the-checkout", "evaluation_mode": "local",
			"variants": []map[string]any{
				{"key": "on", "value": true, "name": "On", "description": "the new page"},
				{"key": "control", "value": map[string]any{"color": "blue", "steps": []int{1, 2, 3}}, "name": "Control"},
				{"key": "half", "value": 0.5, "name": "Fifty-fifty"},
			}},
	}, withToken(ed))
	g.do("targeting-gated-put", 202, "PUT", production, map[string]any{
		"enabled": true, "default_rule": map[string]any{"rollout": 75, "weights": []map[string]any{{"variant": "on", "weight": 1}}}, "version": 3,
	}, withToken(ed), header("Countersign-Change-Title", "Three quarters"))
	g.do("change-requests-list", 200, "GET", "/v1/change-requests", nil)
	g.do("change-requests-list-page", 200, "GET", "/v1/change-requests?limit=2", nil)
	g.do("change-requests-list-filtered", 200, "GET", "/v1/change-requests?status=applied&project=shop&reviewer="+revID, nil)

	// ---- SDK keys ----
	keys := "/v1/projects/shop/environments/production/sdk-keys"
	web := decode[struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}](t, g.do("sdk-keys-create", 201, "POST", keys, map[string]any{"name": "web"}))
	g.secret(web.Key, "the web SDK key's secret")
	mobile := decode[idOnly](t, g.do("sdk-keys-create-mobile", 201, "POST", keys, map[string]any{"name": "mobile"}))
	rotated := decode[struct {
		Key string `json:"key"`
	}](t, g.do("sdk-keys-rotate", 201, "POST", keys+"/"+web.ID+"/rotate", map[string]any{"old_key_expires_at": a.clock.Now().Add(24 * time.Hour)}))
	g.secret(rotated.Key, "the rotated SDK key's secret")
	g.do("sdk-keys-delete", 204, "DELETE", keys+"/"+mobile.ID, nil)
	g.do("sdk-keys-list", 200, "GET", keys, nil)

	// ---- sessions ----
	b, csrf := a.signedIn(edID)
	b2, _ := a.signedIn(edID)
	g.by(b, "session-get", 200, "GET", "/v1/session", nil)
	sessions := decode[struct {
		Items []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"items"`
	}](t, g.by(b, "members-sessions", 200, "GET", "/v1/members/"+edID+"/sessions", nil))
	g.do("members-sessions-admin", 200, "GET", "/v1/members/"+edID+"/sessions", nil)
	for _, s := range sessions.Items {
		if !s.Current {
			g.by(b, "members-sessions-delete", 204, "DELETE", "/v1/members/"+edID+"/sessions/"+s.ID, nil, csrfHeader(csrf))
		}
	}
	g.do("members-sessions-after-revoke", 200, "GET", "/v1/members/"+edID+"/sessions", nil)
	g.by(b2, "session-delete-ended", 401, "DELETE", "/v1/session", nil)
	g.by(b, "session-delete", 204, "DELETE", "/v1/session", nil, csrfHeader(csrf))
	g.do("auth-email-link", 202, "POST", "/v1/auth/email-link", map[string]any{"email": "ed@example.com"}, noAuth())

	// ---- tokens, used ----
	a.clock.Advance(2 * time.Minute) // last use is recorded at most once a minute
	a.do("GET", "/v1/projects", nil, withToken(svc.Token)).want(t, 200)
	a.do("GET", "/v1/projects", nil, withToken(ed)).want(t, 200)
	g.do("tokens-list", 200, "GET", "/v1/tokens", nil)
	g.do("tokens-list-member", 200, "GET", "/v1/tokens?member="+edID, nil)

	// ---- a dead letter ----
	pending, err := a.store.ListOutbox(ctx, a.clock.Now().Add(time.Hour), 200)
	if err != nil || len(pending) == 0 {
		t.Fatalf("no outbox items to kill (%v)", err)
	}
	var victim *domain.OutboxItem
	for i := range pending {
		if pending[i].Entry.Action == "change_request.applied" {
			victim = &pending[i]
		}
	}
	if victim == nil {
		t.Fatal("no outbox item of the apply")
	}
	claimed := a.clock.Now().Add(time.Minute)
	if _, err := a.store.UpdateOutbox(ctx, victim.ID, func(it *domain.OutboxItem) error {
		it.State, it.Attempts, it.LastError, it.NextAttemptAt = domain.OutboxDead, 5, "mail: 554 rejected", a.clock.Now()
		it.Done = []string{"event"}
		it.Deliveries = map[string]domain.OutboxDelivery{
			"event":          {State: domain.OutboxDelivered, NextAttemptAt: a.clock.Now()},
			"email:" + revID: {State: domain.OutboxDead, Attempts: 5, NextAttemptAt: a.clock.Now(), LastError: "mail: 554 rejected"},
			"email:" + samID: {State: domain.OutboxDead, Attempts: 1, NextAttemptAt: a.clock.Now(), LastError: "suppressed", Refused: true},
		}
		it.ClaimedBy, it.ClaimedUntil = "notifier-1", &claimed
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g.do("dead-letters", 200, "GET", "/v1/notifications/dead-letters", nil)

	// ---- the audit log ----
	g.do("audit-list", 200, "GET", "/v1/audit?limit=200", nil)
	g.do("audit-list-page", 200, "GET", "/v1/audit?limit=3", nil)
	g.do("audit-list-filtered", 200, "GET", "/v1/audit?project=shop&flag=new-checkout&environment=production&actor=member:"+edID, nil)

	// ---- problems ----
	g.do("problem-invalid", 422, "POST", "/v1/projects", map[string]any{"key": "Bad Key!", "name": ""})
	g.do("problem-stale", 409, "PATCH", "/v1/projects/shop", map[string]any{"name": "x"}, mergePatch(), ifMatch("1"))
	g.do("problem-not-found", 404, "GET", "/v1/change-requests/cr_nope", nil)
	g.do("problem-locked", 409, "PATCH", production, map[string]any{"enabled": false}, mergePatch(), withToken(ed))

	// ---- promotion ----
	g.do("targeting-promote", 202, "POST", staging+"/promote", map[string]any{"from": "production"})
	g.do("problem-promote-onto-itself", 422, "POST", staging+"/promote", map[string]any{"from": "staging"})

	// ---- segments ----
	segments := "/v1/projects/shop/segments"
	g.do("segments-create", 201, "POST", segments, map[string]any{"key": "beta-testers", "name": "Beta testers", "description": "Who tries things first",
		"included": []string{"user-1", "user-2"}, "excluded": []string{"user-3"},
		"rules": []map[string]any{{"conditions": []map[string]any{{"attribute": "email", "operator": "ends_with", "values": []string{"@example.com"}}}}},
	}, withToken(ed))
	g.do("segments-create-minimal", 201, "POST", segments, map[string]any{"name": "Staff Only"})
	g.do("segments-list", 200, "GET", segments, nil)
	g.do("segments-list-page", 200, "GET", segments+"?limit=1", nil)
	g.do("segments-get", 200, "GET", segments+"/beta-testers", nil)
	g.do("segments-put", 200, "PUT", segments+"/beta-testers", map[string]any{"project": "shop", "key": "beta-testers", "name": "Beta testers",
		"included": []string{"user-1", "user-2", "user-5"}, "excluded": []string{},
		"rules":   []map[string]any{{"conditions": []map[string]any{{"attribute": "plan", "operator": "in", "values": []string{"gold"}}}}},
		"version": 1}, withToken(ed))
	g.do("segments-merge-patch", 200, "PATCH", segments+"/beta-testers", map[string]any{"description": "People who try things first"}, mergePatch(), ifMatch("2"))
	g.do("segments-json-patch", 200, "PATCH", segments+"/beta-testers",
		`[{"op":"test","path":"/version","value":3},{"op":"add","path":"/included/-","value":"user-4"}]`, jsonPatch())
	g.do("problem-segment-invalid", 422, "POST", segments, map[string]any{"key": "Bad Key!", "name": "x", "included": []string{"a", "a"}})
	g.do("problem-segment-stale", 409, "PUT", segments+"/beta-testers", map[string]any{"name": "Beta"}, ifMatch("1"))
	g.do("problem-segment-no-version", 428, "PUT", segments+"/beta-testers", map[string]any{"name": "Beta"})
	// staging's targeting names the segment: it cannot be deleted
	if _, err := a.store.UpdateFlagConfig(ctx, "shop", "new-checkout", "staging", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Rules = append(c.Rules, domain.Rule{Name: "beta", Conditions: []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"beta-testers"}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g.do("problem-segment-in-use", 409, "DELETE", segments+"/beta-testers", nil)
	g.do("segments-delete", 204, "DELETE", segments+"/staff-only", nil)
	// production's targeting names it too: a change needs approval there
	if _, err := a.store.UpdateFlagConfig(ctx, "shop", "new-checkout", "production", func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		c.Rules = append(c.Rules, domain.Rule{Name: "beta", Conditions: []domain.Condition{{Attribute: "user_id", Operator: domain.OpInSegment, Values: []string{"beta-testers"}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	g.do("segments-gated-patch", 202, "PATCH", segments+"/beta-testers", map[string]any{"excluded": []string{"user-9"}}, mergePatch(), withToken(ed))

	// ---- requests of several changes: a draft put together through the
	// write routes, then submitted; and one opened with its changes ----
	draft := decode[idOnly](t, g.do("change-requests-create-draft", 201, "POST", "/v1/change-requests",
		map[string]any{"project": "shop", "title": "Payments together", "draft": true}, withToken(ed)))
	checkout := "/v1/projects/shop/flags/new-checkout/environments/"
	g.do("targeting-into-draft", 202, "PATCH", checkout+"development", map[string]any{"enabled": true}, mergePatch(), withToken(ed), header("X-Change-Request", draft.ID))
	g.do("targeting-into-draft-staging", 202, "PATCH", checkout+"staging", map[string]any{"enabled": false}, mergePatch(), withToken(ed), header("X-Change-Request", draft.ID))
	g.do("flags-into-draft", 202, "PATCH", "/v1/projects/shop/flags/new-checkout", map[string]any{"description": "the one-page checkout"}, mergePatch(),
		withToken(ed), header("X-Change-Request", draft.ID))
	g.do("problem-draft-of-another", 404, "GET", "/v1/change-requests/"+draft.ID, nil, withToken(rev))
	g.do("change-requests-remove-change", 200, "DELETE", "/v1/change-requests/"+draft.ID+"/changes/1", nil, withToken(ed))
	g.do("change-requests-submit", 200, "POST", "/v1/change-requests/"+draft.ID+"/submit", nil, withToken(ed))
	g.do("problem-submit-twice", 409, "POST", "/v1/change-requests/"+draft.ID+"/submit", nil, withToken(ed))
	g.do("change-requests-create-several", 201, "POST", "/v1/change-requests", map[string]any{
		"project": "shop", "title": "Staging and the flag", "changes": []map[string]any{
			{"flag": "new-checkout", "environment": "staging", "proposed_config": map[string]any{"enabled": false}},
			{"flag": "new-checkout", "environment": "development", "proposed_config": map[string]any{"enabled": true, "default_rule": map[string]any{"rollout": 30, "weights": []map[string]any{{"variant": "on", "weight": 1}}}}},
		}}, withToken(ed))
	seventeen := make([]map[string]any, 17)
	for i := range seventeen {
		seventeen[i] = map[string]any{"flag": "new-checkout", "environment": "development", "proposed_config": map[string]any{"enabled": true}}
	}
	g.do("problem-change-requests-too-many", 422, "POST", "/v1/change-requests", map[string]any{"project": "shop", "changes": seventeen}, withToken(ed))
	g.do("targeting-promote-flags", 201, "POST", "/v1/projects/shop/environments/development/promote",
		map[string]any{"from": "production", "flags": []string{"new-checkout"}}, withToken(ed))
	g.do("problem-promote-flags-alike", 422, "POST", "/v1/projects/shop/environments/production/promote",
		map[string]any{"from": "production", "flags": []string{"new-checkout", "new-checkout"}}, withToken(ed))
	g.do("problem-change-requests-twice", 422, "POST", "/v1/change-requests", map[string]any{"project": "shop", "changes": seventeen[:2]}, withToken(ed))

	// ---- change freezes: a one-off freeze of development (ungated there)
	// refuses a direct write, naming the freeze; managers write freezes ----
	now := a.clock.Now()
	fz := decode[idOnly](t, g.do("freezes-create", 201, "POST", "/v1/freezes", map[string]any{"name": "Release freeze", "reason": "the release goes out",
		"project": "shop", "environments": []string{"development"}, "from": now, "to": now.Add(4 * time.Hour), "scheduled": "hold"}))
	g.do("freezes-create-every-project", 201, "POST", "/v1/freezes", map[string]any{"name": "Year end", "from": now.Add(48 * time.Hour), "to": now.Add(72 * time.Hour), "time_zone": "Europe/Berlin"})
	g.do("freezes-list", 200, "GET", "/v1/freezes", nil)
	g.do("freezes-list-active", 200, "GET", "/v1/freezes?project=shop&environment=development&active_at="+now.Add(time.Hour).UTC().Format(time.RFC3339), nil)
	g.do("freezes-get", 200, "GET", "/v1/freezes/"+fz.ID, nil)
	g.do("problem-frozen", 409, "PATCH", checkout+"development", map[string]any{"enabled": false}, mergePatch(), withToken(ed))
	g.do("freezes-merge-patch", 200, "PATCH", "/v1/freezes/"+fz.ID, map[string]any{"scheduled": "fail", "reason": "the release, and its checks"}, mergePatch(), ifMatch("1"))
	g.do("problem-freeze-invalid", 422, "POST", "/v1/freezes", map[string]any{"name": "", "start": "0 16 * * fri", "end": "nonsense", "scheduled": "later"})
	g.do("problem-freeze-forbidden", 403, "POST", "/v1/freezes", map[string]any{"name": "Mine", "project": "shop", "from": now, "to": now.Add(time.Hour)}, withToken(ed))
	g.do("problem-freeze-not-found", 404, "GET", "/v1/freezes/fz_nothing", nil)
	// with approvals on, narrowing or removing a freeze in force needs a
	// second admin; one that ended is deleted directly
	g.do("freezes-patch-narrowing-governed", 202, "PATCH", "/v1/freezes/"+fz.ID, map[string]any{"to": now.Add(2 * time.Hour)}, mergePatch())
	g.do("freezes-delete-governed", 202, "DELETE", "/v1/freezes/"+fz.ID, nil)
	ended := decode[idOnly](t, g.do("freezes-create-ended", 201, "POST", "/v1/freezes", map[string]any{"name": "Last night",
		"project": "shop", "from": now.Add(-12 * time.Hour), "to": now.Add(-4 * time.Hour)}))
	g.do("freezes-delete", 204, "DELETE", "/v1/freezes/"+ended.ID, nil)

	// a service token with the admin role is written pending: its secret
	// shown once, refused until gia's approval is applied
	pendingTok := decode[struct {
		Token         string `json:"token"`
		ChangeRequest idOnly `json:"change_request"`
	}](t, g.do("tokens-create-pending", 202, "POST", "/v1/tokens", map[string]any{"name": "root-bot", "service": true, "role": "admin"}))
	g.secret(pendingTok.Token, "the pending token's secret")
	g.do("problem-token-pending", 401, "GET", "/v1/projects", nil, withToken(pendingTok.Token))
	g.do("governance-token-review", 200, "POST", "/v1/change-requests/"+pendingTok.ChangeRequest.ID+"/reviews",
		map[string]any{"decision": "approve", "comment": "the deploy bot, agreed"}, withToken(giaTok.Secret))
	g.do("governance-token-apply", 200, "POST", "/v1/change-requests/"+pendingTok.ChangeRequest.ID+"/apply", nil)
	g.do("projects-list-token-applied", 200, "GET", "/v1/projects", nil, withToken(pendingTok.Token))

	// adding a member to a team a requirement names needs a second admin
	// while approvals are on (a requirement added is a strengthening: 200)
	var qaSettings map[string]any
	a.do("GET", "/v1/projects/shop/environments/qa-lab/approval-settings", nil).want(t, 200).json(&qaSettings)
	qaSettings["require"] = []map[string]any{{"team": "reviewers", "min": 1}}
	a.do("PUT", "/v1/projects/shop/environments/qa-lab/approval-settings", qaSettings).want(t, 200)
	g.do("teams-patch-governed", 202, "PATCH", teams+"/reviewers", `[{"op":"add","path":"/members/-","value":"`+samID+`"}]`, jsonPatch())

	// ---- flags in browsers: a client key, an environment's allowed origins, an exposed flag ----
	clientKey := decode[struct {
		Key string `json:"key"`
	}](t, g.do("sdk-keys-create-client", 201, "POST", keys, map[string]any{"name": "storefront", "kind": "client"}))
	g.secret(clientKey.Key, "the client key's secret")
	g.do("problem-sdk-key-kind", 422, "POST", keys, map[string]any{"name": "x", "kind": "browser"})
	g.do("environments-allowed-origins", 200, "PATCH", "/v1/projects/shop/environments/qa-lab",
		map[string]any{"allowed_origins": []string{"https://shop.example.com", "http://localhost:5173"}}, mergePatch())
	g.do("problem-allowed-origins", 422, "PATCH", "/v1/projects/shop/environments/qa-lab",
		map[string]any{"allowed_origins": []string{"https://shop.example.com/", "null", "https://*.example.com", "HTTPS://Shop.example.com"}}, mergePatch())

	// what the store keeps that no answer may show
	toks, _, err := a.store.ListTokens(ctx, "", domain.Page{Limit: domain.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		g.secret(tk.Hash, "the hash of token "+tk.ID)
	}
	sdk, _, err := a.store.ListSDKKeys(ctx, "shop", "production", domain.Page{Limit: domain.MaxPageLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sdk {
		g.secret(k.Hash, "the hash of SDK key "+k.ID)
	}
	for _, id := range []string{edID, revID, ritaID, samID, vicID} {
		ss, _, err := a.store.ListSessions(ctx, id, domain.Page{Limit: domain.MaxPageLimit})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			g.secret(s.Hash, "the hash of session "+s.ID)
		}
	}
	for _, c := range []*http.Cookie{b.cookie(httpapi.SessionCookie), b2.cookie(httpapi.SessionCookie)} {
		if c != nil {
			g.secret(c.Value, "a session cookie")
		}
	}
}

func TestGoldenResponses(t *testing.T) {
	g := newGoldenRun(t)
	runGoldenScenario(g)
	if t.Failed() {
		return
	}

	// every route that answers JSON (or nothing) is in the scenario
	covered := map[string]bool{}
	for _, s := range g.steps {
		if s.status < 300 {
			covered[s.pattern] = true
		}
	}
	for _, rt := range g.a.api.Routes() {
		key := rt.Method + " " + rt.Pattern
		if _, page := notJSONRoutes[key]; page {
			continue
		}
		if !covered[key] {
			t.Errorf("the golden scenario has no successful %s", key)
		}
	}
	for key := range notJSONRoutes {
		if !slices.ContainsFunc(g.a.api.Routes(), func(rt httpapi.Route) bool { return rt.Method+" "+rt.Pattern == key }) {
			t.Errorf("notJSONRoutes names %s, which the route table no longer has", key)
		}
	}

	// the index: the scenario's order, each step's request, route, status
	// and the headers that name what it answered (ETag, Location)
	var index bytes.Buffer
	for _, s := range g.steps {
		fmt.Fprintf(&index, "%s\t%s %s\t%s\t%d\tETag %s\tLocation %s\n", s.name, s.method, s.path, s.pattern, s.status, s.etag, s.location)
	}
	if *updateGolden {
		if err := os.RemoveAll(goldenDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		write := func(name string, b []byte) {
			if err := os.WriteFile(filepath.Join(goldenDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("index.tsv", index.Bytes())
		for _, s := range g.steps {
			write(s.name+".json", s.body)
		}
		t.Logf("wrote %d golden bodies to %s", len(g.steps), goldenDir)
		return
	}
	t.Run("no secrets", func(t *testing.T) { checkGoldenSecrets(t, g) })
	compareGolden(t, "index.tsv", index.Bytes())
	for _, s := range g.steps {
		compareGolden(t, s.name+".json", s.body)
	}
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && !g.names[name] {
			t.Errorf("%s/%s belongs to no step of the scenario", goldenDir, e.Name())
		}
	}
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(goldenDir, name))
	if err != nil {
		t.Errorf("%s: %v (run with -update-golden to write it, for a deliberate change of the API)", name, err)
		return
	}
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	from := max(0, i-120)
	t.Errorf("%s differs from the golden body at byte %d:\n got: …%s\nwant: …%s", name, i, clipAt(got, from), clipAt(want, from))
}

func clipAt(b []byte, from int) string {
	if from > len(b) {
		return ""
	}
	b = b[from:]
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// secretMembers are JSON member names that hold what only the server may
// know: the hashes of tokens, SDK keys and sessions, the nonces of used
// e-mail action links, link keys. allowedIn names the steps whose body
// carries one on purpose.
var secretMembers = map[string][]string{
	"hash":         nil,
	"token_hash":   nil,
	"secret":       nil,
	"used_links":   nil,
	"nonce":        nil,
	"link_key":     nil,
	"signing_key":  nil,
	"csrf_token":   {"session-get"}, // the caller's own session: the token it must send back
	"session_hash": nil,
}

// checkGoldenSecrets reads every golden body as checked in and fails if one
// holds a secret member (at any depth) or a secret value the scenario's
// store keeps (token, SDK key and session hashes, cookies). Secrets shown
// on purpose, once, are allowed in their own step only: a new token's or
// SDK key's secret in the answer that created it.
func checkGoldenSecrets(t *testing.T, g *goldenRun) {
	shownOnce := map[string]string{} // secret value → the step allowed to show it
	for _, s := range g.steps {
		var v struct {
			Token string `json:"token"`
			Key   string `json:"key"`
		}
		// 201, or 202 for a token written pending (its secret is shown once)
		if json.Unmarshal(s.body, &v) == nil && (s.status == http.StatusCreated || s.status == http.StatusAccepted) {
			for _, secret := range []string{v.Token, v.Key} {
				if _, known := g.secrets[secret]; known && shownOnce[secret] == "" {
					shownOnce[secret] = s.name
				}
			}
		}
	}
	for _, s := range g.steps {
		body, err := os.ReadFile(filepath.Join(goldenDir, s.name+".json"))
		if err != nil {
			t.Errorf("%s: %v", s.name, err)
			continue
		}
		if len(bytes.TrimSpace(body)) > 0 {
			var doc any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Errorf("%s: not JSON: %v", s.name, err)
				continue
			}
			walkMembers(doc, "", func(ptr, name string) {
				if allowed, secret := secretMembers[name]; secret && !slices.Contains(allowed, s.name) {
					t.Errorf("%s: the body has the secret member %s", s.name, ptr)
				}
			})
		}
		for value, what := range g.secrets {
			if bytes.Contains(body, []byte(value)) && shownOnce[value] != s.name {
				t.Errorf("%s: the body shows %s", s.name, what)
			}
		}
	}
	if len(g.secrets) < 15 {
		t.Errorf("only %d secrets collected: the scenario should make tokens, SDK keys and sessions", len(g.secrets))
	}
}

// walkMembers calls fn with the pointer and name of every member of every
// object in v.
func walkMembers(v any, ptr string, fn func(ptr, name string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			fn(ptr+"/"+k, k)
			walkMembers(e, ptr+"/"+k, fn)
		}
	case []any:
		for i, e := range x {
			walkMembers(e, fmt.Sprintf("%s/%d", ptr, i), fn)
		}
	}
}

// A request on which an e-mail action link was used keeps the link's nonce
// (domain.ChangeRequest.UsedLinks, so that the link acts once). Before the
// views, every answer that showed the request showed the nonces too
// ("used_links", which openapi.yaml never had); no answer shows them now.
// The golden scenario uses no link, so that its bodies are those of the
// API before the views, byte for byte; this test is the one place where
// the answers differ from before, by that member only.
func TestUsedLinksNeverReachClients(t *testing.T) {
	a := newTestAPI(t)
	signer, err := actionlink.NewSigner([]byte(strings.Repeat("golden-link-key-", 3)))
	if err != nil {
		t.Fatal(err)
	}
	a.svc.WithLinks(signer)
	approvalsOn(t, a)
	_, editor := a.newMemberToken(domain.RoleEditor)
	revID, _ := a.newMemberTokenNamed("rev", domain.RoleManager)
	cr := decode[idOnly](t, a.do("PATCH", prodPath, map[string]any{"default_rule": map[string]any{"rollout": 50}}, mergePatch(), withToken(editor)).want(t, 202))
	stored, err := a.store.GetChangeRequest(context.Background(), cr.ID)
	if err != nil {
		t.Fatal(err)
	}
	link, _, err := a.svc.IssueLink(stored, revID, actionlink.Approve)
	if err != nil {
		t.Fatal(err)
	}
	a.browser().do("POST", "/a/"+link, url.Values{"csrf": {signer.CSRF(link)}, "comment": {"ok"}}.Encode(), form()).want(t, 200)
	if stored, err = a.store.GetChangeRequest(context.Background(), cr.ID); err != nil || len(stored.UsedLinks) != 1 {
		t.Fatalf("the link's use is not recorded: %v %+v", err, stored)
	}
	nonce := stored.UsedLinks[0]

	bodies := map[string][]byte{
		"get":   a.do("GET", "/v1/change-requests/"+cr.ID, nil).want(t, 200).body,
		"list":  a.do("GET", "/v1/change-requests", nil).want(t, 200).body,
		"apply": a.do("POST", "/v1/change-requests/"+cr.ID+"/apply", nil, withToken(editor)).want(t, 200).body,
		"audit": a.do("GET", "/v1/audit?limit=200", nil).want(t, 200).body,
	}
	for name, body := range bodies {
		if bytes.Contains(body, []byte("used_links")) || bytes.Contains(body, []byte(nonce)) || bytes.Contains(body, []byte(link)) {
			t.Errorf("%s shows the used link: %s", name, body)
		}
	}
	// the rest of the request is all there
	var got struct {
		Reviews []struct {
			Channel string `json:"channel"`
		} `json:"reviews"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(bodies["apply"], &got); err != nil || got.Status != "applied" || len(got.Reviews) != 1 || got.Reviews[0].Channel != "email" {
		t.Errorf("the request after the link's approval: %v %s", err, bodies["apply"])
	}
}
