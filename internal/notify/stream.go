package notify

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/countersign/countersign/internal/store/dynamostore"
)

// StreamHandler is the notifier Lambda's handler for the table's DynamoDB
// Stream: every inserted outbox item is delivered at once. A delivery that
// fails is recorded on the item (attempts, next attempt, or dead letter) and
// the scheduled retry (Handler) retries it with backoff, so one SES outage does not hold
// the shard; only a record whose failure could not even be recorded is
// reported back (partial batch failure), for Lambda to retry.
func StreamHandler(n *Notifier, log *slog.Logger) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		var res events.DynamoDBEventResponse
		for _, rec := range dynamostore.OutboxRecords(ev) {
			err := n.Deliver(ctx, rec.ID)
			if err == nil {
				continue
			}
			it, gerr := n.store.GetOutbox(ctx, rec.ID)
			if gerr == nil && it.Attempts > 0 {
				continue // recorded: the sweep retries it
			}
			log.ErrorContext(ctx, "outbox record failed and was not recorded; Lambda retries it", "outbox", rec.ID, "err", err)
			res.BatchItemFailures = append(res.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: rec.SequenceNumber})
		}
		return res, nil
	}
}

// RetryReport is what a scheduled retry of the outbox did.
type RetryReport struct {
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
}

// Handler is the notifier Lambda's handler. Two sources invoke it: the
// table's DynamoDB Stream (StreamHandler: every new outbox item at once)
// and an EventBridge schedule every minute, on which it retries, with
// backoff, the deliveries that failed on the stream (Drain). Both run in
// this function so that it alone links SES and EventBridge; the timers
// function sweeps change requests and sends nothing.
func Handler(n *Notifier, log *slog.Logger) func(context.Context, json.RawMessage) (any, error) {
	stream := StreamHandler(n, log)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Records    []json.RawMessage `json:"Records"`
			DetailType string            `json:"detail-type"`
			ID         string            `json:"id"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, errors.New("notifier: the event is not a JSON object")
		}
		switch {
		case probe.Records != nil:
			var ev events.DynamoDBEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, errors.New("notifier: the event is not a DynamoDB Stream batch")
			}
			return stream(ctx, ev)
		case probe.DetailType == "Scheduled Event":
			delivered, failed, err := n.Drain(ctx)
			log.InfoContext(ctx, "outbox retried", "event_id", probe.ID, "delivered", delivered, "failed", failed, "err", err)
			return RetryReport{Delivered: delivered, Failed: failed}, err
		}
		return nil, errors.New("notifier: neither a DynamoDB Stream batch nor a scheduled event")
	}
}
