package eventbus

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
)

// DefaultLogLimit is how many events a LogPublisher keeps when given no
// limit.
const DefaultLogLimit = 500

// LogPublisher stands in for EventBridge on local runs: it logs each event
// with log/slog and keeps the most recent ones in memory (served by the
// local runtime at /dev/events). It is safe for concurrent use.
type LogPublisher struct {
	logger *slog.Logger
	limit  int

	mu   sync.Mutex
	ring []Event // circular buffer, len(ring) <= limit
	next int     // where the next event goes once the ring is full
}

// NewLogPublisher returns a LogPublisher logging to logger (nil means
// slog.Default()) and keeping the last limit events (<= 0 means
// DefaultLogLimit).
func NewLogPublisher(logger *slog.Logger, limit int) *LogPublisher {
	if logger == nil {
		logger = slog.Default()
	}
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	return &LogPublisher{logger: logger, limit: limit}
}

// Publish logs and records events. Like Publisher.Publish it rejects an
// event without a Type (recording none of the batch) and fills a missing ID
// and Time.
func (p *LogPublisher) Publish(ctx context.Context, events ...Event) error {
	normalized := make([]Event, len(events))
	for i, ev := range events {
		ev, err := normalize(ev)
		if err != nil {
			return fmt.Errorf("eventbus: event %d: %w", i, err)
		}
		ev.Summary = slices.Clone(ev.Summary)
		ev.Detail = maps.Clone(ev.Detail)
		normalized[i] = ev
	}
	for _, ev := range normalized {
		p.logger.LogAttrs(ctx, slog.LevelInfo, "event published", logAttrs(ev)...)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range normalized {
		if len(p.ring) < p.limit {
			p.ring = append(p.ring, ev)
			continue
		}
		p.ring[p.next] = ev
		p.next = (p.next + 1) % p.limit
	}
	return nil
}

// Events returns copies of the kept events, oldest first (newest last).
func (p *LogPublisher) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Event, 0, len(p.ring))
	out = append(out, p.ring[p.next:]...)
	out = append(out, p.ring[:p.next]...)
	for i := range out {
		out[i].Summary = slices.Clone(out[i].Summary)
		out[i].Detail = maps.Clone(out[i].Detail)
	}
	return out
}

// Limit returns how many events p keeps.
func (p *LogPublisher) Limit() int { return p.limit }

func logAttrs(ev Event) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("source", DefaultSource),
		slog.String("detail_type", DetailType(ev.Type)),
		slog.String("id", ev.ID),
		slog.String("type", ev.Type),
		slog.Time("time", ev.Time),
	}
	for _, kv := range [...]struct{ k, v string }{
		{"project", ev.Project}, {"flag", ev.Flag}, {"environment", ev.Environment},
		{"change_request", ev.ChangeRequest}, {"actor", ev.Actor},
	} {
		if kv.v != "" {
			attrs = append(attrs, slog.String(kv.k, kv.v))
		}
	}
	if len(ev.Summary) > 0 {
		attrs = append(attrs, slog.Any("summary", ev.Summary))
	}
	if len(ev.Detail) > 0 {
		attrs = append(attrs, slog.Any("detail", ev.Detail))
	}
	return attrs
}
