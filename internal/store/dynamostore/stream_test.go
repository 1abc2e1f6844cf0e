package dynamostore_test

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamostore"
)

const sampleStreamEvent = "../../../events/dynamodb-stream-outbox.json"

func readStreamEvent(t *testing.T) events.DynamoDBEvent {
	t.Helper()
	raw, err := os.ReadFile(sampleStreamEvent)
	must(t, err)
	var ev events.DynamoDBEvent
	must(t, json.Unmarshal(raw, &ev))
	return ev
}

// fromStream turns a stream image attribute into the SDK's.
func fromStream(t *testing.T, av events.DynamoDBAttributeValue) types.AttributeValue {
	t.Helper()
	switch av.DataType() {
	case events.DataTypeString:
		return &types.AttributeValueMemberS{Value: av.String()}
	case events.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: av.Number()}
	case events.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: av.Boolean()}
	case events.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}
	case events.DataTypeList:
		l := []types.AttributeValue{}
		for _, e := range av.List() {
			l = append(l, fromStream(t, e))
		}
		return &types.AttributeValueMemberL{Value: l}
	case events.DataTypeMap:
		return &types.AttributeValueMemberM{Value: imageFromStream(t, av.Map())}
	case events.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: av.StringSet()}
	}
	t.Fatalf("attribute type %v is not one the store writes", av.DataType())
	return nil
}

func imageFromStream(t *testing.T, img map[string]events.DynamoDBAttributeValue) map[string]types.AttributeValue {
	t.Helper()
	out := map[string]types.AttributeValue{}
	for n, v := range img {
		out[n] = fromStream(t, v)
	}
	return out
}

// The sample event is what the table's stream delivers when a change with
// one audit entry commits and the notifier then delivers its outbox item:
// the outbox item's INSERT is the one record the notifier acts on.
func TestOutboxRecordsOfSampleEvent(t *testing.T) {
	ev := readStreamEvent(t)
	got := dynamostore.OutboxRecords(ev)
	want := []dynamostore.StreamOutboxRecord{{ID: "a_sampleoutbox0001", EventID: "7d4f8a2c91e3b5f06a1c2d3e4f5a6b7c", SequenceNumber: "100000000012345678901"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outbox records of the sample: got %+v, want %+v", got, want)
	}
	if n := len(ev.Records); n != 3 {
		t.Fatalf("the sample should hold 3 records (outbox INSERT, audit INSERT, outbox MODIFY), holds %d", n)
	}
	for i, r := range ev.Records {
		if r.EventSource != "aws:dynamodb" || r.EventVersion != "1.1" || r.Change.StreamViewType != "NEW_AND_OLD_IMAGES" ||
			r.EventSourceArn != "arn:aws:dynamodb:us-east-1:123456789012:table/countersign-dev/stream/2026-11-01T00:00:00.000" || // calendar-free: the sample event's stream ARN // calendar-free: the sample event's stream ARN
			r.Change.SequenceNumber == "" || r.Change.SizeBytes <= 0 || r.Change.ApproximateCreationDateTime.IsZero() {
			t.Errorf("record %d is not a complete stream record: %+v", i, r)
		}
	}
}

// The images in the sample are exactly what the store writes: decoding one
// and encoding it again with the store's own encoder gives the same item. So
// the sample follows the store's item layout when that changes.
func TestSampleStreamEventImagesAreTheStoresItems(t *testing.T) {
	ev := readStreamEvent(t)
	check := func(what string, img map[string]events.DynamoDBAttributeValue, encode func(map[string]types.AttributeValue) (map[string]types.AttributeValue, error)) {
		t.Helper()
		stored := imageFromStream(t, img)
		again, err := encode(stored)
		must(t, err)
		if !reflect.DeepEqual(stored, again) {
			t.Errorf("%s: the sample's image is not the store's item\nsample: %v\nstore:  %v", what, describe(stored), describe(again))
		}
	}
	outbox := func(stored map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
		var it domain.OutboxItem
		if err := attributevalue.UnmarshalMapWithOptions(stored, &it, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
			return nil, err
		}
		return dynamostore.OutboxItemAttributes(&it)
	}
	audit := func(stored map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
		var e domain.AuditEntry
		if err := attributevalue.UnmarshalMapWithOptions(stored, &e, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
			return nil, err
		}
		return dynamostore.AuditEntryAttributes(&e)
	}
	check("outbox INSERT", ev.Records[0].Change.NewImage, outbox)
	check("audit INSERT", ev.Records[1].Change.NewImage, audit)
	check("outbox MODIFY, old image", ev.Records[2].Change.OldImage, outbox)
	check("outbox MODIFY, new image", ev.Records[2].Change.NewImage, outbox)

	// The INSERT is a new pending item as the store writes it with its
	// audit entry, and it is in the pending index; the MODIFY delivered it.
	var it domain.OutboxItem
	must(t, attributevalue.UnmarshalMapWithOptions(imageFromStream(t, ev.Records[0].Change.NewImage), &it,
		func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }))
	// the time the sample was recorded at, not a clock's: it is data
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) // calendar-free: the sample event's own time
	if it.ID != "a_sampleoutbox0001" || it.Entry.ID != it.ID || it.State != domain.OutboxPending || it.Version != 1 ||
		!it.NextAttemptAt.Equal(at) || !it.Entry.At.Equal(at) || it.Done == nil || len(it.Done) != 0 || it.Attempts != 0 {
		t.Errorf("the sample's outbox item is not a new pending one: %+v", it)
	}
	if _, ok := ev.Records[0].Change.NewImage["GSI3PK"]; !ok {
		t.Error("the sample's pending outbox item is not in GSI3")
	}
	if ev.Records[2].EventName != "MODIFY" || ev.Records[2].Change.NewImage["state"].String() != domain.OutboxDelivered {
		t.Errorf("the third record should deliver the item: %s %v", ev.Records[2].EventName, ev.Records[2].Change.NewImage["state"])
	}
	if _, ok := ev.Records[2].Change.NewImage["GSI3PK"]; ok {
		t.Error("a delivered outbox item must have left GSI3")
	}
}

func describe(it map[string]types.AttributeValue) string {
	var m map[string]any
	if err := attributevalue.UnmarshalMap(it, &m); err != nil {
		return err.Error()
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func streamRecord(eventID, name string, keys map[string]events.DynamoDBAttributeValue, seq string) events.DynamoDBEventRecord {
	return events.DynamoDBEventRecord{EventID: eventID, EventName: name, EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{Keys: keys, SequenceNumber: seq, StreamViewType: "NEW_AND_OLD_IMAGES"}}
}

func keysOf(pk, sk string) map[string]events.DynamoDBAttributeValue {
	return map[string]events.DynamoDBAttributeValue{"PK": events.NewStringAttribute(pk), "SK": events.NewStringAttribute(sk)}
}

func TestOutboxRecordsEdgeCases(t *testing.T) {
	if got := dynamostore.OutboxRecords(events.DynamoDBEvent{}); len(got) != 0 {
		t.Errorf("an empty event: %+v", got)
	}
	ev := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{
		streamRecord("e1", "INSERT", keysOf("OUTBOX#a2", "OUTBOX"), "1"),
		streamRecord("e2", "MODIFY", keysOf("OUTBOX#a2", "OUTBOX"), "2"),
		streamRecord("e3", "REMOVE", keysOf("OUTBOX#a2", "OUTBOX"), "3"),
		streamRecord("e4", "INSERT", keysOf("OUTBOX#", "OUTBOX"), "4"),      // no id
		streamRecord("e5", "INSERT", keysOf("OUTBOX#a3", "OUTBOX#a3"), "5"), // another sort key
		streamRecord("e6", "INSERT", keysOf("outbox#a3", "OUTBOX"), "6"),    // prefixes are case-sensitive
		streamRecord("e7", "INSERT", keysOf("AUDIT#p", "OUTBOX"), "7"),      // another item
		streamRecord("e8", "INSERT", keysOf("CR#OUTBOX#a3", "CR"), "8"),     // not a prefix
		streamRecord("e9", "INSERT", keysOf("OUTBOXDEAD", "OUTBOX"), "9"),   // not OUTBOX#
		streamRecord("e10", "insert", keysOf("OUTBOX#a3", "OUTBOX"), "10"),  // event names are upper case
		streamRecord("e11", "INSERT", nil, "11"),                            // no keys
		streamRecord("e12", "INSERT", map[string]events.DynamoDBAttributeValue{ // keys that are not strings
			"PK": events.NewNumberAttribute("7"), "SK": events.NewStringAttribute("OUTBOX")}, "12"),
		streamRecord("e13", "INSERT", map[string]events.DynamoDBAttributeValue{"PK": events.NewStringAttribute("OUTBOX#a4")}, "13"), // no SK
		streamRecord("e14", "INSERT", keysOf("OUTBOX#a1", "OUTBOX"), "14"),
		streamRecord("e15", "INSERT", keysOf("OUTBOX#OUTBOX#x", "OUTBOX"), "15"), // only the first prefix is the store's
	}}
	got := fmt.Sprintf("%+v", dynamostore.OutboxRecords(ev))
	want := "[{ID:a2 EventID:e1 SequenceNumber:1} {ID:a1 EventID:e14 SequenceNumber:14} {ID:OUTBOX#x EventID:e15 SequenceNumber:15}]"
	if got != want {
		t.Fatalf("outbox records:\n got %s\nwant %s", got, want)
	}
}
