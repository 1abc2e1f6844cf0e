package console

import (
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// A timeline event without its own words would show its raw type.
func TestEveryEventHasText(t *testing.T) {
	for _, typ := range domain.EventTypes {
		if eventTexts[typ] == "" {
			t.Errorf("timeline event %q has no text in eventTexts", typ)
		}
	}
}
