package evaluate

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock"
	"github.com/countersign/countersign/internal/domain"
)

// segmentStore is fakeStore serving a ruleset built here, segments
// included (the stores fill Ruleset.Segments on their own; this holds the
// evaluator to what a ruleset with segments means).
type segmentStore struct {
	fakeStore
	mu sync.Mutex
	rs *domain.Ruleset
}

func (s *segmentStore) RulesetVersion(context.Context, string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rs.Version, nil
}

func (s *segmentStore) Ruleset(context.Context, string, string) (*domain.Ruleset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rs, nil
}

func (s *segmentStore) set(rs *domain.Ruleset) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rs = rs
}

const segmentTestKey = "cs_sdk_route_test_key_0123456789" // fakeStore's key: p/production

// segmentRuleset: beta includes ada, excludes bob, and takes Germans;
// staff includes eve (staff's name and description are management fields).
// Flags: in-beta (in beta → on), outside (not in beta or staff → on),
// ghost (in a segment that does not exist → on), plain (no segments).
func segmentRuleset(version int64) *domain.Ruleset {
	rs := &domain.Ruleset{Version: version, Segments: []domain.Segment{
		{Project: "p", Key: "staff", Name: "Staff", Description: "secret staff list", Included: []string{"eve"}, Version: 3},
		{Project: "p", Key: "beta", Name: "Beta", Included: []string{"ada"}, Excluded: []string{"bob"}, Version: 2, Rules: []domain.SegmentRule{
			{Conditions: []domain.Condition{{Attribute: "country", Operator: domain.OpIs, Values: []string{"DE"}}}},
		}},
	}}
	for key, cond := range map[string]domain.Condition{
		"in-beta": {Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"beta"}},
		"outside": {Attribute: "targetingKey", Operator: domain.OpNotInSegment, Values: []string{"beta", "staff"}},
		"ghost":   {Attribute: "targetingKey", Operator: domain.OpInSegment, Values: []string{"nope"}},
		"plain":   {Attribute: "country", Operator: domain.OpIs, Values: []string{"FR"}},
	} {
		rs.Flags = append(rs.Flags, domain.Flag{Project: "p", Key: key, Name: key, BucketingUnit: "user_id", BucketingSalt: "salt1234", EvaluationMode: "remote",
			Variants: []domain.Variant{{Key: "on", Value: json.RawMessage(`"ON"`)}, {Key: "no", Value: json.RawMessage(`"NO"`)}}, Version: 1})
		rs.Configs = append(rs.Configs, domain.FlagConfig{Project: "p", Flag: key, Environment: "production", Enabled: true, OffVariant: "no", Version: 1,
			Rules:       []domain.Rule{{Conditions: []domain.Condition{cond}, Allocation: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "on", Weight: 1}}}}},
			DefaultRule: domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: "no", Weight: 1}}}})
	}
	return rs
}

type segmentWorld struct {
	t     *testing.T
	store *segmentStore
	clock *clock.Manual
	h     *Handler
}

func newSegmentWorld(t *testing.T) *segmentWorld {
	w := &segmentWorld{t: t, store: &segmentStore{rs: segmentRuleset(1)}, clock: clock.NewFixed(time.Unix(0, 0))}
	w.h = NewHandler(New(w.store, w.clock, time.Second), slog.New(slog.NewTextHandler(io.Discard, nil)))
	return w
}

func (w *segmentWorld) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	w.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("X-API-Key", segmentTestKey)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	return rec
}

// OFREP answers follow segment membership, one flag or all of them.
func TestOFREPWithSegments(t *testing.T) {
	w := newSegmentWorld(t)
	for _, c := range []struct {
		context string
		want    map[string]string // flag → variant
	}{
		{`{"targetingKey":"ada"}`, map[string]string{"in-beta": "on", "outside": "no", "ghost": "no", "plain": "no"}},
		{`{"targetingKey":"bob","country":"DE"}`, map[string]string{"in-beta": "no", "outside": "on", "ghost": "no", "plain": "no"}},
		{`{"targetingKey":"carl","country":"DE"}`, map[string]string{"in-beta": "on", "outside": "no"}},
		{`{"targetingKey":"carl","country":"FR"}`, map[string]string{"in-beta": "no", "outside": "on", "plain": "on"}},
		{`{"targetingKey":"eve"}`, map[string]string{"in-beta": "no", "outside": "no"}},
	} {
		body := `{"context":` + c.context + `}`
		for flag, want := range c.want {
			rec := w.do("POST", "/ofrep/v1/evaluate/flags/"+flag, body)
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 || out["variant"] != want {
				t.Errorf("%s for %s: %d %s, want %s", flag, c.context, rec.Code, rec.Body, want)
			}
			wantReason := "DEFAULT"
			if want == "on" {
				wantReason = "TARGETING_MATCH"
			}
			if out["reason"] != wantReason {
				t.Errorf("%s for %s: reason %v, want %s", flag, c.context, out["reason"], wantReason)
			}
		}
		rec := w.do("POST", "/ofrep/v1/evaluate/flags", body)
		var bulk struct {
			Flags []struct{ Key, Variant string } `json:"flags"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &bulk); err != nil || rec.Code != 200 || len(bulk.Flags) != 4 {
			t.Fatalf("bulk for %s: %d %s", c.context, rec.Code, rec.Body)
		}
		for _, f := range bulk.Flags {
			if want, ok := c.want[f.Key]; ok && f.Variant != want {
				t.Errorf("bulk %s for %s: %s, want %s", f.Key, c.context, f.Variant, want)
			}
		}
	}
}

// The ruleset route serves the segments, sorted by key, with their keys
// and rules and without their management fields; its ETag follows their
// versions.
func TestRulesetRouteServesSegments(t *testing.T) {
	w := newSegmentWorld(t)
	get := func() (*httptest.ResponseRecorder, []map[string]any) {
		rec := w.do("GET", "/v1/projects/p/environments/production/ruleset", "")
		var body struct {
			Segments []map[string]any `json:"segments"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
			t.Fatalf("ruleset: %d %s", rec.Code, rec.Body)
		}
		return rec, body.Segments
	}
	rec, segs := get()
	want := []map[string]any{
		{"key": "beta", "version": 2.0, "included": []any{"ada"}, "excluded": []any{"bob"},
			"rules": []any{map[string]any{"conditions": []any{map[string]any{"attribute": "country", "operator": "is", "values": []any{"DE"}}}}}},
		{"key": "staff", "version": 3.0, "included": []any{"eve"}, "excluded": []any{}, "rules": []any{}},
	}
	if !reflect.DeepEqual(segs, want) {
		t.Fatalf("segments served:\n%v\nwant\n%v", segs, want)
	}
	for _, text := range []string{"secret staff list", `"Staff"`} { // and the segments carry exactly the fields above
		if strings.Contains(rec.Body.String(), text) {
			t.Fatalf("the ruleset leaks %s: %s", text, rec.Body)
		}
	}
	etag := rec.Header().Get("ETag")
	if code := w.do("GET", "/v1/projects/p/environments/production/ruleset", "", "If-None-Match", etag).Code; code != 304 {
		t.Fatalf("unchanged: %d, want 304", code)
	}
	// a new version of a segment: a new ETag, the new keys served and used
	next := segmentRuleset(2)
	next.Segments[1].Version, next.Segments[1].Included = 5, []string{"ada", "zoe"}
	w.store.set(next)
	w.clock.Advance(time.Second)
	rec, segs = get()
	if rec.Header().Get("ETag") == etag || segs[0]["version"] != 5.0 {
		t.Fatalf("after the segment changed: ETag %s (was %s), %v", rec.Header().Get("ETag"), etag, segs[0])
	}
	if out := w.do("POST", "/ofrep/v1/evaluate/flags/in-beta", `{"context":{"targetingKey":"zoe"}}`).Body.String(); !strings.Contains(out, `"variant":"on"`) {
		t.Fatalf("zoe was just included: %s", out)
	}
	// no segments: an empty list, not null
	none := segmentRuleset(3)
	none.Segments = nil
	w.store.set(none)
	w.clock.Advance(time.Second)
	if rec := w.do("GET", "/v1/projects/p/environments/production/ruleset", ""); !strings.Contains(rec.Body.String(), `"segments":[]`) {
		t.Fatalf("without segments: %s", rec.Body)
	}
}

// A segment that does not compile breaks the flags naming it (GENERAL),
// not the others.
func TestBrokenSegmentBreaksOnlyItsFlags(t *testing.T) {
	w := newSegmentWorld(t)
	rs := segmentRuleset(2)
	rs.Segments[1].Excluded = []string{"ada"} // ada both included and excluded: does not validate
	w.store.set(rs)
	w.clock.Advance(time.Second)
	for flag, code := range map[string]int{"in-beta": 400, "outside": 400, "ghost": 200, "plain": 200} {
		rec := w.do("POST", "/ofrep/v1/evaluate/flags/"+flag, `{"context":{"targetingKey":"ada"}}`)
		if rec.Code != code || (code == 400) != strings.Contains(rec.Body.String(), `"errorCode":"GENERAL"`) {
			t.Errorf("%s: %d %s, want %d", flag, rec.Code, rec.Body, code)
		}
	}
	rs2, err := w.h.ev.Ruleset(context.Background(), "p", "production")
	if err != nil {
		t.Fatal(err)
	}
	if err := rs2.Broken["in-beta"]; err == nil || !strings.Contains(err.Error(), "segment beta") {
		t.Fatalf("why in-beta is broken: %v", err)
	}
	if rs2.Segments.Broken()["beta"] == nil {
		t.Fatal("the compiled ruleset should report beta broken")
	}
}
