package infra

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/config"
	"github.com/countersign/countersign/internal/metrics"
)

// What a deploy on AWS needs beyond the functions themselves (issue 13):
// the base URL of e-mail links, the SES identity and its events, the custom
// domain, alarms on everything with one topic, the dashboard, parameters a
// deploy can leave alone, and documents that list what is there.

// ---------------------------------------------------------------------------
// Helpers

func (tpl *template) function(t *testing.T, id string) function {
	t.Helper()
	for _, f := range tpl.functions() {
		if f.id == id {
			return f
		}
	}
	t.Fatalf("template.yaml has no %s", id)
	return function{}
}

func envOf(f function) obj {
	return asMap(asMap(f.props["Environment"])["Variables"])
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sendsMail reports whether one of the function's policy statements allows
// ses:SendEmail.
func sendsMail(f function) bool {
	found := false
	statementsIn(f.props["Policies"], f.id, func(_ string, stmt obj) {
		actions, _ := stringOrList(stmt["Action"])
		found = found || (stmt["Effect"] == "Allow" && slices.Contains(actions, "ses:SendEmail"))
	})
	return found
}

// alarms returns the template's CloudWatch alarms by logical id.
func (tpl *template) alarms() map[string]obj {
	out := map[string]obj{}
	for _, id := range tpl.ofType("AWS::CloudWatch::Alarm") {
		out[id] = tpl.resources[id]
	}
	return out
}

// alarmOn finds the alarms on one metric: namespace, name, and the
// dimensions as JSON ("[]" for none).
func (tpl *template) alarmOn(ns, metric, dims string) []string {
	var ids []string
	for id, a := range tpl.alarms() {
		p := asMap(a["Properties"])
		d := p["Dimensions"]
		if d == nil {
			d = []any{}
		}
		if p["Namespace"] == ns && p["MetricName"] == metric && jsonOf(d) == dims {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func fnDims(id string) string {
	return jsonOf([]any{obj{"Name": "FunctionName", "Value": obj{"Ref": id}}})
}

// ---------------------------------------------------------------------------
// Base URL: e-mail links point at the deployed API, with no dependency cycle

// wantMailBaseURL is COUNTERSIGN_BASE_URL of the functions that build e-mail
// links: PublicBaseUrl, else the custom domain, else the API's endpoint.
const wantMailBaseURL = `{"Fn::If":["HasPublicBaseUrl",{"Ref":"PublicBaseUrl"},{"Fn::If":["HasDomainName",{"Fn::Sub":"https://${DomainName}"},{"Fn::GetAtt":["HttpApi","ApiEndpoint"]}]}]}`

// wantAPIBaseURL is the api function's: the same without the endpoint,
// which it cannot name (the API depends on it); "" makes it take the
// origin from each request (httpapi.Server.SetBaseURL).
const wantAPIBaseURL = `{"Fn::If":["HasPublicBaseUrl",{"Ref":"PublicBaseUrl"},{"Fn::If":["HasDomainName",{"Fn::Sub":"https://${DomainName}"},""]}]}`

func TestBaseURLOfMailFunctions(t *testing.T) {
	tpl := loadTemplate(t)
	globals := asMap(asMap(asMap(asMap(tpl.raw["Globals"])["Function"])["Environment"])["Variables"])
	for _, k := range []string{"COUNTERSIGN_BASE_URL", "COUNTERSIGN_SES_CONFIGURATION_SET", "COUNTERSIGN_MAIL_FROM"} {
		if v, has := globals[k]; has {
			t.Errorf("Globals set %s = %s: the base URL's GetAtt HttpApi.ApiEndpoint would make a cycle there, and only the mail functions need the mail settings", k, jsonOf(v))
		}
	}
	conds := asMap(tpl.raw["Conditions"])
	for name, want := range map[string]string{
		"HasPublicBaseUrl": `{"Fn::Not":[{"Fn::Equals":[{"Ref":"PublicBaseUrl"},""]}]}`,
		"HasDomainName":    `{"Fn::Not":[{"Fn::Equals":[{"Ref":"DomainName"},""]}]}`,
	} {
		if got := jsonOf(conds[name]); got != want {
			t.Errorf("condition %s is %s, want %s", name, got, want)
		}
	}

	mailers := 0
	for _, f := range tpl.functions() {
		env := envOf(f)
		if !sendsMail(f) {
			if _, has := env["COUNTERSIGN_SES_CONFIGURATION_SET"]; has {
				t.Errorf("%s cannot send mail but gets COUNTERSIGN_SES_CONFIGURATION_SET", f.id)
			}
			continue
		}
		mailers++
		if got := jsonOf(env["COUNTERSIGN_BASE_URL"]); got != wantMailBaseURL {
			t.Errorf("%s sends mail with links: COUNTERSIGN_BASE_URL is %s, want %s", f.id, got, wantMailBaseURL)
		}
		if name, _ := refName(env["COUNTERSIGN_SES_CONFIGURATION_SET"]); name != "ConfigurationSet" {
			t.Errorf("%s sends mail: COUNTERSIGN_SES_CONFIGURATION_SET is %s, want !Ref ConfigurationSet", f.id, jsonOf(env["COUNTERSIGN_SES_CONFIGURATION_SET"]))
		}
		if name, _ := refName(env["COUNTERSIGN_MAIL_FROM"]); name != "MailFrom" {
			t.Errorf("%s sends mail: COUNTERSIGN_MAIL_FROM is %s, want !Ref MailFrom", f.id, jsonOf(env["COUNTERSIGN_MAIL_FROM"]))
		}
	}
	// The notifier (the outbox, and its scheduled retry) is the one.
	if !sendsMail(tpl.function(t, "NotifierFunction")) {
		t.Errorf("NotifierFunction may not ses:SendEmail")
	}
	if mailers != 1 {
		t.Errorf("%d functions may send mail, want 1 (the notifier)", mailers)
	}

	// the api and console functions both check the origin of
	// session-authenticated writes (and the console's is the OpenID
	// Connect redirect URI's base)
	for _, id := range []string{"ApiFunction", "ConsoleFunction"} {
		if got := jsonOf(envOf(tpl.function(t, id))["COUNTERSIGN_BASE_URL"]); got != wantAPIBaseURL {
			t.Errorf("%s COUNTERSIGN_BASE_URL is %s, want %s", id, got, wantAPIBaseURL)
		}
	}

	// The variable names are the ones the code reads.
	cfg, err := config.FromEnv(func(k string) string {
		return map[string]string{"COUNTERSIGN_BASE_URL": "https://abc.execute-api.us-east-1.amazonaws.com",
			"COUNTERSIGN_SES_CONFIGURATION_SET": "cs-set", "COUNTERSIGN_MAIL_FROM": "countersign@example.com"}[k]
	}, config.StoreDynamoDB)
	if err != nil || cfg.BaseURL != "https://abc.execute-api.us-east-1.amazonaws.com" || cfg.SESConfigSet != "cs-set" || cfg.MailFrom != "countersign@example.com" {
		t.Errorf("internal/config does not read the template's variables: %+v %v", cfg, err)
	}
}

// dependencies returns, for each resource, the resources it depends on:
// Ref, GetAtt, Sub variables and DependsOn, with Globals applied to
// functions, and SAM's implicit ones: an HttpApi depends on every function
// one of its routes integrates (the API's definition names the function's
// ARN). A function's Events are not its dependencies (SAM makes them
// resources that depend on the function).
func dependencies(tpl *template, globals obj) map[string][]string {
	deps := map[string][]string{}
	add := func(from, to string) {
		if tpl.resources[to] != nil && from != to && !slices.Contains(deps[from], to) {
			deps[from] = append(deps[from], to)
		}
	}
	var walk func(from string, v any)
	walk = func(from string, v any) {
		switch x := v.(type) {
		case obj:
			if name, ok := refName(x); ok {
				res, _, _ := strings.Cut(name, ".")
				add(from, res)
			}
			if res, _, ok := getAtt(x); ok {
				add(from, res)
			}
			if sub, has := x["Fn::Sub"]; has {
				str := sub
				if l := asList(sub); len(l) == 2 {
					str = l[0]
				}
				s, _ := asString(str)
				for _, m := range subVar.FindAllStringSubmatch(s, -1) {
					res, _, _ := strings.Cut(m[1], ".")
					add(from, res)
				}
			}
			for _, c := range x {
				walk(from, c)
			}
		case []any:
			for _, c := range x {
				walk(from, c)
			}
		}
	}
	for id, r := range tpl.resources {
		props := asMap(r["Properties"])
		if r["Type"] == "AWS::Serverless::Function" {
			merged, _ := mergeGlobals(globals, props).(obj)
			props = obj{}
			for k, v := range merged {
				if k != "Events" {
					props[k] = v
				}
			}
			for _, e := range asMap(merged["Events"]) {
				ep := asMap(asMap(e)["Properties"])
				if asMap(e)["Type"] == "HttpApi" {
					if api, ok := refName(ep["ApiId"]); ok {
						add(api, id)
					}
				}
			}
		}
		walk(id, props)
		d, _ := stringOrList(r["DependsOn"])
		for _, to := range d {
			add(id, to)
		}
	}
	return deps
}

// findCycle returns a dependency cycle, or nil.
func findCycle(deps map[string][]string) []string {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(n string) bool
	visit = func(n string) bool {
		state[n] = open
		stack = append(stack, n)
		next := append([]string{}, deps[n]...)
		sort.Strings(next)
		for _, m := range next {
			switch state[m] {
			case open:
				i := slices.Index(stack, m)
				cycle = append(append([]string{}, stack[i:]...), m)
				return true
			case unseen:
				if visit(m) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return false
	}
	var ids []string
	for id := range deps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if state[id] == unseen && visit(id) {
			return cycle
		}
	}
	return nil
}

func TestNoDependencyCycle(t *testing.T) {
	tpl := loadTemplate(t)
	globals := asMap(asMap(tpl.raw["Globals"])["Function"])
	if c := findCycle(dependencies(tpl, globals)); c != nil {
		t.Errorf("dependency cycle: %s", strings.Join(c, " -> "))
	}
	// The check can fail: the endpoint in Globals is the cycle the issue names.
	bad := obj{}
	for k, v := range globals {
		bad[k] = v
	}
	bad["Environment"] = obj{"Variables": obj{"COUNTERSIGN_BASE_URL": obj{"Fn::GetAtt": []any{"HttpApi", "ApiEndpoint"}}}}
	if c := findCycle(dependencies(tpl, bad)); c == nil || !slices.Contains(c, "HttpApi") {
		t.Errorf("!GetAtt HttpApi.ApiEndpoint in Globals was not found to be a cycle (got %v)", c)
	}
}

// ---------------------------------------------------------------------------
// SES: the sender's identity, the configuration set, its events

func TestSESIdentityConfigurationSetAndEvents(t *testing.T) {
	tpl := loadTemplate(t)
	params := asMap(tpl.raw["Parameters"])
	if got := asMap(params["SenderIdentity"]); jsonOf(got["AllowedValues"]) != `["domain","address","existing"]` || got["Default"] != "domain" {
		t.Errorf("SenderIdentity: AllowedValues %v, Default %v; want [domain address existing], domain", got["AllowedValues"], got["Default"])
	}
	conds := asMap(tpl.raw["Conditions"])
	for name, want := range map[string]string{
		"SenderIsDomain":        `{"Fn::Equals":[{"Ref":"SenderIdentity"},"domain"]}`,
		"SenderIsAddress":       `{"Fn::Equals":[{"Ref":"SenderIdentity"},"address"]}`,
		"CreatesSenderIdentity": `{"Fn::Or":[{"Condition":"SenderIsDomain"},{"Condition":"SenderIsAddress"}]}`,
	} {
		if got := jsonOf(conds[name]); got != want {
			t.Errorf("condition %s is %s, want %s", name, got, want)
		}
	}

	ids := tpl.ofType("AWS::SES::EmailIdentity")
	if len(ids) != 1 {
		t.Fatalf("want one AWS::SES::EmailIdentity, found %v", ids)
	}
	identity := tpl.resources[ids[0]]
	ip := asMap(identity["Properties"])
	if identity["Condition"] != "CreatesSenderIdentity" {
		t.Errorf("%s: Condition %v, want CreatesSenderIdentity (none with SenderIdentity=existing)", ids[0], identity["Condition"])
	}
	if got, want := jsonOf(ip["EmailIdentity"]), `{"Fn::If":["SenderIsDomain",{"Fn::Select":[1,{"Fn::Split":["@",{"Ref":"MailFrom"}]}]},{"Ref":"MailFrom"}]}`; got != want {
		t.Errorf("%s EmailIdentity is %s, want %s (MailFrom's domain, or MailFrom)", ids[0], got, want)
	}
	if got := jsonOf(ip["DkimAttributes"]); got != `{"Fn::If":["SenderIsDomain",{"SigningEnabled":true},{"Ref":"AWS::NoValue"}]}` {
		t.Errorf("%s DkimAttributes is %s, want Easy DKIM signing for a domain identity", ids[0], got)
	}
	if name, _ := refName(asMap(ip["ConfigurationSetAttributes"])["ConfigurationSetName"]); name != "ConfigurationSet" {
		t.Errorf("%s: default configuration set is %v, want !Ref ConfigurationSet", ids[0], ip["ConfigurationSetAttributes"])
	}

	if sets := tpl.ofType("AWS::SES::ConfigurationSet"); !reflect.DeepEqual(sets, []string{"ConfigurationSet"}) {
		t.Fatalf("AWS::SES::ConfigurationSet resources: %v, want [ConfigurationSet]", sets)
	}
	dests := tpl.ofType("AWS::SES::ConfigurationSetEventDestination")
	if len(dests) != 1 {
		t.Fatalf("want one AWS::SES::ConfigurationSetEventDestination, found %v", dests)
	}
	dp := asMap(tpl.resources[dests[0]]["Properties"])
	if name, _ := refName(dp["ConfigurationSetName"]); name != "ConfigurationSet" {
		t.Errorf("%s is on %v, want !Ref ConfigurationSet", dests[0], dp["ConfigurationSetName"])
	}
	ed := asMap(dp["EventDestination"])
	types, _ := stringOrList(ed["MatchingEventTypes"])
	for _, want := range []string{"BOUNCE", "COMPLAINT", "DELIVERY", "REJECT"} {
		if !slices.Contains(types, want) {
			t.Errorf("%s: MatchingEventTypes %v lack %s", dests[0], types, want)
		}
	}
	if ed["Enabled"] != true {
		t.Errorf("%s: Enabled is %v", dests[0], ed["Enabled"])
	}
	// SES publishes to the default bus only.
	if got := jsonOf(asMap(ed["EventBridgeDestination"])["EventBusArn"]); got != `{"Fn::Sub":"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}` {
		t.Errorf("%s: EventBusArn is %s, want the default bus", dests[0], got)
	}

	// The mail functions may use that configuration set and no other.
	for _, f := range tpl.functions() {
		statementsIn(f.props["Policies"], f.id, func(path string, stmt obj) {
			actions, _ := stringOrList(stmt["Action"])
			if !slices.Contains(actions, "ses:SendEmail") {
				return
			}
			r := jsonOf(stmt["Resource"])
			if !strings.Contains(r, ":configuration-set/${ConfigurationSet}") || strings.Contains(r, ":configuration-set/*") {
				t.Errorf("%s: ses:SendEmail on %s, want configuration-set/${ConfigurationSet} (and identities)", path, r)
			}
		})
	}

	// The DKIM records to publish, when the identity is a domain.
	outputs := asMap(tpl.raw["Outputs"])
	for i := 1; i <= 3; i++ {
		o := asMap(outputs[fmt.Sprintf("DkimRecord%d", i)])
		want := fmt.Sprintf(`{"Fn::Sub":"${SenderEmailIdentity.DkimDNSTokenName%d} CNAME ${SenderEmailIdentity.DkimDNSTokenValue%d}"}`, i, i)
		if o["Condition"] != "SenderIsDomain" || jsonOf(o["Value"]) != want {
			t.Errorf("output DkimRecord%d: Condition %v, Value %s; want SenderIsDomain, %s", i, o["Condition"], jsonOf(o["Value"]), want)
		}
	}
	if name, _ := refName(asMap(outputs["ConfigurationSetName"])["Value"]); name != "ConfigurationSet" {
		t.Errorf("output ConfigurationSetName is %v", outputs["ConfigurationSetName"])
	}
}

// ---------------------------------------------------------------------------
// Custom domain

func TestCustomDomain(t *testing.T) {
	tpl := loadTemplate(t)
	params := asMap(tpl.raw["Parameters"])
	for _, name := range []string{"DomainName", "CertificateArn"} {
		if p := asMap(params[name]); p["Default"] != "" {
			t.Errorf("parameter %s: Default %v, want empty (no custom domain)", name, p["Default"])
		}
	}
	check := func(param string, cases map[string]bool) {
		re := regexp.MustCompile(asMap(params[param])["AllowedPattern"].(string))
		for v, want := range cases {
			if re.MatchString(v) != want {
				t.Errorf("%s pattern %s on %q: %v, want %v", param, re, v, !want, want)
			}
		}
	}
	check("DomainName", map[string]bool{"": true, "flags.example.com": true, "a.b.co": true, "Flags.example.com": false,
		"https://flags.example.com": false, "flags": false, "-x.example.com": false, "flags.example.com.": false})
	check("CertificateArn", map[string]bool{"": true, "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-0000-4e5f-8a9b-0123456789ab": true,
		"arn:aws:acm:eu-west-1:123456789012:certificate": false, "arn:aws:iam::123456789012:server-certificate/x": false})

	dn := tpl.ofType("AWS::ApiGatewayV2::DomainName")
	maps := tpl.ofType("AWS::ApiGatewayV2::ApiMapping")
	if len(dn) != 1 || len(maps) != 1 {
		t.Fatalf("want one AWS::ApiGatewayV2::DomainName and one ApiMapping, found %v %v", dn, maps)
	}
	d, m := tpl.resources[dn[0]], tpl.resources[maps[0]]
	if d["Condition"] != "HasDomainName" || m["Condition"] != "HasDomainName" {
		t.Errorf("the domain name and mapping exist only with DomainName: Conditions %v, %v", d["Condition"], m["Condition"])
	}
	dp := asMap(d["Properties"])
	cfg := asMap(asList(dp["DomainNameConfigurations"])[0])
	if n, _ := refName(dp["DomainName"]); n != "DomainName" {
		t.Errorf("%s DomainName is %v", dn[0], dp["DomainName"])
	}
	if n, _ := refName(cfg["CertificateArn"]); n != "CertificateArn" || cfg["EndpointType"] != "REGIONAL" || cfg["SecurityPolicy"] != "TLS_1_2" {
		t.Errorf("%s configuration is %s, want !Ref CertificateArn, REGIONAL, TLS_1_2", dn[0], jsonOf(cfg))
	}
	mp := asMap(m["Properties"])
	if got := jsonOf(mp); got != `{"ApiId":{"Ref":"HttpApi"},"DomainName":{"Ref":"`+dn[0]+`"},"Stage":{"Ref":"HttpApi.Stage"}}` {
		t.Errorf("%s is %s, want the HTTP API's $default stage (!Ref HttpApi.Stage) under the domain name", maps[0], got)
	}

	rules := asMap(tpl.raw["Rules"])
	for name, want := range map[string]string{
		"CustomDomainHasCertificate":   `{"Assertions":[{"Assert":{"Fn::Not":[{"Fn::Equals":[{"Ref":"CertificateArn"},""]}]}`,
		"CertificateNeedsCustomDomain": `{"Assertions":[{"Assert":{"Fn::Not":[{"Fn::Equals":[{"Ref":"DomainName"},""]}]}`,
	} {
		if got := jsonOf(rules[name]); !strings.HasPrefix(got, want) {
			t.Errorf("rule %s is %s, want it to assert %s", name, got, want)
		}
	}
	if o := asMap(asMap(tpl.raw["Outputs"])["CustomDomainTarget"]); o["Condition"] != "HasDomainName" || jsonOf(o["Value"]) != `{"Fn::GetAtt":["`+dn[0]+`","RegionalDomainName"]}` {
		t.Errorf("output CustomDomainTarget is %s, want the regional domain name, with HasDomainName", jsonOf(o))
	}
}

// ---------------------------------------------------------------------------
// Parameters: a deploy answers MailFrom and nothing else is required

func TestOnlyMailFromIsRequired(t *testing.T) {
	tpl := loadTemplate(t)
	params := asMap(tpl.raw["Parameters"])
	var required []string
	for name, p := range params {
		if _, has := asMap(p)["Default"]; !has {
			required = append(required, name)
		}
	}
	if !reflect.DeepEqual(required, []string{"MailFrom"}) {
		t.Errorf("parameters without a Default: %v, want only MailFrom (a real sender; every other one has a default, so a deploy needs no more answers)", required)
	}
	at := asMap(params["AdminToken"])
	if at["Default"] != "" || at["NoEcho"] != true {
		t.Errorf("AdminToken: Default %v, NoEcho %v; want empty and true (never asked, never shown)", at["Default"], at["NoEcho"])
	}
	if r := jsonOf(tpl.raw["Rules"]); strings.Contains(r, `{"Ref":"AdminToken"}`) {
		t.Error("a Rule depends on AdminToken: nothing may require it")
	}
	// MailFrom and AdminEmail take what the code accepts: a plain address.
	for _, name := range []string{"MailFrom", "AdminEmail"} {
		re := regexp.MustCompile(asMap(params[name])["AllowedPattern"].(string))
		for v, want := range map[string]bool{"countersign@example.com": true, "a.b+c@mail.example.co.uk": true,
			"Countersign <countersign@example.com>": false, "countersign@localhost": false, "countersign": false, "a@b@example.com": false} {
			if re.MatchString(v) != want {
				t.Errorf("%s pattern %s on %q: %v, want %v", name, re, v, !want, want)
			}
		}
		if name == "AdminEmail" {
			if !re.MatchString("") {
				t.Error("AdminEmail must accept empty (no invitation)")
			}
			_, err := config.FromEnv(func(k string) string {
				return map[string]string{"COUNTERSIGN_ADMIN_EMAIL": "a.b+c@mail.example.co.uk"}[k]
			}, config.StoreDynamoDB)
			if err != nil {
				t.Errorf("an AdminEmail the template accepts is refused by internal/config: %v", err)
			}
		}
	}
	if _, has := params["SESConfigurationSet"]; has {
		t.Error("SESConfigurationSet is a parameter again: the stack makes its own configuration set")
	}
}

// ---------------------------------------------------------------------------
// Alarms: every one notifies the topic; every function has errors and
// throttles; the stream, the custom metrics and SES are covered

// metricContract is what the code emits in CloudWatch embedded metric
// format: namespace Countersign, no dimensions, unit Count. The alarms and
// the dashboard read these names; renaming one on either side breaks them.
var metricContract = map[string]string{
	"OutboxDeadLettered":  "the notifier: an outbox delivery (one recipient, or an event) gave up after its retries",
	"MailRefused":         "the notifier: SES (or SMTP, in the single process) refused a recipient for good (not retried)",
	"SweepFailures":       "the timers: a sweep failed",
	"BypassReviewOverdue": "the timers: a bypass's review after passed its deadline unacknowledged",
}

const metricNamespace = "Countersign"

func TestAlarmsNotifyTheTopic(t *testing.T) {
	tpl := loadTemplate(t)
	topics := tpl.ofType("AWS::SNS::Topic")
	if len(topics) != 1 {
		t.Fatalf("want one AWS::SNS::Topic for the alarms, found %v", topics)
	}
	topic := topics[0]
	if c, has := tpl.resources[topic]["Condition"]; has {
		t.Errorf("%s has Condition %v: the topic and the alarms exist on every stack", topic, c)
	}
	subs := tpl.ofType("AWS::SNS::Subscription")
	if len(subs) != 1 {
		t.Fatalf("want one AWS::SNS::Subscription (AlarmEmail), found %v", subs)
	}
	sub := tpl.resources[subs[0]]
	sp := asMap(sub["Properties"])
	if tn, _ := refName(sp["TopicArn"]); sub["Condition"] != "HasAlarmEmail" || tn != topic || sp["Protocol"] != "email" || jsonOf(sp["Endpoint"]) != `{"Ref":"AlarmEmail"}` {
		t.Errorf("%s is %s, want an email subscription of !Ref AlarmEmail to %s, with Condition HasAlarmEmail", subs[0], jsonOf(sub), topic)
	}
	if got := jsonOf(asMap(tpl.raw["Conditions"])["HasAlarmEmail"]); got != `{"Fn::Not":[{"Fn::Equals":[{"Ref":"AlarmEmail"},""]}]}` {
		t.Errorf("condition HasAlarmEmail is %s", got)
	}

	alarms := tpl.alarms()
	if len(alarms) == 0 {
		t.Fatal("no alarms")
	}
	for id, a := range alarms {
		p := asMap(a["Properties"])
		if c, has := a["Condition"]; has {
			t.Errorf("%s has Condition %v: alarms exist on every stack", id, c)
		}
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if got := jsonOf(p[k]); got != `[{"Ref":"`+topic+`"}]` {
				t.Errorf("%s %s is %s, want [!Ref %s]", id, k, got, topic)
			}
		}
		if p["TreatMissingData"] != "notBreaching" {
			t.Errorf("%s TreatMissingData is %v, want notBreaching", id, p["TreatMissingData"])
		}
		if d, _ := asString(p["AlarmDescription"]); d == "" && asMap(p["AlarmDescription"]) == nil {
			t.Errorf("%s has no AlarmDescription", id)
		}
	}
}

func TestEveryFunctionHasErrorsAndThrottlesAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	fns := tpl.functions()
	if len(fns) < 4 {
		t.Fatalf("want the four functions, found %d", len(fns))
	}
	for _, f := range fns {
		for _, metric := range []string{"Errors", "Throttles"} {
			ids := tpl.alarmOn("AWS/Lambda", metric, fnDims(f.id))
			if len(ids) != 1 {
				t.Errorf("%s: want one alarm on AWS/Lambda %s with FunctionName !Ref %s, found %v", f.id, metric, f.id, ids)
				continue
			}
			p := asMap(tpl.alarms()[ids[0]]["Properties"])
			if p["Statistic"] != "Sum" || p["Threshold"] != 1 || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
				t.Errorf("%s: Statistic %v, Threshold %v, %v; want Sum, 1, GreaterThanOrEqualToThreshold (any failure or throttle)", ids[0], p["Statistic"], p["Threshold"], p["ComparisonOperator"])
			}
		}
	}
}

func TestStreamIteratorAgeAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	n := 0
	for _, tr := range tpl.triggers() {
		if tr.typ != "DynamoDB" {
			continue
		}
		n++
		ids := tpl.alarmOn("AWS/Lambda", "IteratorAge", fnDims(tr.fn))
		if len(ids) != 1 {
			t.Errorf("%s reads the table's stream: want one IteratorAge alarm on it, found %v", tr.fn, ids)
			continue
		}
		p := asMap(tpl.alarms()[ids[0]]["Properties"])
		th, _ := p["Threshold"].(int)
		if p["Statistic"] != "Maximum" || th < 60000 || th > 3600000 {
			t.Errorf("%s: Statistic %v, Threshold %v ms; want Maximum, between a minute and an hour", ids[0], p["Statistic"], p["Threshold"])
		}
	}
	if n == 0 {
		t.Error("no function reads the table's stream")
	}
}

func TestCustomMetricAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	for name := range metricContract {
		ids := tpl.alarmOn(metricNamespace, name, jsonOf([]any{obj{"Name": metrics.Dimension, "Value": obj{"Ref": "Table"}}}))
		if len(ids) != 1 {
			t.Errorf("want one alarm on %s/%s with the dimension %s = the stack's table, found %v", metricNamespace, name, metrics.Dimension, ids)
			continue
		}
		if p := asMap(tpl.alarms()[ids[0]]["Properties"]); p["Statistic"] != "Sum" {
			t.Errorf("%s: Statistic %v, want Sum (a count)", ids[0], p["Statistic"])
		}
	}
	// Every alarm in the namespace is on a metric of the contract.
	for id, a := range tpl.alarms() {
		p := asMap(a["Properties"])
		if name, _ := asString(p["MetricName"]); p["Namespace"] == metricNamespace && metricContract[name] == "" {
			t.Errorf("%s is on %s/%s, which is not in metricContract", id, metricNamespace, name)
		}
	}
	// The code's side of the contract: internal/metrics declares exactly
	// these names in this namespace, and code outside it emits each one
	// (metrics.Count(…, metrics.<Name>, …)).
	if metrics.Namespace != metricNamespace || metrics.Unit != "Count" {
		t.Errorf("internal/metrics emits in namespace %q with unit %q; the alarms read %q, Count", metrics.Namespace, metrics.Unit, metricNamespace)
	}
	declared := map[string]bool{}
	for _, name := range metrics.Names {
		declared[name] = true
		if metricContract[name] == "" {
			t.Errorf("internal/metrics emits %s, which no alarm reads (not in metricContract)", name)
		}
	}
	var code strings.Builder
	root := repoRoot(t)
	for _, dir := range []string{"internal", "functions"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") &&
				filepath.Dir(p) != filepath.Join(root, "internal", "metrics") {
				b, _ := os.ReadFile(p)
				code.Write(b)
			}
			return nil
		})
	}
	for name, what := range metricContract {
		if !declared[name] {
			t.Errorf("metric %s (%s) is not in internal/metrics.Names", name, what)
		}
		if !strings.Contains(code.String(), "metrics."+name) {
			t.Errorf("metric %s (%s): no Go source under internal/ or functions/ emits it (metrics.%s)", name, what, name)
		}
	}
}

func TestSESReputationAlarms(t *testing.T) {
	tpl := loadTemplate(t)
	// SES reviews an account at these rates; the alarms fire before.
	for metric, review := range map[string]float64{"Reputation.BounceRate": 0.05, "Reputation.ComplaintRate": 0.001} {
		ids := tpl.alarmOn("AWS/SES", metric, "[]")
		if len(ids) != 1 {
			t.Errorf("want one alarm on AWS/SES %s, found %v", metric, ids)
			continue
		}
		p := asMap(tpl.alarms()[ids[0]]["Properties"])
		th, _ := p["Threshold"].(float64)
		if p["Statistic"] != "Maximum" || th <= 0 || th >= review {
			t.Errorf("%s: Statistic %v, Threshold %v; want Maximum, above 0 and below SES's review level %v", ids[0], p["Statistic"], p["Threshold"], review)
		}
	}
}

// ---------------------------------------------------------------------------
// The dashboard shows the same

func TestDashboard(t *testing.T) {
	tpl := loadTemplate(t)
	ids := tpl.ofType("AWS::CloudWatch::Dashboard")
	if len(ids) != 1 {
		t.Fatalf("want one AWS::CloudWatch::Dashboard, found %v", ids)
	}
	body, ok := asString(asMap(asMap(tpl.resources[ids[0]]["Properties"])["DashboardBody"])["Fn::Sub"])
	if !ok {
		t.Fatal("DashboardBody must be a !Sub of a JSON string")
	}
	// ${X} becomes "<X>" so that the JSON can be read.
	plain := subVar.ReplaceAllString(body, "<$1>")
	var dash struct {
		Widgets []struct {
			Type       string         `json:"type"`
			X          int            `json:"x"`
			Y          int            `json:"y"`
			Width      int            `json:"width"`
			Height     int            `json:"height"`
			Properties map[string]any `json:"properties"`
		} `json:"widgets"`
	}
	if err := decodeStrict([]byte(plain), &dash); err != nil {
		t.Fatalf("DashboardBody is not a dashboard's JSON: %v", err)
	}
	shownAlarms := map[string]bool{}
	metrics := map[string]bool{} // "namespace/name/dimension value"
	for i, w := range dash.Widgets {
		if w.X < 0 || w.Width < 1 || w.X+w.Width > 24 || w.Height < 1 {
			t.Errorf("widget %d is outside the 24-column grid: x %d, width %d, height %d", i, w.X, w.Width, w.Height)
		}
		for _, a := range asList(w.Properties["alarms"]) {
			s, _ := a.(string)
			shownAlarms[strings.TrimSuffix(strings.TrimPrefix(s, "<"), ".Arn>")] = true
		}
		for _, m := range asList(w.Properties["metrics"]) {
			var parts []string
			for _, e := range asList(m) {
				if s, isStr := e.(string); isStr {
					parts = append(parts, s)
				}
			}
			if len(parts) >= 2 {
				key := parts[0] + "/" + parts[1]
				if len(parts) >= 4 {
					key += "/" + parts[3]
				}
				metrics[key] = true
			}
		}
	}
	for id := range tpl.alarms() {
		if !shownAlarms[id] {
			t.Errorf("alarm %s is not in the dashboard's alarm widget", id)
		}
	}
	want := []string{"AWS/Lambda/IteratorAge/<NotifierFunction>", "AWS/SES/Reputation.BounceRate", "AWS/SES/Reputation.ComplaintRate",
		"AWS/ApiGateway/5xx/<HttpApi>"}
	for _, f := range tpl.functions() {
		want = append(want, "AWS/Lambda/Errors/<"+f.id+">", "AWS/Lambda/Throttles/<"+f.id+">")
	}
	for name := range metricContract {
		want = append(want, metricNamespace+"/"+name+"/<Table>") // this stack's table: the dimension's value
	}
	for _, w := range want {
		if !metrics[w] {
			t.Errorf("the dashboard does not graph %s", w)
		}
	}
}

// ---------------------------------------------------------------------------
// cfn-lint and the SAM translator accept the template (where installed)

func TestTemplatePassesCfnLintAndSAMTranslation(t *testing.T) {
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		t.Log("cfn-lint is not installed: `make deploy-check` cannot run here; the checks above still read the template")
		return
	}
	if err := exec.Command("python3", "-c", "import samtranslator").Run(); err != nil {
		t.Log("the SAM translator (python3 samtranslator) is not installed: `make deploy-check` cannot run here")
		return
	}
	cmd := exec.Command("./scripts/deploy.sh", "--check")
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/deploy.sh --check (make deploy-check): %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SAM translation: template.yaml becomes") {
		t.Errorf("make deploy-check did not report the SAM translation:\n%s", out)
	}
}

// ---------------------------------------------------------------------------
// The documents describe what is there

func TestInfraReadmeListsParametersAndResources(t *testing.T) {
	tpl := loadTemplate(t)
	readme := string(readRepoFile(t, "infra/README.md"))
	// The parameter table: rows starting with | `Name` (or `A` / `B`).
	tableNames := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z0-9]+)`(?: / `([A-Za-z0-9]+)`)? \\|")
	for _, m := range row.FindAllStringSubmatch(readme, -1) {
		tableNames[m[1]] = true
		if m[2] != "" {
			tableNames[m[2]] = true
		}
	}
	params := asMap(tpl.raw["Parameters"])
	for name := range params {
		if !tableNames[name] {
			t.Errorf("infra/README.md's parameter table has no row for %s", name)
		}
	}
	for name := range tableNames {
		_, isParam := params[name]
		_, isResource := tpl.resources[name]
		if !isParam && !isResource {
			t.Errorf("infra/README.md has a row for %s, which is neither a parameter nor a resource of template.yaml", name)
		}
	}
	for _, f := range tpl.functions() {
		if !strings.Contains(readme, "`"+f.id+"`") {
			t.Errorf("infra/README.md does not mention %s", f.id)
		}
	}
	for _, s := range []string{"sandbox", "MailFrom", "PublicBaseUrl", "Email Bounced", "Email Complaint Received", "make deploy-check"} {
		if !strings.Contains(readme, s) {
			t.Errorf("infra/README.md does not mention %q", s)
		}
	}
	desc, _ := asString(tpl.raw["Description"])
	for _, s := range []string{"api", "evaluate", "timers", "notifier", "SES", "authorizer"} {
		if !strings.Contains(desc, s) {
			t.Errorf("the template's Description does not mention %q: %s", s, desc)
		}
	}
}

func TestOperationsDocExplainsEveryAlarm(t *testing.T) {
	tpl := loadTemplate(t)
	doc := string(readRepoFile(t, "docs/operations.md"))
	for id := range tpl.alarms() {
		if !strings.Contains(doc, "`"+id+"`") {
			t.Errorf("docs/operations.md does not explain alarm %s", id)
		}
	}
	for name := range metricContract {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/operations.md does not name the metric %s", name)
		}
	}
}
