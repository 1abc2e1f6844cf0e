package evaluate

// Fuzz targets of OFREP through the real handler, over a bbolt store:
//
//   - FuzzOFREPEvaluate: any body, to one flag (any key) or to every flag,
//     with an SDK key of production (one flag there is sticky) or of
//     staging;
//   - FuzzOFREPContextDifferential: the hand-written context parser
//     (parseContextFast) against encoding/json (parseContext), on the
//     attributes and, end to end, on the answers.
//
// `go test -fuzz` runs each; `go test` runs their seeds. Every input starts
// from the store's state after the setup: an input that writes (a sticky
// assignment) puts the snapshot back and starts a new evaluator.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/boltstore"
)

// FuzzOFREPEvaluate posts any body to the single flag route (key, when not
// empty) and to the bulk route, with staging's SDK key (env even) or
// production's (odd). Properties:
//
//   - nothing panics, and no answer is 5xx;
//   - a refusal is the OFREP error shape: one JSON object with errorCode
//     (one of the five codes), errorDetails, and the key for one flag; its
//     status is 404 for FLAG_NOT_FOUND and 400 for the others;
//   - an answer is the OFREP success shape, for the flag asked, with a
//     reason OFREP knows and a value of one of the flag's variants (or
//     none: the code default); a bulk answer lists the flags served, each
//     an answer or a per-flag error, and has an ETag;
//   - the one-flag answer and the bulk answer's item for it agree; the
//     bulk answer asked again with its ETag is 304 (staging);
//   - a refusal writes nothing; staging's answers write nothing (no flag
//     there is sticky); production writes only sticky assignments.
func FuzzOFREPEvaluate(f *testing.F) {
	w := newOFREPFuzz(f)
	// each body once, to one flag in turn (TestOFREPEvaluateSeeds sends
	// each to every flag): the fewer seeds, the sooner a bounded run
	// starts fuzzing
	for i, body := range ofrepSeedBodies {
		f.Add([]byte(body), ofrepSeedKeys[i%len(ofrepSeedKeys)], uint8(i))
	}
	f.Fuzz(func(t *testing.T, body []byte, key string, env uint8) {
		w.evaluate(t, body, key, env)
	})
}

// TestOFREPEvaluateSeeds sends every seed body of FuzzOFREPEvaluate to
// every flag and to all, in both environments, with its properties.
func TestOFREPEvaluateSeeds(t *testing.T) {
	w := newOFREPFuzz(t)
	for _, body := range ofrepSeedBodies {
		for _, key := range ofrepSeedKeys {
			for env := range uint8(2) {
				w.evaluate(t, []byte(body), key, env)
			}
		}
	}
}

var ofrepSeedKeys = []string{"", "rules", "sticky", "nope", "archived", "plain", "by-account", "disabled"}

var ofrepSeedBodies = []string{
	`{"context":{"targetingKey":"user-1","country":"DE","age":21,"plan":"pro","email":"ada@example.com","version":"1.4.0","signup":"` + clocktest.At(-3, 0, 0, 0).Format(time.RFC3339) + `","beta":true}}`,
	`{"context":{"targetingKey":"user-2"}}`, `{"context":{}}`, `{}`, `{"context":null}`, ``,
	`{"context":{"country":"DE"}}`, `{"context":{"targetingKey":7}}`, `{"context":{"targetingKey":null}}`, `{"context":{"targetingKey":""}}`,
	`{"context":[1]}`, `{"context":"x"}`, `{"context":`, `[]`, `{"context":{"targetingKey":"u"}} {}`,
	`{"context":{"targetingKey":"u","age":"NaN"}}`, `{"context":{"targetingKey":"u","age":1e400}}`, `{"context":{"targetingKey":"u","age":-0}}`,
	`{"context":{"targetingKey":"u","version":"v1.2.3-rc.1+build"}}`, `{"context":{"targetingKey":"u","signup":"yesterday"}}`,
	`{"context":{"targetingKey":"u","account":{"id":"a1"},"tags":["x",1,null]}}`, `{"context":{"targetingKey":"u","account":"acme"}}`,
	`{"context":{"targetingKey":"\u00e9\ud800","country":"D\u0045"}}`, "{\"context\":{\"targetingKey\":\"\xff\"}}",
	`{"CONTEXT":{"targetingKey":"u"}}`, `{"context":{"targetingKey":"a"},"context":{"targetingKey":"b"}}`,
}

// FuzzOFREPContextDifferential holds the fast context parser to
// encoding/json: where the fast path accepts a body, it reads the same
// attributes as encoding/json; and wherever encoding/json reads a context,
// the handler answers the body exactly as it answers the same attributes
// sent in a body the fast path declines (so they go through encoding/json):
// same status, same bytes, same ETag. Where encoding/json refuses the body,
// the handler refuses it with its error code.
func FuzzOFREPContextDifferential(f *testing.F) {
	w := newOFREPFuzz(f)
	for _, b := range contextBodies {
		f.Add(b)
	}
	for _, b := range []string{
		`{"context":{"targetingKey":"user-1","country":"DE","age":21,"plan":"pro","version":"1.4.0","beta":true}}`,
		`{"context":{"targetingKey":"user-1","country":"DE","country":"FR"}}`, `{"context":{"targetingKey":"u","age":21.0}}`,
		`{"context":{"targetingKey":"u","age":2.1e1}}`, `{"context":{"targetingKey":"u","account":"acme","user_id":"x"}}`,
		`{"context":{"targetingKey":"u\u0000","email":"a@example.com"}}`, "{\"context\":{\"targetingKey\":\"u\",\"email\":\"ADA@EXAMPLE.COM\"}}",
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body string) {
		w.differential(t, body)
	})
}

const (
	ofrepProdKey    = "cs_sdk_fuzz_production_0123456789abcdef"
	ofrepStagingKey = "cs_sdk_fuzz_staging_0123456789abcdefgh"
)

// ofrepFuzz is the handler the targets drive.
type ofrepFuzz struct {
	tb       testing.TB
	store    *ofrepStore
	clock    *clock.Manual
	log      *ofrepLog
	h        *Handler
	variants map[string][]string // flag → its variants' values (JSON)
	sticky   map[string]bool     // flags sticky in production
	served   []string            // the flags OFREP serves, sorted
}

func newOFREPFuzz(tb testing.TB) *ofrepFuzz {
	ctx := context.Background()
	w := &ofrepFuzz{tb: tb, store: newOFREPStore(tb), clock: clocktest.Clock(0, 9, 0), log: &ofrepLog{},
		variants: map[string][]string{}, sticky: map[string]bool{"sticky": true}}
	s := w.store
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(s.CreateProject(ctx, &domain.Project{Key: "shop", Name: "Shop"}, domain.DefaultEnvironments()))
	values := [][]string{{`true`, `false`}, {`"blue"`, `"green"`}, {`1.5`, `-2`}, {`{"a":[1,{"b":null}]}`, `"<&>\u2028"`}}
	rules := []domain.Rule{
		{Name: "germans of age", Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}}, {Attribute: "age", Operator: domain.OpGTE, Values: []string{"18"}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "v0", Weight: 1}}}},
		{Name: "staff", Conditions: []domain.Condition{{Attribute: "email", Operator: domain.OpEndsWith, Values: []string{"@example.com"}}, {Attribute: "plan", Operator: domain.OpIn, Values: []string{"pro", "team"}}},
			Allocation: domain.Allocation{Rollout: 50, Weights: []domain.Weight{{Variant: "v0", Weight: 1}, {Variant: "v1", Weight: 3}}}},
		{Name: "new app", Conditions: []domain.Condition{{Attribute: "version", Operator: domain.OpSemverGT, Values: []string{"1.2.3"}}, {Attribute: "beta", Operator: domain.OpExists}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "v1", Weight: 1}}}},
		{Name: "early", Conditions: []domain.Condition{{Attribute: "signup", Operator: domain.OpBefore, Values: []string{clocktest.At(-1, 0, 0, 0).Format(time.RFC3339)}}},
			Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "v0", Weight: 1}}}},
		{Name: "not these", Conditions: []domain.Condition{{Attribute: "targetingKey", Operator: domain.OpNotContains, Values: []string{"bot"}}, {Attribute: "age", Operator: domain.OpLT, Values: []string{"99.5"}}},
			Allocation: domain.Allocation{Rollout: 12.5, Weights: []domain.Weight{{Variant: "v1", Weight: 1}}}},
	}
	for i, key := range []string{"plain", "rules", "sticky", "by-account", "disabled", "archived"} {
		vs := values[i%len(values)]
		f := &domain.Flag{Project: "shop", Key: key, Name: key, Tags: []string{}, BucketingUnit: "user_id", BucketingSalt: "salt-" + key, EvaluationMode: "remote",
			Variants: []domain.Variant{{Key: "v0", Value: json.RawMessage(vs[0])}, {Key: "v1", Value: json.RawMessage(vs[1])}}, Archived: key == "archived"}
		if key == "by-account" {
			f.BucketingUnit = "account"
		}
		must(s.CreateFlag(ctx, f, nil))
		w.variants[key] = vs
		for _, env := range []string{"production", "staging"} {
			_, err := s.UpdateFlagConfig(ctx, "shop", key, env, func(_ *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
				c.Enabled = key != "disabled"
				c.OffVariant = "v1"
				c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "v0", Weight: 1}, {Variant: "v1", Weight: 1}}}
				if key == "plain" {
					c.OffVariant = domain.OffVariantKey
					c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "v0", Weight: 1}}}
				}
				if key != "plain" {
					c.Rules = rules
				}
				c.StickyBucketing = env == "production" && w.sticky[key]
				return nil
			})
			must(err)
		}
		if key != "archived" {
			w.served = append(w.served, key)
		}
	}
	slices.Sort(w.served)
	must(s.CreateSDKKey(ctx, &domain.SDKKey{ID: "prod", Project: "shop", Environment: "production", Name: "prod", Hash: HashSDKKey(ofrepProdKey)}))
	must(s.CreateSDKKey(ctx, &domain.SDKKey{ID: "staging", Project: "shop", Environment: "staging", Name: "staging", Hash: HashSDKKey(ofrepStagingKey)}))
	s.snap()
	w.newHandler()
	// the setup serves what the targets expect: production's sticky flag
	// writes its first assignment, and the rules match
	before := s.txid()
	code, raw, _ := w.post(ofrepProdKey, "/ofrep/v1/evaluate/flags/sticky", `{"context":{"targetingKey":"setup"}}`)
	if code != 200 || s.txid() == before {
		tb.Fatalf("setup: the sticky flag: %d %s, transaction %d → %d", code, raw, before, s.txid())
	}
	code, raw, _ = w.post(ofrepStagingKey, "/ofrep/v1/evaluate/flags/rules", `{"context":{"targetingKey":"u","country":"DE","age":30}}`)
	if code != 200 || !strings.Contains(string(raw), `"reason":"TARGETING_MATCH"`) {
		tb.Fatalf("setup: the first rule does not match: %d %s", code, raw)
	}
	w.reset()
	return w
}

func (w *ofrepFuzz) newHandler() {
	log := slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w.h = NewHandler(New(w.store, w.clock, time.Hour), log)
}

// reset puts the snapshot back, with an evaluator that remembers nothing.
func (w *ofrepFuzz) reset() {
	w.store.reset()
	w.newHandler()
}

func (w *ofrepFuzz) post(sdkKey, path, body string, headers ...string) (int, []byte, http.Header) {
	req, err := http.NewRequest(http.MethodPost, "http://evaluate.test"+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil
	}
	req.Header.Set("Authorization", "Bearer "+sdkKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	req.RemoteAddr = "192.0.2.9:4711"
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes(), rec.Header()
}

// ofrepAnswer is every member an OFREP answer (success or error) may have.
type ofrepAnswer struct {
	Key          *string         `json:"key"`
	Value        json.RawMessage `json:"value"`
	Reason       string          `json:"reason"`
	Variant      string          `json:"variant"`
	Metadata     map[string]any  `json:"metadata"`
	ErrorCode    string          `json:"errorCode"`
	ErrorDetails string          `json:"errorDetails"`
}

type ofrepBulk struct {
	Flags    []json.RawMessage `json:"flags"`
	Metadata struct {
		Version *int64 `json:"version"`
	} `json:"metadata"`
}

var ofrepErrorCodes = []string{errFlagNotFound, errParse, errInvalidContext, errTargetingKeyMissing, errGeneral}

// decodeStrict reads exactly one JSON object into v, refusing members v
// does not have.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

// jsonString is s as JSON carries it: invalid UTF-8 becomes U+FFFD.
func jsonString(s string) string {
	raw, _ := json.Marshal(s)
	_ = json.Unmarshal(raw, &s)
	return s
}

// checkAnswer checks one answer object (a one-flag answer, or a bulk
// item) for flag key (nil: a bulk-level error, which has no key).
func (w *ofrepFuzz) checkAnswer(raw []byte, key *string, status int) (*ofrepAnswer, error) {
	var a ofrepAnswer
	if err := decodeStrict(raw, &a); err != nil {
		return nil, fmt.Errorf("not an OFREP answer: %v", err)
	}
	switch {
	case key == nil && a.Key != nil:
		return nil, fmt.Errorf("a request-level error names a flag")
	case key != nil && (a.Key == nil || *a.Key != jsonString(*key)):
		return nil, fmt.Errorf("the answer is not for flag %q", *key)
	}
	if a.ErrorCode != "" {
		switch {
		case !slices.Contains(ofrepErrorCodes, a.ErrorCode):
			return nil, fmt.Errorf("unknown error code %q", a.ErrorCode)
		case a.ErrorDetails == "":
			return nil, fmt.Errorf("an error without details")
		case a.Value != nil || a.Reason != "" || a.Variant != "" || a.Metadata != nil:
			return nil, fmt.Errorf("an error with an answer's members")
		case status != 0 && (status == http.StatusNotFound) != (a.ErrorCode == errFlagNotFound):
			return nil, fmt.Errorf("error %s answered %d", a.ErrorCode, status)
		case status != 0 && status != http.StatusNotFound && status != http.StatusBadRequest:
			return nil, fmt.Errorf("error %s answered %d", a.ErrorCode, status)
		}
		return &a, nil
	}
	if status != 0 && status != http.StatusOK {
		return nil, fmt.Errorf("an answer with status %d", status)
	}
	switch a.Reason {
	case "STATIC", "TARGETING_MATCH", "SPLIT", "DEFAULT", "DISABLED":
	default:
		return nil, fmt.Errorf("reason %q", a.Reason)
	}
	if a.Variant == "" {
		return nil, fmt.Errorf("no variant")
	}
	if a.Value != nil {
		var got any
		if err := json.Unmarshal(a.Value, &got); err != nil {
			return nil, fmt.Errorf("value %s: %v", a.Value, err)
		}
		known := false
		for _, v := range w.variants[*key] {
			var want any
			_ = json.Unmarshal([]byte(v), &want)
			known = known || reflect.DeepEqual(got, want)
		}
		if !known {
			return nil, fmt.Errorf("value %s is none of the flag's", a.Value)
		}
	} else if a.Variant != domain.OffVariantKey {
		return nil, fmt.Errorf("variant %q without a value", a.Variant)
	}
	if a.Metadata != nil && !reflect.DeepEqual(a.Metadata, map[string]any{"sticky": true}) {
		return nil, fmt.Errorf("metadata %v", a.Metadata)
	}
	return &a, nil
}

func (w *ofrepFuzz) evaluate(t testing.TB, body []byte, key string, env uint8) {
	sdkKey, envName := ofrepStagingKey, "staging"
	if env%2 == 1 {
		sdkKey, envName = ofrepProdKey, "production"
	}
	if key == "." || key == ".." || strings.Contains(key, "/") {
		return // not one path segment: not the route
	}
	before := w.store.txid()
	w.log.take()
	wrote := func() bool { return w.store.txid() != before }
	defer func() {
		if wrote() {
			w.reset()
		}
	}()
	desc := func(path string, code int, raw []byte) string {
		return fmt.Sprintf("POST %s (%s) with %q\n→ %d %s\nlog: %s", path, envName, clip(body), code, clip(raw), w.log.take())
	}

	var single *ofrepAnswer
	singleStatus := 0
	if key != "" {
		path := singlePrefix + url.PathEscape(key)
		code, raw, _ := w.post(sdkKey, path, string(body))
		if code >= 500 || code == 0 {
			t.Fatalf("a server error:\n%s", desc(path, code, raw))
		}
		a, err := w.checkAnswer(raw, &key, code)
		if err != nil {
			t.Fatalf("%v:\n%s", err, desc(path, code, raw))
		}
		if code != http.StatusOK && wrote() {
			t.Fatalf("refused, yet the store was written:\n%s", desc(path, code, raw))
		}
		single, singleStatus = a, code
	}

	code, raw, h := w.post(sdkKey, bulkPath, string(body))
	if code >= 500 || code == 0 {
		t.Fatalf("a server error:\n%s", desc(bulkPath, code, raw))
	}
	if code != http.StatusOK {
		a, err := w.checkAnswer(raw, nil, code)
		if err != nil {
			t.Fatalf("%v:\n%s", err, desc(bulkPath, code, raw))
		}
		if wrote() {
			t.Fatalf("refused, yet the store was written:\n%s", desc(bulkPath, code, raw))
		}
		if a.ErrorCode == errFlagNotFound || a.ErrorCode == errTargetingKeyMissing || a.ErrorCode == errGeneral {
			t.Fatalf("a bulk request refused for one flag's reason:\n%s", desc(bulkPath, code, raw))
		}
		if single != nil && single.ErrorCode != a.ErrorCode {
			t.Fatalf("one flag answered %d %s, every flag %s:\n%s", singleStatus, single.ErrorCode, a.ErrorCode, desc(bulkPath, code, raw))
		}
		return
	}
	var bulk ofrepBulk
	if err := decodeStrict(raw, &bulk); err != nil || bulk.Metadata.Version == nil || h.Get("ETag") == "" {
		t.Fatalf("not a bulk answer (%v):\n%s", err, desc(bulkPath, code, raw))
	}
	var keys []string
	items := map[string]*ofrepAnswer{}
	for _, item := range bulk.Flags {
		var k struct{ Key string }
		_ = json.Unmarshal(item, &k)
		a, err := w.checkAnswer(item, &k.Key, 0)
		if err != nil {
			t.Fatalf("item %s: %v:\n%s", item, err, desc(bulkPath, code, raw))
		}
		if a.ErrorCode == errFlagNotFound || a.ErrorCode == errParse || a.ErrorCode == errInvalidContext {
			t.Fatalf("item %s: a bulk item with a request's error:\n%s", item, desc(bulkPath, code, raw))
		}
		keys = append(keys, k.Key)
		items[k.Key] = a
	}
	if !slices.Equal(keys, w.served) {
		t.Fatalf("the bulk answer lists %v, not the flags served %v:\n%s", keys, w.served, desc(bulkPath, code, raw))
	}
	if envName == "staging" && wrote() {
		t.Fatalf("staging serves no sticky flag, yet the store was written:\n%s", desc(bulkPath, code, raw))
	}
	if envName == "staging" {
		// the same answer again is not sent again: 304 for its ETag
		again, rawAgain, hAgain := w.post(sdkKey, bulkPath, string(body), "If-None-Match", h.Get("ETag"))
		if again != http.StatusNotModified || len(rawAgain) != 0 || hAgain.Get("ETag") != h.Get("ETag") {
			t.Fatalf("with If-None-Match %s: %d %s (ETag %s):\n%s", h.Get("ETag"), again, rawAgain, hAgain.Get("ETag"), desc(bulkPath, code, raw))
		}
	}
	if single == nil {
		return
	}
	item, listed := items[key]
	switch {
	case !listed && single.ErrorCode != errFlagNotFound:
		t.Fatalf("flag %q is not in the bulk answer, yet one flag answered %+v:\n%s", key, single, desc(bulkPath, code, raw))
	case listed && (single.ErrorCode != item.ErrorCode || single.Variant != item.Variant || !bytes.Equal(single.Value, item.Value)):
		t.Fatalf("flag %q: one flag answered %+v, every flag %+v:\n%s", key, single, item, desc(bulkPath, code, raw))
	case listed && !w.sticky[key] && (single.Reason != item.Reason || !reflect.DeepEqual(single.Metadata, item.Metadata)):
		t.Fatalf("flag %q: one flag answered %+v, every flag %+v:\n%s", key, single, item, desc(bulkPath, code, raw))
	}
}

// slowBody is the context attrs in a body the fast path declines (its
// first member is not "context"), so that encoding/json reads it.
func slowBody(attrs map[string]any) (string, error) {
	raw, err := json.Marshal(attrs)
	if err != nil {
		return "", err
	}
	return `{"fast":false,"context":` + string(raw) + `}`, nil
}

func (w *ofrepFuzz) differential(t *testing.T, body string) {
	fast, ok := parseContextFast(body)
	ref, fail := parseContext([]byte(body))
	if ok {
		if fail != nil {
			t.Fatalf("%q: the fast path accepted what encoding/json refuses (%s)", body, fail.ErrorCode)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q: fast %#v, encoding/json %#v", body, fast, ref)
		}
	}
	answer := func(path, b string) (int, string, string) {
		code, raw, h := w.post(ofrepStagingKey, path, b)
		return code, string(raw), h.Get("ETag")
	}
	if fail != nil {
		code, raw, _ := answer(bulkPath, body)
		var a ofrepAnswer
		if code != fail.httpStatus() || json.Unmarshal([]byte(raw), &a) != nil || a.ErrorCode != fail.ErrorCode {
			t.Fatalf("%q: encoding/json refuses it with %s, the handler answers %d %s", body, fail.ErrorCode, code, raw)
		}
		return
	}
	slow, err := slowBody(ref)
	if err != nil {
		t.Fatalf("%q: the attributes %#v do not encode: %v", body, ref, err)
	}
	if _, ok := parseContextFast(slow); ok {
		t.Fatalf("the fast path takes %q", slow)
	}
	if again, fail := parseContext([]byte(slow)); fail != nil || !reflect.DeepEqual(again, ref) {
		t.Fatalf("%q: re-encoded as %q, encoding/json reads %#v (%v), not %#v", body, slow, again, fail, ref)
	}
	for _, path := range []string{bulkPath, singlePrefix + "rules", singlePrefix + "by-account"} {
		code, raw, etag := answer(path, body)
		wantCode, wantRaw, wantETag := answer(path, slow)
		if code != wantCode || raw != wantRaw || etag != wantETag {
			t.Fatalf("POST %s: %q (fast path: %v) answers %d %s %s;\nthe same attributes through encoding/json, %q, answer %d %s %s",
				path, body, ok, code, raw, etag, slow, wantCode, wantRaw, wantETag)
		}
	}
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// ---- the store, put back between inputs ----

// ofrepStore is a bbolt store whose file can be put back to a snapshot
// (the evaluator keeps the *ofrepStore; the embedded store is swapped
// under it; inputs run one at a time). Whether an input wrote is read from
// the file: the id of the last committed write transaction, in bbolt's
// meta pages, moves with any write.
type ofrepStore struct {
	*boltstore.Store
	tb       testing.TB
	dir      string
	snapshot []byte
}

func newOFREPStore(tb testing.TB) *ofrepStore {
	s := &ofrepStore{tb: tb, dir: tb.TempDir()}
	s.open()
	tb.Cleanup(func() { s.Close() })
	return s
}

func (s *ofrepStore) path() string { return filepath.Join(s.dir, "countersign.db") }

func (s *ofrepStore) open() {
	st, err := boltstore.Open(s.dir)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.Store = st
}

func (s *ofrepStore) snap() {
	if err := s.Close(); err != nil {
		s.tb.Fatal(err)
	}
	raw, err := os.ReadFile(s.path())
	if err != nil {
		s.tb.Fatal(err)
	}
	s.snapshot = raw
	s.open()
}

func (s *ofrepStore) reset() {
	if err := s.Close(); err != nil {
		s.tb.Fatal(err)
	}
	if err := os.WriteFile(s.path(), s.snapshot, 0o600); err != nil {
		s.tb.Fatal(err)
	}
	s.open()
}

// txid reads bbolt's two meta pages and returns the larger transaction
// id: a meta page is the 16-byte page header, then magic, version, page
// size, flags (4 bytes each), the root bucket (16), the freelist and
// high-water page ids (8 each) and the transaction id (8), in the
// machine's byte order.
func (s *ofrepStore) txid() uint64 {
	f, err := os.Open(s.path())
	if err != nil {
		s.tb.Fatal(err)
	}
	defer f.Close()
	var meta [2][80]byte
	if _, err := io.ReadFull(f, meta[0][:]); err != nil {
		s.tb.Fatal(err)
	}
	ne := binary.NativeEndian
	if _, err := f.ReadAt(meta[1][:], int64(ne.Uint32(meta[0][24:]))); err != nil {
		s.tb.Fatal(err)
	}
	const magic = 0xED0CDAED
	if ne.Uint32(meta[0][16:]) != magic || ne.Uint32(meta[1][16:]) != magic {
		s.tb.Fatal("not a bbolt file: no meta page")
	}
	return max(ne.Uint64(meta[0][64:]), ne.Uint64(meta[1][64:]))
}

// ofrepLog keeps what the handler logs at warning level and above during
// one input, to show with a failure.
type ofrepLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *ofrepLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *ofrepLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}
