// Package mailevents reads SES's events about the mail Countersign sent
// (the configuration set's event destination publishes them on the
// account's default EventBridge bus) and hands each to the application
// (app.Service.RecordMailEvent): hard bounces and complaints mark the
// member's address suppressed. The mailevents function's rule delivers
// source aws.ses, detail-types "Email Bounced", "Email Complaint
// Received", "Email Delivered", "Email Rejected" and "Email Delivery
// Delayed", of the stack's configuration set only (template.yaml).
package mailevents

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/countersign/countersign/internal/app"
)

// Source is the EventBridge source of SES's events.
const Source = "aws.ses"

// Recorder records one parsed event (app.Service).
type Recorder interface {
	RecordMailEvent(ctx context.Context, ev app.MailEvent) (*app.MailEventOutcome, error)
}

// detail is the part of SES's event record (the EventBridge event's
// detail) that matters here. Other fields (headers, tags, …) are ignored.
type detail struct {
	EventType string `json:"eventType"`
	Mail      struct {
		MessageID   string   `json:"messageId"`
		Destination []string `json:"destination"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string `json:"bounceType"`
		BounceSubType     string `json:"bounceSubType"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
		Timestamp  time.Time `json:"timestamp"`
		FeedbackID string    `json:"feedbackId"`
	} `json:"bounce"`
	Complaint *struct {
		ComplainedRecipients []struct {
			EmailAddress string `json:"emailAddress"`
		} `json:"complainedRecipients"`
		ComplaintFeedbackType string    `json:"complaintFeedbackType"`
		Timestamp             time.Time `json:"timestamp"`
		FeedbackID            string    `json:"feedbackId"`
	} `json:"complaint"`
}

// Parse reads an EventBridge event from SES into an app.MailEvent. An
// event from another source, or whose detail is not SES's event record,
// is an error.
func Parse(ev events.EventBridgeEvent) (app.MailEvent, error) {
	if ev.Source != Source {
		return app.MailEvent{}, fmt.Errorf("event %s: source %q, not %s", ev.ID, ev.Source, Source)
	}
	var d detail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return app.MailEvent{}, fmt.Errorf("event %s (%s): the detail is not an SES event record: %w", ev.ID, ev.DetailType, err)
	}
	if d.EventType == "" {
		return app.MailEvent{}, fmt.Errorf("event %s (%s): the detail has no eventType", ev.ID, ev.DetailType)
	}
	out := app.MailEvent{Type: d.EventType, MessageID: d.Mail.MessageID, At: ev.Time}
	switch {
	case d.Bounce != nil:
		b := d.Bounce
		out.BounceType, out.BounceSubType, out.FeedbackID = b.BounceType, b.BounceSubType, b.FeedbackID
		for _, r := range b.BouncedRecipients {
			out.Recipients = append(out.Recipients, r.EmailAddress)
			if out.Diagnostic == "" {
				out.Diagnostic = r.DiagnosticCode
			}
		}
		if !b.Timestamp.IsZero() {
			out.At = b.Timestamp
		}
	case d.Complaint != nil:
		c := d.Complaint
		out.FeedbackType, out.FeedbackID = c.ComplaintFeedbackType, c.FeedbackID
		for _, r := range c.ComplainedRecipients {
			out.Recipients = append(out.Recipients, r.EmailAddress)
		}
		if !c.Timestamp.IsZero() {
			out.At = c.Timestamp
		}
	default:
		out.Recipients = d.Mail.Destination
	}
	return out, nil
}

// Handler is the mailevents function's Lambda handler. An event it cannot
// read is logged and dropped (retrying would not make it readable); a
// failure to record one is returned, so that Lambda retries the
// asynchronous invocation (twice) and the function's Errors alarm fires.
func Handler(rec Recorder, log *slog.Logger) func(context.Context, events.EventBridgeEvent) (*app.MailEventOutcome, error) {
	return func(ctx context.Context, ev events.EventBridgeEvent) (*app.MailEventOutcome, error) {
		me, err := Parse(ev)
		if err != nil {
			log.ErrorContext(ctx, "SES event dropped: it cannot be read", "event_id", ev.ID, "detail_type", ev.DetailType, "err", err)
			return &app.MailEventOutcome{Ignored: err.Error()}, nil
		}
		out, err := rec.RecordMailEvent(ctx, me)
		if err != nil {
			log.ErrorContext(ctx, "recording an SES event failed; Lambda retries it", "event_id", ev.ID, "detail_type", ev.DetailType,
				"message", me.MessageID, "err", err)
			return nil, err
		}
		return out, nil
	}
}
