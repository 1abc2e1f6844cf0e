package dynamostore_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/countersign/countersign/internal/store/dynamostore"
)

// BenchmarkListDueAmong100k is the timer sweep at scale: 100 000 change
// requests, of which 100 are due at the sweep's time, loaded as the store
// writes them; each iteration is one ListDue(sweepAt, 1000), which must
// return exactly the 100, and the benchmark reports the items it read and
// the capacity units DynamoDB charged per sweep. It runs only with -bench
// (loading takes a while):
//
//	COUNTERSIGN_DYNAMODB_ENDPOINT=$(scripts/dynamodb-local.sh endpoint) \
//	  go test -run '^$' -bench ListDueAmong100k -benchtime 3x -timeout 30m ./internal/store/dynamostore/
func BenchmarkListDueAmong100k(b *testing.B) {
	const total, due = 100_000, 100
	c := client(b)
	table := newTable(b, c)
	crs, want := duePopulation(b, total, due, sweepAt)
	loadRequests(b, c, table, crs)
	s := dynamostore.New(c, table)
	ctx := context.Background()

	var (
		sweeps int
		items  int64
		units  float64
	)
	for b.Loop() {
		s.ResetConsumedCapacity()
		s.ResetItemsRead()
		got, err := s.ListDue(ctx, sweepAt, 1000)
		if err != nil {
			b.Fatal(err)
		}
		if dueString(got) != dueString(want) {
			b.Fatalf("ListDue returned %d requests, want the %d due:\n got %s\nwant %s", len(got), len(want), dueString(got), dueString(want))
		}
		sweeps++
		items += s.ItemsRead()
		units += s.ConsumedCapacity()
	}
	fmt.Fprintf(os.Stderr, "ListDue(sweepAt, 1000) over %d change requests, %d due: %d sweeps, %.1f items read and %.1f capacity units per sweep\n",
		total, due, sweeps, float64(items)/float64(sweeps), units/float64(sweeps))
	b.ReportMetric(float64(items)/float64(sweeps), "items-read/sweep")
	b.ReportMetric(units/float64(sweeps), "capacity-units/sweep")
}
