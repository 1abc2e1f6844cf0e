package httpapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/app"
	"github.com/countersign/countersign/internal/domain"
)

// viewDecision is what the API does with each field of one domain (or
// application) struct that a view shows: every exported field is shown by
// the view field of the same name (or the one shownAs names), or hidden,
// with the reason. A field added to a domain struct fails
// TestViewsDecideEveryField until it is given a decision here, and in
// views.go when it is shown.
type viewDecision struct {
	from, view reflect.Type
	shownAs    map[string]string // domain field → view field, where the names differ
	hidden     map[string]string // domain field → why no client sees it
	extra      map[string]string // view field → what it shows, when no domain field of from feeds it
	toView     func(from any) any
	fromView   func(view any) any // for views clients also send (bodies, patch documents)
}

func decide[D, V any](toView func(*D) V) viewDecision {
	return viewDecision{from: reflect.TypeFor[D](), view: reflect.TypeFor[V](),
		toView: func(d any) any { return toView(d.(*D)) }}
}

// both is decide for a view that also converts back to the domain.
func both[D, V any](toView func(*D) V, fromView func(*V) D) viewDecision {
	d := decide(toView)
	d.fromView = func(v any) any { return fromView(v.(*V)) }
	return d
}

func (d viewDecision) hide(field, why string) viewDecision {
	d.hidden = withKey(d.hidden, field, why)
	return d
}

func (d viewDecision) as(field, viewField string) viewDecision {
	d.shownAs = withKey(d.shownAs, field, viewField)
	return d
}

func (d viewDecision) plus(viewField, what string) viewDecision {
	d.extra = withKey(d.extra, viewField, what)
	return d
}

func withKey(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for kk, vv := range m {
		out[kk] = vv
	}
	return out
}

// viewDecisions are the decisions for every struct the API shows.
var viewDecisions = []viewDecision{
	both(projectView, (*ProjectView).toDomain),
	both(environmentView, (*EnvironmentView).toDomain),
	both(flagView, (*FlagView).toDomain),
	both(variantView, (*VariantView).toDomain),
	both(flagConfigView, (*FlagConfigView).toDomain),
	both(ruleView, (*RuleView).toDomain),
	both(allocationView, (*AllocationView).toDomain),
	both(weightView, (*WeightView).toDomain),
	both(conditionView, (*ConditionView).toDomain),
	both(segmentView, (*SegmentView).toDomain),
	both(segmentRuleView, (*SegmentRuleView).toDomain),
	both(memberView, (*MemberView).toDomain),
	both(teamView, (*TeamView).toDomain),
	both(freezeView, (*FreezeView).toDomain).
		plus("Active", "whether the freeze is in force now (Freeze.Window)").
		plus("NextWindow", "the window in force, or else the next one (Freeze.Window, Freeze.Next)"),
	both(suppressionView, (*SuppressionView).toDomain),
	decide(orgSettingsView),
	both(approvalSettingsView, (*ApprovalSettingsView).toDomain),
	both(bypassGrantView, (*BypassGrantView).toDomain),
	both(teamRequirementView, (*TeamRequirementView).toDomain),
	decide(policyView),
	decide(requirementView),
	decide(reviewView),
	decide(timelineEventView),
	decide(bypassRecordView),
	decide(changeRequestView).
		hide("UsedLinks", "the nonces of the e-mail action links already used: the server's record of spent links, a secret").
		plus("ProposedConfig", "a one-change request's proposal (its change's), as before requests held several").
		plus("ProposedFlag", "a one-change request's proposal (its change's), as before requests held several").
		plus("BaseVersion", "a one-change request's base version (its change's), as before requests held several").
		plus("BaseConfig", "a one-change request's base (its change's), as before requests held several").
		plus("BaseFlag", "a one-change request's base (its change's), as before requests held several"),
	decide(changeView),
	decide(governanceChangeView).
		hide("BaseOrg", "the base: the request's diff shows the proposal against the live rule").
		hide("BaseSettings", "the base: the request's diff shows the proposal against the live rule").
		hide("BaseEnv", "the base: the request's diff shows the proposal against the live rule").
		hide("BasePerson", "the base: the request's diff shows the proposal against the live rule").
		hide("BaseTeam", "the base: the request's diff shows the proposal against the live rule"),
	decide(weakeningView).
		hide("Parameter", "weakenings name fields of a body, never query parameters"),
	decide(memberRolesView).
		hide("ID", "the change names its member (governance.member)").
		hide("Email", "a role change shows roles only").
		hide("Name", "a role change shows roles only").
		hide("EmailOptOut", "a role change shows roles only").
		hide("EmailSuppressed", "a role change shows roles only").
		hide("Version", "a role change shows roles only").
		hide("CreatedAt", "a role change shows roles only").
		hide("UpdatedAt", "a role change shows roles only"),
	decide(changeDetailView),
	decide(segmentUseView),
	decide(diffView),
	decide(unreachableReviewerView),
	decide(requestView). // the request's own fields are promoted from domain.ChangeRequest, as above
				hide("UsedLinks", "the nonces of the e-mail action links already used: the server's record of spent links, a secret").
				plus("ProposedConfig", "a one-change request's proposal (its change's), as before requests held several").
				plus("ProposedFlag", "a one-change request's proposal (its change's), as before requests held several").
				plus("BaseVersion", "a one-change request's base version (its change's), as before requests held several").
				plus("BaseConfig", "a one-change request's base (its change's), as before requests held several").
				plus("BaseFlag", "a one-change request's base (its change's), as before requests held several").
				as("ChangeViews", "ChangeDetails"),
	decide(auditEntryView),
	decide(outboxDeliveryView),
	decide(outboxItemView),
	decide(tokenView).
		hide("Hash", "the SHA-256 of the token's secret").
		plus("Service", "Token.Service(): no member").
		plus("Token", "the secret, in the answer that created the token only"),
	decide(sdkKeyView).
		hide("Hash", "the SHA-256 of the key's secret").
		plus("Key", "the secret, in the answers that created or rotated the key only"),
	decide(func(s *domain.Session) SessionView { return sessionView(s, true) }).
		hide("Hash", "the SHA-256 of the session cookie's secret").
		hide("CSRFToken", "only the session's own holder gets it (GET /v1/session)").
		as("LastSeen", "LastSeenAt").
		as("IdleUntil", "IdleExpiresAt").
		plus("Current", "whether the session listed is the caller's"),
	decide(func(s *domain.Session) CurrentSessionView { return currentSessionView(s, &domain.Member{}) }).
		hide("Hash", "the SHA-256 of the session cookie's secret").
		hide("MemberID", "shown as member.id, from the member").
		hide("Role", "the role at sign-in; member.role shows the member's role now").
		hide("LastSeen", "not part of the caller's own session answer (the list has it)").
		hide("RevokedAt", "a revoked session answers 401, never this").
		hide("UserAgent", "not part of the caller's own session answer (the list has it)").
		as("IdleUntil", "IdleExpiresAt").
		plus("Member", "the member, from domain.Member (SessionMember)"),
	decide(sessionMember).
		hide("EmailOptOut", "a session answer names its member only").
		hide("EmailSuppressed", "a session answer names its member only").
		hide("Version", "a session answer names its member only").
		hide("CreatedAt", "a session answer names its member only").
		hide("UpdatedAt", "a session answer names its member only"),
	decide(fieldErrorView),
}

var (
	timeT = reflect.TypeFor[time.Time]()
	// the packages whose structs are never encoded for clients as they are
	unshownPackages = []string{reflect.TypeFor[domain.Flag]().PkgPath(), reflect.TypeFor[app.RequestView]().PkgPath()}
)

// fieldsOf maps the names of a struct's exported fields to them, with the
// fields of embedded structs promoted (as encoding/json and Go do); the
// embedded fields themselves are not listed.
func fieldsOf(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	var walk func(t reflect.Type, index []int, depth int, depths map[string]int)
	walk = func(t reflect.Type, index []int, depth int, depths map[string]int) {
		for i := range t.NumField() {
			f := t.Field(i)
			f.Index = append(slices.Clone(index), i)
			if f.Anonymous {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, f.Index, depth+1, depths)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if d, seen := depths[f.Name]; seen && d <= depth {
				continue
			}
			depths[f.Name] = depth
			out[f.Name] = f
		}
	}
	walk(t, nil, 0, map[string]int{})
	return out
}

func decisionFor(decisions []viewDecision, from, view reflect.Type) *viewDecision {
	for i := range decisions {
		if decisions[i].from == from && decisions[i].view == view {
			return &decisions[i]
		}
	}
	return nil
}

// shownField is the view field a domain field is shown by ("" if hidden).
func (d *viewDecision) shownField(name string) string {
	if _, hidden := d.hidden[name]; hidden {
		return ""
	}
	if as, ok := d.shownAs[name]; ok {
		return as
	}
	return name
}

// TestViewsDecideEveryField fails when a field of a struct the API shows
// has no decision: neither shown by its view nor listed as hidden. It also
// keeps the decisions honest: hidden, renamed and extra fields exist, every
// view field is accounted for, and a shown field's view has the same shape
// (a struct shown by a view that has its own decision, anything else by the
// same kind).
func TestViewsDecideEveryField(t *testing.T) {
	for _, d := range viewDecisions {
		for _, err := range decisionErrors(viewDecisions, d) {
			t.Error(err)
		}
	}
}

// decisionErrors checks one decision (nested structs against the others
// of decisions).
func decisionErrors(decisions []viewDecision, d viewDecision) []string {
	var errs []string
	failf := func(format string, args ...any) {
		errs = append(errs, d.from.String()+" → "+d.view.Name()+": "+fmt.Sprintf(format, args...))
	}
	from, view := fieldsOf(d.from), fieldsOf(d.view)
	fed := map[string]bool{}
	for _, f := range sortedFields(from) {
		target := d.shownField(f.Name)
		if target == "" {
			if _, clash := view[f.Name]; clash && d.extra[f.Name] == "" {
				failf("%s is hidden, yet the view has a field of that name", f.Name)
			}
			continue
		}
		vf, ok := view[target]
		if !ok {
			failf("%s.%s has no decision: show it in %s (views.go), or hide it in viewDecisions (views_test.go) saying why no client may see it",
				d.from.Name(), f.Name, d.view.Name())
			continue
		}
		fed[target] = true
		if err := sameShape(decisions, f.Type, vf.Type); err != nil {
			failf("%s shown by %s: %v", f.Name, target, err)
		}
	}
	for field := range d.hidden {
		if _, ok := from[field]; !ok {
			failf("hides %s, which %s does not have", field, d.from.Name())
		}
	}
	for field, as := range d.shownAs {
		if _, ok := from[field]; !ok {
			failf("shows %s as %s, but %s has no %s", field, as, d.from.Name(), field)
		}
	}
	for _, f := range sortedFields(view) {
		_, extra := d.extra[f.Name]
		switch {
		case fed[f.Name] && extra:
			failf("%s is listed as extra, yet a field of %s feeds it", f.Name, d.from.Name())
		case !fed[f.Name] && !extra:
			failf("the view's %s comes from no field of %s: list it as extra, saying what it shows", f.Name, d.from.Name())
		}
	}
	for field := range d.extra {
		if _, ok := view[field]; !ok {
			failf("lists %s as extra, which the view does not have", field)
		}
	}
	sort.Strings(errs)
	return errs
}

// The check itself: a record that gains a field, at the top or nested,
// fails until the field is shown or hidden.
type (
	probeRecord struct {
		Name   string
		Secret string
		Inner  []probeInner
		Added  int // the field added without a decision
	}
	probeInner struct {
		Key   string
		Added *time.Time // nested, likewise
	}
	probeView struct {
		Name  string
		Inner []probeInnerView
	}
	probeInnerView struct{ Key string }
)

func TestViewDecisionsCatchNewFields(t *testing.T) {
	decisions := []viewDecision{
		decide(func(*probeRecord) probeView { return probeView{} }).hide("Secret", "a secret"),
		decide(func(*probeInner) probeInnerView { return probeInnerView{} }),
	}
	var got []string
	for _, d := range decisions {
		got = append(got, decisionErrors(decisions, d)...)
	}
	want := []string{"probeRecord.Added has no decision", "probeInner.Added has no decision"}
	if len(got) != len(want) {
		t.Fatalf("want %d errors, got %q", len(want), got)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("error %d: want %q, got %q", i, want[i], got[i])
		}
	}
	// hiding the one and showing the other settles both
	decisions[0] = decisions[0].hide("Added", "bookkeeping")
	decisions[1] = decisions[1].hide("Added", "bookkeeping")
	for _, d := range decisions {
		if errs := decisionErrors(decisions, d); len(errs) > 0 {
			t.Errorf("after the decisions: %q", errs)
		}
	}
	// a hidden field a view shows all the same is a contradiction
	clash := decide(func(*probeInner) probeInnerView { return probeInnerView{} }).hide("Key", "no").hide("Added", "no")
	if errs := decisionErrors(decisions, clash); !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, "Key is hidden, yet the view has") }) {
		t.Errorf("a hidden field shown: %q", errs)
	}
}

func sortedFields(m map[string]reflect.StructField) []reflect.StructField {
	out := make([]reflect.StructField, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// sameShape says whether a view type shows a domain type: pointers,
// slices and maps alike, a struct by a view with a decision for it,
// anything else by the same kind.
func sameShape(decisions []viewDecision, from, view reflect.Type) error {
	switch {
	case from == timeT || view == timeT:
		if from != view {
			return fmt.Errorf("%s is shown as %s", from, view)
		}
		return nil
	case from.Kind() != view.Kind():
		return fmt.Errorf("%s is shown as %s", from, view)
	}
	switch from.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return sameShape(decisions, from.Elem(), view.Elem())
	case reflect.Map:
		if err := sameShape(decisions, from.Key(), view.Key()); err != nil {
			return err
		}
		return sameShape(decisions, from.Elem(), view.Elem())
	case reflect.Struct:
		if decisionFor(decisions, from, view) == nil {
			return fmt.Errorf("no decision says how %s shows %s", view, from)
		}
	}
	return nil
}

// TestViewsCopyEveryField converts a domain value whose every field is set
// (fill) to its view, and every view that converts back from a value whose
// every field is set, and checks that each shown field arrived whole, at
// every depth: a conversion that forgets a field fails here even when the
// view has it.
func TestViewsCopyEveryField(t *testing.T) {
	for _, d := range viewDecisions {
		name := d.from.String() + " → " + d.view.Name()
		src := reflect.New(d.from)
		fill(src.Interface(), d.from.Name())
		out := reflect.ValueOf(d.toView(src.Interface()))
		for _, err := range compareShown(src.Elem(), out, d.from.Name()) {
			t.Errorf("%s: %v", name, err)
		}
		if d.fromView == nil {
			continue
		}
		v := reflect.New(d.view)
		fill(v.Interface(), d.view.Name())
		back := reflect.ValueOf(d.fromView(v.Interface()))
		for _, err := range compareShown(back, v.Elem(), d.view.Name()) {
			t.Errorf("%s (back): %v", name, err)
		}
		for field := range d.hidden {
			if f := back.FieldByIndex(fieldsOf(d.from)[field].Index); !f.IsZero() {
				t.Errorf("%s (back): the hidden %s is set from the view", name, field)
			}
		}
	}
}

// compareShown compares a domain value with its view, field by shown field.
func compareShown(from, view reflect.Value, path string) []error {
	d := decisionFor(viewDecisions, from.Type(), view.Type())
	if d == nil {
		return []error{fmt.Errorf("%s: no decision for %s → %s", path, from.Type(), view.Type())}
	}
	var errs []error
	vf := fieldsOf(view.Type())
	for name, f := range fieldsOf(from.Type()) {
		target := d.shownField(name)
		if target == "" {
			continue
		}
		g, ok := vf[target]
		if !ok {
			continue // TestViewsDecideEveryField says so
		}
		fv, err := fieldByIndex(from, f.Index)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %v", path, name, err))
			continue
		}
		gv, err := fieldByIndex(view, g.Index)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.%s: %v", path, target, err))
			continue
		}
		errs = append(errs, compareValues(fv, gv, path+"."+name)...)
	}
	return errs
}

func fieldByIndex(v reflect.Value, index []int) (reflect.Value, error) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return v, fmt.Errorf("an embedded struct is nil")
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, nil
}

func compareValues(a, b reflect.Value, path string) []error {
	if a.Type() == timeT {
		if !a.Interface().(time.Time).Equal(b.Interface().(time.Time)) {
			return []error{fmt.Errorf("%s: %v shown as %v", path, a, b)}
		}
		return nil
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return []error{fmt.Errorf("%s: nil is %v, shown nil is %v", path, a.IsNil(), b.IsNil())}
			}
			return nil
		}
		return compareValues(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return []error{fmt.Errorf("%s: %d elements (nil %v) shown as %d (nil %v)", path, a.Len(), a.IsNil(), b.Len(), b.IsNil())}
		}
		var errs []error
		for i := range a.Len() {
			errs = append(errs, compareValues(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return []error{fmt.Errorf("%s: %d entries shown as %d", path, a.Len(), b.Len())}
		}
		var errs []error
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k.Convert(b.Type().Key()))
			if !bv.IsValid() {
				errs = append(errs, fmt.Errorf("%s[%v]: not shown", path, k))
				continue
			}
			errs = append(errs, compareValues(a.MapIndex(k), bv, fmt.Sprintf("%s[%v]", path, k))...)
		}
		return errs
	case reflect.Struct:
		return compareShown(a, b, path)
	}
	if !a.Type().ConvertibleTo(b.Type()) || !reflect.DeepEqual(a.Convert(b.Type()).Interface(), b.Interface()) {
		return []error{fmt.Errorf("%s: %v shown as %v", path, a, b)}
	}
	return nil
}

// filledViews are the answers of fully filled domain values. The files
// under testdata/views were written from the domain values' own JSON before
// the views existed (less used_links, which no client may see): together
// with the golden scenario they pin every member of every answer,
// including the ones the scenario cannot reach (apply_pending, say).
func filledViews() map[string]func() any {
	filled := func(root string, v any) any { fill(v, root); return v }
	return map[string]func() any{
		"project":     func() any { return projectView(filled("Project", &domain.Project{}).(*domain.Project)) },
		"environment": func() any { return environmentView(filled("Environment", &domain.Environment{}).(*domain.Environment)) },
		"flag":        func() any { return flagView(filled("Flag", &domain.Flag{}).(*domain.Flag)) },
		"targeting":   func() any { return flagConfigView(filled("FlagConfig", &domain.FlagConfig{}).(*domain.FlagConfig)) },
		"segment":     func() any { return segmentView(filled("Segment", &domain.Segment{}).(*domain.Segment)) },
		"member":      func() any { return memberView(filled("Member", &domain.Member{}).(*domain.Member)) },
		"team":        func() any { return teamView(filled("Team", &domain.Team{}).(*domain.Team)) },
		"freeze":      func() any { return freezeView(filled("Freeze", &domain.Freeze{}).(*domain.Freeze)) },
		"settings":    func() any { return orgSettingsView(filled("OrgSettings", &domain.OrgSettings{}).(*domain.OrgSettings)) },
		"approval-settings": func() any {
			return approvalSettingsView(filled("ApprovalSettings", &domain.ApprovalSettings{}).(*domain.ApprovalSettings))
		},
		"change-request": func() any {
			return changeRequestView(filled("ChangeRequest", &domain.ChangeRequest{}).(*domain.ChangeRequest))
		},
		"request-view": func() any { return requestView(filled("RequestView", &app.RequestView{}).(*app.RequestView)) },
		"timeline-event": func() any {
			return timelineEventView(filled("TimelineEvent", &domain.TimelineEvent{}).(*domain.TimelineEvent))
		},
		"audit-entry": func() any { return auditEntryView(filled("AuditEntry", &domain.AuditEntry{}).(*domain.AuditEntry)) },
		"outbox-item": func() any { return outboxItemView(filled("OutboxItem", &domain.OutboxItem{}).(*domain.OutboxItem)) },
		"problem":     func() any { return filled("Problem", &Problem{}) },
		"token":       func() any { return tokenView(filled("Token", &domain.Token{}).(*domain.Token)) },
		"token-created": func() any {
			v := tokenView(filled("Token", &domain.Token{}).(*domain.Token))
			v.Token = "secret"
			return v
		},
		"sdk-key": func() any { return sdkKeyView(filled("SDKKey", &domain.SDKKey{}).(*domain.SDKKey)) },
		"sdk-key-rotated": func() any {
			v := RotatedSDKKeyView{SDKKeyView: sdkKeyView(filled("SDKKey", &domain.SDKKey{}).(*domain.SDKKey)),
				Old: sdkKeyView(filled("OldSDKKey", &domain.SDKKey{}).(*domain.SDKKey))}
			v.Key = "secret"
			return v
		},
	}
}

func TestViewsJSONOfFilledValues(t *testing.T) {
	const dir = "testdata/views"
	update := flag.Lookup("update-golden")
	for name, build := range filledViews() {
		var got bytes.Buffer
		enc := json.NewEncoder(&got)
		enc.SetEscapeHTML(false) // as writeJSON
		if err := enc.Encode(build()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		file := filepath.Join(dir, name+".json")
		if update != nil && update.Value.String() == "true" {
			if err := os.WriteFile(file, got.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got.Bytes(), want) {
			i := 0
			for i < got.Len() && i < len(want) && got.Bytes()[i] == want[i] {
				i++
			}
			from := max(0, i-100)
			t.Errorf("%s: the view of a filled value differs from %s at byte %d:\n got: …%s\nwant: …%s", name, file, i,
				clipped(got.Bytes()[from:]), clipped(want[from:]))
		}
		for _, secret := range []string{`"used_links"`, `"hash"`, `UsedLinks`, `.Hash"`} {
			if bytes.Contains(got.Bytes(), []byte(secret)) {
				t.Errorf("%s: the view shows %s", name, secret)
			}
		}
	}
}

// ---- every value encoded for clients is a view ----

var (
	shownMu         sync.Mutex
	shownViolations []string
	shownChecked    sync.Map // reflect.Type → error (nil: no domain struct in it)
)

// domainStructIn names the first struct of the domain or app packages in
// t's graph (what encoding/json would walk); nil when there is none.
func domainStructIn(t reflect.Type) error {
	if t == nil {
		return nil
	}
	if err, ok := shownChecked.Load(t); ok {
		if err == nil {
			return nil
		}
		return err.(error)
	}
	shownChecked.Store(t, nil) // cycles end here
	var err error
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		err = domainStructIn(t.Elem())
	case reflect.Map:
		if err = domainStructIn(t.Key()); err == nil {
			err = domainStructIn(t.Elem())
		}
	case reflect.Struct:
		if slices.Contains(unshownPackages, t.PkgPath()) {
			err = fmt.Errorf("%s", t)
			break
		}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous || f.Tag.Get("json") == "-" {
				continue
			}
			if e := domainStructIn(f.Type); e != nil {
				err = fmt.Errorf("%s.%s: %w", t.Name(), f.Name, e)
				break
			}
		}
	}
	if err != nil {
		shownChecked.Store(t, err)
	}
	return err
}

// TestMain runs the package's tests (the API tests of httpapi_test too)
// with every encoded value checked: a handler that writes a domain struct,
// or patches one's JSON, fails the run, naming it.
func TestMain(m *testing.M) {
	shownCheck = func(v any) {
		if err := domainStructIn(reflect.TypeOf(v)); err != nil {
			pcs := make([]uintptr, 8)
			n := runtime.Callers(2, pcs)
			frames := runtime.CallersFrames(pcs[:n])
			var where []string
			for {
				f, more := frames.Next()
				where = append(where, f.Function)
				if !more {
					break
				}
			}
			shownMu.Lock()
			shownViolations = append(shownViolations, fmt.Sprintf("%v, encoded by %s", err, strings.Join(where, " ← ")))
			shownMu.Unlock()
		}
	}
	code := m.Run()
	if len(shownViolations) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: domain structs were encoded for clients instead of views:\n  %s\n", strings.Join(slices.Compact(slices.Sorted(slices.Values(shownViolations))), "\n  "))
		code = 1
	}
	os.Exit(code)
}

func TestShownCheckCatchesDomainStructs(t *testing.T) {
	for _, c := range []struct {
		v    any
		want bool
	}{
		{domain.Flag{}, true},
		{&domain.Project{}, true},
		{List[domain.AuditEntry]{}, true},
		{app.RequestView{}, true},
		{struct {
			X map[string]domain.OutboxDelivery
		}{}, true},
		{RequestView{}, false},
		{List[ChangeRequestView]{}, false},
		{Problem{}, false},
		{map[string]string{}, false},
		{domain.Role("admin"), false},
	} {
		if err := domainStructIn(reflect.TypeOf(c.v)); (err != nil) != c.want {
			t.Errorf("%T: found %v, want a domain struct found: %v", c.v, err, c.want)
		}
	}
}

func clipped(b []byte) string {
	if len(b) > 240 {
		return string(b[:240]) + "…"
	}
	return string(b)
}
