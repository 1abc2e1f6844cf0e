package httpapi_test

import (
	"slices"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// The OpenAPI document lists exactly the audit actions and timeline events
// the domain has: a new one the document does not name would fail clients
// that validate against it (member.email_suppressed once did).
func TestOpenAPINamesTheVocabularies(t *testing.T) {
	doc, _, err := loadSpec()
	if err != nil {
		t.Fatal(err)
	}
	enum := func(schema, property string) []string {
		s := doc.Components.Schemas[schema]
		if s == nil || s.Value.Properties[property] == nil {
			t.Fatalf("openapi.yaml has no %s.%s", schema, property)
		}
		var out []string
		for _, v := range s.Value.Properties[property].Value.Enum {
			out = append(out, v.(string))
		}
		slices.Sort(out)
		return out
	}
	var actions, events []string
	for _, a := range domain.AuditActions {
		actions = append(actions, string(a))
	}
	for _, e := range domain.EventTypes {
		events = append(events, string(e))
	}
	slices.Sort(actions)
	slices.Sort(events)
	if got := enum("AuditEntry", "action"); !slices.Equal(got, actions) {
		t.Errorf("AuditEntry.action in openapi.yaml is\n%v\nthe domain's audit actions are\n%v", got, actions)
	}
	if got := enum("TimelineEvent", "type"); !slices.Equal(got, events) {
		t.Errorf("TimelineEvent.type in openapi.yaml is\n%v\nthe domain's timeline events are\n%v", got, events)
	}
}
