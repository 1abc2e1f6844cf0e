package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/evaluate"
	"github.com/countersign/countersign/internal/httpapi"
)

// FuzzAPIBodies sends any body to every route of the route table that
// takes one (POST, PUT, PATCH), through the whole server, as one of four
// actors (actor mod 4: admin, editor, manager, viewer) and with one of
// several content types (media's low three bits: contentTypes). Its
// properties:
//
//   - nothing panics and nothing is answered 5xx;
//   - a refusal of a JSON route is a 4xx problem+json document that
//     matches openapi.yaml's Problem, whose status is the answer's; a
//     refusal of a page route (e-mail link, sign-in) is a 4xx HTML page;
//   - a refused request writes nothing to the store (bbolt's transaction
//     id does not move);
//   - what an accepted request wrote can be served: OFREP evaluates every
//     flag of production and staging afterwards, none with GENERAL (a
//     targeting the API took but the evaluator cannot compile).
//
// The route is a string: "METHOD PATTERN" of the route table (the path is
// then made from the setup's resources: project "shop", environment
// "staging", flag "new-checkout", the pending change request, a viewer
// member, an SDK key, a live action link and sign-in link), or "METHOD
// /a/path" sent as it is (so the fuzzer may change paths too); anything
// else picks a route by its hash. Its seeds reach every body type: the
// setup fails when a route of the table has no seeds, or when a route's
// valid seed is not accepted, or a body-decoding route does not name an
// unknown field.
func FuzzAPIBodies(f *testing.F) {
	w := newAPIFuzz(f)
	w.checkSeedsReachEveryRoute(f)
	for _, s := range w.seeds {
		for _, body := range s.bodies {
			f.Add(s.route, s.actor, s.media, []byte(body))
		}
	}
	// the generic shapes, each to one route (TestAPIBodiesGenericShapes
	// sends each to every route): the fewer seeds, the sooner a bounded
	// run starts fuzzing
	for i, body := range genericBodies {
		s := w.seeds[i*7%len(w.seeds)]
		f.Add(s.route, s.actor, uint8(0), []byte(body))
	}
	f.Fuzz(func(t *testing.T, route string, actor, media uint8, body []byte) {
		w.run(t, route, actor, media, body)
	})
}

// genericBodies are sent to every route: shapes every JSON entry point
// must answer cleanly (most must be refused).
var genericBodies = []string{
	``, `null`, `[]`, `{}`, `"x"`, `{"zz_unknown":1}`, `{"a":1}{"b":2}`, `{"name":`,
	`{"name":"x","name":"y"}`, strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40),
	`{"version":1e400}`, `{"version":-1}`, `{"version":"1"}`, `{"version":NaN}`,
	`{"name":"\ud800"}`, "{\"name\":\"\xff\"}", `{"key":"` + strings.Repeat("k", 300) + `"}`,
	`[{"op":"replace","path":"/name","value":"x"}]`, `[{"op":"move","from":"/","path":"/a"}]`,
}

// contentTypes are what media picks (its low three bits); 0 is the route's
// own type.
var contentTypes = []string{"", "application/json", "application/merge-patch+json", "application/json-patch+json",
	"application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", "none"}

type apiSeed struct {
	route  string
	actor  uint8
	media  uint8
	bodies []string // the first is valid: accepted (2xx or 3xx) unless invalidFirst
	// bodyless routes ignore their body; the others decode it
	bodyless bool
	// invalidFirst: the first body is not expected to be accepted (the
	// route cannot succeed from the snapshot for this actor)
	invalidFirst bool
}

// apiFuzz is the server the target drives.
type apiFuzz struct {
	store  *fuzzStore
	svc    *app.Service
	api    *httpapi.Server
	log    *fuzzLog
	routes map[string]httpapi.Route // "METHOD PATTERN" → route, body-taking ones
	keys   []string                 // their keys, sorted
	tokens [4]string                // admin, editor, manager, viewer
	params map[string]string        // path parameter → value
	seeds  []apiSeed
	clock  *clock.Manual
	sdk    []string // SDK keys of production and staging
}

const fuzzAdminToken = "cs_fuzz_admin_token_0123456789abcdef"

// page routes answer with pages, not problems.
func pageRoute(pattern string) bool {
	return pattern == "/a/{token}" || pattern == "/login" || pattern == "/signin/{token}" || pattern == "/logout"
}

// TestAPIBodiesGenericShapes sends every generic shape to every route,
// with FuzzAPIBodies's properties.
func TestAPIBodiesGenericShapes(t *testing.T) {
	w := newAPIFuzz(t)
	for _, s := range w.seeds {
		for _, body := range genericBodies {
			w.run(t, s.route, s.actor, 0, []byte(body))
		}
	}
}

func newAPIFuzz(f testing.TB) *apiFuzz {
	ctx := context.Background()
	w := &apiFuzz{store: newFuzzStore(f), log: &fuzzLog{}, routes: map[string]httpapi.Route{}, params: map[string]string{}}
	log := slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w.clock = clocktest.Clock(0, 9, 0)
	w.svc = app.New(w.store, w.clock, log)
	signer, err := actionlink.NewSigner([]byte(strings.Repeat("fuzz-link-key-", 3)))
	if err != nil {
		f.Fatal(err)
	}
	w.svc.WithLinks(signer)
	if _, err := w.svc.Bootstrap(ctx, fuzzAdminToken); err != nil {
		f.Fatal(err)
	}
	w.api = httpapi.New(w.svc, log)
	for _, rt := range w.api.Routes() {
		switch rt.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			k := rt.Method + " " + rt.Pattern
			w.routes[k] = rt
			w.keys = append(w.keys, k)
		}
	}
	slices.Sort(w.keys)

	// the state every input starts from
	w.tokens[0] = fuzzAdminToken
	must := func(res *httptest.ResponseRecorder, status int) *httptest.ResponseRecorder {
		f.Helper()
		if res.Code != status {
			f.Fatalf("setup: %d, want %d: %s", res.Code, status, res.Body)
		}
		return res
	}
	admin := func(method, path, body string, h ...string) *httptest.ResponseRecorder {
		return w.send(method, path, fuzzAdminToken, "application/json", body, h...)
	}
	must(admin("POST", "/v1/projects", `{"key":"shop","name":"Shop"}`), 201)
	must(admin("POST", "/v1/projects/shop/flags", `{"key":"new-checkout","name":"New checkout","tags":["checkout"],
		"variants":[{"key":"on","value":true},{"key":"control","value":{"color":"blue"}}]}`), 201)
	must(admin("PUT", "/v1/projects/shop/flags/new-checkout/environments/production",
		`{"enabled":true,"default_rule":{"rollout":10,"weights":[{"variant":"on","weight":1}]},"version":0}`), 200)
	members := map[string]string{}
	for i, role := range []domain.Role{domain.RoleEditor, domain.RoleManager, domain.RoleViewer} {
		var m domain.Member
		res := must(admin("POST", "/v1/members", fmt.Sprintf(`{"email":"%s@example.com","name":"%s","role":"%s"}`, role, role, role)), 201)
		if err := json.Unmarshal(res.Body.Bytes(), &m); err != nil {
			f.Fatal(err)
		}
		tok, err := w.svc.CreateToken(ctx, &app.Principal{MemberID: m.ID, Role: m.Role, TokenID: "t_setup"}, app.TokenInput{Name: "fuzz " + string(role)})
		if err != nil {
			f.Fatal(err)
		}
		w.tokens[i+1] = tok.Secret
		members[string(role)] = m.ID
	}
	// approvals on once the manager is added (after, the promotion would
	// need a second admin)
	must(admin("PUT", "/v1/settings", `{"approvals":true,"version":0}`), 200)

	// the editor's pending request, in production
	res := must(w.send("PATCH", "/v1/projects/shop/flags/new-checkout/environments/production", w.tokens[1], "application/merge-patch+json",
		`{"default_rule":{"rollout":50}}`, "Countersign-Change-Title", "Go to half"), 202)
	var cr app.RequestView
	if err := json.Unmarshal(res.Body.Bytes(), &cr); err != nil {
		f.Fatal(err)
	}
	res = must(admin("POST", "/v1/projects/shop/environments/production/sdk-keys", `{"name":"fuzz"}`), 201)
	var key httpapi.SDKKeyView
	if err := json.Unmarshal(res.Body.Bytes(), &key); err != nil {
		f.Fatal(err)
	}
	w.sdk = append(w.sdk, key.Key)
	var stagingKey httpapi.SDKKeyView
	res = must(admin("POST", "/v1/projects/shop/environments/staging/sdk-keys", `{"name":"fuzz"}`), 201)
	if err := json.Unmarshal(res.Body.Bytes(), &stagingKey); err != nil {
		f.Fatal(err)
	}
	w.sdk = append(w.sdk, stagingKey.Key)
	approvals := must(admin("GET", "/v1/projects/shop/environments/staging/approval-settings", ""), 200).Body.String()
	stored, err := w.store.GetChangeRequest(ctx, cr.ID)
	if err != nil {
		f.Fatal(err)
	}
	link, _, err := w.svc.IssueLink(stored, members["manager"], actionlink.Approve)
	if err != nil {
		f.Fatal(err)
	}
	signIn, _, err := w.svc.IssueSignInLink(ctx, members["viewer"], domain.LinkSignIn)
	if err != nil {
		f.Fatal(err)
	}
	must(admin("POST", "/v1/projects/shop/segments", `{"key":"beta","name":"Beta","included":["user-1"],
		"rules":[{"conditions":[{"attribute":"country","operator":"in","values":["NL"]}]}]}`), 201)
	must(admin("POST", "/v1/teams", `{"key":"ops","name":"Ops","members":["`+members["editor"]+`"]}`), 201)
	// a freeze ahead of the clock (it holds nothing the fuzzing writes)
	ahead, ahead2 := w.svc.Now().Add(24*time.Hour).Format(time.RFC3339), w.svc.Now().Add(30*time.Hour).Format(time.RFC3339)
	var fz httpapi.FreezeView
	if err := json.Unmarshal(must(admin("POST", "/v1/freezes", `{"name":"Ahead","project":"shop","from":"`+ahead+`","to":"`+ahead2+`"}`), 201).Body.Bytes(), &fz); err != nil {
		f.Fatal(err)
	}
	w.params = map[string]string{"{freeze}": fz.ID, "{project}": "shop", "{environment}": "staging", "{flag}": "new-checkout",
		"{member}": members["viewer"], "{id}": cr.ID, "{key}": key.ID, "{segment}": "beta", "{team}": "ops"}
	w.params["/a/{token}"] = "/a/" + link
	w.params["/signin/{token}"] = "/signin/" + signIn
	// a token's first use records it (once per interval): not in the inputs
	for _, tok := range w.tokens {
		must(w.send("GET", "/v1/projects", tok, "none", ""), 200)
	}
	w.store.snap()

	prod := "PATCH /v1/projects/shop/flags/new-checkout/environments/production" // as a path, sent as it is
	rotateUntil := clocktest.At(1, 9, 0, 0).Format(time.RFC3339)
	w.seeds = []apiSeed{
		{route: "POST /a/{token}", actor: 2, bodies: []string{"csrf=" + url.QueryEscape(signer.CSRF(link)) + "&comment=looks+right", "comment=x", "csrf=&comment=", "csrf=%zz", "csrf=" + url.QueryEscape(signer.CSRF(link)) + "&comment="}},
		{route: "POST /login", bodies: []string{"email=viewer%40example.com", "email=nobody%40example.com", "email=", "next=//evil.example&email=a%40b.c", "%"}},
		{route: "POST /signin/{token}", bodies: []string{"csrf=x", "", "csrf=&next=/"}, invalidFirst: true},
		{route: "POST /logout", bodies: []string{"", "csrf=x"}},
		{route: "POST /v1/auth/email-link", bodies: []string{`{"email":"viewer@example.com"}`, `{"email":"nobody@example.com"}`, `{"email":"not an address"}`, `{"email":["a"]}`}},
		{route: "POST /v1/projects", bodies: []string{`{"key":"fz","name":"Fuzz","description":"d"}`, `{"name":"Shop"}`, `{"key":"Bad Key!","name":""}`, `{"key":"fz","name":42}`}},
		{route: "PATCH /v1/projects/{project}", bodies: []string{`{"description":"patched"}`, `{"key":"other"}`, `{"name":null}`}},
		{route: "POST /v1/projects/{project}/environments", bodies: []string{`{"key":"qa","name":"QA","protected":true}`, `{"key":"staging","name":"again"}`, `{"protected":"yes"}`}},
		{route: "PATCH /v1/projects/{project}/environments/{environment}", bodies: []string{`{"name":"Staging two"}`, `{"protected":true,"version":99}`, `{"key":null}`,
			`{"allowed_origins":["https://shop.example.com","http://localhost:5173"]}`, `{"allowed_origins":["*","null","https://x.test/"]}`, `{"allowed_origins":null}`}},
		{route: "POST /v1/projects/{project}/flags", bodies: []string{`{"key":"fz","name":"Fuzz","tags":["a"],"variants":[{"key":"on","value":true},{"key":"control","value":false}]}`,
			`{"name":"x","variants":[{"key":"off"}]}`, `{"name":"x","variants":[]}`, `{"name":"x","bucketing_unit":"1x","evaluation_mode":"edge","variants":[{"key":"a","valu":1}]}`}},
		{route: "PATCH /v1/projects/{project}/flags/{flag}", bodies: []string{`{"description":"patched"}`, `{"variants":null}`, `{"archived":true}`, `{"bucketing_salt":"new"}`,
			`{"client_exposed":true}`, `{"client_exposed":"yes"}`}},
		{route: "PUT /v1/projects/{project}/flags/{flag}/environments/{environment}", bodies: []string{
			`{"enabled":true,"default_rule":{"rollout":50,"weights":[{"variant":"on","weight":1}]},"version":0}`,
			`{"enabled":true}`, `{"enabled":true,"version":0,"project":"other"}`,
			`{"version":0,"rules":[{"name":"r","conditions":[{"attribute":"age","operator":"gt","values":["NaN"]}],"allocation":{"rollout":100}}]}`,
			`{"version":0,"rules":[{"conditions":[{"attribute":"v","operator":"semver_gt","values":["1.2"]}],"allocation":{"rollout":101,"weights":[{"variant":"nope","weight":-1}]}}]}`}},
		{route: "PATCH /v1/projects/{project}/flags/{flag}/environments/{environment}", media: 2, bodies: []string{`{"default_rule":{"rollout":25}}`,
			`{"default_rule":{"rollout":"Infinity"}}`, `{"rules":[{"conditions":[{"attribute":"d","operator":"before","values":["yesterday"]}]}]}`, `{"off_variant":"nope"}`}},
		{route: "POST /v1/projects/{project}/flags/{flag}/environments/{environment}/promote", bodies: []string{`{"from":"production"}`, `{"from":"staging"}`,
			`{"from":""}`, `{"from":"nope"}`, `{"from":7}`, `{"from":"staging","from":"production"}`}},
		{route: prod, media: 3, actor: 1, bodies: []string{`[{"op":"replace","path":"/default_rule/rollout","value":75}]`, `[{"op":"remove","path":"/rules/0"}]`}},
		{route: "POST /v1/projects/{project}/segments", actor: 1, bodies: []string{
			`{"key":"fz","name":"Fuzz","included":["u1","u2"],"excluded":["u3"],"rules":[{"conditions":[{"attribute":"plan","operator":"in","values":["gold"]}]}]}`,
			`{"key":"beta","name":"again"}`, `{"name":"x","included":["a","a"]}`, `{"name":"x","included":[""]}`,
			`{"name":"x","rules":[{"conditions":[{"attribute":"user_id","operator":"in_segment","values":["beta"]}]}]}`,
			`{"name":"x","rules":[{"conditions":[]}]}`, `{"name":"x","included":"u1"}`}},
		{route: "PUT /v1/projects/{project}/segments/{segment}", actor: 1, bodies: []string{
			`{"name":"Beta","included":["user-1","user-2"],"version":1}`, `{"name":"Beta"}`, `{"name":"Beta","key":"other","version":1}`,
			`{"name":"Beta","version":1,"rules":[{"conditions":[{"attribute":"age","operator":"gt","values":["NaN"]}]}]}`}},
		{route: "PATCH /v1/projects/{project}/segments/{segment}", actor: 1, bodies: []string{`{"excluded":["user-9"]}`,
			`{"key":"other"}`, `{"included":null}`, `{"version":7}`, `{"rules":[{"conditions":[{"attribute":"d","operator":"before","values":["yesterday"]}]}]}`}},
		{route: "POST /v1/members", bodies: []string{`{"email":"new@example.com","name":"New","role":"viewer"}`, `{"email":"eve@example.com","name":"Eve","role":"viewer","role":"admin"}`,
			`{"email":"viewer@example.com","name":"Again","role":"viewer"}`, `{"email":"x","name":"","role":"owner"}`}},
		{route: "PATCH /v1/members/{member}", bodies: []string{`{"name":"Renamed"}`, `{"role":"admin"}`, `{"id":"m_other"}`, `{"email":"EDITOR@example.com"}`}},
		{route: "POST /v1/members/{member}/invitation", bodies: []string{``}, bodyless: true},
		{route: "POST /v1/tokens", bodies: []string{`{"name":"svc","service":true,"role":"viewer"}`, `{"name":"mine","role":"manager"}`, `{"name":"","service":true}`, `{"name":"x","role":"root"}`}},
		{route: "POST /v1/teams", actor: 2, bodies: []string{`{"key":"fz","name":"Fuzz","members":["` + members["editor"] + `","` + members["viewer"] + `"]}`,
			`{"name":"Ops"}`, `{"key":"Bad Key!","name":""}`, `{"name":"x","members":["a","a"]}`, `{"name":"x","members":[""]}`,
			`{"name":"x","members":["m_nobody"]}`, `{"name":"x","members":"m"}`, `{"name":"x","members":null}`}},
		{route: "PATCH /v1/teams/{team}", actor: 2, bodies: []string{`{"name":"Operations","members":["` + members["manager"] + `"]}`,
			`{"key":"other"}`, `{"members":null}`, `{"version":7}`, `{"members":["m_nobody"]}`, `{"name":null}`}},
		{route: "PATCH /v1/teams/{team}", actor: 2, media: 3, bodies: []string{`[{"op":"add","path":"/members/-","value":"` + members["viewer"] + `"}]`,
			`[{"op":"test","path":"/version","value":9}]`, `[{"op":"remove","path":"/members/0"},{"op":"remove","path":"/members/0"}]`, `[{"op":"replace","path":"/key","value":"x"}]`}},
		{route: "POST /v1/freezes", bodies: []string{`{"name":"Fuzz","project":"shop","environments":["production"],"from":"` + ahead + `","to":"` + ahead2 + `","scheduled":"fail"}`,
			`{"name":"Weekly","start":"0 16 * * fri","end":"0 8 * * mon","time_zone":"Europe/Berlin"}`, `{"name":"x","start":"0 16 13 * fri","end":"nonsense","time_zone":"Mars/Base"}`,
			`{"name":"","from":"` + ahead2 + `","to":"` + ahead + `","start":"* * * * *"}`, `{"name":"x","project":"nowhere","environments":["a","a"],"from":"` + ahead + `","to":"` + ahead2 + `"}`,
			`{"name":"x","from":"yesterday"}`, `{"name":"x","environments":null,"scheduled":"never"}`}},
		{route: "PATCH /v1/freezes/{freeze}", bodies: []string{`{"name":"Renamed","scheduled":"fail"}`, `{"id":"fz_other"}`, `{"version":7}`, `{"from":null}`,
			`{"start":"0 16 * * fri","end":"0 8 * * mon","time_zone":"Europe/Berlin","from":null,"to":null}`, `{"active":true}`, `{"project":"nowhere"}`}},
		{route: "PATCH /v1/freezes/{freeze}", media: 3, bodies: []string{`[{"op":"replace","path":"/environments","value":["staging"]}]`,
			`[{"op":"test","path":"/version","value":9}]`, `[{"op":"remove","path":"/name"}]`}},
		{route: "PUT /v1/settings", bodies: []string{`{"approvals":false,"version":1}`, `{"approvals":true}`, `{"approvals":true,"version":7}`, `{"approvals":"yes","version":1}`}},
		{route: "PUT /v1/projects/{project}/environments/{environment}/approval-settings", bodies: []string{approvals,
			`{"min_approvals":0,"version":0}`, `{"min_approvals":2,"required":"always","reviewers":"designated","designated_reviewers":["m_nobody"],"version":0}`,
			`{"expire_after":"-1h","auto_approve_after":"forever","version":0}`, `{"environment":"production","version":0}`}},
		{route: "POST /v1/change-requests", actor: 1, bodies: []string{
			`{"project":"shop","flag":"new-checkout","environment":"staging","title":"Turn on","proposed_config":{"enabled":true}}`,
			`{"project":"shop","flag":"new-checkout","title":"Both","proposed_config":{},"proposed_flag":{}}`,
			`{"project":"shop","flag":"new-checkout","title":"Flag","proposed_flag":{"name":"Renamed","variants":[{"key":"on"}]}}`,
			`{"project":"shop","flag":"new-checkout","environment":"staging","title":"Later","proposed_config":{"enabled":true},"apply_at":"` + rotateUntil + `"}`,
			`{"project":"shop","flag":"new-checkout","environment":"staging","title":"Old","proposed_config":{"enabled":true},"apply_at":"yesterday"}`,
			`{"project":"shop","flag":"nope","environment":"staging","title":"x","proposed_config":{}}`,
			`{"project":"shop","title":"Both","changes":[{"flag":"new-checkout","environment":"staging","proposed_config":{"enabled":true}},{"flag":"new-checkout","proposed_flag":{"name":"Both","variants":[{"key":"on"}]}}]}`,
			`{"project":"shop","title":"Draft","draft":true}`, `{"project":"shop","changes":[]}`, `{"project":"shop","changes":[{"flag":"new-checkout"}]}`}},
		{route: "PATCH /v1/change-requests/{id}", actor: 1, media: 2, bodies: []string{`{"title":"Go to 60","proposed_config":{"default_rule":{"rollout":60}}}`,
			`{"apply_at":null}`, `{"version":5}`, `{"notify_reviewers":["m_nobody"]}`, `{"proposed_flag":{"name":"x"}}`}},
		{route: "POST /v1/change-requests/{id}/reviews", bodies: []string{`{"decision":"approve","comment":"looks right"}`, `{"decision":"approve"}`, `{"decision":"maybe","comment":"x"}`}},
		// the fuzz world's request is no bypass's review after: 409 (invalidFirst)
		{route: "POST /v1/change-requests/{id}/acknowledge", bodies: []string{`{"comment":"seen it"}`, `{"comment":""}`, `{"comment":7}`}, invalidFirst: true},
		{route: "POST /v1/change-requests/{id}/comments", actor: 3, bodies: []string{`{"comment":"hello @editor"}`, `{"comment":""}`, `{"comment":"` + strings.Repeat("x", 20000) + `"}`}},
		{route: "POST /v1/change-requests/{id}/apply", bodies: []string{``}, bodyless: true, invalidFirst: true},
		{route: "POST /v1/change-requests/{id}/withdraw", actor: 1, bodies: []string{``}, bodyless: true},
		{route: "POST /v1/change-requests/{id}/submit", actor: 1, bodies: []string{``}, bodyless: true, invalidFirst: true},
		{route: "POST /v1/projects/{project}/environments/{environment}/promote", actor: 1, bodies: []string{`{"from":"production","flags":["new-checkout"]}`,
			`{"from":"production","flags":[]}`, `{"from":"","flags":["x","x"]}`, `{"flags":["nope"],"from":"development"}`}},
		{route: "POST /v1/projects/{project}/environments/{environment}/sdk-keys", bodies: []string{`{"name":"second"}`, `{"name":""}`, `{"name":"x","key":"cs_sdk_mine"}`,
			`{"name":"storefront","kind":"client"}`, `{"name":"x","kind":"browser"}`, `{"name":"x","kind":7}`}},
		{route: "POST /v1/projects/{project}/environments/{environment}/sdk-keys/{key}/rotate", bodies: []string{`{"old_key_expires_at":"` + rotateUntil + `"}`,
			`{}`, `{"old_key_expires_at":"soon"}`, `{"old_key_expires_at":"` + clocktest.At(-1, 0, 0, 0).Format(time.RFC3339) + `"}`}},
	}
	return w
}

// path is the route's path for the setup's resources.
func (w *apiFuzz) path(pattern string) string {
	if p, ok := w.params[pattern]; ok {
		return p
	}
	// the SDK key routes are production's
	if strings.Contains(pattern, "/sdk-keys") {
		pattern = strings.Replace(pattern, "{environment}", "production", 1)
	}
	for k, v := range w.params {
		pattern = strings.ReplaceAll(pattern, k, url.PathEscape(v))
	}
	return pattern
}

// target turns the fuzzed route into a method and a path, and whether the
// answers are pages.
func (w *apiFuzz) target(route string) (method, path string, page bool) {
	if rt, ok := w.routes[route]; ok {
		return rt.Method, w.path(rt.Pattern), pageRoute(rt.Pattern)
	}
	if m, p, ok := strings.Cut(route, " "); ok && strings.HasPrefix(p, "/") && (m == "POST" || m == "PUT" || m == "PATCH") {
		page := strings.HasPrefix(p, "/a/") || strings.HasPrefix(p, "/signin/") || p == "/login" || p == "/logout"
		return m, p, page
	}
	h := fnv.New32a()
	h.Write([]byte(route))
	rt := w.routes[w.keys[int(h.Sum32()%uint32(len(w.keys)))]]
	return rt.Method, w.path(rt.Pattern), pageRoute(rt.Pattern)
}

func (w *apiFuzz) send(method, path, token, ctype, body string, headers ...string) *httptest.ResponseRecorder {
	req, err := http.NewRequest(method, "http://countersign.test"+path, strings.NewReader(body))
	if err != nil {
		return nil
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "none" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	req.RemoteAddr = "192.0.2.7:4711"
	rec := httptest.NewRecorder()
	w.api.ServeHTTP(rec, req)
	return rec
}

// ownType is the content type a route takes.
func ownType(method string, page bool) string {
	switch {
	case page:
		return "application/x-www-form-urlencoded"
	case method == http.MethodPatch:
		return "application/merge-patch+json"
	}
	return "application/json"
}

func (w *apiFuzz) run(t testing.TB, route string, actor, media uint8, body []byte) {
	method, path, page := w.target(route)
	ctype := contentTypes[media&7]
	if ctype == "" {
		ctype = ownType(method, page)
	}
	before := w.store.txid()
	w.log.take()
	res := w.send(method, path, w.tokens[actor%4], ctype, string(body))
	if res == nil {
		return // not a request (the path does not parse)
	}
	after := w.store.txid()
	if after != before {
		defer w.store.reset()
	}
	desc := func() string {
		return fmt.Sprintf("%s %s as %s, Content-Type %q, body %q\n→ %d %s\nlog: %s", method, path, []string{"admin", "editor", "manager", "viewer"}[actor%4],
			ctype, clipped(body), res.Code, clipped(res.Body.Bytes()), w.log.take())
	}
	if res.Code >= 500 {
		t.Fatalf("a server error:\n%s", desc())
	}
	if res.Code < 400 {
		if after != before {
			if err := w.servable(); err != nil {
				t.Fatalf("accepted, and then OFREP cannot serve: %v\n%s", err, desc())
			}
		}
		return
	}
	if after != before {
		t.Fatalf("refused, yet the store was written (transaction %d → %d):\n%s", before, after, desc())
	}
	mt, _, _ := mime.ParseMediaType(res.Header().Get("Content-Type"))
	if page && mt == "text/html" {
		if !strings.Contains(res.Body.String(), "<h1>") && !strings.Contains(res.Body.String(), "<title>") {
			t.Fatalf("a refusal page without a title:\n%s", desc())
		}
		return
	}
	if mt != "application/problem+json" {
		t.Fatalf("a refusal that is not a problem document:\n%s", desc())
	}
	var p httpapi.Problem
	if err := json.Unmarshal(res.Body.Bytes(), &p); err != nil {
		t.Fatalf("the problem is not JSON (%v):\n%s", err, desc())
	}
	if p.Status != res.Code || p.Code == "" || p.Detail == "" || p.Type != httpapi.ProblemTypeBase+string(p.Code) || p.Code == domain.CodeInternal {
		t.Fatalf("the problem does not say the refusal: %+v\n%s", p, desc())
	}
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkProblem(doc, res.Result(), res.Body.Bytes()); err != nil {
		t.Fatalf("the problem does not match openapi.yaml (%v):\n%s", err, desc())
	}
}

// servableContexts are what servable evaluates every flag for.
var servableContexts = []string{`{"context":{"targetingKey":"user-1","country":"DE","age":30,"email":"ada@example.com","version":"1.2.3","beta":true}}`,
	`{"context":{"targetingKey":"user-2"}}`}

// servable evaluates every flag of production and staging through OFREP
// (a new evaluator: nothing cached) and says which could not be served.
func (w *apiFuzz) servable() error {
	h := evaluate.NewHandler(evaluate.New(w.store, w.clock, time.Hour), slog.New(slog.DiscardHandler))
	for _, key := range w.sdk {
		for _, body := range servableContexts {
			req := httptest.NewRequest(http.MethodPost, "/ofrep/v1/evaluate/flags", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var out struct {
				Flags []struct{ Key, ErrorCode, ErrorDetails string }
			}
			if rec.Code == http.StatusUnauthorized {
				break // the write revoked or rotated the key
			}
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
				return fmt.Errorf("bulk evaluation: %d %s", rec.Code, rec.Body)
			}
			for _, fl := range out.Flags {
				if fl.ErrorCode != "" && fl.ErrorCode != "TARGETING_KEY_MISSING" {
					return fmt.Errorf("flag %s: %s %s (%s)", fl.Key, fl.ErrorCode, fl.ErrorDetails, rec.Body)
				}
			}
		}
	}
	return nil
}

// checkSeedsReachEveryRoute fails the target when a route of the table
// has no seeds, when a route's valid seed is refused, or when a route
// that decodes its body does not refuse an unknown field by its pointer:
// the seeds then reach every body type the API takes.
func (w *apiFuzz) checkSeedsReachEveryRoute(f *testing.F) {
	seeded := map[string]bool{}
	for _, s := range w.seeds {
		seeded[s.route] = true
		rt, inTable := w.routes[s.route]
		method, path, page := w.target(s.route)
		ctype := contentTypes[s.media&7]
		if ctype == "" {
			ctype = ownType(method, page)
		}
		token := w.tokens[s.actor%4]
		if !s.invalidFirst {
			res := w.send(method, path, token, ctype, s.bodies[0])
			if res.Code >= 400 {
				f.Errorf("%s: the valid seed %q is refused: %d %s", s.route, clipped([]byte(s.bodies[0])), res.Code, res.Body)
			}
			w.store.reset()
		}
		if !inTable || s.bodyless || page {
			continue
		}
		// (a merge patch adding a field the resource does not have, for PATCH)
		res := w.send(method, path, token, ownType(rt.Method, false), `{"zz_unknown":1}`)
		if res.Code != http.StatusUnprocessableEntity || !strings.Contains(res.Body.String(), "zz_unknown") {
			f.Errorf("%s: a body with an unknown field is not refused by its name (so the body type is not reached): %d %s", s.route, res.Code, res.Body)
		}
		w.store.reset()
	}
	for _, k := range w.keys {
		if !seeded[k] {
			f.Errorf("the route %s takes a body but has no seeds in FuzzAPIBodies: add them", k)
		}
	}
	if f.Failed() {
		f.FailNow()
	}
}

func clipped(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}
