package record_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
	"github.com/countersign/countersign/internal/store/record/recordtest"
)

// A request stored before requests held several changes (the golden files
// change_request.legacy*, as both stores wrote them) reads as a request of
// one change, with its proposal and base; written again, it takes the new
// shape and keeps no legacy field.
func TestLegacyChangeRequestReadsAsOneChange(t *testing.T) {
	check := func(t *testing.T, r record.ChangeRequest) {
		t.Helper()
		cr := r.Domain()
		if len(cr.Changes) != 1 {
			t.Fatalf("a legacy request reads as %d changes", len(cr.Changes))
		}
		ch := cr.Changes[0]
		if ch.Kind != domain.KindTargeting || ch.Flag != "new-checkout" || ch.Environment != "production" || ch.BaseVersion != 6 ||
			ch.ProposedConfig == nil || !ch.ProposedConfig.Enabled || ch.ProposedFlag == nil || ch.BaseConfig == nil || ch.BaseConfig.Version != 6 || ch.BaseFlag == nil {
			t.Fatalf("the legacy change: %+v", ch)
		}
		again := record.FromChangeRequest(cr)
		if again.Legacy != (record.Legacy{}) || len(again.Changes) != 1 || again.Flags[0] != "new-checkout" || again.Environments[0] != "production" {
			t.Fatalf("written again: legacy %+v, changes %d, flags %v, environments %v", again.Legacy, len(again.Changes), again.Flags, again.Environments)
		}
	}
	t.Run("json", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("testdata", "change_request.legacy.json"))
		if err != nil {
			t.Fatal(err)
		}
		var r record.ChangeRequest
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		check(t, r)
	})
	t.Run("dynamodb", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join("testdata", "change_request.legacy.dynamodb.json"))
		if err != nil {
			t.Fatal(err)
		}
		item, err := recordtest.ItemFromJSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		var r record.ChangeRequest
		if err := attributevalue.UnmarshalMapWithOptions(item, &r, readJSONNames); err != nil {
			t.Fatal(err)
		}
		check(t, r)
	})
}
