package dynamostore

import (
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// The table's stream (NEW_AND_OLD_IMAGES) carries every write of every item.
// The notifier wants one thing of it: the outbox items written, to deliver
// them at once instead of at the next sweep. An outbox item is only ever
// created pending (with its audit entry), so its INSERT record is the one
// that matters; the later MODIFY records are the deliverer's own writes.

// StreamOutboxRecord is a stream record that created an outbox item.
type StreamOutboxRecord struct {
	ID             string // the outbox item's id (its audit entry's)
	EventID        string // the stream record's eventID
	SequenceNumber string // the stream record's sequence number
}

// OutboxRecords returns, in the event's order, the INSERT records whose keys
// are an outbox item's (PK "OUTBOX#<id>" with a non-empty id, SK "OUTBOX");
// it ignores every other record (other items, MODIFY and REMOVE records,
// keys that are not strings). It reads the keys only, so it needs no image.
func OutboxRecords(ev events.DynamoDBEvent) []StreamOutboxRecord {
	var out []StreamOutboxRecord
	for _, r := range ev.Records {
		if r.EventName != string(events.DynamoDBOperationTypeInsert) {
			continue
		}
		pk, okPK := stringKey(r.Change.Keys, attrPK)
		sk, okSK := stringKey(r.Change.Keys, attrSK)
		id, isOutbox := strings.CutPrefix(pk, prefixOutbox)
		if !okPK || !okSK || !isOutbox || id == "" || sk != skOutbox {
			continue
		}
		out = append(out, StreamOutboxRecord{ID: id, EventID: r.EventID, SequenceNumber: r.Change.SequenceNumber})
	}
	return out
}

// stringKey returns key attribute name when it is a string.
func stringKey(keys map[string]events.DynamoDBAttributeValue, name string) (string, bool) {
	v, ok := keys[name]
	if !ok || v.DataType() != events.DataTypeString {
		return "", false
	}
	return v.String(), true
}
