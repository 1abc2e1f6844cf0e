package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/httpapi"
)

var twoVariants = map[string]any{
	"name": "New checkout",
	"tags": []string{"checkout"},
	"variants": []map[string]any{
		{"key": "on", "value": true, "name": "On"},
		{"key": "control", "value": map[string]any{"color": "blue"}},
	},
}

func (a *testAPI) project(key string) {
	a.t.Helper()
	a.do("POST", "/v1/projects", map[string]any{"key": key, "name": "Project " + key}).want(a.t, 201)
}

func (a *testAPI) flag(project string, body map[string]any) domain.Flag {
	a.t.Helper()
	var f domain.Flag
	a.do("POST", "/v1/projects/"+project+"/flags", body).want(a.t, 201).json(&f)
	return f
}

// newMemberToken makes a member with role and returns a token of theirs.
func (a *testAPI) newMemberToken(role domain.Role) (memberID, token string) {
	a.t.Helper()
	m := a.addMember(string(role), role)
	// Tokens are created by their member: log in as them through a service
	// path is not possible, so create the token directly with the service.
	tok, err := a.svc.CreateToken(a.t.Context(), principalFor(m), tokenInput("t-"+string(role)))
	if err != nil {
		a.t.Fatal(err)
	}
	return m.ID, tok.Secret
}

func TestHealthNeedsNoToken(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("GET", "/healthz", nil, noAuth()).want(t, 200)
	if !strings.Contains(string(r.body), `"ok"`) {
		t.Fatalf("health body: %s", r.body)
	}
}

func TestAuthentication(t *testing.T) {
	a := newTestAPI(t)
	for name, o := range map[string]opt{
		"missing":      noAuth(),
		"wrong":        withToken("cs_this_is_not_a_token_at_all_xxxxxxx"),
		"short":        withToken("abc"),
		"not bearer":   header("Authorization", "Basic "+adminToken),
		"empty bearer": header("Authorization", "Bearer "),
	} {
		t.Run(name, func(t *testing.T) {
			r := a.do("GET", "/v1/projects", nil, o)
			r.wantProblem(t, 401, domain.CodeUnauthenticated)
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	// Every route but health, the document, the e-mail link pages and the
	// ways to sign in needs a token (or a session).
	public := map[string]bool{"/healthz": true, "/openapi.yaml": true, "/a/{token}": true, "/login": true, "/signin/{token}": true,
		"/logout": true, "/auth/oidc/login": true, "/auth/oidc/callback": true, "/v1/auth/email-link": true}
	srv := httpapi.New(a.svc, nil)
	for _, rt := range srv.Routes() {
		if rt.Public {
			if !public[rt.Pattern] {
				t.Errorf("%s %s is public", rt.Method, rt.Pattern)
			}
			continue
		}
		path := strings.NewReplacer("{project}", "p", "{environment}", "e", "{flag}", "f", "{member}", "m", "{token}", "t", "{segment}", "s").Replace(rt.Pattern)
		a.do(rt.Method, path, nil, noAuth()).wantProblem(t, 401, domain.CodeUnauthenticated)
	}
}

func TestRoles(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.flag("shop", twoVariants)
	_, viewer := a.newMemberToken(domain.RoleViewer)
	_, editor := a.newMemberToken(domain.RoleEditor)
	_, manager := a.newMemberToken(domain.RoleManager)

	// viewers read, and nothing else
	a.do("GET", "/v1/projects/shop/flags/new-checkout", nil, withToken(viewer)).want(t, 200)
	a.do("POST", "/v1/projects/shop/flags", map[string]any{"name": "x", "variants": []map[string]any{{"key": "a"}}}, withToken(viewer)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("PATCH", "/v1/projects/shop/flags/new-checkout", map[string]any{"description": "v"}, withToken(viewer)).wantProblem(t, 403, domain.CodeForbidden)
	// editors change flags but not projects or environments
	a.do("PATCH", "/v1/projects/shop/flags/new-checkout", map[string]any{"description": "e"}, withToken(editor)).want(t, 200)
	a.do("POST", "/v1/projects", map[string]any{"key": "x", "name": "x"}, withToken(editor)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("PATCH", "/v1/projects/shop/environments/staging", map[string]any{"protected": true}, withToken(editor)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("DELETE", "/v1/projects/shop/flags/new-checkout?hard=true", nil, withToken(editor)).wantProblem(t, 403, domain.CodeForbidden)
	// managers change settings but not members
	a.do("PATCH", "/v1/projects/shop/environments/staging", map[string]any{"protected": true}, withToken(manager)).want(t, 200)
	a.do("POST", "/v1/members", map[string]any{"email": "z@example.com", "name": "z", "role": "viewer"}, withToken(manager)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("POST", "/v1/tokens", map[string]any{"name": "svc", "service": true, "role": "viewer"}, withToken(manager)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("DELETE", "/v1/projects/shop", nil, withToken(manager)).wantProblem(t, 403, domain.CodeForbidden)
}

func TestProjectsAndEnvironments(t *testing.T) {
	a := newTestAPI(t)
	var p domain.Project
	r := a.do("POST", "/v1/projects", map[string]any{"name": "Web Shop", "description": "the shop"}).want(t, 201)
	r.json(&p)
	if p.Key != "web-shop" || p.Version != 1 || r.Header.Get("Location") != "/v1/projects/web-shop" || r.Header.Get("ETag") != `"1"` {
		t.Fatalf("created %+v, headers %v", p, r.Header)
	}
	a.do("POST", "/v1/projects", map[string]any{"key": "web-shop", "name": "again"}).wantProblem(t, 409, domain.CodeConflict)
	a.do("POST", "/v1/projects", map[string]any{"key": "Bad Key!", "name": ""}).wantProblem(t, 422, domain.CodeInvalid, "/key", "/name")

	var envs httpapi.List[domain.Environment]
	a.do("GET", "/v1/projects/web-shop/environments", nil).want(t, 200).json(&envs)
	if len(envs.Items) != 3 || envs.Items[0].Key != "development" || envs.Items[1].Key != "production" || !envs.Items[1].Protected || envs.Items[2].Key != "staging" {
		t.Fatalf("default environments: %+v", envs.Items)
	}
	a.do("POST", "/v1/projects/web-shop/environments", map[string]any{"name": "QA Lab"}).want(t, 201)
	var e domain.Environment
	a.do("GET", "/v1/projects/web-shop/environments/qa-lab", nil).want(t, 200).json(&e)
	if e.Name != "QA Lab" || e.Protected {
		t.Fatalf("qa: %+v", e)
	}
	a.do("PATCH", "/v1/projects/web-shop/environments/qa-lab", map[string]any{"protected": true}, mergePatch(), ifMatch("1")).want(t, 200).json(&e)
	if !e.Protected || e.Version != 2 {
		t.Fatalf("after patch: %+v", e)
	}
	a.do("PATCH", "/v1/projects/web-shop/environments/qa-lab", map[string]any{"key": "other"}, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/key")
	a.do("GET", "/v1/projects/web-shop/environments/nope", nil).wantProblem(t, 404, domain.CodeNotFound)
	a.do("GET", "/v1/projects/nope/environments", nil).wantProblem(t, 404, domain.CodeNotFound)

	a.do("PATCH", "/v1/projects/web-shop", map[string]any{"name": "Shop", "description": nil}, mergePatch()).want(t, 200).json(&p)
	if p.Name != "Shop" || p.Description != "" || p.Version != 2 {
		t.Fatalf("patched project: %+v", p)
	}
	// a project with flags cannot be deleted; once they are gone it can
	a.flag("web-shop", twoVariants)
	a.do("DELETE", "/v1/projects/web-shop", nil).wantProblem(t, 409, domain.CodeConflict)
	a.do("DELETE", "/v1/projects/web-shop/flags/new-checkout", nil).want(t, 200)
	a.do("DELETE", "/v1/projects/web-shop/flags/new-checkout?hard=true", nil).want(t, 204)
	a.do("DELETE", "/v1/projects/web-shop", nil).want(t, 204)
	a.do("GET", "/v1/projects/web-shop", nil).wantProblem(t, 404, domain.CodeNotFound)
}

func TestFlagCreateDefaultsAndValidation(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	f := a.flag("shop", twoVariants)
	if f.Key != "new-checkout" || f.BucketingUnit != "user_id" || len(f.BucketingSalt) < 4 || f.EvaluationMode != "remote" ||
		f.Version != 1 || f.Maintainer == "" || string(f.Variants[1].Value) != `{"color":"blue"}` {
		t.Fatalf("defaults: %+v", f)
	}
	other := a.flag("shop", map[string]any{"name": "Other", "variants": []map[string]any{{"key": "treatment"}}})
	if other.BucketingSalt == f.BucketingSalt {
		t.Fatal("bucketing salts must be random per flag")
	}
	if string(other.Variants[0].Value) != `"treatment"` {
		t.Fatalf("a variant without value serves its key, got %s", other.Variants[0].Value)
	}
	a.do("POST", "/v1/projects/shop/flags", twoVariants).wantProblem(t, 409, domain.CodeConflict)

	p := a.do("POST", "/v1/projects/shop/flags", map[string]any{
		"name":     "Reserved",
		"variants": []map[string]any{{"key": "OFF", "value": 1}, {"key": "a"}, {"key": "a"}},
	}).wantProblem(t, 422, domain.CodeInvalid, "/variants/0/key", "/variants/2/key")
	if !strings.Contains(p.Errors[0].Detail, "reserved") {
		t.Fatalf("the off error should say the key is reserved: %+v", p.Errors[0])
	}
	a.do("POST", "/v1/projects/shop/flags", map[string]any{"name": "none", "variants": []any{}}).wantProblem(t, 422, domain.CodeInvalid, "/variants")
	a.do("POST", "/v1/projects/shop/flags", map[string]any{"name": "m", "maintainer": "m_nobody", "variants": []map[string]any{{"key": "a"}}}).
		wantProblem(t, 422, domain.CodeInvalid, "/maintainer")
	a.do("POST", "/v1/projects/shop/flags", map[string]any{"name": "e", "evaluation_mode": "edge", "bucketing_unit": "1x", "variants": []map[string]any{{"key": "a"}}}).
		wantProblem(t, 422, domain.CodeInvalid, "/bucketing_unit", "/evaluation_mode")
	a.do("POST", "/v1/projects/nope/flags", twoVariants).wantProblem(t, 404, domain.CodeNotFound)
}

func TestBodyRules(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.do("POST", "/v1/projects", `{"key": "x", "name": `).wantProblem(t, 400, domain.CodeMalformed)
	a.do("POST", "/v1/projects", `{"key":"x","name":"x"} {"again":1}`).wantProblem(t, 400, domain.CodeMalformed)
	a.do("POST", "/v1/projects", `{"key":"x","name":"x","colour":"red"}`).wantProblem(t, 422, domain.CodeInvalid, "/colour")
	a.do("POST", "/v1/projects/shop/flags", `{"name":"x","variants":[{"key":"a","valu":1}]}`).wantProblem(t, 422, domain.CodeInvalid, "/variants/0/valu")
	a.do("POST", "/v1/projects", `{"key":"x","name":42}`).wantProblem(t, 422, domain.CodeInvalid, "/name")
	a.do("POST", "/v1/projects", `{"key":"x","name":"x"}`, contentType("text/plain")).wantProblem(t, 415, domain.CodeUnsupportedType)
	big := `{"key":"x","name":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`
	a.do("POST", "/v1/projects", big).wantProblem(t, 413, domain.CodeTooLarge)
	a.do("GET", "/v1/nothing-here", nil).wantProblem(t, 404, domain.CodeNotFound)
	r := a.do("PUT", "/v1/projects", `{}`)
	r.wantProblem(t, 405, "method_not_allowed")
	if r.Header.Get("Allow") != "GET, HEAD, POST" {
		t.Fatalf("Allow: %q", r.Header.Get("Allow"))
	}
	// nothing was half-written by any of that
	var list httpapi.List[domain.Project]
	a.do("GET", "/v1/projects", nil).want(t, 200).json(&list)
	if len(list.Items) != 1 {
		t.Fatalf("want only the one project, got %+v", list.Items)
	}
}

func TestFlagVersioning(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.flag("shop", twoVariants)
	path := "/v1/projects/shop/flags/new-checkout"

	var f domain.Flag
	a.do("PATCH", path, map[string]any{"description": "first"}, mergePatch(), ifMatch("1")).want(t, 200).json(&f)
	if f.Version != 2 || f.Description != "first" {
		t.Fatalf("after first patch: %+v", f)
	}
	p := a.do("PATCH", path, map[string]any{"description": "stale"}, mergePatch(), ifMatch("1")).wantProblem(t, 409, domain.CodeConflict)
	if p.CurrentVersion == nil || *p.CurrentVersion != 2 {
		t.Fatalf("a stale write must say the current version: %+v", p)
	}
	// version in the body works as the precondition too
	a.do("PATCH", path, map[string]any{"description": "stale", "version": 1}, mergePatch()).wantProblem(t, 409, domain.CodeConflict)
	a.do("PATCH", path, map[string]any{"description": "second", "version": 2}, mergePatch()).want(t, 200)
	// and a JSON Patch test of /version
	a.do("PATCH", path, `[{"op":"test","path":"/version","value":2},{"op":"replace","path":"/description","value":"x"}]`, jsonPatch()).
		wantProblem(t, 409, domain.CodeConflict)
	a.do("PATCH", path, `[{"op":"test","path":"/version","value":3},{"op":"add","path":"/tags/-","value":"beta"},{"op":"remove","path":"/tags/0"}]`, jsonPatch()).
		want(t, 200).json(&f)
	if f.Version != 4 || len(f.Tags) != 1 || f.Tags[0] != "beta" {
		t.Fatalf("after JSON patch: %+v", f)
	}
	a.do("PATCH", path, `[{"op":"remove","path":"/nope"}]`, jsonPatch()).wantProblem(t, 422, domain.CodeInvalid)
	a.do("PATCH", path, `[{"op":"explode","path":"/name"}]`, jsonPatch()).wantProblem(t, 400, domain.CodeMalformed)
	a.do("PATCH", path, `{"op":"replace"}`, jsonPatch()).wantProblem(t, 400, domain.CodeMalformed)
	a.do("PATCH", path, `[1]`, mergePatch()).wantProblem(t, 400, domain.CodeMalformed)
	a.do("PATCH", path, `{"key":"renamed"}`, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/key")
	a.do("PATCH", path, `{"created_at":"2020-01-01T00:00:00Z"}`, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/created_at") // calendar-free: any time is read-only
	a.do("PATCH", path, `{"variants":[{"key":"off","value":1}]}`, mergePatch()).wantProblem(t, 422, domain.CodeInvalid, "/variants/0/key")
	a.do("PATCH", path, `{"description":"x"}`, header("If-Match", "garbage")).wantProblem(t, 422, domain.CodeInvalid, "?If-Match")
	a.do("PATCH", path, `{"description":"x"}`, contentType("application/xml")).wantProblem(t, 415, domain.CodeUnsupportedType)

	a.do("GET", path, nil).want(t, 200).json(&f)
	if f.Version != 4 || f.Key != "new-checkout" || f.Description != "second" {
		t.Fatalf("refused patches must change nothing: %+v", f)
	}
}

func TestTargeting(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.flag("shop", twoVariants)
	path := "/v1/projects/shop/flags/new-checkout/environments/production"

	var c domain.FlagConfig
	r := a.do("GET", path, nil).want(t, 200)
	r.json(&c)
	if c.Version != 0 || c.Enabled || c.OffVariant != "off" || r.Header.Get("ETag") != `"0"` {
		t.Fatalf("never-configured targeting: %+v", c)
	}
	body := map[string]any{
		"enabled": true,
		"rules": []map[string]any{{
			"name":       "ten percent of Germany",
			"conditions": []map[string]any{{"attribute": "country", "operator": "in", "values": []string{"DE"}}, {"attribute": "app_version", "operator": "semver_gt", "values": []string{"2.1.0"}}},
			"rollout":    10,
			"weights":    []map[string]any{{"variant": "on", "weight": 1}, {"variant": "control", "weight": 4}},
		}},
		"default_rule":     map[string]any{"rollout": 0.01, "weights": []map[string]any{{"variant": "control", "weight": 1}}},
		"off_variant":      "control",
		"sticky_bucketing": true,
		"exposure_event":   "checkout_exposure",
	}
	a.do("PUT", path, body).wantProblem(t, 428, domain.CodePrecondition)
	a.do("PUT", path, body, ifMatch("0")).want(t, 200).json(&c)
	if c.Version != 1 || !c.Enabled || c.Rules[0].Rollout != 10 || c.Rules[0].Weights[1].Weight != 4 || c.DefaultRule.Rollout != 0.01 {
		t.Fatalf("after put: %+v", c)
	}
	a.do("PUT", path, body, ifMatch("0")).wantProblem(t, 409, domain.CodeConflict)
	// a GET response sent back with its version is a valid PUT
	var back map[string]any
	a.do("GET", path, nil).want(t, 200).json(&back)
	back["enabled"] = false
	a.do("PUT", path, back).want(t, 200).json(&c)
	if c.Version != 2 || c.Enabled {
		t.Fatalf("round trip put: %+v", c)
	}
	back["environment"] = "staging"
	back["version"] = 2
	a.do("PUT", path, back).wantProblem(t, 422, domain.CodeInvalid, "/environment")

	bad := map[string]any{
		"version": 2,
		"rules": []map[string]any{{
			"conditions": []map[string]any{
				{"attribute": "age", "operator": "gt", "values": []string{"old"}},
				{"attribute": "country", "operator": "like", "values": []string{"x"}},
				{"attribute": "since", "operator": "before", "values": []string{"yesterday"}},
				{"attribute": "email", "operator": "exists", "values": []string{"x"}},
				{"attribute": "v", "operator": "semver_eq", "values": []string{"1.2"}},
			},
			"rollout": 10.005,
			"weights": []map[string]any{{"variant": "nope", "weight": 1}},
		}},
		"default_rule": map[string]any{"rollout": 101, "weights": []map[string]any{{"variant": "on", "weight": -1}}},
		"off_variant":  "missing",
	}
	a.do("PUT", path, bad).wantProblem(t, 422, domain.CodeInvalid,
		"/off_variant", "/rules/0/conditions/0/values/0", "/rules/0/conditions/1/operator", "/rules/0/conditions/2/values/0",
		"/rules/0/conditions/3/values", "/rules/0/conditions/4/values/0", "/rules/0/rollout", "/rules/0/weights/0/variant",
		"/default_rule/rollout", "/default_rule/weights/0/weight")

	// PATCH: merge patch of one field, JSON patch into a rule
	a.do("PATCH", path, map[string]any{"enabled": true}, mergePatch(), ifMatch("2")).want(t, 200).json(&c)
	a.do("PATCH", path, `[{"op":"replace","path":"/rules/0/rollout","value":20}]`, jsonPatch()).want(t, 200).json(&c)
	if c.Version != 4 || !c.Enabled || c.Rules[0].Rollout != 20 || c.Rules[0].Name != "ten percent of Germany" {
		t.Fatalf("after patches: %+v", c)
	}
	a.do("GET", "/v1/projects/shop/flags/new-checkout/environments/nope", nil).wantProblem(t, 404, domain.CodeNotFound)
	a.do("GET", "/v1/projects/shop/flags/nope/environments/production", nil).wantProblem(t, 404, domain.CodeNotFound)

	// a variant served somewhere cannot be removed from the flag; an unused one can be added and removed
	a.do("PATCH", "/v1/projects/shop/flags/new-checkout", `[{"op":"remove","path":"/variants/1"}]`, jsonPatch()).wantProblem(t, 409, domain.CodeConflict)
	a.do("PATCH", "/v1/projects/shop/flags/new-checkout", `[{"op":"add","path":"/variants/-","value":{"key":"spare","value":3}}]`, jsonPatch()).want(t, 200)
	a.do("PATCH", "/v1/projects/shop/flags/new-checkout", `[{"op":"remove","path":"/variants/2"}]`, jsonPatch()).want(t, 200)

	// archived flags keep their targeting but cannot be retargeted
	a.do("DELETE", "/v1/projects/shop/flags/new-checkout", nil).want(t, 200)
	a.do("PATCH", path, map[string]any{"enabled": false}, mergePatch()).wantProblem(t, 409, domain.CodeConflict)
	a.do("DELETE", "/v1/projects/shop/flags/new-checkout?hard=nope", nil).wantProblem(t, 422, domain.CodeInvalid, "?hard")
}

func TestFlagListFilterAndPagination(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	for i := range 7 {
		tags := []string{}
		if i%2 == 0 {
			tags = append(tags, "even")
		}
		a.flag("shop", map[string]any{"key": fmt.Sprintf("f%d", i), "name": "F", "tags": tags, "variants": []map[string]any{{"key": "a"}}})
	}
	a.do("DELETE", "/v1/projects/shop/flags/f2", nil).want(t, 200)

	var keys []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		var l httpapi.List[domain.Flag]
		a.do("GET", "/v1/projects/shop/flags?tag=even&archived=false&limit=2&cursor="+cursor, nil).want(t, 200).json(&l)
		for _, f := range l.Items {
			keys = append(keys, f.Key)
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if fmt.Sprint(keys) != "[f0 f4 f6]" {
		t.Fatalf("even, not archived: %v", keys)
	}
	a.do("GET", "/v1/projects/shop/flags?limit=0", nil).wantProblem(t, 422, domain.CodeInvalid, "?limit")
	a.do("GET", "/v1/projects/shop/flags?archived=maybe", nil).wantProblem(t, 422, domain.CodeInvalid, "?archived")
	a.do("GET", "/v1/projects/shop/flags?cursor=@@@", nil).wantProblem(t, 422, domain.CodeInvalid)
}

// Concurrent writers through HTTP: without a precondition every merge patch
// lands; with the same precondition exactly one does.
func TestConcurrentWritersOverHTTP(t *testing.T) {
	a := newTestAPI(t)
	a.project("shop")
	a.flag("shop", twoVariants)
	path := "/v1/projects/shop/flags/new-checkout/environments/staging"
	const n = 10
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			statuses <- a.do("PUT", path, map[string]any{"enabled": true}, ifMatch("0")).StatusCode
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[200] != 1 || count[409] != n-1 {
		t.Fatalf("want one 200 and %d 409s, got %v", n-1, count)
	}

	for i := range n {
		wg.Go(func() {
			a.do("PATCH", "/v1/projects/shop/flags/new-checkout", fmt.Sprintf(`[{"op":"add","path":"/tags/-","value":"t%d"}]`, i), jsonPatch()).want(t, 200)
		})
	}
	wg.Wait()
	var f domain.Flag
	a.do("GET", "/v1/projects/shop/flags/new-checkout", nil).want(t, 200).json(&f)
	if len(f.Tags) != n+1 || f.Version != n+1 {
		t.Fatalf("lost updates: tags %v version %d", f.Tags, f.Version)
	}
}

func TestMembersAndTokens(t *testing.T) {
	a := newTestAPI(t)
	var m domain.Member
	a.do("POST", "/v1/members", map[string]any{"email": "ada@example.com", "name": "Ada", "role": "editor"}).want(t, 201).json(&m)
	a.do("POST", "/v1/members", map[string]any{"email": "ADA@example.com", "name": "Ada", "role": "editor"}).wantProblem(t, 409, domain.CodeConflict)
	a.do("POST", "/v1/members", map[string]any{"email": "not-an-email", "name": "", "role": "owner"}).wantProblem(t, 422, domain.CodeInvalid, "/email", "/name", "/role")

	// a service token with a role, shown once, stored only as a hash
	var created httpapi.TokenView
	a.do("POST", "/v1/tokens", map[string]any{"name": "ci", "service": true, "role": "editor"}).want(t, 201).json(&created)
	if !strings.HasPrefix(created.Token, "cs_") || !created.Service || created.Role != "editor" {
		t.Fatalf("created token: %+v", created)
	}
	stored, err := a.store.GetToken(t.Context(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Hash == created.Token || strings.Contains(stored.Hash, created.Token) || len(stored.Hash) != 64 {
		t.Fatalf("the store must keep only a hash, got %q", stored.Hash)
	}
	var list httpapi.List[httpapi.TokenView]
	a.do("GET", "/v1/tokens", nil).want(t, 200).json(&list)
	for _, tv := range list.Items {
		if tv.Token != "" {
			t.Fatal("a listed token must not show its secret")
		}
	}
	// it works, records its use, and stops working once revoked
	a.do("GET", "/v1/projects", nil, withToken(created.Token)).want(t, 200)
	a.do("POST", "/v1/projects", map[string]any{"key": "x", "name": "x"}, withToken(created.Token)).wantProblem(t, 403, domain.CodeForbidden)
	stored, _ = a.store.GetToken(t.Context(), created.ID)
	if stored.LastUsedAt == nil {
		t.Fatal("last-used time not kept")
	}
	a.do("DELETE", "/v1/tokens/"+created.ID, nil).want(t, 204)
	a.do("GET", "/v1/projects", nil, withToken(created.Token)).wantProblem(t, 401, domain.CodeUnauthenticated)

	// a member's token follows the member's role, and dies with the member
	id, tok := a.newMemberToken(domain.RoleViewer)
	a.do("PATCH", "/v1/projects/x", map[string]any{"name": "y"}, withToken(tok)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("PATCH", "/v1/members/"+id, map[string]any{"role": "admin"}, withToken(tok)).wantProblem(t, 403, domain.CodeForbidden)
	a.do("PATCH", "/v1/members/"+id, map[string]any{"name": "Renamed by self"}, withToken(tok)).want(t, 200)
	a.do("PATCH", "/v1/members/"+id, map[string]any{"role": "manager"}).want(t, 200)
	a.do("POST", "/v1/projects", map[string]any{"key": "byviewer", "name": "now manager"}, withToken(tok)).want(t, 201)
	// members can make their own tokens, capped at their role
	a.do("POST", "/v1/tokens", map[string]any{"name": "mine", "role": "admin"}, withToken(tok)).wantProblem(t, 403, domain.CodeForbidden)
	var mine httpapi.TokenView
	a.do("POST", "/v1/tokens", map[string]any{"name": "mine", "role": "viewer"}, withToken(tok)).want(t, 201).json(&mine)
	a.do("POST", "/v1/projects", map[string]any{"key": "capped", "name": "x"}, withToken(mine.Token)).wantProblem(t, 403, domain.CodeForbidden)
	// and see only their own tokens
	var theirs httpapi.List[httpapi.TokenView]
	a.do("GET", "/v1/tokens", nil, withToken(tok)).want(t, 200).json(&theirs)
	for _, tv := range theirs.Items {
		if tv.MemberID != id {
			t.Fatalf("a non-admin sees someone else's token %+v", tv)
		}
	}
	a.do("DELETE", "/v1/tokens/"+created.ID, nil, withToken(tok)).wantProblem(t, 404, domain.CodeNotFound)

	a.do("DELETE", "/v1/members/"+id, nil).want(t, 204)
	a.do("GET", "/v1/projects", nil, withToken(tok)).wantProblem(t, 401, domain.CodeUnauthenticated)
	a.do("GET", "/v1/members/"+id, nil).wantProblem(t, 404, domain.CodeNotFound)

	// the last admin stays
	var members httpapi.List[domain.Member]
	a.do("GET", "/v1/members", nil).want(t, 200).json(&members)
	for _, mm := range members.Items {
		if mm.Role == domain.RoleAdmin {
			a.do("DELETE", "/v1/members/"+mm.ID, nil).wantProblem(t, 409, domain.CodeConflict)
			a.do("PATCH", "/v1/members/"+mm.ID, map[string]any{"role": "viewer"}).wantProblem(t, 409, domain.CodeConflict)
		}
	}
}

func TestResponsesCarryRequestID(t *testing.T) {
	a := newTestAPI(t)
	r := a.do("GET", "/v1/projects/nope", nil, header("X-Request-Id", "req-42"))
	p := r.wantProblem(t, http.StatusNotFound, domain.CodeNotFound)
	if p.RequestID != "req-42" || r.Header.Get("X-Request-Id") != "req-42" {
		t.Fatalf("request id not echoed: %+v", p)
	}
}
