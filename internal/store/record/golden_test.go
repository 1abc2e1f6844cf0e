package record_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/record"
	"github.com/countersign/countersign/internal/store/record/recordtest"
)

// The stores' encodings: the embedded store's is encoding/json; DynamoDB's
// is attributevalue under the records' json names (dynamostore.encode).
func jsonNames(o *attributevalue.EncoderOptions)     { o.TagKey = "json" }
func readJSONNames(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// fixture is one value the stores write, with its record conversions.
type fixture struct {
	name     string
	value    any           // the domain value
	toRecord func(any) any // record.FromX of a value of the type
	back     func() any    // value → record → domain
	fromJSON func([]byte) (any, error)
	fromItem func(map[string]types.AttributeValue) (any, error)
	boltOnly bool // DynamoDB keeps its own record (dynamostore/identity.go)
}

// full reports whether the fixture sets every field (TestFixturesAreFull);
// variants (zero, empty lists, defaults) have a dot in their name.
func (f fixture) full() bool { return !strings.Contains(f.name, ".") }

func fx[D any, R record.Of[D]](name string, from func(D) R, v D) fixture {
	return fixture{
		name: name, value: v,
		toRecord: func(v any) any { return from(v.(D)) },
		back:     func() any { return from(v).Domain() },
		fromJSON: func(raw []byte) (any, error) {
			var r R
			err := json.Unmarshal(raw, &r)
			return r.Domain(), err
		},
		fromItem: func(it map[string]types.AttributeValue) (any, error) {
			var r R
			err := attributevalue.UnmarshalMapWithOptions(it, &r, readJSONNames)
			return r.Domain(), err
		},
	}
}

func boltOnly(f fixture) fixture { f.boltOnly = true; return f }

func fixtures() []fixture {
	flag, env := fullFlag(), fullEnvironment()
	emptyFlag := fullFlag()
	emptyFlag.Tags, emptyFlag.Variants = []string{}, []domain.Variant{}
	emptyRule := fullFlagConfig()
	emptyRule.Rules = []domain.Rule{{Name: "nobody", Conditions: []domain.Condition{{Attribute: "a", Operator: domain.OpIn, Values: []string{}}}, Allocation: domain.Allocation{Weights: []domain.Weight{}}}}
	emptyRule.DefaultRule.Weights = []domain.Weight{}
	emptySegment := domain.Segment{Key: "nobody", Included: []string{}, Excluded: []string{},
		Rules: []domain.SegmentRule{{Conditions: []domain.Condition{{Attribute: "a", Operator: domain.OpExists, Values: []string{}}}}}}
	emptyCR := domain.ChangeRequest{
		ID: "cr_2", NotifyReviewers: []string{}, Reviews: []domain.Review{}, UsedLinks: []string{},
		Timeline: []domain.TimelineEvent{{Type: "created", Mentions: []string{}, MentionsNotMailed: []string{}}},
		Policy:   domain.Policy{DesignatedReviewers: []string{}, Environments: []string{}},
	}
	emptyAudit := domain.AuditEntry{ID: "a_2", Approvers: []string{}, Mentions: []string{}, MentionsNotMailed: []string{},
		Diff: &domain.Diff{Operations: json.RawMessage(`[]`), Summary: []string{}}}
	newOutbox := domain.OutboxItem{ID: "a_1", Entry: fullAuditEntry(), State: domain.OutboxPending, NextAttemptAt: at(25), Done: []string{}, Version: 1}
	emptyDeliveries := newOutbox
	emptyDeliveries.Deliveries = map[string]domain.OutboxDelivery{}
	return []fixture{
		fx("project", record.FromProject, fullProject()),
		fx("project.zero", record.FromProject, domain.Project{}),
		fx("environment", record.FromEnvironment, env),
		fx("environment.zero", record.FromEnvironment, domain.Environment{}),
		fx("flag", record.FromFlag, flag),
		fx("flag.zero", record.FromFlag, domain.Flag{}),
		fx("flag.empty", record.FromFlag, emptyFlag),
		fx("flag_config", record.FromFlagConfig, fullFlagConfig()),
		fx("flag_config.zero", record.FromFlagConfig, domain.FlagConfig{}),
		fx("flag_config.default", record.FromFlagConfig, *domain.DefaultFlagConfig(&flag, "staging")),
		fx("flag_config.empty", record.FromFlagConfig, emptyRule),
		fx("segment", record.FromSegment, fullSegment()),
		fx("segment.zero", record.FromSegment, domain.Segment{}),
		fx("segment.empty", record.FromSegment, emptySegment),
		fx("team", record.FromTeam, fullTeam()),
		fx("team.zero", record.FromTeam, domain.Team{}),
		fx("team.empty", record.FromTeam, domain.Team{Key: "nobody", Members: []string{}}),
		fx("member", record.FromMember, fullMember()),
		fx("member.zero", record.FromMember, domain.Member{}),
		fx("token", record.FromToken, fullToken()),
		fx("token.zero", record.FromToken, domain.Token{}),
		fx("org_settings", record.FromOrgSettings, fullOrgSettings()),
		fx("org_settings.zero", record.FromOrgSettings, domain.OrgSettings{}),
		fx("approval_settings", record.FromApprovalSettings, fullApprovalSettings()),
		fx("approval_settings.zero", record.FromApprovalSettings, domain.ApprovalSettings{}),
		fx("approval_settings.default", record.FromApprovalSettings, *domain.DefaultApprovalSettings(&env)),
		fx("change_request", record.FromChangeRequest, fullChangeRequest()),
		fx("change_request.zero", record.FromChangeRequest, domain.ChangeRequest{}),
		fx("governance_request", record.FromChangeRequest, fullGovernanceRequest()),
		fx("change_request.empty", record.FromChangeRequest, emptyCR),
		fx("audit_entry", record.FromAuditEntry, fullAuditEntry()),
		fx("audit_entry.zero", record.FromAuditEntry, domain.AuditEntry{}),
		fx("audit_entry.empty", record.FromAuditEntry, emptyAudit),
		fx("outbox_item", record.FromOutboxItem, fullOutboxItem()),
		fx("outbox_item.zero", record.FromOutboxItem, domain.OutboxItem{}),
		fx("outbox_item.new", record.FromOutboxItem, newOutbox),
		fx("outbox_item.empty_deliveries", record.FromOutboxItem, emptyDeliveries),
		fx("sdk_key", record.FromSDKKey, fullSDKKey()),
		fx("sdk_key.zero", record.FromSDKKey, domain.SDKKey{}),
		fx("freeze_calendar", record.FromFreezeCalendar, fullFreezeCalendar()),
		fx("freeze_calendar.zero", record.FromFreezeCalendar, domain.FreezeCalendar{}),
		fx("freeze_calendar.empty", record.FromFreezeCalendar, domain.FreezeCalendar{Freezes: []domain.Freeze{{ID: "fz_3", Name: "All", Environments: []string{}, Scheduled: domain.FreezeFail}}, Version: 2}),
		boltOnly(fx("sign_in_link", record.FromSignInLink, fullSignInLink())),
		boltOnly(fx("sign_in_link.zero", record.FromSignInLink, domain.SignInLink{})),
		boltOnly(fx("session", record.FromSession, fullSession())),
		boltOnly(fx("session.zero", record.FromSession, domain.Session{})),
	}
}

// TestGolden pins the stored form of every record: the JSON the embedded
// store writes (testdata/<name>.json, byte for byte) and the item
// attributes DynamoDB stores (testdata/<name>.dynamodb.json, beside the keys
// and index attributes the store adds). The goldens were written from the
// stores as they were before records existed, when they encoded the domain
// structs themselves: the records store exactly what was stored. What is
// stored also reads back, into a value that is stored again byte for byte
// (a field that did not read back would be missing).
func TestGolden(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			raw, err := json.Marshal(f.toRecord(f.value))
			if err != nil {
				t.Fatal(err)
			}
			recordtest.Golden(t, filepath.Join("testdata", f.name+".json"), raw)
			read, err := f.fromJSON(raw)
			if err != nil {
				t.Fatal(err)
			}
			if again, err := json.Marshal(f.toRecord(read)); err != nil || string(again) != string(raw) {
				t.Errorf("stored again from JSON: %s, %v\nwant %s", again, err, raw)
			}
			if f.boltOnly {
				return
			}
			it, err := attributevalue.MarshalMapWithOptions(f.toRecord(f.value), jsonNames)
			if err != nil {
				t.Fatal(err)
			}
			av, err := recordtest.ItemJSON(it)
			if err != nil {
				t.Fatal(err)
			}
			recordtest.Golden(t, filepath.Join("testdata", f.name+".dynamodb.json"), av)
			if read, err = f.fromItem(it); err != nil {
				t.Fatal(err)
			}
			again, err := attributevalue.MarshalMapWithOptions(f.toRecord(read), jsonNames)
			if err != nil {
				t.Fatal(err)
			}
			if av2, _ := recordtest.ItemJSON(again); string(av2) != string(av) {
				t.Errorf("stored again from the item:\n%s\nwant\n%s", av2, av)
			}
		})
	}
}
