// Package eventbus publishes Countersign domain events (change request
// lifecycle, flag changes, settings changes) to Amazon EventBridge, and offers
// an in-memory, logging stand-in for local runs.
//
// Each Event becomes one EventBridge entry:
//
//	Source:     the publisher's source ("countersign" by default)
//	DetailType: a readable form of Event.Type ("change_request.approved" →
//	            "Change Request Approved")
//	Detail:     a JSON object with id, type, time, project, flag, environment,
//	            change_request, actor, summary, plus the Event.Detail extras
//	Resources:  empty
//
// The machine-readable type stays in Detail as "type", so EventBridge rules
// can match either {"detail-type": ["Change Request Approved"]} or
// {"detail": {"type": ["change_request.approved"]}}.
package eventbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"
)

// Event types published by Countersign. Publishers accept any non-empty type;
// these constants name the ones the service emits.
const (
	TypeChangeRequestCreated       = "change_request.created"
	TypeChangeRequestEdited        = "change_request.edited"
	TypeChangeRequestReviewed      = "change_request.reviewed"
	TypeChangeRequestApproved      = "change_request.approved"
	TypeChangeRequestRejected      = "change_request.rejected"
	TypeChangeRequestAutoApproved  = "change_request.auto_approved"
	TypeChangeRequestApplied       = "change_request.applied"
	TypeChangeRequestApplyConflict = "change_request.apply_conflict"
	TypeChangeRequestWithdrawn     = "change_request.withdrawn"
	TypeChangeRequestExpired       = "change_request.expired"
	TypeFlagChanged                = "flag.changed"
	TypeSettingsChanged            = "settings.changed"
)

// DefaultSource is the EventBridge Source used when New is given "".
const DefaultSource = "countersign"

// EventBridge PutEvents limits.
const (
	// MaxBatchEntries is the most entries one PutEvents request may carry.
	MaxBatchEntries = 10
	// MaxBatchBytes is the most bytes (as EventBridge counts entry size) one
	// PutEvents request may carry; it is also the limit for a single entry.
	MaxBatchBytes = 256 * 1024
	// maxDetailType is the longest DetailType EventBridge accepts.
	maxDetailType = 128
)

// Error codes this package reports in a FailedEvent without EventBridge
// having returned one.
const (
	// CodeEntryTooLarge: the entry alone exceeds MaxBatchBytes; it was not sent.
	CodeEntryTooLarge = "EntryTooLarge"
	// CodeRequestFailed: the PutEvents call carrying the event failed as a
	// whole (see PartialFailure.Err) and the error had no API error code.
	CodeRequestFailed = "RequestFailed"
	// CodeNotAttempted: an earlier request failed as a whole (or the context
	// ended), so the event was never sent.
	CodeNotAttempted = "NotAttempted"
	// CodeMissingResult: EventBridge reported a failure count that its
	// per-entry results did not account for.
	CodeMissingResult = "MissingResult"
)

// Event is one Countersign domain event. The JSON tags match the keys used
// in the EventBridge Detail, so the same shape can be served by local tools.
type Event struct {
	// ID identifies the event; Publish fills a random one when empty (the
	// filled ID is what a PartialFailure reports).
	ID string `json:"id"`
	// Type is the machine type, e.g. "change_request.approved". Required.
	Type string `json:"type"`
	// Time is when it happened; Publish uses the current time when zero.
	Time          time.Time `json:"time"`
	Project       string    `json:"project,omitempty"`
	Flag          string    `json:"flag,omitempty"`
	Environment   string    `json:"environment,omitempty"`
	ChangeRequest string    `json:"change_request,omitempty"`
	Actor         string    `json:"actor,omitempty"`
	// Summary is the human-readable diff summary.
	Summary []string `json:"summary,omitempty"`
	// Detail holds extra fields merged into the EventBridge Detail object.
	// Keys that collide with the fields above are ignored.
	Detail map[string]any `json:"detail,omitempty"`
}

// EventPublisher sends events somewhere. *Publisher (EventBridge) and
// *LogPublisher (local runs) implement it.
type EventPublisher interface {
	Publish(ctx context.Context, events ...Event) error
}

var (
	_ interface {
		Publish(context.Context, ...Event) error
	} = (*Publisher)(nil)
	_ interface {
		Publish(context.Context, ...Event) error
	} = (*LogPublisher)(nil)
)

// putEventsAPI is the part of *eventbridge.Client the Publisher uses.
type putEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Publisher publishes events to an EventBridge bus. It is safe for
// concurrent use once configured.
type Publisher struct {
	client      putEventsAPI
	bus         string
	source      string
	maxAttempts int
	baseDelay   time.Duration
	maxDelay    time.Duration
}

// New returns a Publisher that puts events on bus (a name or ARN; "" means
// the account's default bus) with the given source ("" means
// DefaultSource). Entries that fail with a retryable code are retried up to
// 3 attempts in all, with exponential backoff starting at 100ms.
func New(client *eventbridge.Client, bus, source string) *Publisher {
	if source == "" {
		source = DefaultSource
	}
	return &Publisher{
		client:      client,
		bus:         bus,
		source:      source,
		maxAttempts: 3,
		baseDelay:   100 * time.Millisecond,
		maxDelay:    2 * time.Second,
	}
}

// WithRetry sets how many attempts (in all, at least 1) a failed entry gets
// and the base backoff delay, doubled after each attempt. It returns p and
// must be called before p is used.
func (p *Publisher) WithRetry(maxAttempts int, baseDelay time.Duration) *Publisher {
	p.maxAttempts = max(maxAttempts, 1)
	p.baseDelay = max(baseDelay, 0)
	p.maxDelay = max(p.maxDelay, p.baseDelay)
	return p
}

// Bus returns the configured event bus ("" for the default bus).
func (p *Publisher) Bus() string { return p.bus }

// Source returns the EventBridge Source used for every entry.
func (p *Publisher) Source() string { return p.source }

// FailedEvent describes one event that was not published.
type FailedEvent struct {
	// Index is the event's position in the Publish call's arguments.
	Index        int
	ID           string
	Type         string
	ErrorCode    string
	ErrorMessage string
}

// PartialFailure is returned by Publish when some (possibly all) events were
// not published. Events not listed in Failed were accepted by EventBridge.
type PartialFailure struct {
	// Published is how many events EventBridge accepted.
	Published int
	// Failed lists the events that were not published, in argument order.
	Failed []FailedEvent
	// Err is the request-level error that stopped publishing (a PutEvents
	// call that failed as a whole, or the context ending), if any.
	Err error
}

func (e *PartialFailure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "eventbus: %d of %d events not published", len(e.Failed), len(e.Failed)+e.Published)
	const show = 10
	for i, f := range e.Failed {
		if i == show {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-show)
			break
		}
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s (%s) %s", sep, f.ID, f.Type, f.ErrorCode)
		if f.ErrorMessage != "" {
			fmt.Fprintf(&b, " %q", f.ErrorMessage)
		}
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the request-level error, if any.
func (e *PartialFailure) Unwrap() error { return e.Err }

// IDs returns the IDs of the events that were not published.
func (e *PartialFailure) IDs() []string {
	ids := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		ids[i] = f.ID
	}
	return ids
}

// Retryable reports whether every failure looks transient, so publishing the
// failed events again later may succeed.
func (e *PartialFailure) Retryable() bool {
	if e.Err != nil {
		return Retryable(e.Err)
	}
	if len(e.Failed) == 0 {
		return false
	}
	for _, f := range e.Failed {
		if !retryableCode(f.ErrorCode) {
			return false
		}
	}
	return true
}

// Retryable reports whether err, returned by Publish, is worth retrying
// later: throttling, internal service errors and transport errors are; bad
// input, missing permissions, a missing bus and an ended context are not.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pf *PartialFailure
	if errors.As(err, &pf) {
		return pf.Retryable()
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && retryableCode(apiErr.ErrorCode()) {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// retryableCode reports whether a PutEvents entry or API error code is
// transient.
func retryableCode(code string) bool {
	switch code {
	case "InternalFailure", "InternalException", "ThrottlingException",
		"Throttling", "ServiceUnavailable", "ServiceUnavailableException",
		"RequestTimeout", "RequestTimeoutException":
		return true
	}
	return false
}

// entry is one event prepared for PutEvents.
type entry struct {
	index int
	event Event
	req   types.PutEventsRequestEntry
	size  int
}

// Publish puts events on the bus in PutEvents batches of at most
// MaxBatchEntries entries and MaxBatchBytes bytes. Entries EventBridge
// rejects with a retryable code (InternalFailure, ThrottlingException) are
// resent alone, with backoff, up to the configured attempts. If any event
// ends up unpublished the error is a *PartialFailure naming them; an invalid
// event (empty Type, unencodable Detail) fails the whole call before
// anything is sent.
func (p *Publisher) Publish(ctx context.Context, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	entries := make([]entry, len(events))
	for i, ev := range events {
		ev, err := normalize(ev)
		if err != nil {
			return fmt.Errorf("eventbus: event %d: %w", i, err)
		}
		req, err := p.requestEntry(ev)
		if err != nil {
			return fmt.Errorf("eventbus: event %d (%s): %w", i, ev.ID, err)
		}
		entries[i] = entry{index: i, event: ev, req: req, size: entrySize(req)}
	}

	pf := &PartialFailure{}
	var batch []entry
	batchBytes := 0
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		ok := p.sendBatch(ctx, batch, pf)
		batch, batchBytes = batch[:0], 0
		return ok
	}
	for i, e := range entries {
		if e.size > MaxBatchBytes {
			pf.Failed = append(pf.Failed, failed(e, CodeEntryTooLarge,
				fmt.Sprintf("entry is %d bytes, limit %d", e.size, MaxBatchBytes)))
			continue
		}
		if len(batch) == MaxBatchEntries || batchBytes+e.size > MaxBatchBytes {
			if !flush() {
				for _, rest := range entries[i:] {
					pf.Failed = append(pf.Failed, failed(rest, CodeNotAttempted, ""))
				}
				return pf.finish()
			}
		}
		batch = append(batch, e)
		batchBytes += e.size
	}
	flush()
	return pf.finish()
}

// finish sorts the failures into argument order and returns pf as an error
// when anything failed.
func (pf *PartialFailure) finish() error {
	if len(pf.Failed) == 0 && pf.Err == nil {
		return nil
	}
	sortFailed(pf.Failed)
	return pf
}

func sortFailed(f []FailedEvent) {
	// Insertion sort: failures are few and nearly sorted already.
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].Index < f[j-1].Index; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}

func failed(e entry, code, msg string) FailedEvent {
	return FailedEvent{Index: e.index, ID: e.event.ID, Type: e.event.Type, ErrorCode: code, ErrorMessage: msg}
}

// sendBatch puts one batch, retrying entries that fail with a retryable
// code. It records outcomes in pf and reports whether publishing may go on
// (false after a request-level error or the context ending).
func (p *Publisher) sendBatch(ctx context.Context, batch []entry, pf *PartialFailure) bool {
	pending := append([]entry(nil), batch...)
	for attempt := 1; ; attempt++ {
		reqs := make([]types.PutEventsRequestEntry, len(pending))
		for i, e := range pending {
			reqs[i] = e.req
		}
		out, err := p.client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: reqs})
		if err != nil {
			code, msg := CodeRequestFailed, ""
			var apiErr smithy.APIError
			if errors.As(err, &apiErr) {
				code, msg = apiErr.ErrorCode(), apiErr.ErrorMessage()
			}
			for _, e := range pending {
				pf.Failed = append(pf.Failed, failed(e, code, msg))
			}
			pf.Err = fmt.Errorf("PutEvents: %w", err)
			return false
		}

		var retry []entry
		var retryFailures []FailedEvent
		for i, e := range pending {
			var code, msg string
			switch {
			case i < len(out.Entries):
				code = aws.ToString(out.Entries[i].ErrorCode)
				msg = aws.ToString(out.Entries[i].ErrorMessage)
			case out.FailedEntryCount > 0:
				// EventBridge reported failures but no result for this
				// entry; treat it as failed rather than silently lost.
				code = CodeMissingResult
			}
			if code == "" {
				pf.Published++
				continue
			}
			f := failed(e, code, msg)
			if retryableCode(code) || code == CodeMissingResult {
				retry = append(retry, e)
				retryFailures = append(retryFailures, f)
			} else {
				pf.Failed = append(pf.Failed, f)
			}
		}
		if len(retry) == 0 {
			return true
		}
		if attempt >= p.maxAttempts {
			pf.Failed = append(pf.Failed, retryFailures...)
			return true
		}
		if err := sleep(ctx, p.backoff(attempt)); err != nil {
			pf.Failed = append(pf.Failed, retryFailures...)
			pf.Err = err
			return false
		}
		pending = retry
	}
}

// backoff returns the delay before retry number attempt (1-based): the base
// delay doubled per attempt, capped, with "equal jitter".
func (p *Publisher) backoff(attempt int) time.Duration {
	d := p.baseDelay
	for i := 1; i < attempt && d < p.maxDelay; i++ {
		d *= 2
	}
	d = min(d, p.maxDelay)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + mrand.N(d-half+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// normalize validates ev and fills its ID and Time when missing.
func normalize(ev Event) (Event, error) {
	if strings.TrimSpace(ev.Type) == "" {
		return ev, errors.New("event type is required")
	}
	if ev.ID == "" {
		ev.ID = newID()
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	return ev, nil
}

// newID returns a random 128-bit hex identifier.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// reservedKeys are the Detail keys Countersign owns; Event.Detail extras
// cannot override them.
var reservedKeys = map[string]bool{
	"id": true, "type": true, "time": true, "project": true, "flag": true,
	"environment": true, "change_request": true, "actor": true, "summary": true,
}

// DetailJSON returns the EventBridge Detail object for ev: id, type, time
// (RFC 3339, UTC), the non-empty project, flag, environment,
// change_request, actor and summary, then ev.Detail's other keys.
func DetailJSON(ev Event) ([]byte, error) {
	d := make(map[string]any, len(ev.Detail)+len(reservedKeys))
	for k, v := range ev.Detail {
		if !reservedKeys[k] {
			d[k] = v
		}
	}
	d["id"] = ev.ID
	d["type"] = ev.Type
	d["time"] = ev.Time.UTC().Format(time.RFC3339Nano)
	for k, v := range map[string]string{
		"project": ev.Project, "flag": ev.Flag, "environment": ev.Environment,
		"change_request": ev.ChangeRequest, "actor": ev.Actor,
	} {
		if v != "" {
			d[k] = v
		}
	}
	if len(ev.Summary) > 0 {
		d["summary"] = ev.Summary
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode detail: %w", err)
	}
	return b, nil
}

func (p *Publisher) requestEntry(ev Event) (types.PutEventsRequestEntry, error) {
	detail, err := DetailJSON(ev)
	if err != nil {
		return types.PutEventsRequestEntry{}, err
	}
	req := types.PutEventsRequestEntry{
		Source:     aws.String(p.source),
		DetailType: aws.String(DetailType(ev.Type)),
		Detail:     aws.String(string(detail)),
		Time:       aws.Time(ev.Time),
		Resources:  []string{},
	}
	if p.bus != "" {
		req.EventBusName = aws.String(p.bus)
	}
	return req, nil
}

// entrySize is an entry's size as EventBridge counts it (14 bytes for Time,
// plus the UTF-8 lengths of Source, DetailType, Detail and Resources), plus
// the bus name to stay on the safe side.
func entrySize(r types.PutEventsRequestEntry) int {
	n := len(aws.ToString(r.Source)) + len(aws.ToString(r.DetailType)) +
		len(aws.ToString(r.Detail)) + len(aws.ToString(r.EventBusName))
	if r.Time != nil {
		n += 14
	}
	for _, res := range r.Resources {
		n += len(res)
	}
	return n
}

// DetailType returns the readable EventBridge DetailType for an event type:
// words split on '.', '_', '-' and spaces, each capitalised
// ("change_request.auto_approved" → "Change Request Auto Approved"),
// truncated to EventBridge's 128-character limit.
func DetailType(eventType string) string {
	words := strings.FieldsFunc(eventType, func(r rune) bool {
		return r == '.' || r == '_' || r == '-' || unicode.IsSpace(r)
	})
	for i, w := range words {
		r, n := utf8.DecodeRuneInString(w)
		words[i] = string(unicode.ToUpper(r)) + w[n:]
	}
	s := strings.Join(words, " ")
	if s == "" {
		s = eventType
	}
	if utf8.RuneCountInString(s) > maxDetailType {
		s = string([]rune(s)[:maxDetailType])
	}
	return s
}
