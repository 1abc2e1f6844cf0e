package domain

import "context"

// AuditAppender writes audit entries on their own, each with its outbox
// item, in one atomic write: for events that change nothing else a
// repository keeps (a failed sign-in by someone who is no member, a token
// revoked through a method that takes no entries). Entries are only ever
// added, as everywhere else.
//
// It is not (yet) part of Store: the application uses it when the store
// has it and logs the entry otherwise.
type AuditAppender interface {
	AppendAudit(ctx context.Context, entries ...AuditEntry) error
}
