package timers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/timers"
)

type sweeper struct {
	report *app.SweepReport
	err    error
}

func (s sweeper) Sweep(context.Context) (*app.SweepReport, error) { return s.report, s.err }

// sweepFailures sums the SweepFailures metric lines (embedded metric format)
// in the log, checking each has the contract's shape.
func sweepFailures(t *testing.T, log string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		var rec struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
			SweepFailures *int
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		cw := rec.AWS.CloudWatchMetrics
		if len(cw) != 1 || cw[0].Namespace != "Countersign" || len(cw[0].Dimensions) != 1 || len(cw[0].Dimensions[0]) != 1 || cw[0].Dimensions[0][0] != "table" ||
			len(cw[0].Metrics) != 1 || cw[0].Metrics[0] != (struct{ Name, Unit string }{"SweepFailures", "Count"}) || rec.SweepFailures == nil {
			t.Fatalf("not a SweepFailures line of the contract's shape: %s", line)
		}
		n += *rec.SweepFailures
	}
	return n
}

// A sweep that fails, or fails on a request, counts 1 in SweepFailures; a
// sweep that went well counts nothing.
func TestSweepFailuresMetric(t *testing.T) {
	ok := &app.SweepReport{Failed: map[string]string{}}
	partly := &app.SweepReport{Failed: map[string]string{"cr_1": "contention"}}
	for _, tt := range []struct {
		name    string
		s       sweeper
		wantErr bool
		want    int
	}{
		{"sweep failed", sweeper{nil, errors.New("DynamoDB is down")}, true, 1},
		{"a request failed", sweeper{partly, nil}, false, 1},
		{"all well", sweeper{ok, nil}, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
			_, err := timers.Handler(tt.s, log)(context.Background(), events.EventBridgeEvent{ID: "e1"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if got := sweepFailures(t, buf.String()); got != tt.want {
				t.Fatalf("SweepFailures %d, want %d; log:\n%s", got, tt.want, buf.String())
			}
		})
	}
}

// Reviews after a bypass that a sweep marked overdue count, each once, in
// BypassReviewOverdue: also when the sweep failed later.
func TestBypassReviewOverdueMetric(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    sweeper
		want int
	}{
		{"two overdue", sweeper{&app.SweepReport{Overdue: []string{"cr_1", "cr_2"}, Failed: map[string]string{}}, nil}, 2},
		{"one overdue, then the sweep failed", sweeper{&app.SweepReport{Overdue: []string{"cr_1"}, Failed: map[string]string{}}, errors.New("DynamoDB is down")}, 1},
		{"none", sweeper{&app.SweepReport{Overdue: []string{}, Failed: map[string]string{}}, nil}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
			_, _ = timers.Handler(tt.s, log)(context.Background(), events.EventBridgeEvent{ID: "e1"})
			got := 0
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var rec struct {
					AWS struct {
						CloudWatchMetrics []struct{ Metrics []struct{ Name, Unit string } }
					} `json:"_aws"`
					BypassReviewOverdue *int
				}
				if !strings.Contains(line, `"_aws"`) || json.Unmarshal([]byte(line), &rec) != nil || rec.BypassReviewOverdue == nil {
					continue
				}
				if m := rec.AWS.CloudWatchMetrics; len(m) != 1 || len(m[0].Metrics) != 1 || m[0].Metrics[0] != (struct{ Name, Unit string }{"BypassReviewOverdue", "Count"}) {
					t.Fatalf("not a BypassReviewOverdue line of the contract's shape: %s", line)
				}
				got += *rec.BypassReviewOverdue
			}
			if got != tt.want {
				t.Fatalf("BypassReviewOverdue %d, want %d; log:\n%s", got, tt.want, buf.String())
			}
		})
	}
}
