package dynamostore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
	"github.com/countersign/countersign/internal/store/dynamostore"
	"github.com/countersign/countersign/internal/store/storetest"
)

const (
	endpointEnv = "COUNTERSIGN_DYNAMODB_ENDPOINT"
	requireEnv  = "COUNTERSIGN_REQUIRE_DYNAMODB"
)

// endpoint returns DynamoDB Local's endpoint, or skips (fails, when it is
// required) the test without one.
func endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv(endpointEnv)
	if ep == "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("DynamoDB Local is not running: %s is not set (and %s=1 requires the DynamoDB suite). "+
				"Start it with `scripts/dynamodb-local.sh start` and export the %s=http://127.0.0.1:<port> it prints, or run `make test`, which does both.",
				endpointEnv, requireEnv, endpointEnv)
		}
		t.Skipf("%s is not set, so the DynamoDB store tests are skipped; `make test` runs it against DynamoDB Local "+
			"(or start it with `scripts/dynamodb-local.sh start` and export the endpoint it prints)", endpointEnv)
	}
	return ep
}

func client(t testing.TB) *dynamodb.Client {
	t.Helper()
	ep := endpoint(t)
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("countersign", "local", ""),
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ep) })
}

var tables atomic.Int64

// newTable creates a fresh, uniquely named table and deletes it when the test
// ends.
func newTable(t testing.TB, c *dynamodb.Client) string {
	t.Helper()
	name := fmt.Sprintf("countersign-test-%d-%d", time.Now().UnixNano(), tables.Add(1)) // wall clock: a unique table name
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamostore.CreateTable(ctx, c, name); err != nil {
		t.Fatalf("create table (is DynamoDB Local running at %s? scripts/dynamodb-local.sh start): %v", os.Getenv(endpointEnv), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("delete table %s: %v", name, err)
		}
	})
	return name
}

func newStore(t *testing.T) (*dynamostore.Store, *dynamodb.Client, string) {
	t.Helper()
	c := client(t)
	table := newTable(t, c)
	return dynamostore.New(c, table), c, table
}

func TestConformance(t *testing.T) {
	t.Logf("DynamoDB store conformance suite against %s", endpoint(t))
	storetest.Run(t, func(t *testing.T) domain.Store {
		s, _, _ := newStore(t)
		return s
	})
}

func TestCreateTableDeclaresIndexesAndStream(t *testing.T) {
	_, c, table := newStore(t)
	ctx := context.Background()
	// A second call finds the table and leaves it as it is.
	if err := dynamostore.CreateTable(ctx, c, table); err != nil {
		t.Fatalf("CreateTable on an existing table: %v", err)
	}
	out, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	if d.TableStatus != types.TableStatusActive {
		t.Errorf("table status %s, want ACTIVE", d.TableStatus)
	}
	wantKeys := func(what string, ks []types.KeySchemaElement, hash, rng string) {
		t.Helper()
		if len(ks) != 2 || aws.ToString(ks[0].AttributeName) != hash || ks[0].KeyType != types.KeyTypeHash ||
			aws.ToString(ks[1].AttributeName) != rng || ks[1].KeyType != types.KeyTypeRange {
			t.Errorf("%s key schema: want %s (hash) and %s (range), got %+v", what, hash, rng, ks)
		}
	}
	wantKeys("table", d.KeySchema, "PK", "SK")
	attrTypes := map[string]types.ScalarAttributeType{}
	for _, a := range d.AttributeDefinitions {
		attrTypes[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	for _, n := range []string{"PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"} {
		if attrTypes[n] != types.ScalarAttributeTypeS {
			t.Errorf("attribute %s: want type S, got %q", n, attrTypes[n])
		}
	}
	var names []string
	for _, g := range d.GlobalSecondaryIndexes {
		n := aws.ToString(g.IndexName)
		names = append(names, n)
		wantKeys(n, g.KeySchema, n+"PK", n+"SK")
		if g.Projection == nil || g.Projection.ProjectionType != types.ProjectionTypeAll {
			t.Errorf("%s should project all attributes, got %+v", n, g.Projection)
		}
	}
	slices.Sort(names)
	if fmt.Sprint(names) != "[GSI1 GSI2 GSI3]" {
		t.Errorf("global secondary indexes: %v", names)
	}
	if s := d.StreamSpecification; s == nil || !aws.ToBool(s.StreamEnabled) || s.StreamViewType != types.StreamViewTypeNewAndOldImages {
		t.Errorf("want a NEW_AND_OLD_IMAGES stream, got %+v", d.StreamSpecification)
	}
	if aws.ToString(d.LatestStreamArn) == "" {
		t.Error("the table has no stream ARN")
	}
	if b := d.BillingModeSummary; b == nil || b.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("want on-demand billing, got %+v", d.BillingModeSummary)
	}
}

func newFlag(key string, variants ...string) *domain.Flag {
	f := &domain.Flag{
		Project: "p", Key: key, Name: key, Tags: []string{"checkout"}, BucketingUnit: "user_id", BucketingSalt: "salt1234",
		EvaluationMode: domain.EvaluationRemote,
	}
	for _, v := range variants {
		f.Variants = append(f.Variants, domain.Variant{Key: v, Value: json.RawMessage(`"` + v + `"`)})
	}
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// serve makes fn's config serve variant to everyone, if the flag has it.
func serve(variant string) func(*domain.Flag, *domain.FlagConfig, *domain.ConfigWrite) error {
	return func(f *domain.Flag, c *domain.FlagConfig, _ *domain.ConfigWrite) error {
		if !f.HasVariant(variant) {
			return domain.Errorf(domain.CodeInvalid, "flag has no variant %q", variant)
		}
		c.Enabled = true
		c.DefaultRule = domain.Allocation{Rollout: 100, Weights: []domain.Weight{{Variant: variant, Weight: 1}}}
		return c.Validate(f)
	}
}

// dropVariant removes variant from the flag, unless a config serves it.
func dropVariant(variant string) func(*domain.Flag, []domain.FlagConfig, *domain.Audit) error {
	return func(f *domain.Flag, configs []domain.FlagConfig, _ *domain.Audit) error {
		for _, c := range configs {
			if c.UsesVariant(variant) {
				return domain.Errorf(domain.CodeConflict, "variant %q is served in %s", variant, c.Environment)
			}
		}
		f.Variants = slices.DeleteFunc(f.Variants, func(v domain.Variant) bool { return v.Key == variant })
		return nil
	}
}

func setupFlag(t *testing.T, s *dynamostore.Store) {
	t.Helper()
	ctx := context.Background()
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "P"}, domain.DefaultEnvironments()))
	must(t, s.CreateFlag(ctx, newFlag("f", "on", "control", "extra"), nil))
}

// A config write that commits while a flag update is deciding (after it read
// the configs) makes the flag write fail and retry; the retry sees the config
// and refuses to drop the variant it serves.
func TestConfigWriteBetweenFlagReadAndWrite(t *testing.T) {
	s, _, _ := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	calls := 0
	_, err := s.UpdateFlag(ctx, "p", "f", func(f *domain.Flag, configs []domain.FlagConfig, a *domain.Audit) error {
		calls++
		if calls == 1 {
			// The race, made certain: the config write lands between this
			// update's read and its write.
			if _, err := s.UpdateFlagConfig(ctx, "p", "f", "production", serve("extra")); err != nil {
				t.Errorf("config write inside the race: %v", err)
			}
		}
		return dropVariant("extra")(f, configs, a)
	})
	if domain.ErrorCode(err) != domain.CodeConflict || calls != 2 {
		t.Fatalf("the flag update should have been retried once and refused, got %v after %d calls", err, calls)
	}
	f, c, err := s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	if !f.HasVariant("extra") || f.Version != 1 || !c.UsesVariant("extra") || c.Version != 1 {
		t.Fatalf("flag %+v and config %+v: the served variant must still exist", f, c)
	}
}

// A flag update that commits while a config write is deciding makes the
// config transaction fail (flag version) and retry; the retry sees the
// variant gone and refuses to serve it.
func TestFlagUpdateBetweenConfigReadAndWrite(t *testing.T) {
	s, _, _ := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	calls := 0
	_, err := s.UpdateFlagConfig(ctx, "p", "f", "production", func(f *domain.Flag, c *domain.FlagConfig, w *domain.ConfigWrite) error {
		calls++
		if calls == 1 {
			if _, err := s.UpdateFlag(ctx, "p", "f", dropVariant("extra")); err != nil {
				t.Errorf("flag update inside the race: %v", err)
			}
		}
		return serve("extra")(f, c, w)
	})
	if domain.ErrorCode(err) != domain.CodeInvalid || calls != 2 {
		t.Fatalf("the config write should have been retried once and refused, got %v after %d calls", err, calls)
	}
	f, c, err := s.GetFlagConfig(ctx, "p", "f", "production")
	must(t, err)
	if f.HasVariant("extra") || f.Version != 2 || c.Version != 0 || c.UsesVariant("extra") {
		t.Fatalf("flag %+v and config %+v: no config may serve a removed variant", f, c)
	}
}

// The same invariant under real concurrency: writers that add a config
// serving "extra" race writers that drop "extra"; afterwards either the flag
// has it or nothing serves it.
func TestFlagAndConfigWritersNeverInterleave(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "P"}, domain.DefaultEnvironments()))
	for round := range 6 {
		key := fmt.Sprintf("f%d", round)
		f := newFlag(key, "on", "extra")
		must(t, s.CreateFlag(ctx, f, nil))
		done := make(chan error, 4)
		for _, env := range []string{"development", "staging", "production"} {
			go func() {
				_, err := s.UpdateFlagConfig(ctx, "p", key, env, serve("extra"))
				done <- err
			}()
		}
		go func() {
			_, err := s.UpdateFlag(ctx, "p", key, dropVariant("extra"))
			done <- err
		}()
		for range 4 {
			if err := <-done; err != nil && domain.ErrorCode(err) != domain.CodeConflict && domain.ErrorCode(err) != domain.CodeInvalid {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		got, err := s.GetFlag(ctx, "p", key)
		must(t, err)
		if got.HasVariant("extra") {
			continue
		}
		var configs int
		for _, env := range []string{"development", "staging", "production"} {
			_, c, err := s.GetFlagConfig(ctx, "p", key, env)
			must(t, err)
			if c.UsesVariant("extra") {
				t.Fatalf("round %d: %s serves variant extra, which the flag no longer has", round, env)
			}
			if c.Version > 0 {
				configs++
			}
		}
		t.Logf("round %d: the flag update won; %d config writes came first", round, configs)
	}
}

// A read-modify-write that loses every race gives up with ErrContention.
func TestContentionGivesUp(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	must(t, s.CreateProject(ctx, &domain.Project{Key: "p", Name: "P"}, nil))
	calls := 0
	_, err := s.UpdateProject(ctx, "p", func(p *domain.Project) error {
		calls++
		// Another writer changes the project every time this one has read it.
		if _, err := s.UpdateProject(ctx, "p", func(p *domain.Project) error { p.Description += "x"; return nil }); err != nil {
			t.Errorf("competing write: %v", err)
		}
		p.Name = "never written"
		return nil
	})
	if !errors.Is(err, domain.ErrContention) {
		t.Fatalf("want ErrContention, got %v", err)
	}
	if calls < 5 || calls > 20 {
		t.Fatalf("want about ten attempts, got %d", calls)
	}
	p, err := s.GetProject(ctx, "p")
	must(t, err)
	if p.Name != "P" || int(p.Version) != 1+calls {
		t.Fatalf("project after giving up: %+v", p)
	}
}

// Cursors are the base64url of a sort key of the same list.
func TestCursorOfAnotherList(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := context.Background()
	for _, id := range []string{"m1", "m2"} {
		must(t, s.CreateMember(ctx, &domain.Member{ID: id, Email: id + "@example.com", Name: id, Role: domain.RoleViewer}))
	}
	_, next, err := s.ListMembers(ctx, domain.Page{Limit: 1})
	must(t, err)
	if next == "" {
		t.Fatal("want a next cursor")
	}
	_, _, err = s.ListProjects(ctx, domain.Page{Cursor: next})
	if domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("a members cursor on the projects list: want invalid, got %v", err)
	}
	_, _, err = s.ListTokens(ctx, "", domain.Page{Cursor: "VE9LRU4j"}) // "TOKEN#", no key after the prefix
	if domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("a cursor without a key: want invalid, got %v", err)
	}
}

// Items are the entities' JSON plus their keys and the store's counters; a
// config is in GSI1 under its environment.
func TestItemLayout(t *testing.T) {
	s, c, table := newStore(t)
	setupFlag(t, s)
	ctx := context.Background()
	_, err := s.UpdateFlagConfig(ctx, "p", "f", "staging", serve("on"))
	must(t, err)
	must(t, s.CreateMember(ctx, &domain.Member{ID: "m1", Email: "Ada@Example.com", Name: "Ada", Role: domain.RoleAdmin}))

	get := func(pk, sk string) map[string]types.AttributeValue {
		t.Helper()
		out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk},
		}})
		must(t, err)
		if out.Item == nil {
			t.Fatalf("no item %s/%s", pk, sk)
		}
		return out.Item
	}
	wantN := func(it map[string]types.AttributeValue, name, want string) {
		t.Helper()
		if n, ok := it[name].(*types.AttributeValueMemberN); !ok || n.Value != want {
			t.Errorf("%s: want %s, got %#v", name, want, it[name])
		}
	}
	wantS := func(it map[string]types.AttributeValue, name, want string) {
		t.Helper()
		if s, ok := it[name].(*types.AttributeValueMemberS); !ok || s.Value != want {
			t.Errorf("%s: want %q, got %#v", name, want, it[name])
		}
	}
	project := get("ORG", "PROJECT#p")
	wantN(project, "env_count", "3")
	wantN(project, "flag_seq", "1")
	wantN(project, "version", "1")
	flag := get("PROJECT#p", "FLAG#f")
	wantN(flag, "config_seq", "1")
	wantS(flag, "bucketing_salt", "salt1234")
	wantS(flag, "evaluation_mode", "remote")
	get("PROJECT#p", "ENV#production")
	config := get("PROJECT#p", "CONFIG#f#staging")
	wantS(config, "GSI1PK", "ENVCONFIG#p#staging")
	wantS(config, "GSI1SK", "f")
	wantS(config, "off_variant", "off")
	wantS(get("ORG", "EMAIL#ada@example.com"), "member_id", "m1")

	e, err := expression.NewBuilder().WithKeyCondition(expression.Key("GSI1PK").Equal(expression.Value("ENVCONFIG#p#staging"))).Build()
	must(t, err)
	out, err := c.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		IndexName:                 aws.String("GSI1"),
		KeyConditionExpression:    e.KeyCondition(),
		ExpressionAttributeNames:  e.Names(),
		ExpressionAttributeValues: e.Values(),
	})
	must(t, err)
	if len(out.Items) != 1 {
		t.Fatalf("GSI1 for staging: want the one config, got %d items", len(out.Items))
	}
}

// only is the error of a change-request transition.
func only(_ domain.Transition, err error) error { return err }
