package eventbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/smithy-go"

	"github.com/countersign/countersign/internal/notify/eventbus"
	"github.com/countersign/countersign/internal/setup/localaws"
)

// wireEntry is a PutEvents request entry as it appears on the wire.
type wireEntry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Time         *float64 // awsJson1_1 timestamps are epoch seconds
	Resources    []string
	id           string // Detail's "id", set by the fake
}

// fakeBus is an httptest server speaking the EventBridge PutEvents wire
// protocol (awsJson1_1) that records what the SDK sent.
type fakeBus struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	calls      [][]wireEntry
	auth       []string
	attempts   map[string]int    // event id -> times sent
	accepted   map[string]int    // event id -> times accepted
	failFirst  map[string]string // event id -> error code on its first attempt
	failAlways map[string]string // event id -> error code on every attempt
	reqError   string            // when set, every request fails with this __type
}

func newFakeBus(t *testing.T) *fakeBus {
	t.Helper()
	f := &fakeBus{
		t:          t,
		attempts:   map[string]int{},
		accepted:   map[string]int{},
		failFirst:  map[string]string{},
		failAlways: map[string]string{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBus) serve(w http.ResponseWriter, r *http.Request) {
	t := f.t
	if r.Method != http.MethodPost {
		t.Errorf("method = %s, want POST", r.Method)
	}
	if got := r.Header.Get("X-Amz-Target"); got != "AWSEvents.PutEvents" {
		t.Errorf("X-Amz-Target = %q, want AWSEvents.PutEvents", got)
		http.Error(w, "bad target", http.StatusBadRequest)
		return
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type = %q, want application/x-amz-json-1.1", got)
	}
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") || !strings.Contains(auth, "Signature=") {
		t.Errorf("Authorization = %q, want a SigV4 signature", auth)
		http.Error(w, "unsigned", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
		return
	}
	var in struct{ Entries []wireEntry }
	if err := json.Unmarshal(body, &in); err != nil {
		t.Errorf("decode body %s: %v", body, err)
		return
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		t.Errorf("request has %d entries, want 1..10", len(in.Entries))
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, auth)
	for i := range in.Entries {
		e := &in.Entries[i]
		var d struct{ ID string }
		if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
			t.Errorf("entry %d Detail %q is not JSON: %v", i, e.Detail, err)
		}
		e.id = d.ID
	}
	f.calls = append(f.calls, in.Entries)

	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if f.reqError != "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"__type":%q,"message":"request failed on purpose"}`, f.reqError)
		return
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{Entries: []result{}}
	for _, e := range in.Entries {
		f.attempts[e.id]++
		code := f.failAlways[e.id]
		if c, ok := f.failFirst[e.id]; ok && f.attempts[e.id] == 1 {
			code = c
		}
		if code != "" {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: code, ErrorMessage: "failed on purpose: " + code})
			continue
		}
		f.accepted[e.id]++
		out.Entries = append(out.Entries, result{EventId: "eb-" + e.id})
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (f *fakeBus) snapshot() [][]wireEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]wireEntry(nil), f.calls...)
}

func (f *fakeBus) authHeader(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.auth[i]
}

func (f *fakeBus) callSizes() []int {
	var n []int
	for _, c := range f.snapshot() {
		n = append(n, len(c))
	}
	return n
}

// isolateAWSEnv keeps the developer's AWS configuration out of the test.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EVENTBRIDGE", "AWS_WEB_IDENTITY_TOKEN_FILE",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func newClient(t *testing.T, f *fakeBus) *eventbridge.Client {
	t.Helper()
	isolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	c, err := localaws.EventBridge(context.Background(), f.srv.URL, "eu-west-1")
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func events(n int) []eventbus.Event {
	base := time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.UTC) // calendar-free: events encoded by a fake bus, no clock compares them
	evs := make([]eventbus.Event, n)
	for i := range evs {
		evs[i] = eventbus.Event{
			ID:            fmt.Sprintf("e%02d", i),
			Type:          eventbus.TypeFlagChanged,
			Time:          base.Add(time.Duration(i) * time.Second),
			Project:       "shop",
			Flag:          fmt.Sprintf("flag-%d", i),
			Environment:   "production",
			Actor:         "alice",
			Summary:       []string{"enabled: false → true"},
			ChangeRequest: "",
		}
	}
	return evs
}

func ids(entries []wireEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.id)
	}
	return out
}

func TestPublishPayload(t *testing.T) {
	f := newFakeBus(t)
	p := eventbus.New(newClient(t, f), "countersign-events", "")
	at := time.Date(2026, 3, 14, 15, 9, 26, 535_000_000, time.FixedZone("CET", 3600)) // calendar-free: the encoding of a time
	ev := eventbus.Event{
		ID:            "evt-1",
		Type:          eventbus.TypeChangeRequestApproved,
		Time:          at,
		Project:       "shop",
		Flag:          "new-checkout",
		Environment:   "production",
		ChangeRequest: "cr-42",
		Actor:         "bob@example.com",
		Summary:       []string{"rollout: 10% → 50%", "rules: +1"},
		Detail:        map[string]any{"approvals": 2, "required": 2, "type": "must not override"},
	}
	if err := p.Publish(context.Background(), ev); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	calls := f.snapshot()
	if len(calls) != 1 || len(calls[0]) != 1 {
		t.Fatalf("calls = %v, want one call with one entry", f.callSizes())
	}
	e := calls[0][0]
	if e.Source != "countersign" {
		t.Errorf("Source = %q, want countersign", e.Source)
	}
	if e.DetailType != "Change Request Approved" {
		t.Errorf("DetailType = %q", e.DetailType)
	}
	if e.EventBusName != "countersign-events" {
		t.Errorf("EventBusName = %q", e.EventBusName)
	}
	if len(e.Resources) != 0 {
		t.Errorf("Resources = %v, want empty", e.Resources)
	}
	if e.Time == nil {
		t.Errorf("Time missing")
	} else if got := *e.Time; math.Abs(got-float64(at.UnixMilli())/1000) > 0.0015 {
		t.Errorf("Time = %v, want %v", got, float64(at.UnixMilli())/1000)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
		t.Fatalf("Detail: %v", err)
	}
	want := map[string]any{
		"id":             "evt-1",
		"type":           "change_request.approved",
		"time":           "2026-03-14T14:09:26.535Z", // calendar-free: the encoding of the time above
		"project":        "shop",
		"flag":           "new-checkout",
		"environment":    "production",
		"change_request": "cr-42",
		"actor":          "bob@example.com",
		"summary":        []any{"rollout: 10% → 50%", "rules: +1"},
		"approvals":      float64(2),
		"required":       float64(2),
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Detail =\n%v\nwant\n%v", d, want)
	}
	if a := f.authHeader(0); !strings.Contains(a, "Credential=AKIDTEST/") || !strings.Contains(a, "/eu-west-1/events/aws4_request") {
		t.Errorf("Authorization = %q, want configured key, region and service", a)
	}
}

func TestPublishCustomSourceDefaultBusAndFilledFields(t *testing.T) {
	f := newFakeBus(t)
	p := eventbus.New(newClient(t, f), "", "acme.countersign")
	before := time.Now() // wall clock: Publish fills a missing time from it
	if err := p.Publish(context.Background(), eventbus.Event{Type: eventbus.TypeSettingsChanged, Actor: "root"}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	e := f.snapshot()[0][0]
	if e.Source != "acme.countersign" || e.DetailType != "Settings Changed" || e.EventBusName != "" {
		t.Errorf("entry = %+v", e)
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(e.Detail), &d); err != nil {
		t.Fatal(err)
	}
	if id, _ := d["id"].(string); len(id) != 32 {
		t.Errorf("generated id = %v", d["id"])
	}
	ts, err := time.Parse(time.RFC3339Nano, d["time"].(string))
	if err != nil || ts.Before(before.Add(-time.Second)) {
		t.Errorf("filled time = %v (%v)", d["time"], err)
	}
	for _, k := range []string{"flag", "project", "summary", "change_request"} {
		if _, ok := d[k]; ok {
			t.Errorf("empty %s present in Detail: %v", k, d)
		}
	}
}

func TestDetailType(t *testing.T) {
	for in, want := range map[string]string{
		eventbus.TypeChangeRequestCreated:       "Change Request Created",
		eventbus.TypeChangeRequestEdited:        "Change Request Edited",
		eventbus.TypeChangeRequestReviewed:      "Change Request Reviewed",
		eventbus.TypeChangeRequestApproved:      "Change Request Approved",
		eventbus.TypeChangeRequestRejected:      "Change Request Rejected",
		eventbus.TypeChangeRequestAutoApproved:  "Change Request Auto Approved",
		eventbus.TypeChangeRequestApplied:       "Change Request Applied",
		eventbus.TypeChangeRequestApplyConflict: "Change Request Apply Conflict",
		eventbus.TypeChangeRequestWithdrawn:     "Change Request Withdrawn",
		eventbus.TypeChangeRequestExpired:       "Change Request Expired",
		eventbus.TypeFlagChanged:                "Flag Changed",
		eventbus.TypeSettingsChanged:            "Settings Changed",
	} {
		if got := eventbus.DetailType(in); got != want {
			t.Errorf("DetailType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPublishBatchesOfTen(t *testing.T) {
	f := newFakeBus(t)
	p := eventbus.New(newClient(t, f), "bus", "")
	evs := events(23)
	if err := p.Publish(context.Background(), evs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := f.callSizes(); !reflect.DeepEqual(got, []int{10, 10, 3}) {
		t.Fatalf("call sizes = %v, want [10 10 3]", got)
	}
	var sent []string
	for _, c := range f.snapshot() {
		sent = append(sent, ids(c)...)
	}
	var want []string
	for _, e := range evs {
		want = append(want, e.ID)
	}
	if !reflect.DeepEqual(sent, want) {
		t.Errorf("sent ids = %v, want %v", sent, want)
	}
}

func TestPublishBatchesBySize(t *testing.T) {
	f := newFakeBus(t)
	p := eventbus.New(newClient(t, f), "bus", "")
	evs := events(6)
	for i := range evs {
		evs[i].Detail = map[string]any{"blob": strings.Repeat("x", 100*1024)}
	}
	evs[4].Detail = map[string]any{"blob": strings.Repeat("y", 300*1024)} // alone over the limit
	err := p.Publish(context.Background(), evs...)
	var pf *eventbus.PartialFailure
	if !errors.As(err, &pf) {
		t.Fatalf("err = %v, want *PartialFailure", err)
	}
	if len(pf.Failed) != 1 || pf.Failed[0].ID != "e04" || pf.Failed[0].ErrorCode != eventbus.CodeEntryTooLarge || pf.Published != 5 {
		t.Errorf("PartialFailure = %+v", pf)
	}
	if got := f.callSizes(); !reflect.DeepEqual(got, []int{2, 2, 1}) {
		t.Errorf("call sizes = %v, want [2 2 1]", got)
	}
	for _, c := range f.snapshot() {
		n := 0
		for _, e := range c {
			n += len(e.Source) + len(e.DetailType) + len(e.Detail) + 14
		}
		if n > eventbus.MaxBatchBytes {
			t.Errorf("request of %d bytes exceeds %d", n, eventbus.MaxBatchBytes)
		}
	}
}

func TestPartialFailureRetriedThenSucceeds(t *testing.T) {
	f := newFakeBus(t)
	f.failFirst["e03"] = "InternalFailure"
	f.failFirst["e11"] = "ThrottlingException"
	p := eventbus.New(newClient(t, f), "bus", "").WithRetry(3, time.Millisecond)
	if err := p.Publish(context.Background(), events(12)...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	calls := f.snapshot()
	if got := f.callSizes(); !reflect.DeepEqual(got, []int{10, 1, 2, 1}) {
		t.Fatalf("call sizes = %v, want [10 1 2 1]", got)
	}
	if got := ids(calls[1]); !reflect.DeepEqual(got, []string{"e03"}) {
		t.Errorf("first retry sent %v, want only e03", got)
	}
	if got := ids(calls[3]); !reflect.DeepEqual(got, []string{"e11"}) {
		t.Errorf("second retry sent %v, want only e11", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range 12 {
		id := fmt.Sprintf("e%02d", i)
		if f.accepted[id] != 1 {
			t.Errorf("%s accepted %d times, want 1", id, f.accepted[id])
		}
	}
}

func TestPermanentPartialFailure(t *testing.T) {
	f := newFakeBus(t)
	f.failAlways["e02"] = "InternalFailure"
	f.failAlways["e05"] = "AccessDeniedException"
	f.failAlways["e12"] = "ThrottlingException"
	p := eventbus.New(newClient(t, f), "bus", "").WithRetry(3, time.Millisecond)
	err := p.Publish(context.Background(), events(14)...)
	var pf *eventbus.PartialFailure
	if !errors.As(err, &pf) {
		t.Fatalf("err = %v, want *PartialFailure", err)
	}
	if got := pf.IDs(); !reflect.DeepEqual(got, []string{"e02", "e05", "e12"}) {
		t.Errorf("failed ids = %v", got)
	}
	codes := map[string]string{}
	for _, fe := range pf.Failed {
		codes[fe.ID] = fe.ErrorCode
		if fe.Type != eventbus.TypeFlagChanged || !strings.Contains(fe.ErrorMessage, "on purpose") {
			t.Errorf("failed event = %+v", fe)
		}
	}
	if !reflect.DeepEqual(codes, map[string]string{"e02": "InternalFailure", "e05": "AccessDeniedException", "e12": "ThrottlingException"}) {
		t.Errorf("codes = %v", codes)
	}
	if pf.Published != 11 || pf.Err != nil {
		t.Errorf("Published = %d, Err = %v", pf.Published, pf.Err)
	}
	for _, want := range []string{"3 of 14 events not published", "e02", "e05", "AccessDeniedException"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	f.mu.Lock()
	if f.attempts["e02"] != 3 || f.attempts["e12"] != 3 || f.attempts["e05"] != 1 || f.attempts["e00"] != 1 {
		t.Errorf("attempts = %v, want 3 for retryable failures, 1 otherwise", f.attempts)
	}
	f.mu.Unlock()
	if eventbus.Retryable(err) {
		t.Errorf("Retryable = true with a non-retryable AccessDeniedException failure")
	}

	// Only transient failures left: the caller may try again later.
	f2 := newFakeBus(t)
	f2.failAlways["e01"] = "ThrottlingException"
	err = eventbus.New(newClient(t, f2), "bus", "").WithRetry(2, time.Millisecond).Publish(context.Background(), events(3)...)
	if !errors.As(err, &pf) || !reflect.DeepEqual(pf.IDs(), []string{"e01"}) || !eventbus.Retryable(err) {
		t.Errorf("err = %v (Retryable %v), want retryable failure of e01", err, eventbus.Retryable(err))
	}
}

func TestRequestLevelFailure(t *testing.T) {
	f := newFakeBus(t)
	f.reqError = "ResourceNotFoundException"
	p := eventbus.New(newClient(t, f), "missing-bus", "")
	err := p.Publish(context.Background(), events(23)...)
	var pf *eventbus.PartialFailure
	if !errors.As(err, &pf) {
		t.Fatalf("err = %v, want *PartialFailure", err)
	}
	if len(f.snapshot()) != 1 {
		t.Errorf("calls = %v, want publishing to stop after the failed request", f.callSizes())
	}
	if len(pf.Failed) != 23 || pf.Published != 0 {
		t.Fatalf("Failed = %d, Published = %d", len(pf.Failed), pf.Published)
	}
	if pf.Failed[0].ErrorCode != "ResourceNotFoundException" || pf.Failed[9].ErrorCode != "ResourceNotFoundException" ||
		pf.Failed[10].ErrorCode != eventbus.CodeNotAttempted || pf.Failed[22].ID != "e22" {
		t.Errorf("Failed = %+v", pf.Failed)
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ResourceNotFoundException" {
		t.Errorf("err does not unwrap to the API error ResourceNotFoundException: %v", err)
	}
	if eventbus.Retryable(err) {
		t.Errorf("Retryable = true for a missing bus")
	}
}

func TestContextEndsDuringBackoff(t *testing.T) {
	f := newFakeBus(t)
	f.failAlways["e00"] = "InternalFailure"
	p := eventbus.New(newClient(t, f), "bus", "").WithRetry(5, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now() // wall clock: a duration
	err := p.Publish(ctx, events(2)...)
	if d := time.Since(start); d > 5*time.Second { // wall clock: a duration
		t.Errorf("Publish took %v, want it to stop when the context ends", d)
	}
	var pf *eventbus.PartialFailure
	if !errors.As(err, &pf) || !reflect.DeepEqual(pf.IDs(), []string{"e00"}) || pf.Published != 1 {
		t.Fatalf("err = %v, want e00 failed", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || eventbus.Retryable(err) {
		t.Errorf("err = %v, want DeadlineExceeded and not retryable", err)
	}
}

func TestInvalidEventSendsNothing(t *testing.T) {
	f := newFakeBus(t)
	p := eventbus.New(newClient(t, f), "bus", "")
	evs := events(3)
	evs[1].Type = ""
	if err := p.Publish(context.Background(), evs...); err == nil {
		t.Fatal("Publish accepted an event without a type")
	}
	if n := len(f.snapshot()); n != 0 {
		t.Errorf("%d calls made for an invalid batch", n)
	}
	if err := p.Publish(context.Background()); err != nil {
		t.Errorf("Publish() with no events: %v", err)
	}
}

func TestNewClientDummyCredentials(t *testing.T) {
	f := newFakeBus(t)
	isolateAWSEnv(t)
	c, err := localaws.EventBridge(context.Background(), f.srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := eventbus.New(c, "bus", "").Publish(context.Background(), events(1)...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if a := f.authHeader(0); !strings.Contains(a, "Credential=local/") || !strings.Contains(a, "/us-east-1/events/") {
		t.Errorf("Authorization = %q, want dummy credentials in us-east-1", a)
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), false},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{&smithy.GenericAPIError{Code: "InternalException"}, true},
		{&smithy.GenericAPIError{Code: "AccessDeniedException"}, false},
		{&eventbus.PartialFailure{Failed: []eventbus.FailedEvent{{ErrorCode: "InternalFailure"}}}, true},
		{&eventbus.PartialFailure{Failed: []eventbus.FailedEvent{{ErrorCode: "MalformedDetail"}}}, false},
		{errors.New("boom"), false},
	} {
		if got := eventbus.Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestLogPublisherKeepsLastN(t *testing.T) {
	var buf bytes.Buffer
	var bufMu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(lockedWriter{&bufMu, &buf}, nil))
	p := eventbus.NewLogPublisher(logger, 3)
	evs := events(5)
	evs[4].Type = eventbus.TypeChangeRequestApproved
	evs[4].ChangeRequest = "cr-7"
	if err := p.Publish(context.Background(), evs[:2]...); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(context.Background(), evs[2:]...); err != nil {
		t.Fatal(err)
	}
	got := p.Events()
	if len(got) != 3 || got[0].ID != "e02" || got[1].ID != "e03" || got[2].ID != "e04" {
		t.Fatalf("Events() = %v, want e02..e04 (newest last)", got)
	}
	got[0].Summary[0] = "mutated"
	if p.Events()[0].Summary[0] == "mutated" {
		t.Errorf("Events() shares summary storage with the publisher")
	}
	bufMu.Lock()
	logs := buf.String()
	bufMu.Unlock()
	if n := strings.Count(logs, "\n"); n != 5 {
		t.Errorf("logged %d lines, want 5:\n%s", n, logs)
	}
	for _, want := range []string{`"type":"change_request.approved"`, `"detail_type":"Change Request Approved"`, `"change_request":"cr-7"`, `"id":"e00"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if err := p.Publish(context.Background(), eventbus.Event{ID: "x"}); err == nil {
		t.Errorf("LogPublisher accepted an event without a type")
	}
}

func TestLogPublisherDefaultLimitAndConcurrency(t *testing.T) {
	p := eventbus.NewLogPublisher(slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	if p.Limit() != eventbus.DefaultLogLimit {
		t.Fatalf("Limit = %d", p.Limit())
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 100 {
				ev := eventbus.Event{ID: fmt.Sprintf("g%d-%03d", g, i), Type: eventbus.TypeFlagChanged}
				if err := p.Publish(context.Background(), ev); err != nil {
					t.Error(err)
				}
				_ = p.Events()
			}
		})
	}
	wg.Wait()
	if n := len(p.Events()); n != eventbus.DefaultLogLimit {
		t.Errorf("kept %d events, want %d", n, eventbus.DefaultLogLimit)
	}

	seq := eventbus.NewLogPublisher(slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	for i := range 600 {
		if err := seq.Publish(context.Background(), eventbus.Event{ID: fmt.Sprint(i), Type: eventbus.TypeFlagChanged}); err != nil {
			t.Fatal(err)
		}
	}
	got := seq.Events()
	if len(got) != 500 || got[0].ID != "100" || got[499].ID != "599" {
		t.Errorf("Events() = %d events, first %s last %s; want 500 from 100 to 599", len(got), got[0].ID, got[len(got)-1].ID)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
