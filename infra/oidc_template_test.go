package infra

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/oidcauth"
)

// Sign in with OpenID Connect on AWS: the template's parameters reach the
// console function (which serves the sign-in pages) as the variables oidcauth.ConfigFromEnv reads; the client
// secret never is a variable (the function reads it from Secrets Manager),
// and the function may read that one secret, only when it is configured.

// oidcParams maps each parameter to the variable it sets on the console function.
var oidcParams = map[string]string{
	"OidcIssuer":          oidcauth.EnvIssuer,
	"OidcName":            oidcauth.EnvName,
	"OidcClientId":        oidcauth.EnvClientID,
	"OidcClientSecretArn": oidcauth.EnvClientSecretARN,
	"OidcAllowedDomains":  oidcauth.EnvAllowedDomains,
	"OidcRole":            oidcauth.EnvRole,
}

func TestOIDCParametersReachTheConsoleFunction(t *testing.T) {
	tpl := loadTemplate(t)
	params := asMap(tpl.raw["Parameters"])
	for name := range oidcParams {
		p := asMap(params[name])
		if p == nil {
			t.Errorf("parameter %s is missing", name)
			continue
		}
		// empty by default: a stack without OpenID Connect starts as before
		if p["Type"] != "String" || p["Default"] != "" {
			t.Errorf("parameter %s: Type %v, Default %q; want String, empty (off)", name, p["Type"], p["Default"])
		}
	}
	for _, f := range tpl.functions() {
		vars := asMap(asMap(f.props["Environment"])["Variables"])
		for k := range vars {
			if k == oidcauth.EnvClientSecret {
				t.Errorf("%s: %s is a variable: the client secret must stay in Secrets Manager (%s)", f.id, k, oidcauth.EnvClientSecretARN)
			}
			if strings.HasPrefix(k, "COUNTERSIGN_OIDC_") && f.id != "ConsoleFunction" {
				t.Errorf("%s: has %s; only the console function signs people in", f.id, k)
			}
		}
		if f.id != "ConsoleFunction" {
			continue
		}
		for param, env := range oidcParams {
			if name, ok := refName(vars[env]); !ok || name != param {
				t.Errorf("ConsoleFunction: %s is %v, want !Ref %s", env, vars[env], param)
			}
		}
	}

	// The parameters' constraints agree with what the code accepts.
	issuer := regexp.MustCompile(asMap(params["OidcIssuer"])["AllowedPattern"].(string))
	arn := regexp.MustCompile(asMap(params["OidcClientSecretArn"])["AllowedPattern"].(string))
	for _, c := range []struct {
		re   *regexp.Regexp
		v    string
		want bool
	}{
		{issuer, "", true}, {issuer, "https://example.okta.com", true}, {issuer, "http://example.okta.com", false},
		{arn, "", true}, {arn, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:countersign/oidc-AbC123", true},
		{arn, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:countersign/oidc", false}, {arn, "countersign/oidc", false},
	} {
		if c.re.MatchString(c.v) != c.want {
			t.Errorf("pattern %s on %q: %v, want %v", c.re, c.v, !c.want, c.want)
		}
	}
	roles, _ := stringOrList(asMap(params["OidcRole"])["AllowedValues"])
	for _, role := range roles {
		_, err := oidcauth.ConfigFromEnv(func(k string) string {
			return map[string]string{oidcauth.EnvIssuer: "https://idp.example.com", oidcauth.EnvClientID: "cs",
				oidcauth.EnvClientSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oidc-AbC123", oidcauth.EnvRole: role}[k]
		})
		if err != nil {
			t.Errorf("OidcRole %q is allowed by the template but refused by the code: %v", role, err)
		}
	}
	if slices.Contains(roles, "admin") {
		t.Error("OidcRole allows admin")
	}
}

// The only Secrets Manager permission in the template: the console function's
// GetSecretValue on OidcClientSecretArn, under the condition that it is set.
func TestOIDCClientSecretGrant(t *testing.T) {
	tpl := loadTemplate(t)
	cond, _ := json.Marshal(asMap(tpl.raw["Conditions"])["HasOidcClientSecretArn"])
	if string(cond) != `{"Fn::Not":[{"Fn::Equals":[{"Ref":"OidcClientSecretArn"},""]}]}` {
		t.Errorf("condition HasOidcClientSecretArn is %s, want !Not [!Equals [!Ref OidcClientSecretArn, \"\"]]", cond)
	}
	found := 0
	for _, f := range tpl.functions() {
		for i, item := range asList(f.props["Policies"]) {
			statementsIn(item, f.id+".Policies", func(path string, stmt obj) {
				actions, _ := stringOrList(stmt["Action"])
				for _, a := range actions {
					if !strings.HasPrefix(strings.ToLower(a), "secretsmanager:") {
						continue
					}
					branches := asList(asMap(item)["Fn::If"])
					res, _ := refName(stmt["Resource"])
					if f.id != "ConsoleFunction" || a != "secretsmanager:GetSecretValue" || stmt["Effect"] != "Allow" || res != "OidcClientSecretArn" ||
						len(branches) != 3 || branches[0] != "HasOidcClientSecretArn" {
						t.Errorf("%s[%d] %s: %s on %v; the only Secrets Manager grant is the console function's GetSecretValue on !Ref OidcClientSecretArn, in a !If on HasOidcClientSecretArn", path, i, stmt["Sid"], a, stmt["Resource"])
						continue
					}
					if name, ok := refName(branches[2]); !ok || name != "AWS::NoValue" {
						t.Errorf("%s[%d]: the else branch is %v, want !Ref AWS::NoValue", path, i, branches[2])
					}
					found++
				}
			})
		}
	}
	if found != 1 {
		t.Errorf("found %d grants of secretsmanager:GetSecretValue on the client secret, want 1", found)
	}
}

// A half-done OpenID Connect setup is refused at deploy time, not by a
// crashing cold start.
func TestOIDCRules(t *testing.T) {
	tpl := loadTemplate(t)
	rules := asMap(tpl.raw["Rules"])
	want := map[string][]string{
		"OidcComplete": {"OidcClientId", "OidcClientSecretArn", "PublicBaseUrl"},
		"OidcOff":      {"OidcClientId", "OidcClientSecretArn", "OidcAllowedDomains"},
	}
	for name, refs := range want {
		rule := asMap(rules[name])
		cond, _ := json.Marshal(rule["RuleCondition"])
		if !strings.Contains(string(cond), `{"Ref":"OidcIssuer"}`) {
			t.Errorf("rule %s: RuleCondition %s does not depend on OidcIssuer", name, cond)
		}
		asserts, _ := json.Marshal(rule["Assertions"])
		for _, r := range refs {
			if !strings.Contains(string(asserts), `{"Ref":"`+r+`"}`) {
				t.Errorf("rule %s does not check %s: %s", name, r, asserts)
			}
		}
	}
}

// Each route of oidcauth reaches the console function through API Gateway
// with exactly its method.
func TestOIDCRoutesReachTheConsoleFunction(t *testing.T) {
	tpl := loadTemplate(t)
	routes, _ := tpl.httpRoutes()
	var got []oidcauth.Route
	for _, r := range routes {
		if strings.HasPrefix(r.path, "/auth/oidc/") {
			if r.fn != "ConsoleFunction" {
				t.Errorf("%s %s goes to %s, not ConsoleFunction", r.method, r.path, r.fn)
			}
			got = append(got, oidcauth.Route{Method: r.method, Pattern: r.path})
		}
	}
	slices.SortFunc(got, func(a, b oidcauth.Route) int { return strings.Compare(b.Pattern, a.Pattern) })
	want := oidcauth.Routes()
	slices.SortFunc(want, func(a, b oidcauth.Route) int { return strings.Compare(b.Pattern, a.Pattern) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("template routes under /auth/oidc/: %v, want %v", got, want)
	}
}
