package mailevents_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/mailevents"
)

type recorder struct {
	got []app.MailEvent
	err error
}

func (r *recorder) RecordMailEvent(_ context.Context, ev app.MailEvent) (*app.MailEventOutcome, error) {
	r.got = append(r.got, ev)
	return &app.MailEventOutcome{}, r.err
}

// eventTime is when the test's events are published.
var eventTime = clocktest.At(1, 3, 4, 5)

func sesEvent(detailType, detail string) events.EventBridgeEvent {
	return events.EventBridgeEvent{ID: "e1", Source: "aws.ses", DetailType: detailType, Time: eventTime, Detail: json.RawMessage(detail)}
}

// The parse of each kind: a bounce's type, subtype, recipients, first
// diagnostic, feedback id and time; a complaint's feedback type; anything
// else its destination.
func TestParse(t *testing.T) {
	bounced := eventTime.Add(-4500 * time.Millisecond)
	ev, err := mailevents.Parse(sesEvent("Email Bounced", `{"eventType":"Bounce","mail":{"messageId":"m1","destination":["a@x.example","b@x.example"]},
		"bounce":{"bounceType":"Transient","bounceSubType":"MailboxFull","feedbackId":"f1","timestamp":"`+bounced.Format(time.RFC3339Nano)+`",
		"bouncedRecipients":[{"emailAddress":"a@x.example"},{"emailAddress":"b@x.example","diagnosticCode":"smtp; 452 full"}]}}`))
	if err != nil || ev.Type != "Bounce" || ev.BounceType != "Transient" || ev.BounceSubType != "MailboxFull" || ev.FeedbackID != "f1" || ev.MessageID != "m1" ||
		len(ev.Recipients) != 2 || ev.Diagnostic != "smtp; 452 full" || !ev.At.Equal(bounced) {
		t.Fatalf("bounce: %+v %v", ev, err)
	}
	if _, ok := ev.Suppresses(); ok {
		t.Fatal("a transient bounce suppresses")
	}
	ev, err = mailevents.Parse(sesEvent("Email Complaint Received", `{"eventType":"Complaint","mail":{"messageId":"m2"},
		"complaint":{"complainedRecipients":[{"emailAddress":"c@x.example"}],"complaintFeedbackType":"abuse","feedbackId":"f2"}}`))
	if r, ok := ev.Suppresses(); err != nil || !ok || r != "complaint" || ev.FeedbackType != "abuse" || ev.Recipients[0] != "c@x.example" || !ev.At.Equal(eventTime) {
		t.Fatalf("complaint: %+v %v", ev, err)
	}
	ev, err = mailevents.Parse(sesEvent("Email Delivered", `{"eventType":"Delivery","mail":{"destination":["d@x.example"]},"delivery":{}}`))
	if _, ok := ev.Suppresses(); err != nil || ok || ev.Recipients[0] != "d@x.example" {
		t.Fatalf("delivery: %+v %v", ev, err)
	}
	for _, bad := range []events.EventBridgeEvent{
		{ID: "x", Source: "aws.events", DetailType: "Scheduled Event", Detail: json.RawMessage(`{}`)},
		sesEvent("Email Bounced", `[1]`),
		sesEvent("Email Bounced", `{"mail":{}}`),
	} {
		if _, err := mailevents.Parse(bad); err == nil {
			t.Errorf("%s %s: parsed", bad.Source, bad.Detail)
		}
	}
}

// An event that cannot be read is dropped (no error: a retry would not
// read it either); a failure to record one is returned, so that Lambda
// retries it.
func TestHandlerErrors(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rec := &recorder{}
	h := mailevents.Handler(rec, log)
	out, err := h(context.Background(), sesEvent("Email Bounced", `"nonsense"`))
	if err != nil || out == nil || out.Ignored == "" || len(rec.got) != 0 {
		t.Fatalf("unreadable: %+v %v", out, err)
	}
	rec.err = errors.New("table throttled")
	if _, err := h(context.Background(), sesEvent("Email Bounced", `{"eventType":"Bounce","bounce":{"bounceType":"Permanent"}}`)); err == nil || len(rec.got) != 1 {
		t.Fatalf("a failed record: %v (%d recorded)", err, len(rec.got))
	}
}
