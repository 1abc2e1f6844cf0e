// Package infra holds the deployment configuration's tests: they read
// template.yaml (AWS SAM), the Makefile, docs/dynamodb.md, events/ and
// infra/samconfig.toml and check that they agree with each other, since the
// SAM CLI (which would catch some of this at `sam build` time) is not part of
// the toolchain and most of the rest would only show up in a real deployment.
package infra

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/console"
	"github.com/countersign/countersign/internal/httpapi"

	"github.com/aws/aws-lambda-go/events"
	"gopkg.in/yaml.v3"
)

// ---------------------------------------------------------------------------
// Repository files

// repoRoot is the module root; `go test` runs in the package directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s has no go.mod: %v", root, err)
	}
	return root
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatalf("reading %s: %v", rel, err)
	}
	return b
}

// ---------------------------------------------------------------------------
// CloudFormation YAML
//
// The template is parsed into a yaml.Node and converted to plain Go values
// (map[string]any, []any, string, bool, int, float64). Short-form intrinsic
// tags become their long form, so `!Ref X` and `Ref: X` read the same:
// {"Ref": "X"}, `!GetAtt A.B` is {"Fn::GetAtt": ["A", "B"]}, `!Sub s` is
// {"Fn::Sub": "s"}.

type obj = map[string]any

var intrinsicTags = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!FindInMap":    "Fn::FindInMap",
	"!GetAtt":       "Fn::GetAtt",
	"!GetAZs":       "Fn::GetAZs",
	"!ImportValue":  "Fn::ImportValue",
	"!Join":         "Fn::Join",
	"!Length":       "Fn::Length",
	"!Select":       "Fn::Select",
	"!Split":        "Fn::Split",
	"!Sub":          "Fn::Sub",
	"!ToJsonString": "Fn::ToJsonString",
	"!Transform":    "Fn::Transform",
	"!And":          "Fn::And",
	"!Equals":       "Fn::Equals",
	"!If":           "Fn::If",
	"!Not":          "Fn::Not",
	"!Or":           "Fn::Or",
}

func parseCFN(src []byte) (obj, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	v, err := fromNode(&doc)
	if err != nil {
		return nil, err
	}
	m, ok := v.(obj)
	if !ok {
		return nil, fmt.Errorf("template is not a mapping")
	}
	return m, nil
}

func fromNode(n *yaml.Node) (any, error) {
	if n.Tag != "" && !strings.HasPrefix(n.Tag, "!!") {
		fn, ok := intrinsicTags[n.Tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
		}
		inner := *n
		inner.Tag = ""
		if n.Kind == yaml.ScalarNode {
			inner.Tag = "!!str"
		}
		v, err := fromNode(&inner)
		if err != nil {
			return nil, err
		}
		if s, isStr := v.(string); isStr && fn == "Fn::GetAtt" {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		return obj{fn: v}, nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("expected one YAML document, found %d", len(n.Content))
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.MappingNode:
		m := obj{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: non-scalar mapping key", k.Line)
			}
			if k.Value == "<<" {
				return nil, fmt.Errorf("line %d: YAML merge keys are not supported by CloudFormation", k.Line)
			}
			if _, dup := m[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			v, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		return v, nil
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
}

func asMap(v any) obj {
	m, _ := v.(obj)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// stringOrList reads a value that CloudFormation accepts as a string or a
// list of strings (IAM Action, Resource). ok is false when any element is
// not a literal string.
func stringOrList(v any) (out []string, ok bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		for _, e := range x {
			s, isStr := e.(string)
			if !isStr {
				return out, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// refName returns X for {"Ref": "X"}.
func refName(v any) (string, bool) {
	m := asMap(v)
	if len(m) != 1 {
		return "", false
	}
	s, ok := m["Ref"].(string)
	return s, ok
}

// getAtt returns (R, A) for {"Fn::GetAtt": [R, A]} or {"Fn::GetAtt": "R.A"}.
func getAtt(v any) (res, attr string, ok bool) {
	m := asMap(v)
	if len(m) != 1 {
		return "", "", false
	}
	switch x := m["Fn::GetAtt"].(type) {
	case []any:
		if len(x) == 2 {
			r, ok1 := x[0].(string)
			a, ok2 := x[1].(string)
			return r, a, ok1 && ok2
		}
	case string:
		r, a, found := strings.Cut(x, ".")
		return r, a, found
	}
	return "", "", false
}

// mergeGlobals applies SAM's Globals rules: a resource's own scalar wins,
// maps are merged key by key, lists are concatenated (globals first).
func mergeGlobals(global, local any) any {
	switch g := global.(type) {
	case obj:
		l, ok := local.(obj)
		if !ok {
			if local == nil {
				return g
			}
			return local
		}
		out := obj{}
		for k, v := range g {
			out[k] = v
		}
		for k, v := range l {
			if gv, has := g[k]; has {
				out[k] = mergeGlobals(gv, v)
			} else {
				out[k] = v
			}
		}
		return out
	case []any:
		l, ok := local.([]any)
		if !ok {
			if local == nil {
				return g
			}
			return local
		}
		return append(append([]any{}, g...), l...)
	}
	if local == nil {
		return global
	}
	return local
}

// ---------------------------------------------------------------------------
// The template, read once per test

type template struct {
	raw       obj
	resources map[string]obj
}

type function struct {
	id       string
	props    obj // after Globals
	metadata obj
	events   map[string]obj // event name -> {Type, Properties}
}

func loadTemplate(t *testing.T) *template {
	t.Helper()
	raw, err := parseCFN(readRepoFile(t, "template.yaml"))
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	tpl := &template{raw: raw, resources: map[string]obj{}}
	for id, r := range asMap(raw["Resources"]) {
		m := asMap(r)
		if m == nil {
			t.Fatalf("template.yaml: resource %s is not a mapping", id)
		}
		tpl.resources[id] = m
	}
	if len(tpl.resources) == 0 {
		t.Fatal("template.yaml: no Resources")
	}
	return tpl
}

func (tpl *template) ofType(typ string) []string {
	var ids []string
	for id, r := range tpl.resources {
		if r["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (tpl *template) functions() []function {
	globals := asMap(asMap(tpl.raw["Globals"])["Function"])
	var fns []function
	for _, id := range tpl.ofType("AWS::Serverless::Function") {
		r := tpl.resources[id]
		props, _ := mergeGlobals(globals, asMap(r["Properties"])).(obj)
		if props == nil {
			props = obj{}
		}
		f := function{id: id, props: props, metadata: asMap(r["Metadata"]), events: map[string]obj{}}
		for name, e := range asMap(props["Events"]) {
			f.events[name] = asMap(e)
		}
		fns = append(fns, f)
	}
	return fns
}

// trigger is one entry of a function's Events.
type trigger struct {
	fn, name, typ string
	props         obj
}

func (tpl *template) triggers() []trigger {
	var out []trigger
	for _, f := range tpl.functions() {
		names := make([]string, 0, len(f.events))
		for n := range f.events {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			e := f.events[n]
			typ, _ := asString(e["Type"])
			out = append(out, trigger{fn: f.id, name: n, typ: typ, props: asMap(e["Properties"])})
		}
	}
	return out
}

// httpRoute is a route of an HttpApi event, e.g. "ANY /v1/{proxy+}".
type httpRoute struct {
	trigger
	method, path, key, stage string
}

func (tpl *template) httpRoutes() ([]httpRoute, []string) {
	var routes []httpRoute
	var problems []string
	for _, tr := range tpl.triggers() {
		if tr.typ != "HttpApi" {
			continue
		}
		where := tr.fn + "." + tr.name
		method, _ := asString(tr.props["Method"])
		path, _ := asString(tr.props["Path"])
		if method == "" || path == "" {
			problems = append(problems, where+": HttpApi event without a literal Method and Path")
			continue
		}
		method = strings.ToUpper(method)
		if method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
			method = "ANY"
		}
		stage := "$default" // SAM's implicit ServerlessHttpApi
		if api, has := tr.props["ApiId"]; has {
			id, ok := refName(api)
			if !ok || asMap(tpl.resources[id])["Type"] != "AWS::Serverless::HttpApi" {
				problems = append(problems, fmt.Sprintf("%s: ApiId must be !Ref of an AWS::Serverless::HttpApi of this template, got %v", where, api))
				continue
			}
			if s, has := asMap(tpl.resources[id]["Properties"])["StageName"]; has {
				ls, ok := asString(s)
				if !ok {
					problems = append(problems, fmt.Sprintf("%s: StageName of %s must be a literal for the events to be checkable", where, id))
					continue
				}
				stage = ls
			}
		}
		routes = append(routes, httpRoute{trigger: tr, method: method, path: path, key: method + " " + path, stage: stage})
	}
	return routes, problems
}

// ---------------------------------------------------------------------------
// Functions, the Makefile and functions/<dir>

const lambdaRuntime = "provided.al2023"

// localOnlyFunctionDirs are functions/<dir> that are not deployed.
var localOnlyFunctionDirs = map[string]string{
	"local": "the local runtime (`make run`), never deployed",
}

func TestFunctionsAreGoOnProvidedAL2023(t *testing.T) {
	tpl := loadTemplate(t)
	fns := tpl.functions()
	if len(fns) == 0 {
		t.Fatal("template.yaml declares no AWS::Serverless::Function")
	}
	tables := tpl.ofType("AWS::DynamoDB::Table")
	for _, f := range fns {
		t.Run(f.id, func(t *testing.T) {
			if v := f.props["Runtime"]; v != lambdaRuntime {
				t.Errorf("Runtime is %v, want %s (after Globals)", v, lambdaRuntime)
			}
			if v := f.props["Architectures"]; !reflect.DeepEqual(v, []any{"arm64"}) {
				t.Errorf("Architectures is %v, want [arm64] (after Globals; lists from Globals and the function add up)", v)
			}
			if v := f.props["Handler"]; v != "bootstrap" {
				t.Errorf("Handler is %v, want bootstrap", v)
			}
			if v, has := f.props["PackageType"]; has && v != "Zip" {
				t.Errorf("PackageType is %v, want Zip", v)
			}
			if v := f.metadata["BuildMethod"]; v != "makefile" {
				t.Errorf("Metadata.BuildMethod is %v, want makefile (sam build then runs `make build-%s`)", v, f.id)
			}
			// sam build runs the Makefile found in CodeUri, and the build
			// targets name packages relative to the module root.
			if v := f.props["CodeUri"]; v != "." && v != "./" {
				t.Errorf("CodeUri is %v, want . (the module root, where the Makefile and go.mod are)", v)
			}
			vars := asMap(asMap(f.props["Environment"])["Variables"])
			if vars["COUNTERSIGN_STORE"] != "dynamodb" {
				t.Errorf("Environment COUNTERSIGN_STORE is %v, want dynamodb", vars["COUNTERSIGN_STORE"])
			}
			if name, ok := refName(vars["COUNTERSIGN_TABLE"]); !ok || !slices.Contains(tables, name) {
				t.Errorf("Environment COUNTERSIGN_TABLE is %v, want !Ref of the AWS::DynamoDB::Table %v", vars["COUNTERSIGN_TABLE"], tables)
			}
		})
	}
}

// makefile is just enough of make to read the build targets: variable
// assignments at the start of a line and the recipe lines of targets.
type makefile struct {
	vars    map[string]string
	ops     map[string]string // how each variable was assigned: :=, =, ?=, ::=
	targets map[string][]string
}

var (
	makeAssign = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(::=|:=|\?=|\+=|=)\s*(.*)$`)
	makeTarget = regexp.MustCompile(`^([^\s:=#][^:=#]*?)\s*:([^=]|$)`)
	makeVarRef = regexp.MustCompile(`\$[({]([A-Za-z_][A-Za-z0-9_]*)[)}]`)
)

func parseMakefile(src string) *makefile {
	mf := &makefile{vars: map[string]string{}, ops: map[string]string{}, targets: map[string][]string{}}
	src = strings.ReplaceAll(src, "\\\n", " ")
	var current []string // names of the targets whose recipe is being read
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "\t") {
			for _, tg := range current {
				mf.targets[tg] = append(mf.targets[tg], strings.TrimPrefix(line, "\t"))
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		current = nil
		if strings.HasPrefix(line, "#") {
			continue
		}
		if m := makeAssign.FindStringSubmatch(line); m != nil {
			name, op, val := m[1], m[2], strings.TrimSpace(m[3])
			switch op {
			case "?=":
				if _, set := mf.vars[name]; !set {
					mf.vars[name] = val
				}
			case "+=":
				mf.vars[name] = strings.TrimSpace(mf.vars[name] + " " + val)
			default:
				mf.vars[name] = val
			}
			if _, seen := mf.ops[name]; !seen || op != "+=" {
				mf.ops[name] = op
			}
			continue
		}
		if m := makeTarget.FindStringSubmatch(line); m != nil {
			for _, tg := range strings.Fields(m[1]) {
				if !strings.HasPrefix(tg, ".") {
					current = append(current, tg)
					if _, has := mf.targets[tg]; !has {
						mf.targets[tg] = nil
					}
				}
			}
		}
	}
	return mf
}

// expand replaces $(VAR) and ${VAR} (recursively), using overrides first,
// and $$ by $.
func (mf *makefile) expand(s string, overrides map[string]string) string {
	for range 20 {
		next := makeVarRef.ReplaceAllStringFunc(s, func(ref string) string {
			name := makeVarRef.FindStringSubmatch(ref)[1]
			if v, ok := overrides[name]; ok {
				return v
			}
			return mf.vars[name]
		})
		if next == s {
			break
		}
		s = next
	}
	return strings.ReplaceAll(s, "$$", "$")
}

// shellWords splits a command line like sh would for simple words: quotes
// group and are removed, backslash escapes the next character. Command
// separators (; && || |) become words of their own.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			inWord = true
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
		case c == '"':
			inWord = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				cur.WriteByte(s[i])
			}
		case c == '\\' && i+1 < len(s):
			inWord = true
			i++
			cur.WriteByte(s[i])
		case c == ' ' || c == '\t':
			flush()
		case c == ';' || c == '|' || c == '&':
			flush()
			op := string(c)
			if i+1 < len(s) && (s[i+1] == '|' || s[i+1] == '&') {
				op += string(s[i+1])
				i++
			}
			words = append(words, op)
		default:
			inWord = true
			cur.WriteByte(c)
		}
	}
	flush()
	return words
}

// goBuild is a `go build` command found in a recipe.
type goBuild struct {
	env      map[string]string
	flags    map[string][]string // flag name without dashes -> values ("" for booleans)
	packages []string
}

var goBuildValueFlags = map[string]bool{
	"o": true, "tags": true, "ldflags": true, "gcflags": true, "asmflags": true, "gccgoflags": true,
	"p": true, "mod": true, "modfile": true, "overlay": true, "pkgdir": true, "buildmode": true,
	"compiler": true, "installsuffix": true, "toolexec": true, "pgo": true, "C": true, "coverpkg": true,
	"covermode": true, "exec": true,
}

// findGoBuilds returns every `[VAR=value ...] <go> build ...` command in
// the recipe lines (the go tool may be any word ending in "go", e.g. a
// $(GO) that expanded to /usr/local/go/bin/go).
func findGoBuilds(lines []string) []goBuild {
	var builds []goBuild
	for _, line := range lines {
		line = strings.TrimLeft(line, "@-+ ")
		words := shellWords(line)
		start := 0
		for i := 0; i < len(words); i++ {
			w := words[i]
			if w == ";" || w == "&&" || w == "||" || w == "|" || w == "&" {
				start = i + 1
				continue
			}
			if !(w == "go" || strings.HasSuffix(w, "/go")) || i+1 >= len(words) || words[i+1] != "build" {
				continue
			}
			b := goBuild{env: map[string]string{}, flags: map[string][]string{}}
			for _, e := range words[start:i] {
				if k, v, ok := strings.Cut(e, "="); ok {
					b.env[k] = v
				}
			}
			j := i + 2
			for ; j < len(words); j++ {
				a := words[j]
				if a == ";" || a == "&&" || a == "||" || a == "|" || a == "&" {
					break
				}
				if strings.HasPrefix(a, "-") {
					name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
					if !hasVal && goBuildValueFlags[name] && j+1 < len(words) {
						j++
						val = words[j]
					}
					b.flags[name] = append(b.flags[name], val)
					continue
				}
				b.packages = append(b.packages, a)
			}
			builds = append(builds, b)
			i = j - 1 // the outer loop goes on at the separator, if any
		}
	}
	return builds
}

// artifactsDir stands for the directory sam build passes in ARTIFACTS_DIR.
const artifactsDir = "<ARTIFACTS_DIR>"

// checkBuildTarget checks the recipe of build-<id> and returns the
// functions/<dir> it builds, or problems.
func checkBuildTarget(mf *makefile, id string) (dir string, problems []string) {
	target := "build-" + id
	recipe, has := mf.targets[target]
	if !has {
		return "", []string{fmt.Sprintf("the Makefile has no %s: target (sam build with BuildMethod makefile runs `make %s`)", target, target)}
	}
	if op := mf.ops["ARTIFACTS_DIR"]; op != "" && op != "?=" {
		problems = append(problems, fmt.Sprintf("the Makefile sets ARTIFACTS_DIR with %s, which overrides the directory sam build passes in the environment; use ?=", op))
	}
	lines := make([]string, len(recipe))
	for i, l := range recipe {
		lines[i] = mf.expand(l, map[string]string{"ARTIFACTS_DIR": artifactsDir})
	}
	builds := findGoBuilds(lines)
	if len(builds) != 1 {
		return "", append(problems, fmt.Sprintf("%s: want exactly one `go build` in the recipe, found %d in %q", target, len(builds), lines))
	}
	b := builds[0]
	for k, want := range map[string]string{"CGO_ENABLED": "0", "GOOS": "linux", "GOARCH": "arm64"} {
		if got, set := b.env[k]; !set || got != want {
			problems = append(problems, fmt.Sprintf("%s: go build must run with %s=%s (got %q)", target, k, want, got))
		}
	}
	var tags []string
	for _, v := range b.flags["tags"] {
		tags = append(tags, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	if !slices.Contains(tags, "lambda.norpc") {
		problems = append(problems, fmt.Sprintf("%s: go build needs -tags lambda.norpc (got tags %v)", target, tags))
	}
	if tp, set := b.flags["trimpath"]; !set || (tp[len(tp)-1] != "" && tp[len(tp)-1] != "true") {
		problems = append(problems, target+": go build needs -trimpath")
	}
	var ld []string
	for _, v := range b.flags["ldflags"] {
		ld = append(ld, strings.Fields(v)...)
	}
	if !slices.Contains(ld, "-s") || !slices.Contains(ld, "-w") {
		problems = append(problems, fmt.Sprintf("%s: go build needs -ldflags with -s -w (got %q)", target, ld))
	}
	if o := b.flags["o"]; len(o) != 1 || filepath.Clean(o[0]) != artifactsDir+"/bootstrap" {
		problems = append(problems, fmt.Sprintf("%s: go build must write $(ARTIFACTS_DIR)/bootstrap (-o %v); provided.al2023 runs a file named bootstrap from the artifact", target, o))
	}
	if len(b.packages) != 1 || !strings.HasPrefix(b.packages[0], "./functions/") {
		return "", append(problems, fmt.Sprintf("%s: go build must build one package ./functions/<dir>, got %v", target, b.packages))
	}
	dir = strings.TrimSuffix(strings.TrimPrefix(b.packages[0], "./functions/"), "/")
	if dir == "" || strings.Contains(dir, "/") || strings.Contains(dir, "...") {
		return "", append(problems, fmt.Sprintf("%s: go build must build one package ./functions/<dir>, got %v", target, b.packages))
	}
	return dir, problems
}

func TestFunctionsHaveMakeTargetsAndSources(t *testing.T) {
	root := repoRoot(t)
	tpl := loadTemplate(t)
	mf := parseMakefile(string(readRepoFile(t, "Makefile")))
	used := map[string]string{} // functions/<dir> -> logical id
	for _, f := range tpl.functions() {
		t.Run(f.id, func(t *testing.T) {
			dir, problems := checkBuildTarget(mf, f.id)
			for _, p := range problems {
				t.Error(p)
			}
			if dir == "" {
				return
			}
			if other, dup := used[dir]; dup {
				t.Errorf("functions/%s is built for both %s and %s", dir, other, f.id)
			}
			used[dir] = f.id
			if _, localOnly := localOnlyFunctionDirs[dir]; localOnly {
				t.Errorf("functions/%s is %s, but %s deploys it", dir, localOnlyFunctionDirs[dir], f.id)
			}
			main := filepath.Join(root, "functions", dir, "main.go")
			src, err := os.ReadFile(main)
			if err != nil {
				t.Errorf("build-%s builds ./functions/%s, but functions/%s/main.go cannot be read (%v): the function's entry point is missing", f.id, dir, dir, err)
				return
			}
			if !regexp.MustCompile(`(?m)^package main\b`).Match(src) {
				t.Errorf("functions/%s/main.go is not package main", dir)
			}
		})
	}

	// Every functions/<dir> with Go code is deployed, except the local ones.
	entries, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, localOnly := localOnlyFunctionDirs[e.Name()]; localOnly {
			continue
		}
		gofiles, _ := filepath.Glob(filepath.Join(root, "functions", e.Name(), "*.go"))
		if len(gofiles) == 0 {
			continue
		}
		if _, ok := used[e.Name()]; !ok {
			t.Errorf("functions/%s is not deployed: no AWS::Serverless::Function in template.yaml has a build target building ./functions/%s (add one, or list it in localOnlyFunctionDirs if it is never deployed)", e.Name(), e.Name())
		}
	}

	// `make build` (FUNCTIONS) builds the same set.
	if fv, has := mf.vars["FUNCTIONS"]; has && len(used) > 0 {
		var want []string
		for d := range used {
			want = append(want, d)
		}
		got := strings.Fields(mf.expand(fv, nil))
		sort.Strings(want)
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Makefile FUNCTIONS = %v, but template.yaml deploys %v", got, want)
		}
	}
}

// ---------------------------------------------------------------------------
// HttpApi routes

func TestHTTPAPIRoutes(t *testing.T) {
	tpl := loadTemplate(t)
	routes, problems := tpl.httpRoutes()
	for _, p := range problems {
		t.Error(p)
	}
	seen := map[string]string{}
	methods := []string{"ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
	for _, r := range routes {
		where := r.fn + "." + r.name
		if v := r.props["PayloadFormatVersion"]; v != "2.0" {
			t.Errorf("%s: PayloadFormatVersion is %v, want \"2.0\" (the code and events/ use APIGatewayV2HTTPRequest)", where, v)
		}
		if !slices.Contains(methods, r.method) {
			t.Errorf("%s: Method %q is not one of %v", where, r.method, methods)
		}
		if !strings.HasPrefix(r.path, "/") {
			t.Errorf("%s: Path %q does not start with /", where, r.path)
		}
		if _, err := routeSegments(r.path); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if other, dup := seen[r.key]; dup {
			t.Errorf("route %q is declared by %s and %s", r.key, other, where)
		}
		seen[r.key] = where
	}
	if len(routes) == 0 {
		t.Error("template.yaml declares no HttpApi event")
	}
}

// routeSegments splits a route path into segments; "{name}" matches one
// segment, a last "{name+}" matches one or more.
func routeSegments(path string) ([]string, error) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			if !strings.HasSuffix(s, "}") || len(s) < 3 {
				return nil, fmt.Errorf("bad path parameter %q in %q", s, path)
			}
			if strings.HasSuffix(s, "+}") && i != len(segs)-1 {
				return nil, fmt.Errorf("greedy parameter %q must be last in %q", s, path)
			}
		}
	}
	return segs, nil
}

// matchRoute reports whether rawPath matches the route path and returns the
// path parameters it binds.
func matchRoute(routePath, rawPath string) (map[string]string, bool) {
	segs, err := routeSegments(routePath)
	if err != nil || !strings.HasPrefix(rawPath, "/") {
		return nil, false
	}
	parts := strings.Split(strings.TrimPrefix(rawPath, "/"), "/")
	params := map[string]string{}
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "+}") {
			rest := strings.Join(parts[min(i, len(parts)):], "/")
			if i >= len(parts) || rest == "" {
				return nil, false
			}
			params[s[1:len(s)-2]] = rest
			return params, true
		}
		if i >= len(parts) {
			return nil, false
		}
		if strings.HasPrefix(s, "{") {
			if parts[i] == "" {
				return nil, false
			}
			params[s[1:len(s)-1]] = parts[i]
			continue
		}
		if s != parts[i] {
			return nil, false
		}
	}
	return params, len(parts) == len(segs)
}

// ---------------------------------------------------------------------------
// events/: every sample event is for a trigger the template declares

// eventKind maps a file name prefix in events/ to the SAM event types that
// deliver such an event, and to the check of its payload.
type eventKind struct {
	prefix   string
	triggers []string
	check    func(data []byte, tpl *template) []string
}

var eventKinds = []eventKind{
	{prefix: "apigw-", triggers: []string{"HttpApi"}, check: checkAPIGatewayV2Event},
	{prefix: "eventbridge-", triggers: []string{"Schedule", "EventBridgeRule"}, check: checkEventBridgeEvent},
	{prefix: "dynamodb-stream-", triggers: []string{"DynamoDB"}, check: checkDynamoDBStreamEvent},
}

// eventFilesExempt are files in events/ that are not events.
var eventFilesExempt = map[string]bool{"README.md": true}

func kindOf(name string) (eventKind, error) {
	if !strings.HasSuffix(name, ".json") {
		return eventKind{}, fmt.Errorf("events/%s: not a .json event", name)
	}
	for _, k := range eventKinds {
		if strings.HasPrefix(name, k.prefix) {
			return k, nil
		}
	}
	var known []string
	for _, k := range eventKinds {
		known = append(known, k.prefix+"*.json")
	}
	return eventKind{}, fmt.Errorf("events/%s: unknown kind of event; known: %s (add a kind to eventKinds in infra/template_test.go together with the template's trigger)", name, strings.Join(known, ", "))
}

func TestEventsMatchTemplateTriggers(t *testing.T) {
	root := repoRoot(t)
	tpl := loadTemplate(t)
	entries, err := os.ReadDir(filepath.Join(root, "events"))
	if err != nil {
		t.Fatalf("events/: %v", err)
	}
	n := 0
	for _, e := range entries {
		if eventFilesExempt[e.Name()] {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			if e.IsDir() {
				t.Fatalf("events/%s is a directory", e.Name())
			}
			k, err := kindOf(e.Name())
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(root, "events", e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range checkEvent(k, data, tpl) {
				t.Error(p)
			}
		})
	}
	if n == 0 {
		t.Error("events/ has no sample events")
	}
}

func checkEvent(k eventKind, data []byte, tpl *template) []string {
	declared := false
	for _, tr := range tpl.triggers() {
		declared = declared || slices.Contains(k.triggers, tr.typ)
	}
	if !declared {
		return []string{fmt.Sprintf("%s*.json events need a function with an event of type %s in template.yaml, and there is none", k.prefix, strings.Join(k.triggers, " or "))}
	}
	return k.check(data, tpl)
}

// decodeStrict decodes one JSON value, refusing fields v does not have.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON value")
	}
	return nil
}

var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

func checkAPIGatewayV2Event(data []byte, tpl *template) []string {
	var ev events.APIGatewayV2HTTPRequest
	if err := decodeStrict(data, &ev); err != nil {
		return []string{fmt.Sprintf("does not parse as events.APIGatewayV2HTTPRequest: %v", err)}
	}
	var p []string
	if ev.Version != "2.0" {
		p = append(p, fmt.Sprintf("version is %q, want \"2.0\"", ev.Version))
	}
	routes, _ := tpl.httpRoutes()
	var route *httpRoute
	var keys []string
	for i := range routes {
		keys = append(keys, routes[i].key)
		if routes[i].key == ev.RouteKey {
			route = &routes[i]
		}
	}
	if route == nil {
		return append(p, fmt.Sprintf("routeKey %q is not a route of template.yaml (routes: %v)", ev.RouteKey, keys))
	}
	rc := ev.RequestContext
	if rc.RouteKey != ev.RouteKey {
		p = append(p, fmt.Sprintf("requestContext.routeKey %q differs from routeKey %q", rc.RouteKey, ev.RouteKey))
	}
	m := rc.HTTP.Method
	if !slices.Contains(httpMethods, m) {
		p = append(p, fmt.Sprintf("requestContext.http.method %q is not an upper-case HTTP method", m))
	} else if route.method != "ANY" && route.method != m {
		p = append(p, fmt.Sprintf("requestContext.http.method %s does not match route %q", m, route.key))
	}
	if ev.RawPath == "" || rc.HTTP.Path != ev.RawPath {
		p = append(p, fmt.Sprintf("rawPath %q and requestContext.http.path %q must be the same, non-empty", ev.RawPath, rc.HTTP.Path))
	}
	params, ok := matchRoute(route.path, ev.RawPath)
	if !ok {
		p = append(p, fmt.Sprintf("rawPath %q does not match the route's path %q", ev.RawPath, route.path))
	} else if len(params) > 0 || len(ev.PathParameters) > 0 {
		if !reflect.DeepEqual(params, ev.PathParameters) {
			p = append(p, fmt.Sprintf("pathParameters %v, want %v for %q on %q", ev.PathParameters, params, ev.RawPath, route.path))
		}
	}
	if rc.Stage != route.stage {
		p = append(p, fmt.Sprintf("requestContext.stage %q, but the route's HttpApi stage is %q", rc.Stage, route.stage))
	}
	if rc.HTTP.SourceIP == "" {
		p = append(p, "requestContext.http.sourceIp is empty")
	}
	for h := range ev.Headers {
		if h != strings.ToLower(h) {
			p = append(p, fmt.Sprintf("header %q is not lower-case (payload 2.0 headers are)", h))
		}
	}
	q, err := url.ParseQuery(ev.RawQueryString)
	if err != nil {
		p = append(p, fmt.Sprintf("rawQueryString %q: %v", ev.RawQueryString, err))
	}
	for k := range q {
		if _, has := ev.QueryStringParameters[k]; !has {
			p = append(p, fmt.Sprintf("rawQueryString has %q, queryStringParameters does not", k))
		}
	}
	for k := range ev.QueryStringParameters {
		if _, has := q[k]; !has {
			p = append(p, fmt.Sprintf("queryStringParameters has %q, rawQueryString does not", k))
		}
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		dec, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return append(p, fmt.Sprintf("isBase64Encoded but body is not base64: %v", err))
		}
		body = dec
	}
	if cl, has := ev.Headers["content-length"]; has && cl != strconv.Itoa(len(body)) {
		p = append(p, fmt.Sprintf("content-length %s, but the body has %d bytes", cl, len(body)))
	}
	if strings.HasPrefix(ev.Headers["content-type"], "application/json") && !json.Valid(body) {
		p = append(p, "content-type is application/json but the body is not valid JSON")
	}
	if len(body) > 0 && m == "GET" {
		p = append(p, "a GET with a body")
	}
	return p
}

func checkEventBridgeEvent(data []byte, tpl *template) []string {
	var ev events.EventBridgeEvent
	if err := decodeStrict(data, &ev); err != nil {
		return []string{fmt.Sprintf("does not parse as events.EventBridgeEvent: %v", err)}
	}
	var p []string
	if ev.Source == "" || ev.DetailType == "" || ev.ID == "" || ev.Time.IsZero() {
		p = append(p, "source, detail-type, id and time must be set")
	}
	if !json.Valid(ev.Detail) {
		p = append(p, "detail is not a JSON value")
	}
	// A scheduled rule (Schedule) sends aws.events "Scheduled Event"; a
	// rule with a pattern sends what its pattern lists.
	var ok []string
	for _, tr := range tpl.triggers() {
		switch tr.typ {
		case "Schedule":
			ok = append(ok, "aws.events/Scheduled Event")
		case "EventBridgeRule":
			pattern := asMap(tr.props["Pattern"])
			sources, _ := stringOrList(pattern["source"])
			types, _ := stringOrList(pattern["detail-type"])
			if len(sources) == 0 {
				sources = []string{"*"}
			}
			if len(types) == 0 {
				types = []string{"*"}
			}
			for _, s := range sources {
				for _, d := range types {
					ok = append(ok, s+"/"+d)
				}
			}
		}
	}
	matched := false
	for _, o := range ok {
		s, d, _ := strings.Cut(o, "/")
		matched = matched || ((s == "*" || s == ev.Source) && (d == "*" || d == ev.DetailType))
	}
	if !matched {
		p = append(p, fmt.Sprintf("source/detail-type %s/%s is delivered by none of the template's Schedule/EventBridgeRule events (%v)", ev.Source, ev.DetailType, ok))
	}
	return p
}

func checkDynamoDBStreamEvent(data []byte, tpl *template) []string {
	var ev events.DynamoDBEvent
	if err := decodeStrict(data, &ev); err != nil {
		return []string{fmt.Sprintf("does not parse as events.DynamoDBEvent: %v", err)}
	}
	var p []string
	// The stream must be the stream of a table of this template.
	views := map[string]bool{}
	for _, tr := range tpl.triggers() {
		if tr.typ != "DynamoDB" {
			continue
		}
		res, attr, ok := getAtt(tr.props["Stream"])
		table := tpl.resources[res]
		if !ok || attr != "StreamArn" || table["Type"] != "AWS::DynamoDB::Table" {
			p = append(p, fmt.Sprintf("%s.%s: Stream must be !GetAtt <table>.StreamArn of a table of this template, got %v", tr.fn, tr.name, tr.props["Stream"]))
			continue
		}
		v, _ := asString(asMap(asMap(table["Properties"])["StreamSpecification"])["StreamViewType"])
		views[v] = true
	}
	if len(ev.Records) == 0 {
		p = append(p, "no Records")
	}
	for i, r := range ev.Records {
		if r.EventSource != "aws:dynamodb" {
			p = append(p, fmt.Sprintf("Records[%d].eventSource is %q, want aws:dynamodb", i, r.EventSource))
		}
		if !slices.Contains([]string{"INSERT", "MODIFY", "REMOVE"}, r.EventName) {
			p = append(p, fmt.Sprintf("Records[%d].eventName is %q", i, r.EventName))
		}
		if !views[r.Change.StreamViewType] {
			p = append(p, fmt.Sprintf("Records[%d].dynamodb.StreamViewType is %q, the template's streams are %v", i, r.Change.StreamViewType, views))
		}
		if len(r.Change.Keys) == 0 {
			p = append(p, fmt.Sprintf("Records[%d].dynamodb.Keys is empty", i))
		}
	}
	return p
}

// ---------------------------------------------------------------------------
// The table matches docs/dynamodb.md

// tableDesign is what docs/dynamodb.md states about the table.
type tableDesign struct {
	billing, hash, rangeKey, streamView string
	ttl                                 string // the time-to-live attribute
	pitr                                bool
	projection                          string
	gsis                                []gsiDesign
}

type gsiDesign struct{ name, hash, rangeKey string }

var numberWords = map[string]int{"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}

func parseDesignDoc(doc string) (tableDesign, []string) {
	var d tableDesign
	var p []string
	// The first section (up to the first "## ") states the table.
	intro := doc
	if i := strings.Index(doc, "\n## "); i >= 0 {
		intro = doc[:i]
	}
	flat := strings.Join(strings.Fields(intro), " ")
	need := func(what string, re *regexp.Regexp) []string {
		m := re.FindStringSubmatch(flat)
		if m == nil {
			p = append(p, fmt.Sprintf("docs/dynamodb.md no longer states %s (pattern %s); update the doc or this test", what, re))
		}
		return m
	}
	if need("the billing mode", regexp.MustCompile("`PAY_PER_REQUEST`")) != nil {
		d.billing = "PAY_PER_REQUEST"
	}
	if m := need("the string keys", regexp.MustCompile("string keys `(\\w+)` and `(\\w+)`")); m != nil {
		d.hash, d.rangeKey = m[1], m[2]
	}
	if m := need("the stream view type", regexp.MustCompile("stream with `(NEW_AND_OLD_IMAGES|NEW_IMAGE|OLD_IMAGE|KEYS_ONLY)`")); m != nil {
		d.streamView = m[1]
	}
	d.pitr = need("point-in-time recovery", regexp.MustCompile(`(?i)point-in-time recovery on`)) != nil
	if m := need("the time-to-live attribute", regexp.MustCompile("(?i)time to live on `(\\w+)`")); m != nil {
		d.ttl = m[1]
	}
	if need("the GSI projection", regexp.MustCompile(`projecting all attributes`)) != nil {
		d.projection = "ALL"
	}
	count := need("the number of GSIs", regexp.MustCompile(`(?i)\b(\w+) generic global secondary indexes`))
	for _, m := range regexp.MustCompile("`(GSI\\d+)` \\(`(\\w+)`, `(\\w+)`").FindAllStringSubmatch(flat, -1) {
		d.gsis = append(d.gsis, gsiDesign{name: m[1], hash: m[2], rangeKey: m[3]})
	}
	if count != nil {
		if n, ok := numberWords[strings.ToLower(count[1])]; !ok || n != len(d.gsis) {
			p = append(p, fmt.Sprintf("docs/dynamodb.md says %q GSIs but this test read %d: %v", count[1], len(d.gsis), d.gsis))
		}
	}
	return d, p
}

func TestTableMatchesDesignDoc(t *testing.T) {
	want, problems := parseDesignDoc(string(readRepoFile(t, "docs/dynamodb.md")))
	for _, p := range problems {
		t.Error(p)
	}
	if len(problems) > 0 {
		t.FailNow()
	}
	tpl := loadTemplate(t)
	tables := tpl.ofType("AWS::DynamoDB::Table")
	if len(tables) != 1 {
		t.Fatalf("want exactly one AWS::DynamoDB::Table (one-table design), found %v", tables)
	}
	res := tpl.resources[tables[0]]
	props := asMap(res["Properties"])

	if res["DeletionPolicy"] != "Retain" || res["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("DeletionPolicy/UpdateReplacePolicy are %v/%v, want Retain/Retain", res["DeletionPolicy"], res["UpdateReplacePolicy"])
	}
	if props["BillingMode"] != want.billing {
		t.Errorf("BillingMode is %v, want %s", props["BillingMode"], want.billing)
	}
	if _, has := props["ProvisionedThroughput"]; has {
		t.Error("ProvisionedThroughput is set on an on-demand table")
	}
	keySchema := func(v any) []string {
		var ks []string
		for _, k := range asList(v) {
			km := asMap(k)
			ks = append(ks, fmt.Sprintf("%v %v", km["AttributeName"], km["KeyType"]))
		}
		return ks
	}
	if got, w := keySchema(props["KeySchema"]), []string{want.hash + " HASH", want.rangeKey + " RANGE"}; !reflect.DeepEqual(got, w) {
		t.Errorf("KeySchema is %v, want %v", got, w)
	}

	wantAttrs := map[string]string{want.hash: "S", want.rangeKey: "S"}
	wantGSIs := map[string]gsiDesign{}
	for _, g := range want.gsis {
		wantAttrs[g.hash], wantAttrs[g.rangeKey] = "S", "S"
		wantGSIs[g.name] = g
	}
	gotAttrs := map[string]string{}
	for _, a := range asList(props["AttributeDefinitions"]) {
		am := asMap(a)
		name, _ := asString(am["AttributeName"])
		if _, dup := gotAttrs[name]; dup {
			t.Errorf("attribute %s is defined twice", name)
		}
		gotAttrs[name], _ = asString(am["AttributeType"])
	}
	if !reflect.DeepEqual(gotAttrs, wantAttrs) {
		t.Errorf("AttributeDefinitions are %v, want %v (key attributes only, all strings)", gotAttrs, wantAttrs)
	}

	gotGSIs := map[string]bool{}
	for _, g := range asList(props["GlobalSecondaryIndexes"]) {
		gm := asMap(g)
		name, _ := asString(gm["IndexName"])
		gotGSIs[name] = true
		wg, ok := wantGSIs[name]
		if !ok {
			t.Errorf("GSI %s is not in docs/dynamodb.md", name)
			continue
		}
		if got, w := keySchema(gm["KeySchema"]), []string{wg.hash + " HASH", wg.rangeKey + " RANGE"}; !reflect.DeepEqual(got, w) {
			t.Errorf("GSI %s KeySchema is %v, want %v", name, got, w)
		}
		if pt := asMap(gm["Projection"])["ProjectionType"]; pt != want.projection {
			t.Errorf("GSI %s ProjectionType is %v, want %s", name, pt, want.projection)
		}
		if _, has := gm["ProvisionedThroughput"]; has {
			t.Errorf("GSI %s has ProvisionedThroughput on an on-demand table", name)
		}
	}
	for name := range wantGSIs {
		if !gotGSIs[name] {
			t.Errorf("GSI %s of docs/dynamodb.md is missing", name)
		}
	}
	if _, has := props["LocalSecondaryIndexes"]; has {
		t.Error("LocalSecondaryIndexes are not in docs/dynamodb.md")
	}

	if v := asMap(props["StreamSpecification"])["StreamViewType"]; v != want.streamView {
		t.Errorf("StreamViewType is %v, want %s", v, want.streamView)
	}
	if v := asMap(props["PointInTimeRecoverySpecification"])["PointInTimeRecoveryEnabled"]; v != want.pitr {
		t.Errorf("PointInTimeRecoveryEnabled is %v, want %v", v, want.pitr)
	}
	if v := asMap(props["SSESpecification"])["SSEEnabled"]; v != true {
		t.Errorf("SSESpecification.SSEEnabled is %v, want true", v)
	}
	if ttl := asMap(props["TimeToLiveSpecification"]); ttl["AttributeName"] != want.ttl || ttl["Enabled"] != true {
		t.Errorf("TimeToLiveSpecification is %v, want AttributeName %s, Enabled true", props["TimeToLiveSpecification"], want.ttl)
	}
}

// ---------------------------------------------------------------------------
// IAM: actions are spelled out

// allowedDynamoDBActions are the DynamoDB actions a function of this
// project may be granted: item reads and writes (transactions are checked
// per item action), DescribeTable, and reading the table's stream. No Scan
// (docs/dynamodb.md serves every access pattern without one) and nothing
// that changes or deletes the table.
var allowedDynamoDBActions = []string{
	"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
	"dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem",
	"dynamodb:DescribeTable",
	"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
}

// statementsIn finds every IAM policy statement under v.
func statementsIn(v any, path string, visit func(path string, stmt obj)) {
	switch x := v.(type) {
	case obj:
		if st, has := x["Statement"]; has {
			if l, isList := st.([]any); isList {
				for i, s := range l {
					visit(fmt.Sprintf("%s.Statement[%d]", path, i), asMap(s))
				}
			} else {
				visit(path+".Statement", asMap(st))
			}
		}
		for k, c := range x {
			if k != "Statement" {
				statementsIn(c, path+"."+k, visit)
			}
		}
	case []any:
		for i, c := range x {
			statementsIn(c, fmt.Sprintf("%s[%d]", path, i), visit)
		}
	}
}

func checkStatement(stmt obj) []string {
	var p []string
	if stmt == nil {
		return []string{"statement is not a mapping"}
	}
	if _, has := stmt["NotAction"]; has {
		p = append(p, "uses NotAction")
	}
	actions, ok := stringOrList(stmt["Action"])
	if !ok {
		p = append(p, fmt.Sprintf("Action %v is not a literal string or list of strings", stmt["Action"]))
	}
	ddb := false
	for _, a := range actions {
		if strings.Contains(a, "*") {
			p = append(p, fmt.Sprintf("Action %q has a wildcard: name each action", a))
		}
		if strings.HasPrefix(strings.ToLower(a), "dynamodb:") {
			ddb = true
			if !slices.Contains(allowedDynamoDBActions, a) {
				p = append(p, fmt.Sprintf("Action %q is not one of the DynamoDB actions functions may have (%v)", a, allowedDynamoDBActions))
			}
		}
	}
	if ddb && stmt["Effect"] == "Allow" {
		resources := asList(stmt["Resource"])
		if resources == nil {
			resources = []any{stmt["Resource"]}
		}
		for _, r := range resources {
			if r == "*" {
				p = append(p, "DynamoDB actions on Resource \"*\": grant them on the table's ARN")
			}
		}
	}
	return p
}

func TestIAMActionsAreExplicit(t *testing.T) {
	tpl := loadTemplate(t)
	n := 0
	for id, r := range tpl.resources {
		props := asMap(r["Properties"])
		if r["Type"] == "AWS::Serverless::Function" {
			for _, f := range tpl.functions() {
				if f.id == id {
					props = f.props
				}
			}
			pol := props["Policies"]
			if s, isStr := pol.(string); isStr {
				pol = []any{s}
			}
			for i, e := range asList(pol) {
				if !inlinePolicy(e) {
					t.Errorf("%s: Policies[%d] is %v: use inline policy statements (managed policies and SAM policy templates grant more than the code needs)", id, i, e)
				}
			}
		}
		statementsIn(props, id+".Properties", func(path string, stmt obj) {
			n++
			for _, p := range checkStatement(stmt) {
				t.Errorf("%s: %s", path, p)
			}
		})
	}
	if n == 0 {
		t.Error("found no IAM policy statement in template.yaml; the API function needs its table permissions")
	}
}

// inlinePolicy reports whether a function's policy item is an inline
// policy document, or a !If [condition, inline policy, !Ref AWS::NoValue]
// (a permission that exists only with a parameter, such as the OpenID
// Connect client secret's).
func inlinePolicy(e any) bool {
	if m := asMap(e); m != nil && m["Statement"] != nil {
		return true
	}
	branches := asList(asMap(e)["Fn::If"])
	if len(branches) != 3 {
		return false
	}
	for _, b := range branches[1:] {
		if name, isRef := refName(b); !(isRef && name == "AWS::NoValue") && !inlinePolicy(b) {
			return false
		}
	}
	return true
}

// The evaluate function serves the hot path with read permissions; the one
// write it makes is a sticky bucketing assignment (internal/evaluate/sticky.go,
// items keyed STICKY#… by internal/store/dynamostore/assignments.go), so every
// write it may do is conditioned on that partition key prefix.
func TestEvaluateFunctionWritesOnlyStickyAssignments(t *testing.T) {
	tpl := loadTemplate(t)
	var props obj
	for _, f := range tpl.functions() {
		if f.id == "EvaluateFunction" {
			props = f.props
		}
	}
	if props == nil {
		t.Fatal("template.yaml has no EvaluateFunction")
	}
	writes := []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:TransactWriteItems"}
	canPut := false
	statementsIn(props["Policies"], "EvaluateFunction.Policies", func(path string, stmt obj) {
		actions, _ := stringOrList(stmt["Action"])
		for _, a := range actions {
			if !slices.Contains(writes, a) {
				continue
			}
			keys, _ := stringOrList(asMap(asMap(asMap(stmt["Condition"])["ForAllValues:StringLike"]))["dynamodb:LeadingKeys"])
			if len(keys) != 1 || keys[0] != "STICKY#*" {
				t.Errorf("%s: %s must be conditioned on dynamodb:LeadingKeys STICKY#* (ForAllValues:StringLike), has %v", path, a, stmt["Condition"])
			}
			canPut = canPut || a == "dynamodb:PutItem"
		}
	})
	if !canPut {
		t.Error("EvaluateFunction cannot PutItem sticky bucketing assignments")
	}
}

// grantsOnTable reports whether one of the function's Allow statements
// grants action on the table's items whose partition key is pk: the table's
// ARN among its resources, and no dynamodb:LeadingKeys condition, or one
// whose patterns (ForAllValues:StringLike) match pk.
func grantsOnTable(props obj, action, pk string) bool {
	granted := false
	statementsIn(props["Policies"], "Policies", func(_ string, stmt obj) {
		actions, _ := stringOrList(stmt["Action"])
		if stmt["Effect"] != "Allow" || !slices.Contains(actions, action) {
			return
		}
		onTable := false
		resources := asList(stmt["Resource"])
		if resources == nil {
			resources = []any{stmt["Resource"]}
		}
		for _, r := range resources {
			if res, attr, ok := getAtt(r); ok && res == "Table" && attr == "Arn" {
				onTable = true
			}
		}
		if !onTable {
			return
		}
		cond := asMap(stmt["Condition"])
		if len(cond) == 0 {
			granted = true
			return
		}
		if len(cond) != 1 {
			return // a condition this check does not read: not counted
		}
		like := asMap(cond["ForAllValues:StringLike"])
		patterns, ok := stringOrList(like["dynamodb:LeadingKeys"])
		if !ok || len(like) != 1 {
			return
		}
		for _, p := range patterns {
			re := "^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$"
			if regexp.MustCompile(re).MatchString(pk) {
				granted = true
			}
		}
	})
	return granted
}

// The identity repository's items (docs/dynamodb.md, "Items of identity")
// are written by the API function (every method) and by the notifier,
// which issues the sign-in link it mails (PutSignInLink: a transaction of
// a ConditionCheck on the member, the link's Put and the Puts of audit
// entries and outbox items). Transactions need the per-item action of each
// of their items.
func TestIdentityItemsAreGranted(t *testing.T) {
	tpl := loadTemplate(t)
	props := map[string]obj{}
	for _, f := range tpl.functions() {
		props[f.id] = f.props
	}
	type use struct{ action, pk string }
	// The api function (the API's sign-in links, sessions and tokens) and
	// the console function (the sign-in pages and the console) alike.
	identity := []use{
		{"dynamodb:GetItem", "AUTH#m_1"}, {"dynamodb:BatchGetItem", "AUTH#m_1"}, {"dynamodb:Query", "AUTH#m_1"},
		{"dynamodb:PutItem", "AUTH#m_1"}, {"dynamodb:DeleteItem", "AUTH#m_1"}, {"dynamodb:ConditionCheckItem", "ORG"},
		{"dynamodb:GetItem", "SESSION#h"}, {"dynamodb:PutItem", "SESSION#h"}, {"dynamodb:UpdateItem", "SESSION#h"},
		{"dynamodb:GetItem", "SESSIONID#s_1"}, {"dynamodb:PutItem", "SESSIONID#s_1"},
		{"dynamodb:UpdateItem", "RATE#k"},
		{"dynamodb:PutItem", "AUDIT#-"}, {"dynamodb:PutItem", "OUTBOX#a_1"},
	}
	needs := map[string][]use{
		"ApiFunction":     identity,
		"ConsoleFunction": identity,
		"NotifierFunction": {
			{"dynamodb:ConditionCheckItem", "ORG"}, {"dynamodb:PutItem", "AUTH#m_1"},
			{"dynamodb:PutItem", "AUDIT#-"}, {"dynamodb:PutItem", "OUTBOX#a_1"},
		},
	}
	for fn, uses := range needs {
		p, ok := props[fn]
		if !ok {
			t.Errorf("template.yaml has no %s", fn)
			continue
		}
		for _, u := range uses {
			if !grantsOnTable(p, u.action, u.pk) {
				t.Errorf("%s may not %s items under %s (identity items, docs/dynamodb.md)", fn, u.action, u.pk)
			}
		}
	}
	// The check can fail: the evaluate function writes sticky assignments only.
	if grantsOnTable(props["EvaluateFunction"], "dynamodb:PutItem", "AUTH#m_1") || !grantsOnTable(props["EvaluateFunction"], "dynamodb:PutItem", "STICKY#p#e#f#u") {
		t.Error("grantsOnTable misreads the evaluate function's LeadingKeys condition")
	}
}

// ---------------------------------------------------------------------------
// Parameters, outputs and infra/samconfig.toml

func TestParametersAndOutputs(t *testing.T) {
	tpl := loadTemplate(t)
	params := asMap(tpl.raw["Parameters"])
	stage := asMap(params["Stage"])
	if got := stage["AllowedValues"]; !reflect.DeepEqual(got, []any{"dev", "staging", "prod"}) {
		t.Errorf("Stage AllowedValues are %v, want [dev staging prod]", got)
	}
	for _, name := range []string{"Stage", "TableName", "AlarmEmail", "LogLevel"} {
		if _, has := params[name]; !has {
			t.Errorf("parameter %s is missing", name)
		}
	}
	outputs := asMap(tpl.raw["Outputs"])
	for _, name := range []string{"ApiUrl", "TableName", "ApiFunctionName"} {
		if _, has := outputs[name]; !has {
			t.Errorf("output %s is missing", name)
		}
	}
	// Every Ref and every Condition names something that exists.
	known := map[string]bool{}
	for name := range params {
		known[name] = true
	}
	for id := range tpl.resources {
		known[id] = true
	}
	for _, pseudo := range []string{"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"} {
		known[pseudo] = true
	}
	conditions := asMap(tpl.raw["Conditions"])
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case obj:
			if name, ok := refName(x); ok && !known[name] && !samReferenceable(tpl, name) {
				t.Errorf("%s: !Ref %s names no parameter or resource", path, name)
			}
			if res, _, ok := getAtt(x); ok && tpl.resources[res] == nil {
				t.Errorf("%s: !GetAtt %s names no resource", path, res)
			}
			if sub, has := x["Fn::Sub"]; has && len(x) == 1 {
				str, vars := sub, obj(nil)
				if l := asList(sub); len(l) == 2 {
					str, vars = l[0], asMap(l[1])
				}
				s, _ := asString(str)
				for _, m := range subVar.FindAllStringSubmatch(s, -1) {
					name := m[1]
					if strings.HasPrefix(name, "!") || vars[name] != nil {
						continue
					}
					if res, _, isAttr := strings.Cut(name, "."); isAttr && !strings.HasPrefix(name, "AWS::") {
						if tpl.resources[res] == nil {
							t.Errorf("%s: !Sub ${%s} names no resource", path, name)
						}
					} else if !known[name] {
						t.Errorf("%s: !Sub ${%s} names no parameter or resource", path, name)
					}
				}
			}
			if c, ok := x["Fn::If"].([]any); ok && len(c) == 3 {
				if name, _ := c[0].(string); conditions[name] == nil {
					t.Errorf("%s: !If on unknown condition %v", path, c[0])
				}
			}
			for k, c := range x {
				walk(c, path+"."+k)
			}
		case []any:
			for i, c := range x {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(tpl.raw["Resources"], "Resources")
	walk(tpl.raw["Outputs"], "Outputs")
	walk(tpl.raw["Globals"], "Globals")
	for id, r := range tpl.resources {
		if c, has := r["Condition"]; has {
			if name, _ := c.(string); conditions[name] == nil {
				t.Errorf("%s: Condition %v is not defined", id, c)
			}
		}
	}
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

// samReferenceable reports whether name is one of the generated resources
// SAM lets a template !Ref through its source: <HttpApi or Api>.Stage and
// .DomainName, <Function>.Alias and .Version.
func samReferenceable(tpl *template, name string) bool {
	res, prop, ok := strings.Cut(name, ".")
	if !ok {
		return false
	}
	switch tpl.resources[res]["Type"] {
	case "AWS::Serverless::HttpApi", "AWS::Serverless::Api":
		return prop == "Stage" || prop == "DomainName"
	case "AWS::Serverless::Function":
		return prop == "Alias" || prop == "Version"
	}
	return false
}

// samconfigDeploy reads the [<env>.deploy.parameters] sections of a
// samconfig.toml: only `key = value` lines, which is all the file uses.
func samconfigDeploy(src string) map[string]map[string]string {
	out := map[string]map[string]string{}
	section := ""
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[] ")
			continue
		}
		env, ok := strings.CutSuffix(section, ".deploy.parameters")
		if !ok {
			continue
		}
		k, v, found := strings.Cut(line, "=")
		if !found {
			continue
		}
		if out[env] == nil {
			out[env] = map[string]string{}
		}
		v = strings.TrimSpace(v)
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		out[env][strings.TrimSpace(k)] = v
	}
	return out
}

func TestSamconfigHasEveryStage(t *testing.T) {
	cfg := samconfigDeploy(string(readRepoFile(t, "infra/samconfig.toml")))
	tpl := loadTemplate(t)
	stages, _ := stringOrList(asMap(asMap(tpl.raw["Parameters"])["Stage"])["AllowedValues"])
	defStage, _ := asString(asMap(asMap(tpl.raw["Parameters"])["Stage"])["Default"])
	envs := append([]string{"default"}, stages...)
	for _, env := range envs {
		stage := env
		if env == "default" {
			stage = defStage
		}
		c := cfg[env]
		if c == nil {
			t.Errorf("infra/samconfig.toml has no [%s.deploy.parameters] (make deploy STAGE=%s uses --config-env %s)", env, stage, env)
			continue
		}
		if c["stack_name"] != "countersign-"+stage {
			t.Errorf("[%s] stack_name is %q, want countersign-%s", env, c["stack_name"], stage)
		}
		if !slices.Contains(strings.Fields(c["parameter_overrides"]), "Stage="+stage) {
			t.Errorf("[%s] parameter_overrides %q does not set Stage=%s", env, c["parameter_overrides"], stage)
		}
		if !strings.Contains(c["capabilities"], "CAPABILITY_IAM") {
			t.Errorf("[%s] capabilities %q lack CAPABILITY_IAM (SAM creates the function's role)", env, c["capabilities"])
		}
		if c["resolve_s3"] != "true" {
			t.Errorf("[%s] resolve_s3 is %q, want true", env, c["resolve_s3"])
		}
		if c["region"] == "" {
			t.Errorf("[%s] has no region", env)
		}
	}
}

// ---------------------------------------------------------------------------
// The checks above can fail: they reject broken inputs.

func TestChecksRejectBrokenInputs(t *testing.T) {
	t.Run("yaml", func(t *testing.T) {
		if _, err := parseCFN([]byte("A: 1\nA: 2\n")); err == nil {
			t.Error("a duplicate key was accepted")
		}
		if _, err := parseCFN([]byte("A: !Bogus x\n")); err == nil {
			t.Error("an unknown tag was accepted")
		}
		m, err := parseCFN([]byte("A: !GetAtt T.Arn\nB: !Sub '${T.Arn}/index/*'\nC: !If [c, !Ref X, !Ref Y]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if r, a, ok := getAtt(m["A"]); !ok || r != "T" || a != "Arn" {
			t.Errorf("!GetAtt read as %v", m["A"])
		}
		if !reflect.DeepEqual(m["C"], obj{"Fn::If": []any{"c", obj{"Ref": "X"}, obj{"Ref": "Y"}}}) {
			t.Errorf("!If read as %v", m["C"])
		}
	})

	t.Run("build recipe", func(t *testing.T) {
		good := "GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_FLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/api"
		header := "GO ?= go\nLAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags=\"-s -w\"\nARTIFACTS_DIR ?= bin\n"
		for _, recipe := range []string{good, "@mkdir -p $(ARTIFACTS_DIR) && " + good + " && ls -l $(ARTIFACTS_DIR)"} {
			if dir, p := checkBuildTarget(parseMakefile(header+"build-Fn:\n\t"+recipe+"\n"), "Fn"); dir != "api" || len(p) > 0 {
				t.Fatalf("a good recipe was rejected: %q %v", dir, p)
			}
		}
		bad := map[string]string{
			"no target":      "build-Other:\n\t" + good,
			"cgo":            "build-Fn:\n\t" + strings.Replace(good, "CGO_ENABLED=0", "CGO_ENABLED=1", 1),
			"amd64":          "build-Fn:\n\t" + strings.Replace(good, "arm64", "amd64", 1),
			"no flags":       "build-Fn:\n\t" + strings.Replace(good, "$(LAMBDA_FLAGS)", "", 1),
			"only -s":        "build-Fn:\n\t" + strings.Replace(good, "$(LAMBDA_FLAGS)", "-tags lambda.norpc -trimpath -ldflags=-s", 1),
			"wrong output":   "build-Fn:\n\t" + strings.Replace(good, "/bootstrap", "/api", 1),
			"not a function": "build-Fn:\n\t" + strings.Replace(good, "./functions/api", "./cmd/api", 1),
			"all packages":   "build-Fn:\n\t" + strings.Replace(good, "./functions/api", "./functions/...", 1),
			"two builds":     "build-Fn:\n\t" + good + "\n\t" + good,
			"two on a line":  "build-Fn:\n\t" + good + " && " + good,
			"artifacts :=":   strings.Replace(header, "ARTIFACTS_DIR ?=", "ARTIFACTS_DIR :=", 1) + "build-Fn:\n\t" + good,
		}
		for name, mk := range bad {
			if !strings.HasPrefix(mk, "GO ?=") {
				mk = header + mk
			}
			if _, p := checkBuildTarget(parseMakefile(mk+"\n"), "Fn"); len(p) == 0 {
				t.Errorf("%s: accepted", name)
			}
		}
	})

	t.Run("events", func(t *testing.T) {
		tpl := &template{raw: obj{}, resources: map[string]obj{
			"Api": {"Type": "AWS::Serverless::HttpApi", "Properties": obj{"StageName": "$default"}},
			"Fn": {"Type": "AWS::Serverless::Function", "Properties": obj{"Events": obj{
				"H": obj{"Type": "HttpApi", "Properties": obj{"ApiId": obj{"Ref": "Api"}, "Method": "GET", "Path": "/healthz", "PayloadFormatVersion": "2.0"}},
				"V": obj{"Type": "HttpApi", "Properties": obj{"ApiId": obj{"Ref": "Api"}, "Method": "ANY", "Path": "/v1/{proxy+}", "PayloadFormatVersion": "2.0"}},
			}}},
		}}
		event := func(route, method, path string, edit func(obj)) []byte {
			e := obj{
				"version": "2.0", "routeKey": route, "rawPath": path, "rawQueryString": "",
				"headers": obj{"content-type": "application/json"},
				"requestContext": obj{"routeKey": route, "stage": "$default",
					"http": obj{"method": method, "path": path, "sourceIp": "198.51.100.1"}},
				"isBase64Encoded": false,
			}
			if strings.HasSuffix(route, "{proxy+}") {
				e["pathParameters"] = obj{"proxy": strings.TrimPrefix(path, "/v1/")}
			}
			if edit != nil {
				edit(e)
			}
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		apigw, _ := kindOf("apigw-x.json")
		if p := checkEvent(apigw, event("ANY /v1/{proxy+}", "POST", "/v1/projects", func(e obj) { e["body"] = `{"key":"a"}` }), tpl); len(p) > 0 {
			t.Fatalf("a good event was rejected: %v", p)
		}
		bad := map[string][]byte{
			"unknown route":   event("GET /nope", "GET", "/nope", nil),
			"method":          event("GET /healthz", "POST", "/healthz", nil),
			"path":            event("ANY /v1/{proxy+}", "GET", "/v2/projects", nil),
			"bare prefix":     event("ANY /v1/{proxy+}", "GET", "/v1/", nil),
			"version":         event("GET /healthz", "GET", "/healthz", func(e obj) { e["version"] = "1.0" }),
			"unknown field":   event("GET /healthz", "GET", "/healthz", func(e obj) { e["httpMethod"] = "GET" }),
			"stage":           event("GET /healthz", "GET", "/healthz", func(e obj) { asMap(e["requestContext"])["stage"] = "prod" }),
			"header case":     event("GET /healthz", "GET", "/healthz", func(e obj) { e["headers"] = obj{"Authorization": "x"} }),
			"path parameters": event("ANY /v1/{proxy+}", "GET", "/v1/projects", func(e obj) { e["pathParameters"] = obj{"proxy": "flags"} }),
			"base64":          event("ANY /v1/{proxy+}", "POST", "/v1/projects", func(e obj) { e["body"] = "{not base64"; e["isBase64Encoded"] = true }),
			"json body":       event("ANY /v1/{proxy+}", "POST", "/v1/projects", func(e obj) { e["body"] = "{" }),
		}
		for name, data := range bad {
			if p := checkEvent(apigw, data, tpl); len(p) == 0 {
				t.Errorf("%s: accepted", name)
			}
		}
		for _, name := range []string{"sqs-queue.json", "apigw-healthz.yaml", "healthz.json"} {
			if _, err := kindOf(name); err == nil {
				t.Errorf("%s: accepted as a known kind of event", name)
			}
		}
		stream, _ := kindOf("dynamodb-stream-insert.json")
		if p := checkEvent(stream, []byte(`{"Records":[]}`), tpl); len(p) == 0 {
			t.Error("a stream event was accepted by a template without a DynamoDB trigger")
		}
		schedule, _ := kindOf("eventbridge-tick.json")
		if p := checkEvent(schedule, []byte(`{}`), tpl); len(p) == 0 {
			t.Error("an EventBridge event was accepted by a template without a Schedule trigger")
		}
	})

	t.Run("iam", func(t *testing.T) {
		for _, a := range []any{"*", "dynamodb:*", "dynamodb:Get*", []any{"dynamodb:GetItem", "dynamodb:Scan"}, "dynamodb:DeleteTable"} {
			if p := checkStatement(obj{"Effect": "Allow", "Action": a, "Resource": "arn:aws:dynamodb:us-east-1:1:table/t"}); len(p) == 0 {
				t.Errorf("Action %v accepted", a)
			}
		}
		for _, r := range []any{"*", []any{obj{"Fn::GetAtt": []any{"Table", "Arn"}}, "*"}} {
			if p := checkStatement(obj{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": r}); len(p) == 0 {
				t.Errorf("DynamoDB on Resource %v accepted", r)
			}
		}
		if p := checkStatement(obj{"Effect": "Allow", "Action": []any{"dynamodb:GetItem", "dynamodb:Query"}, "Resource": obj{"Fn::GetAtt": []any{"Table", "Arn"}}}); len(p) > 0 {
			t.Errorf("a good statement was rejected: %v", p)
		}
	})

	t.Run("design doc", func(t *testing.T) {
		if _, p := parseDesignDoc("# Table\n\nOne table.\n"); len(p) == 0 {
			t.Error("a doc stating nothing was accepted")
		}
	})
}

// Every route of the routers must reach the function that serves it
// through the HttpApi route of the template that API Gateway picks for it
// (the most specific): the JSON API's the api function, the pages' and the
// console's the console function. A route the router has but API Gateway
// does not forward to it would exist only locally.
func TestRouterRoutesReachableThroughAPIGateway(t *testing.T) {
	tpl := loadTemplate(t)
	routes, _ := tpl.httpRoutes()
	sample := strings.NewReplacer("{project}", "p", "{environment}", "e", "{flag}", "f", "{member}", "m", "{token}", "t",
		"{id}", "i", "{key}", "k", "{session}", "s", "{name}", "n", "{segment}", "g", "{$}", "")
	type route struct{ Method, Pattern, fn string }
	var all []route
	for _, rt := range httpapi.NewAPI(nil, nil).Routes() {
		all = append(all, route{rt.Method, rt.Pattern, "ApiFunction"})
	}
	for _, rt := range httpapi.NewPages(nil, nil).Routes() {
		all = append(all, route{rt.Method, rt.Pattern, "ConsoleFunction"})
	}
	// the console's pages and forms too: the console function serves them
	for _, rt := range console.New(nil, nil, nil).Routes() {
		all = append(all, route{rt.Method, rt.Pattern, "ConsoleFunction"})
	}
	if len(all) != len(httpapi.New(nil, nil).Routes())+len(console.New(nil, nil, nil).Routes()) {
		t.Errorf("httpapi.NewAPI and NewPages together do not serve httpapi.New's routes")
	}
	for _, rt := range all {
		path := sample.Replace(rt.Pattern)
		best, bestScore := "", -1
		for _, r := range routes {
			if r.method != "ANY" && r.method != rt.Method {
				continue
			}
			if _, ok := matchRoute(r.path, path); ok {
				if sc := specificity(r.path); sc > bestScore {
					best, bestScore = r.fn, sc
				}
			}
		}
		if best != rt.fn {
			t.Errorf("router route %s %s reaches %q through API Gateway, want %s", rt.Method, rt.Pattern, best, rt.fn)
		}
	}
}

// specificity orders HttpApi route paths as API Gateway prefers them for
// a request both match: more literal segments first, a greedy {proxy+}
// last.
func specificity(path string) int {
	segs, _ := routeSegments(path)
	n := 0
	for _, s := range segs {
		switch {
		case strings.HasSuffix(s, "+}"):
		case strings.HasPrefix(s, "{"):
			n += 1
		default:
			n += 100
		}
	}
	return n
}
