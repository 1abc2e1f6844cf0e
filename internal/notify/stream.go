package notify

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/countersign/countersign/internal/store/dynamostore"
)

// StreamHandler is the notifier Lambda's handler for the table's DynamoDB
// Stream: every inserted outbox item is delivered at once. A delivery that
// fails is recorded on the item (attempts, next attempt, or dead letter) and
// the timers' sweep retries it with backoff, so one SES outage does not hold
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
