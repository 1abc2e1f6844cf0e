package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/clock/clocktest"
)

// One count is one JSON line in CloudWatch embedded metric format: _aws
// with the timestamp in milliseconds and one metric directive (namespace
// Countersign, no dimensions, the name with unit Count), the value under
// the metric's name, the properties beside it, all at the top level.
func TestCountShape(t *testing.T) {
	at := clocktest.Epoch.Add(123 * time.Millisecond)
	now = func() time.Time { return at }
	t.Cleanup(func() { now = time.Now })

	var buf bytes.Buffer
	// a logger that shows only errors: metrics are written all the same
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})).With("stage", "prod", Dimension, "countersign-prod")
	log.Warn("an ordinary warning is filtered out")
	Count(context.Background(), log, MailRefused, 1, slog.String("outbox", "a1"), slog.String("delivery", "email:m1"))

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line, got %d:\n%s", len(lines), buf.String())
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("%v: %s", err, lines[0])
	}
	wantAWS := fmt.Sprintf(`{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"Countersign","Dimensions":[["table"]],"Metrics":[{"Name":"MailRefused","Unit":"Count"}]}]}`, at.UnixMilli())
	if got := string(rec["_aws"]); got != wantAWS {
		t.Errorf("_aws is\n%s\nwant\n%s", got, wantAWS)
	}
	for k, want := range map[string]string{"MailRefused": `1`, "outbox": `"a1"`, "delivery": `"email:m1"`, "stage": `"prod"`, "table": `"countersign-prod"`,
		"level": `"WARN"`, "msg": `"metric MailRefused"`} {
		if got := string(rec[k]); got != want {
			t.Errorf("%s is %s, want %s", k, got, want)
		}
	}
	if len(rec) != 9 { // the above, _aws and time
		t.Errorf("members: %s", lines[0])
	}
}

func TestNames(t *testing.T) {
	want := []string{"OutboxDeadLettered", "MailRefused", "SweepFailures", "BypassReviewOverdue"}
	if strings.Join(Names, ",") != strings.Join(want, ",") || Namespace != "Countersign" || Unit != "Count" {
		t.Fatalf("Names %v, Namespace %s, Unit %s", Names, Namespace, Unit)
	}
}

func TestNilLogger(t *testing.T) {
	Count(context.Background(), nil, SweepFailures, 1) // does nothing, does not panic
}
