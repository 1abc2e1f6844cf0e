package evaluate

// The OFREP hot path's shortcuts, which the benchmarks measure, give
// exactly what the general code gives: the request parser against
// encoding/json, the hand-written answers against json.Encoder, and the
// route shortcut against the mux. The fuzz targets run their seeds in every
// `go test`; `go test -fuzz FuzzParseContextFast ./internal/evaluate/` runs
// them for longer.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
)

var contextBodies = []string{
	``, ` `, `{}`, ` { } `, `{"context":null}`, `{"context":{}}`, `{"context" : { } }`, "{\r\n\t\"context\": {\"a\": 1}\n}\n",
	`{"context":{"targetingKey":"user-1","country":"DE","plan":"pro","n":12,"f":-1.5e+3,"ok":true,"no":false,"nil":null}}`,
	`{"context":{"a":"x","a":"y"}}`, `{"context":{"a":0,"b":-0,"c":0.5,"d":1E9,"e":1e-9,"f":123456789012345678901234567890}}`,
	`{"context":{"a":01}}`, `{"context":{"a":-}}`, `{"context":{"a":1.}}`, `{"context":{"a":.5}}`, `{"context":{"a":1e}}`, `{"context":{"a":+1}}`,
	`{"context":{"a":1x}}`, `{"context":{"a":tru}}`, `{"context":{"a":truex}}`, `{"context":{"a":nul}}`, `{"context":{"a":"x",}}`, `{"context":{,}}`,
	`{"context":{"a" "x"}}`, `{"context":{"a":"x" "b":1}}`, `{"context":{"a":"x"}`, `{"context":{"a":"x"}}}`, `{"context":{"a":"x"}} x`, `{"context":{"a":"x"}}{}`,
	`{"context":{"a":"tab\there"}}`, `{"context":{"a":"esc\"aped"}}`, `{"context":{"a\u0041":"x"}}`, `{"context":{"a":"\u00e9"}}`, `{"context":{"a":"é ü 日本"}}`,
	"{\"context\":{\"a\":\"\xff\xfe\"}}", "{\"context\":{\"\xc3\":1}}", `{"context":{"a":{"b":1}}}`, `{"context":{"a":[1,2]}}`, `{"context":{"a":[]}}`,
	`{"context":[1,2]}`, `{"context":"x"}`, `{"context":1}`, `{"context":true}`, `[]`, `[1]`, `"x"`, `null`, `1`, `{"context":`, `{"context"}`, `{"context":{"a":1}`,
	`{"Context":{"a":1}}`, `{"CONTEXT":{"a":1}}`, `{"other":1,"context":{"a":1}}`, `{"context":{"a":1},"other":{"b":[1]}}`, `{"context":{"a":1},"context":{"b":2}}`,
	`{"context":{"targetingKey":7}}`, `{"context":{"targetingKey":null}}`, `{"context":{"targetingKey":""}}`, "\xef\xbb\xbf{}", `{"context":{"a":"x"}}` + "\x00",
	`{"context":{"":""}}`, `{"context":{"a":"<>&\u2028"}}`, "{\"context\":{\"a\":\"\u2028<&>\"}}", `{"context":{"a":-0.0e-0}}`, `{"context":{"a":1e+}}`,
}

// checkParse says how parseContextFast and parseContext differ on body, if
// they do: the fast path may decline, but what it accepts it reads alike.
func checkParse(t *testing.T, body string) {
	t.Helper()
	fast, ok := parseContextFast(body)
	slow, fail := parseContext([]byte(body))
	if !ok {
		return
	}
	if fail != nil {
		t.Fatalf("%q: the fast path accepted what encoding/json refuses (%s)", body, fail.ErrorCode)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q: fast %#v, encoding/json %#v", body, fast, slow)
	}
}

func TestParseContextFastMatchesEncodingJSON(t *testing.T) {
	accepted := 0
	for _, body := range contextBodies {
		checkParse(t, body)
		if _, ok := parseContextFast(body); ok {
			accepted++
		}
	}
	for _, body := range []string{`{}`, `{"context":null}`, `{"context":{}}`, contextBodies[8], `{"context":{"a":"é ü 日本"}}`} {
		if _, ok := parseContextFast(body); !ok {
			t.Errorf("%q: the usual shape should take the fast path", body)
		}
	}
	t.Logf("%d of %d bodies took the fast path", accepted, len(contextBodies))
}

func FuzzParseContextFast(f *testing.F) {
	for _, b := range contextBodies {
		f.Add(b)
	}
	f.Fuzz(checkParse)
}

// encoded is what json.Encoder, which the handler used, writes for v.
func encoded(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return "error"
	}
	return buf.String()
}

var answerStrings = []string{"", "a", "new-checkout", "flag 'x' was not found", `quo"te`, `back\slash`, "<b>&amp;</b>", "tab\tnl\n", "\x00\x1f\x7f",
	"é日本", "\u2028\u2029", "\xff", "ok\xc3", "TARGETING_MATCH"}

var answerValues = []string{``, `true`, `false`, `null`, `1`, `-2.5e3`, `"x"`, `"a b"`, `{"a":1}`, `{"a": 1}`, " [1,\n2] ", `{"b":[1,2]}`, `"<&>"`,
	`"\u003c"`, `"é"`, `"\u2028"`, "\"\u2028\"", `"esc\"aped\\"`, `{"nested":{"deep":[true,null,{"x":"y"}]}}`, `{`, `tru`, `"x"x`, `1 2`}

func checkSuccess(t *testing.T, key, value, reason, variant string) {
	t.Helper()
	s := success{Key: key, Reason: reason, Variant: variant}
	if value != "" {
		s.Value = json.RawMessage(value)
	}
	want := encoded(t, s)
	got, err := appendSuccess(nil, s)
	if err != nil {
		if want != "error" {
			t.Fatalf("%#v: refused, json.Encoder writes %q", s, want)
		}
		return
	}
	if string(got)+"\n" != want {
		t.Fatalf("%#v:\n got %q\nwant %q", s, got, want)
	}
}

func TestAnswersMatchEncodingJSON(t *testing.T) {
	for _, s := range answerStrings {
		for _, v := range answerValues {
			checkSuccess(t, s, v, "SPLIT", s)
			checkSuccess(t, "k", v, s, "on")
		}
		for _, d := range answerStrings {
			f := failure{Key: s, ErrorCode: errGeneral, ErrorDetails: d}
			if got, want := string(appendFailure(nil, f))+"\n", encoded(t, f); got != want {
				t.Fatalf("%#v:\n got %q\nwant %q", f, got, want)
			}
		}
	}
	withMeta := success{Key: "k", Value: json.RawMessage(`1`), Reason: "STATIC", Variant: "v", Metadata: map[string]any{"x": 1}}
	if got, _ := appendSuccess(nil, withMeta); string(got)+"\n" != encoded(t, withMeta) {
		t.Fatalf("metadata: %q", got)
	}
}

func FuzzAnswers(f *testing.F) {
	for i, s := range answerStrings {
		f.Add(s, answerValues[i%len(answerValues)])
	}
	f.Fuzz(func(t *testing.T, s, v string) { checkSuccess(t, s, v, s, s) })
}

// fakeStore serves one environment with the given flags, each 100 % "on".
type fakeStore struct{ flags []string }

func (s fakeStore) GetSDKKeyByHash(_ context.Context, hash string) (*domain.SDKKey, error) {
	if hash != HashSDKKey("cs_sdk_route_test_key_0123456789") {
		return nil, domain.Errorf(domain.CodeNotFound, "no such key")
	}
	return &domain.SDKKey{ID: "k", Project: "p", Environment: "production"}, nil
}

func (s fakeStore) RulesetVersion(context.Context, string) (int64, error) { return 1, nil }

// No environment allows a browser origin.
func (s fakeStore) OriginAllowed(context.Context, string) (bool, error) { return false, nil }

// Its flags are not sticky: nothing asks for assignments.
func (s fakeStore) Assignment(context.Context, domain.AssignmentKey) (string, error) {
	return "", errors.New("fakeStore keeps no assignments")
}

func (s fakeStore) Assign(context.Context, domain.AssignmentKey, string, string) (string, error) {
	return "", errors.New("fakeStore keeps no assignments")
}

func (s fakeStore) Ruleset(_ context.Context, project, env string) (*domain.Ruleset, error) {
	rs := &domain.Ruleset{Version: 1}
	for _, k := range s.flags {
		rs.Flags = append(rs.Flags, domain.Flag{Project: project, Key: k, BucketingUnit: "user_id", BucketingSalt: "salt",
			Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`"ON"`)}}})
		rs.Configs = append(rs.Configs, domain.FlagConfig{Project: project, Flag: k, Environment: env, Enabled: true, OffVariant: domain.OffVariantKey,
			DefaultRule: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}})
	}
	return rs, nil
}

// The route shortcut in ServeHTTP answers every request as the mux does.
func TestRouteShortcutMatchesMux(t *testing.T) {
	h := NewHandler(New(fakeStore{flags: []string{"a", "a b", "a/b", "%41", ".", "..", "é"}}, clock.NewFixed(time.Unix(0, 0)), time.Hour),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	paths := []string{"/ofrep/v1/evaluate/flags", "/ofrep/v1/evaluate/flags/", "/ofrep/v1/evaluate/flags/a", "/ofrep/v1/evaluate/flags/a/",
		"/ofrep/v1/evaluate/flags/a%20b", "/ofrep/v1/evaluate/flags/a%2Fb", "/ofrep/v1/evaluate/flags/%2541", "/ofrep/v1/evaluate/flags/%41",
		"/ofrep/v1/evaluate/flags/.", "/ofrep/v1/evaluate/flags/..", "/ofrep/v1/evaluate/flags/%C3%A9", "/ofrep/v1/evaluate/flags/nope",
		"/ofrep/v1/evaluate/flags//a", "/ofrep/v1/evaluate/./flags/a", "/ofrep/v1/evaluate/flags/a?x=1", "/ofrep/v1/evaluate/flags?x=1",
		"/ofrep/v1/evaluate/flagsx", "/OFREP/v1/evaluate/flags/a", "/ofrep/v1/evaluate/flags/a/b"}
	for _, method := range []string{"POST", "GET", "PUT", "HEAD", "OPTIONS"} {
		for _, p := range paths {
			serve := func(handler http.Handler) (*httptest.ResponseRecorder, string) {
				r := httptest.NewRequest(method, p, strings.NewReader(`{"context":{"targetingKey":"u"}}`))
				r.Header.Set("X-API-Key", "cs_sdk_route_test_key_0123456789")
				w := httptest.NewRecorder()
				handler.ServeHTTP(w, r)
				return w, r.Pattern
			}
			got, gotPattern := serve(h)
			want, wantPattern := serve(h.mux)
			if got.Code != want.Code || got.Body.String() != want.Body.String() || !reflect.DeepEqual(got.Header(), want.Header()) || gotPattern != wantPattern {
				t.Errorf("%s %s: shortcut %d %q %v %q, mux %d %q %v %q", method, p, got.Code, got.Body, got.Header(), gotPattern,
					want.Code, want.Body, want.Header(), wantPattern)
			}
		}
	}
}
