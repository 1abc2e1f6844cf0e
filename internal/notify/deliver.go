package notify

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/metrics"
	"github.com/countersign/countersign/internal/notify/sesmail"
)

// MaxAttempts is how often a delivery (one recipient's e-mail, or the
// event) is tried before it is dead.
const MaxAttempts = 8

// ClaimFor is how long a notifier claims an item it works on: longer than a
// notifier or timers invocation may run, so that the stream's delivery and
// the sweep's retry do not send the same mail side by side. A claim left by
// a crash expires after it.
const ClaimFor = 2 * time.Minute

// Drain delivers every pending item that is due: the local dispatcher, and
// the notifier function's scheduled retry of what failed on the stream.
func (n *Notifier) Drain(ctx context.Context) (delivered, failed int, err error) {
	items, err := n.store.ListOutbox(ctx, n.clock.Now(), 100)
	if err != nil {
		return 0, 0, err
	}
	for _, it := range items {
		if err := n.Deliver(ctx, it.ID); err != nil {
			failed++
			continue
		}
		delivered++
	}
	return delivered, failed, nil
}

// delivery is one message or event an item owes.
type delivery struct {
	key  string // "event" or "email:<member>"
	send func(ctx context.Context) error
}

// What a failed delivery becomes.
type verdict int

const (
	retryLater verdict = iota + 1 // transient, or blocked for everyone: kept, retried with backoff
	refused                       // the recipient is refused for good: dead at once, MailRefused
	giveUp                        // a failure no retry fixes that is not a refusal: dead at once, OutboxDeadLettered
	suppressed                    // the recipient's address is suppressed: not sent, dead at once, not counted
)

// judge classifies a delivery's error. The mail adapters classify theirs
// (sesmail.Classify, which the SMTP adapter's errors answer too):
// transient and blocked errors are retried, refusals are not. An error of
// the notifier's own that no retry can fix (a message it cannot render, a
// recipient gone) is given up at once; anything else is retried.
func judge(err error) (verdict, sesmail.Class) {
	var p *permanentError
	var g *goneError
	var sup *suppressedError
	if errors.As(err, &sup) {
		return suppressed, 0
	}
	if errors.As(err, &p) || errors.As(err, &g) {
		return giveUp, 0
	}
	switch c := sesmail.Classify(err); c {
	case sesmail.Refused:
		return refused, c
	default: // Transient, Blocked, and errors no adapter classified
		return retryLater, c
	}
}

// permanentError is a failure of the notifier's own that a retry repeats
// (a template that does not render, a link it cannot issue).
type permanentError struct{ error }

func (e *permanentError) Unwrap() error { return e.error }

// goneError: the recipient is gone since the delivery was planned.
type goneError struct{ why string }

func (e *goneError) Error() string { return "not sent: " + e.why }

// backoff is 30s, 1m, 2m, … capped at 1h.
func backoff(attempt int) time.Duration {
	d := 30 * time.Second << (attempt - 1)
	return min(d, time.Hour)
}

var (
	errSettled = errors.New("notify: the outbox item is settled")
	errClaimed = errors.New("notify: another notifier works on the outbox item")
)

// dueNow reports whether delivery d is to be tried at now: never tried yet (a
// new item is delivered at once, whatever the clocks say), or its backoff
// has passed.
func dueNow(d domain.OutboxDelivery, now time.Time) bool {
	return d.State == domain.OutboxPending && (d.Attempts == 0 || !d.NextAttemptAt.After(now))
}

// itemDue reports whether anything of it is to be tried at now.
func itemDue(it *domain.OutboxItem, now time.Time) bool {
	if it.State != domain.OutboxPending {
		return false
	}
	if len(it.Deliveries) == 0 {
		return it.Attempts == 0 || !it.NextAttemptAt.After(now)
	}
	for _, d := range it.Deliveries {
		if dueNow(d, now) {
			return true
		}
	}
	return false
}

// Deliver delivers what is due of one outbox item: each of its deliveries
// (the event, each recipient's e-mail) on its own. The deliveries it owes
// are decided at its first attempt and kept on the item; each one's result
// is recorded as it happens: delivered, failed with its next attempt, or
// dead (at once for a refusal, after MaxAttempts otherwise). A recipient
// who no longer concerns the entry at a retry (the request moved on, the
// member left) is never marked delivered: it is dead, with the reason. The
// item is pending while any delivery is, then dead if any is, else
// delivered. It returns the round's first failure, if any.
func (n *Notifier) Deliver(ctx context.Context, id string) error {
	it, err := n.store.GetOutbox(ctx, id)
	if err != nil {
		return err
	}
	now := n.clock.Now()
	if !itemDue(it, now) {
		return nil // delivered already (a duplicate stream record), dead, or waiting for its backoff
	}
	// claim it, so that a second notifier (the stream's and the sweep's)
	// leaves it alone until this one is done
	round := roundID()
	it, err = n.store.UpdateOutbox(ctx, id, func(o *domain.OutboxItem) error {
		if !itemDue(o, now) {
			return errSettled
		}
		if o.ClaimedUntil != nil && o.ClaimedUntil.After(now) && o.ClaimedBy != round {
			return errClaimed
		}
		until := now.Add(ClaimFor)
		o.ClaimedBy, o.ClaimedUntil = round, &until
		return nil
	})
	switch {
	case errors.Is(err, errSettled):
		return nil
	case errors.Is(err, errClaimed):
		n.log.DebugContext(ctx, "outbox item claimed by another notifier", "outbox", id)
		return nil
	case err != nil:
		return err
	}

	r := &roundState{n: n, id: id, round: round, now: now}
	ds, gone, derr := n.deliveries(ctx, it.Entry)
	if derr != nil {
		return r.finish(ctx, it, derr)
	}
	byKey := make(map[string]delivery, len(ds))
	order := make([]string, 0, len(ds))
	for _, d := range ds {
		byKey[d.key] = d
		order = append(order, d.key)
	}
	// the plan: what the entry owes, decided at its first attempt
	planned := it.Deliveries
	if len(planned) == 0 {
		planned = make(map[string]domain.OutboxDelivery, len(order))
		for _, k := range order {
			planned[k] = domain.OutboxDelivery{State: domain.OutboxPending, NextAttemptAt: now}
		}
		for _, k := range it.Done { // an item from before per-delivery state
			planned[k] = domain.OutboxDelivery{State: domain.OutboxDelivered}
		}
		r.plan = planned
	}
	keys := make([]string, 0, len(planned))
	for k := range planned {
		keys = append(keys, k)
	}
	// in the order the entry owes them (the event first), then what it no
	// longer owes
	pos := func(k string) int {
		if i := slices.Index(order, k); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(pos(a), pos(b)), cmp.Compare(a, b)) })

	for _, k := range keys {
		if !dueNow(planned[k], now) {
			continue
		}
		if err := ctx.Err(); err != nil {
			break // out of time: the claim lapses and the rest waits for the next round
		}
		d, owed := byKey[k]
		var sendErr error
		if !owed {
			sendErr = &goneError{gone}
		} else {
			sendErr = d.send(ctx)
		}
		if err := r.record(ctx, k, sendErr); err != nil {
			return err
		}
	}
	return r.finish(ctx, nil, nil)
}

// roundState is one Deliver call's bookkeeping.
type roundState struct {
	n     *Notifier
	id    string
	round string
	now   time.Time
	plan  map[string]domain.OutboxDelivery // to write with the first record (the first attempt)
	first error                            // the round's first failure
	last  string                           // "<key>: <error>" of the round's last failure
}

// startPlan writes the plan into o if it has none (the first attempt).
func (r *roundState) startPlan(o *domain.OutboxItem) {
	if len(o.Deliveries) == 0 && len(r.plan) > 0 {
		o.Deliveries = make(map[string]domain.OutboxDelivery, len(r.plan))
		for k, d := range r.plan {
			o.Deliveries[k] = d
		}
	}
}

// record writes the result of delivery key: delivered (sendErr nil), failed
// with its next attempt, or dead. The item is re-read for the write
// (UpdateOutbox), so what another notifier recorded meanwhile is kept.
func (r *roundState) record(ctx context.Context, key string, sendErr error) error {
	n := r.n
	var v verdict
	var class sesmail.Class
	if sendErr != nil {
		v, class = judge(sendErr)
	}
	var became domain.OutboxDelivery
	var changed bool
	_, err := n.store.UpdateOutbox(ctx, r.id, func(o *domain.OutboxItem) error {
		became, changed = domain.OutboxDelivery{}, false // the function may run again on a lost race
		r.startPlan(o)
		if o.Deliveries == nil {
			o.Deliveries = map[string]domain.OutboxDelivery{}
		}
		d, known := o.Deliveries[key]
		if known && d.State != domain.OutboxPending {
			return nil // settled by another notifier meanwhile
		}
		if !known {
			d = domain.OutboxDelivery{State: domain.OutboxPending}
		}
		switch {
		case sendErr == nil:
			d.State, d.LastError = domain.OutboxDelivered, ""
			if !slices.Contains(o.Done, key) {
				o.Done = append(o.Done, key)
			}
		default:
			previous := d.LastError
			d.Attempts++
			d.LastError = sendErr.Error()
			if g := (*goneError)(nil); errors.As(sendErr, &g) && previous != "" {
				// the failures that kept it from being sent stay readable
				d.LastError = fmt.Sprintf("%s (it had failed %d time(s), last: %s)", d.LastError, d.Attempts-1, previous)
			}
			switch {
			case v == refused || v == suppressed:
				d.State, d.Refused, d.NextAttemptAt = domain.OutboxDead, true, r.now
			case v == giveUp || d.Attempts >= MaxAttempts:
				d.State, d.NextAttemptAt = domain.OutboxDead, r.now
			default:
				d.NextAttemptAt = r.now.Add(backoff(d.Attempts))
			}
		}
		o.Deliveries[key] = d
		settle(o, r.now)
		became, changed = d, true
		return nil
	})
	if err != nil {
		return err
	}
	if sendErr == nil || !changed {
		return nil
	}
	if r.first == nil {
		r.first = sendErr
	}
	r.last = key + ": " + sendErr.Error()
	n.logFailure(ctx, r.id, key, sendErr, class, became)
	return nil
}

// finish ends the round: releases the claim, counts a failed round on the
// item and settles its state. deriveErr is a failure to work out what the
// entry owes at all: it fails every due delivery (or, before the first
// attempt, the item itself), and is retried like a transient one unless it
// is permanent.
func (r *roundState) finish(ctx context.Context, it *domain.OutboxItem, deriveErr error) error {
	n := r.n
	if deriveErr != nil && it != nil && len(it.Deliveries) > 0 {
		for k, d := range it.Deliveries {
			if dueNow(d, r.now) {
				if err := r.record(ctx, k, deriveErr); err != nil {
					return err
				}
			}
		}
		deriveErr = nil
	}
	var itemDead bool
	_, err := n.store.UpdateOutbox(ctx, r.id, func(o *domain.OutboxItem) error {
		itemDead = false
		r.startPlan(o)
		if o.ClaimedBy == r.round {
			o.ClaimedBy, o.ClaimedUntil = "", nil
		}
		if deriveErr != nil && len(o.Deliveries) == 0 && o.State == domain.OutboxPending {
			o.Attempts++
			o.LastError = deriveErr.Error()
			if v, _ := judge(deriveErr); v != retryLater || o.Attempts >= MaxAttempts {
				o.State, o.NextAttemptAt = domain.OutboxDead, r.now
				itemDead = true
			} else {
				o.NextAttemptAt = r.now.Add(backoff(o.Attempts))
			}
			return nil
		}
		if r.first != nil {
			o.Attempts++
			o.LastError = r.last
		}
		settle(o, r.now)
		return nil
	})
	if err != nil {
		return err
	}
	if deriveErr != nil {
		attrs := []any{"outbox", r.id, "err", deriveErr}
		if itemDead {
			n.log.ErrorContext(ctx, "outbox item dead-lettered: what it owes could not be worked out", attrs...)
			metrics.Count(ctx, n.log, metrics.OutboxDeadLettered, 1, slog.String("outbox", r.id))
		} else {
			n.log.WarnContext(ctx, "outbox item failed; retried later", attrs...)
		}
		return deriveErr
	}
	return r.first
}

// settle derives the item's state from its deliveries': pending (due at the
// earliest next attempt) while any is pending, then dead if any is dead
// (listed from now), else delivered.
func settle(o *domain.OutboxItem, now time.Time) {
	if len(o.Deliveries) == 0 {
		return
	}
	var next time.Time
	pending, dead := false, false
	for _, d := range o.Deliveries {
		switch d.State {
		case domain.OutboxPending:
			at := d.NextAttemptAt
			if d.Attempts == 0 || at.IsZero() {
				at = now
			}
			if !pending || at.Before(next) {
				next = at
			}
			pending = true
		case domain.OutboxDead:
			dead = true
		}
	}
	switch {
	case pending:
		o.State, o.NextAttemptAt = domain.OutboxPending, next
	case dead:
		if o.State != domain.OutboxDead {
			o.NextAttemptAt = now
		}
		o.State = domain.OutboxDead
	default:
		o.State, o.LastError = domain.OutboxDelivered, ""
	}
}

// logFailure logs a failed delivery by what it became, and counts the dead
// ones: a refusal as MailRefused, anything else given up as
// OutboxDeadLettered.
func (n *Notifier) logFailure(ctx context.Context, id, key string, err error, class sesmail.Class, d domain.OutboxDelivery) {
	attrs := []any{"outbox", id, "delivery", key, "attempts", d.Attempts, "err", err}
	if class != 0 {
		attrs = append(attrs, "class", class.String())
	}
	props := []slog.Attr{slog.String("outbox", id), slog.String("delivery", key)}
	var sup *suppressedError
	switch {
	case errors.As(err, &sup):
		// known already: recorded when SES reported the bounce or
		// complaint (the member shows it); no alarm for each mail skipped
		n.log.WarnContext(ctx, "recipient's address is suppressed (a hard bounce or a complaint): not sent", attrs...)
	case d.State == domain.OutboxDead && d.Refused:
		n.log.ErrorContext(ctx, "recipient refused for good: dead-lettered, not retried", attrs...)
		metrics.Count(ctx, n.log, metrics.MailRefused, 1, props...)
	case d.State == domain.OutboxDead:
		n.log.ErrorContext(ctx, "delivery dead-lettered", attrs...)
		metrics.Count(ctx, n.log, metrics.OutboxDeadLettered, 1, props...)
	case class == sesmail.Blocked:
		n.log.ErrorContext(ctx, "mail is blocked for every recipient until someone acts (sender, account or configuration); retried later",
			append(attrs, "next_attempt_at", d.NextAttemptAt)...)
	default:
		n.log.WarnContext(ctx, "delivery failed; retried later", append(attrs, "next_attempt_at", d.NextAttemptAt)...)
	}
}

// roundID names one Deliver call in the claims it writes.
func roundID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
