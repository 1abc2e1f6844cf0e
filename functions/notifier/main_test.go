package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/countersign/countersign/internal/actionlink"
	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/clock/clocktest"
	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/notify"
	"github.com/countersign/countersign/internal/notify/catcher"
	"github.com/countersign/countersign/internal/notify/eventbus"
	"github.com/countersign/countersign/internal/store/boltstore"
	"github.com/countersign/countersign/internal/store/dynamotest"
)

// The sample stream event goes through the notifier's Lambda handler as the
// runtime hands it over; its outbox item is delivered once, even when the
// stream delivers the record twice.
func TestStreamEventDeliversOutboxItem(t *testing.T) {
	t.Run("bolt", func(t *testing.T) {
		store, err := boltstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		streamEventDelivers(t, store)
	})
	// on AWS the notifier reads the DynamoDB store: the same walk on DynamoDB Local
	t.Run("dynamodb", func(t *testing.T) { streamEventDelivers(t, dynamotest.NewStore(t)) })
}

func streamEventDelivers(t *testing.T, store domain.Store) {
	ctx := context.Background()
	n, published := sampleOutbox(t, store)
	payload, err := os.ReadFile(filepath.Join("..", "..", "events", "dynamodb-stream-outbox.json"))
	if err != nil {
		t.Fatal(err)
	}
	h := lambda.NewHandler(notify.Handler(n, slog.New(slog.DiscardHandler)))
	for range 2 {
		out, err := h.Invoke(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		var res events.DynamoDBEventResponse
		if err := json.Unmarshal(out, &res); err != nil || len(res.BatchItemFailures) != 0 {
			t.Fatalf("response %s %v", out, err)
		}
	}
	it, err := store.GetOutbox(ctx, "a_sampleoutbox0001")
	if err != nil || it.State != domain.OutboxDelivered {
		t.Fatalf("outbox item: %+v %v", it, err)
	}
	evs := published.Events()
	if len(evs) != 1 || evs[0].Type != eventbus.TypeSettingsChanged || evs[0].ID != "a_sampleoutbox0001" {
		t.Fatalf("one domain event, not two: %+v", evs)
	}
}

// The EventBridge schedule's sample event goes through the same handler: it
// retries what is due in the outbox (here the item the stream never
// delivered), and an event of neither kind is an error, not a silent no-op.
func TestScheduledEventRetriesOutbox(t *testing.T) {
	store, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx := context.Background()
	n, published := sampleOutbox(t, store)
	h := lambda.NewHandler(notify.Handler(n, slog.New(slog.DiscardHandler)))
	payload, err := os.ReadFile(filepath.Join("..", "..", "events", "eventbridge-scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	var rep notify.RetryReport
	if err := json.Unmarshal(out, &rep); err != nil || rep.Delivered != 1 || rep.Failed != 0 {
		t.Fatalf("report %s %v", out, err)
	}
	if it, err := store.GetOutbox(ctx, "a_sampleoutbox0001"); err != nil || it.State != domain.OutboxDelivered {
		t.Fatalf("outbox item: %+v %v", it, err)
	}
	if evs := published.Events(); len(evs) != 1 {
		t.Fatalf("events: %+v", evs)
	}
	if out, err := h.Invoke(ctx, payload); err != nil || !strings.Contains(string(out), `"delivered":0`) {
		t.Fatalf("a second retry: %s %v", out, err)
	}
	for _, bad := range []string{`{"detail-type":"Object Created","source":"aws.s3"}`, `[1,2]`, `{"Records":"x"}`} {
		if out, err := h.Invoke(ctx, []byte(bad)); err == nil {
			t.Errorf("%s: answered %s, want an error", bad, out)
		}
	}
}

// sampleOutbox writes the outbox item the sample stream event names and
// returns a notifier over store, with the events it publishes.
func sampleOutbox(t *testing.T, store domain.Store) (*notify.Notifier, *eventbus.LogPublisher) {
	var err error
	ctx := context.Background()
	clk := clocktest.Clock(0, 0, 0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := app.New(store, clk, log)
	signer, _ := actionlink.NewSigner([]byte(strings.Repeat("k", 32)))
	svc.WithLinks(signer)
	// the outbox item the sample event names, written as every audited change writes one
	_, err = store.UpdateOrgSettings(ctx, func(o *domain.OrgSettings, a *domain.Audit) error {
		o.Approvals = true
		a.Record(domain.AuditEntry{ID: "a_sampleoutbox0001", At: clk.Now(), Actor: "member:m_1", Action: "settings.updated", Channel: "api"})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	published := eventbus.NewLogPublisher(log, 10)
	return notify.New(store, svc, catcher.New("cs@example.com", clk.Now), published, clk, log, "cs@example.com", "http://localhost"), published
}
