// Package timers is the Lambda entry of the timer sweep, fired by an
// EventBridge schedule (template.yaml: TimersFunction, rate(1 minute)).
package timers

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/metrics"
)

// Sweeper runs one sweep of due timers.
type Sweeper interface {
	Sweep(ctx context.Context) (*app.SweepReport, error)
}

// Handler returns the Lambda handler. EventBridge delivers at least once, so
// the same event may arrive twice, or two invocations may overlap: the sweep
// is safe either way (every change is a conditional write). It returns an
// error only when it could not read what is due, so that Lambda retries;
// failures on single requests are in the report and the logs. A sweep that
// failed, or failed on a request, counts 1 in the SweepFailures metric
// (CloudWatch embedded metric format, through log).
func Handler(s Sweeper, log *slog.Logger) func(context.Context, events.EventBridgeEvent) (*app.SweepReport, error) {
	return func(ctx context.Context, ev events.EventBridgeEvent) (*app.SweepReport, error) {
		log.InfoContext(ctx, "timer sweep fired", "event_id", ev.ID, "source", ev.Source, "detail_type", ev.DetailType, "time", ev.Time)
		r, err := s.Sweep(ctx)
		if r != nil && len(r.Overdue) > 0 {
			// a bypass went unacknowledged past its deadline: each counts
			// once (MarkOverdue happens once per request), even in a sweep
			// that failed later
			log.WarnContext(ctx, "bypass reviews overdue", "requests", r.Overdue)
			metrics.Count(ctx, log, metrics.BypassReviewOverdue, len(r.Overdue), slog.Any("requests", r.Overdue))
		}
		if err != nil {
			log.ErrorContext(ctx, "timer sweep failed", "err", err)
			metrics.Count(ctx, log, metrics.SweepFailures, 1)
			return r, err
		}
		if r != nil && len(r.Failed) > 0 {
			// the sweep went on, but these requests are stuck until a
			// later sweep gets through
			log.ErrorContext(ctx, "timer sweep failed on some requests", "failed", r.Failed)
			metrics.Count(ctx, log, metrics.SweepFailures, 1, slog.Int("failed_requests", len(r.Failed)))
		}
		return r, nil
	}
}
