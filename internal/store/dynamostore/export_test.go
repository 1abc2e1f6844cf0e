package dynamostore

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
)

// RequestItem is the item the store writes for a change request (crItem:
// its JSON, its keys, GSI1 and, while a timer concerns it, GSI3), so that
// tests can load many requests with BatchWriteItem exactly as the store
// would write them.
func RequestItem(cr *domain.ChangeRequest) (map[string]types.AttributeValue, error) {
	return crItem(cr.ID, cr)
}

// OutboxItemAttributes is the item the store writes for an outbox item
// (outboxItem: its JSON, its keys and the index attributes of its state).
func OutboxItemAttributes(it *domain.OutboxItem) (map[string]types.AttributeValue, error) {
	return outboxItem(it.ID, it)
}

// AuditEntryAttributes is the item the store writes for an audit entry.
func AuditEntryAttributes(e *domain.AuditEntry) (map[string]types.AttributeValue, error) {
	return auditItem(e)
}
