package record_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
)

// TestRoundTrip: a domain value converted to its record and back is the
// value itself, every field of it (nil and empty lists apart).
func TestRoundTrip(t *testing.T) {
	for _, f := range fixtures() {
		if got := f.back(); !reflect.DeepEqual(got, f.value) {
			t.Errorf("%s: domain → record → domain:\n got %+v\nwant %+v", f.name, got, f.value)
		}
	}
}

// recordOf pairs every domain struct the stores persist, nested ones
// included, with its record.
var recordOf = map[reflect.Type]reflect.Type{}

func pair[D any, R record.Of[D]]() {
	recordOf[reflect.TypeFor[D]()] = reflect.TypeFor[R]()
}

func init() {
	pair[domain.Project, record.Project]()
	pair[domain.Environment, record.Environment]()
	pair[domain.Variant, record.Variant]()
	pair[domain.Flag, record.Flag]()
	pair[domain.Weight, record.Weight]()
	pair[domain.Allocation, record.Allocation]()
	pair[domain.Condition, record.Condition]()
	pair[domain.Rule, record.Rule]()
	pair[domain.FlagConfig, record.FlagConfig]()
	pair[domain.SegmentRule, record.SegmentRule]()
	pair[domain.Segment, record.Segment]()
	pair[domain.Team, record.Team]()
	pair[domain.Suppression, record.Suppression]()
	pair[domain.Member, record.Member]()
	pair[domain.Token, record.Token]()
	pair[domain.SDKKey, record.SDKKey]()
	pair[domain.OrgSettings, record.OrgSettings]()
	pair[domain.BypassGrant, record.BypassGrant]()
	pair[domain.ApprovalSettings, record.ApprovalSettings]()
	pair[domain.TeamRequirement, record.TeamRequirement]()
	pair[domain.Policy, record.Policy]()
	pair[domain.Requirement, record.Requirement]()
	pair[domain.Review, record.Review]()
	pair[domain.TimelineEvent, record.TimelineEvent]()
	pair[domain.Change, record.Change]()
	pair[domain.GovernanceChange, record.GovernanceChange]()
	pair[domain.FieldError, record.Weakening]()
	pair[domain.ChangeRequest, record.ChangeRequest]()
	pair[domain.BypassRecord, record.BypassRecord]()
	pair[domain.Diff, record.Diff]()
	pair[domain.AuditEntry, record.AuditEntry]()
	pair[domain.OutboxDelivery, record.OutboxDelivery]()
	pair[domain.OutboxItem, record.OutboxItem]()
	pair[domain.SignInLink, record.SignInLink]()
	pair[domain.Session, record.Session]()
	pair[domain.Freeze, record.Freeze]()
	pair[domain.FreezeCalendar, record.FreezeCalendar]()
}

// notStored lists the domain fields ("Type.Field") deliberately kept out of
// the records, and why. None today.
var notStored = map[string]string{}

// recordOnly lists the record fields ("Type.Field") no domain field has,
// and why.
var recordOnly = map[string]string{
	"ChangeRequest.Flags":        "derived from the changes: what the flag filter of a list matches",
	"ChangeRequest.Environments": "derived from the changes: what the environment filter of a list matches",
	"ChangeRequest.Legacy":       "the one change of a request stored before requests held several: read, never written",
}

// TestEveryFieldHasARecordField fails when a domain struct the stores
// persist gains a field its record lacks (or loses one its record has): a
// new field must get a record field, its conversions, and a value in the
// full fixture (TestFixturesAreFull), or be listed in notStored. It also
// fails when a persisted struct holds a struct type that has no record.
func TestEveryFieldHasARecordField(t *testing.T) {
	for d, r := range recordOf {
		var want []string
		for f := range d.Fields() {
			if f.IsExported() && notStored[d.Name()+"."+f.Name] == "" {
				want = append(want, f.Name)
			}
			if n := nestedStruct(f.Type); n != nil {
				if _, ok := recordOf[n]; !ok {
					t.Errorf("%s.%s is a %s, which has no record", d.Name(), f.Name, n)
				}
			}
		}
		var got []string
		for f := range r.Fields() {
			if recordOnly[d.Name()+"."+f.Name] == "" {
				got = append(got, f.Name)
			}
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s has fields %v, its record %v: a field is missing on one side", d, want, got)
		}
	}
}

// nestedStruct is the struct type t holds (through pointers, lists and
// maps), nil for none and for times.
func nestedStruct(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeFor[time.Time]() {
		return nil
	}
	return t
}

// TestFixturesAreFull: the fixtures without a variant name set every field
// of every persisted type somewhere (each list and map with an element),
// so that the goldens and the round trip cover all of them.
func TestFixturesAreFull(t *testing.T) {
	set := map[reflect.Type]map[string]bool{}
	for _, f := range fixtures() {
		if f.full() {
			markSet(reflect.ValueOf(f.value), set)
		}
	}
	for d := range recordOf {
		for f := range d.Fields() {
			if !set[d][f.Name] {
				t.Errorf("no full fixture sets %s.%s", d.Name(), f.Name)
			}
		}
	}
}

// markSet records, for every struct in v, which of its fields are set.
func markSet(v reflect.Value, set map[reflect.Type]map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			markSet(v.Elem(), set)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			markSet(v.Index(i), set)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			markSet(v.MapIndex(k), set)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		if set[v.Type()] == nil {
			set[v.Type()] = map[string]bool{}
		}
		for f := range v.Type().Fields() {
			fv := v.FieldByIndex(f.Index)
			empty := (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0
			if !fv.IsZero() && !empty {
				set[v.Type()][f.Name] = true
			}
			markSet(fv, set)
		}
	}
}
