package console_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/countersign/countersign/internal/domain"
)

// A custom variant value nested deeper than domain.MaxVariantValueDepth,
// typed into the new-flag form, is refused by the flag's validation like
// any other bad field: the form comes back with the error at the variants,
// and nothing is written.
func TestFlagCreateRefusesTooDeepVariantValue(t *testing.T) {
	fw := newFlagWorld(t)
	auditBefore := len(fw.auditAll())
	d := domain.MaxVariantValueDepth + 1
	deep := strings.Repeat(`{"a":`, d/2) + strings.Repeat(`[`, d-d/2) + `"x"` + strings.Repeat(`]`, d-d/2) + strings.Repeat(`}`, d/2)
	fw.ed.post("/projects/shop/flags", url.Values{"key": {"nest"}, "name": {"Nest"}, "kind": {"custom"},
		"variants": {"flat=\"x\"\ndeep=" + deep + "\n"}}).want(422).
		has(`role="alert"`, `<a href="#new-variants">Variant 2 value</a>`, `id="new-variants-error"`,
			fmt.Sprintf("nests arrays and objects %d deep; a variant&#39;s value may nest at most %d deep", d, domain.MaxVariantValueDepth))
	if _, err := fw.svc.GetFlag(fw.ctx, fw.admin, "shop", "nest"); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("a refused flag exists: %v", err)
	}
	if n := len(fw.auditAll()); n != auditBefore {
		t.Fatalf("the refused form wrote %d audit entries", n-auditBefore)
	}
	// at the bound the same form creates the flag
	ok := strings.Repeat(`[`, domain.MaxVariantValueDepth) + strings.Repeat(`]`, domain.MaxVariantValueDepth)
	fw.ed.post("/projects/shop/flags", url.Values{"key": {"nest"}, "name": {"Nest"}, "kind": {"custom"},
		"variants": {"flat=\"x\"\ndeep=" + ok + "\n"}}).want(303)
}
