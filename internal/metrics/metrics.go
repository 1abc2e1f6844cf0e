// Package metrics emits Countersign's custom CloudWatch metrics in embedded
// metric format (EMF): each count is one JSON log line that CloudWatch Logs
// turns into a metric data point, with no API call and no agent.
//
// Every metric is in namespace Countersign, with one dimension, table (the
// DynamoDB table: one per stack, so two stacks in one account have their own
// metrics and alarms), in unit Count. The names are a contract with template.yaml's alarms and dashboard
// (metricContract in infra/deploy_template_test.go checks both sides):
// renaming one silences its alarm.
package metrics

import (
	"context"
	"log/slog"
	"time"
)

// Namespace is the CloudWatch namespace of every metric here.
const Namespace = "Countersign"

// Dimension is the one dimension of every metric: the property of the log
// line that names the stack's DynamoDB table. The logger carries it
// (config.Logger); EMF reads a dimension's value from the line's property
// of that name, and a line without it records no metric.
const Dimension = "table"

// The metrics.
const (
	// OutboxDeadLettered counts outbox deliveries (one recipient's e-mail,
	// or an event) that were given up: after their retries, or at once for
	// a failure no retry can fix that is not a refusal. The notifier emits
	// it; a refused recipient counts MailRefused instead.
	OutboxDeadLettered = "OutboxDeadLettered"
	// MailRefused counts recipients the mail service refused for good (not
	// retried): SES MessageRejected (in the sandbox, an unverified
	// recipient), an SMTP 5xx to RCPT TO, an address that does not parse.
	// The notifier emits it.
	MailRefused = "MailRefused"
	// SweepFailures counts timer sweeps that failed (could not read what was
	// due, or failed on a request). The timers emit it.
	SweepFailures = "SweepFailures"
	// BypassReviewOverdue counts reviews after a bypass that passed their
	// deadline unacknowledged (each once, when a sweep marks it overdue).
	// The timers emit it.
	BypassReviewOverdue = "BypassReviewOverdue"
)

// Names are the metrics the code emits, as the template's alarms expect them.
var Names = []string{OutboxDeadLettered, MailRefused, SweepFailures, BypassReviewOverdue}

// Unit is the unit of every metric here.
const Unit = "Count"

// directive is the "_aws" member of an EMF line.
type directive struct {
	Timestamp         int64        `json:"Timestamp"` // milliseconds since the epoch
	CloudWatchMetrics []metricsDoc `json:"CloudWatchMetrics"`
}

type metricsDoc struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []definition `json:"Metrics"`
}

type definition struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// now is the wall clock of the data points (CloudWatch's time, never a
// development clock); tests replace it.
var now = time.Now

// Count emits one EMF line through log's handler: name = value, in
// namespace Countersign, with the dimension table (Dimensions [["table"]],
// its value the logger's table attribute), unit Count,
// with attrs as plain properties (which outbox item, which member: searchable
// in Logs Insights, not dimensions). The line is a warning record, written
// whatever the log level (a metric is never filtered out), so on Lambda it
// goes to stdout with the function's other JSON log lines:
//
//	{"time":"…","level":"WARN","msg":"metric MailRefused","stage":"prod","table":"countersign-prod",
//	 "_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"Countersign",
//	 "Dimensions":[["table"]],"Metrics":[{"Name":"MailRefused","Unit":"Count"}]}]},
//	 "MailRefused":1,"outbox":"…","member":"…"}
//
// The logger must be a JSON one without groups (config.Logger's is): EMF
// wants _aws and the value at the top level. A nil logger emits nothing.
func Count(ctx context.Context, log *slog.Logger, name string, value int, attrs ...slog.Attr) {
	if log == nil {
		return
	}
	t := now()
	d := directive{
		Timestamp: t.UnixMilli(),
		CloudWatchMetrics: []metricsDoc{{
			Namespace:  Namespace,
			Dimensions: [][]string{{Dimension}},
			Metrics:    []definition{{Name: name, Unit: Unit}},
		}},
	}
	r := slog.NewRecord(t, slog.LevelWarn, "metric "+name, 0)
	r.AddAttrs(slog.Any("_aws", d), slog.Int(name, value))
	r.AddAttrs(attrs...)
	// the handler directly: Logger.Log would drop the line below the level
	_ = log.Handler().Handle(ctx, r)
}
