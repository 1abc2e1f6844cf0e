package domain

import "context"

// AuditAppender writes audit entries on their own, each with its outbox
// item, in one atomic write: for events that change nothing else a
// repository keeps (a failed sign-in by someone who is no member). Entries
// are only ever added, as everywhere else: an entry whose id is stored
// already fails the whole write. No entries is a no-op; more than
// MaxAppendAudit, or two with one id, are refused (invalid) and nothing is
// written. Every store has it (it is part of Store).
type AuditAppender interface {
	AppendAudit(ctx context.Context, entries ...AuditEntry) error
}

// MaxAppendAudit is the most entries one AppendAudit writes: with its outbox
// item each, as many as one DynamoDB transaction holds (100 items).
const MaxAppendAudit = 50

// CheckAppendAudit is what a store checks of AppendAudit's entries before
// it writes anything: at most MaxAppendAudit, each with an id, no id twice.
func CheckAppendAudit(entries []AuditEntry) error {
	if len(entries) > MaxAppendAudit {
		return Errorf(CodeInvalid, "%d audit entries are more than one write appends (at most %d)", len(entries), MaxAppendAudit)
	}
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		switch {
		case e.ID == "":
			return Errorf(CodeInvalid, "an audit entry (%s) has no id", e.Action)
		case seen[e.ID]:
			return Errorf(CodeInvalid, "audit entry id %q appears twice", e.ID)
		}
		seen[e.ID] = true
	}
	return nil
}
