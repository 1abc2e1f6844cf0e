package dynamostore_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/countersign/countersign/internal/domain"
)

// A team is ORG / TEAM#<key>, its members a list of strings and its
// version a number; ORG / TEAMS counts the teams.
func TestTeamItemLayout(t *testing.T) {
	s, c, table := newStore(t)
	ctx := context.Background()
	must(t, s.CreateTeam(ctx, &domain.Team{Key: "sre", Name: "SRE", Members: []string{"m1", "m2"}}, nil))
	must(t, s.CreateTeam(ctx, &domain.Team{Key: "ops", Name: "Ops", Members: []string{}}, nil))
	must(t, s.DeleteTeam(ctx, "ops", func(*domain.Team, *domain.Audit) error { return nil }))
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
	team := get("ORG", "TEAM#sre")
	members, ok := team["members"].(*types.AttributeValueMemberL)
	if !ok || len(members.Value) != 2 {
		t.Fatalf("members: want a list of 2, got %#v", team["members"])
	}
	if m, ok := members.Value[1].(*types.AttributeValueMemberS); !ok || m.Value != "m2" {
		t.Errorf("members[1]: %#v", members.Value[1])
	}
	if v, ok := team["version"].(*types.AttributeValueMemberN); !ok || v.Value != "1" {
		t.Errorf("version: %#v", team["version"])
	}
	if n, ok := get("ORG", "TEAMS")["team_count"].(*types.AttributeValueMemberN); !ok || n.Value != "1" {
		t.Errorf("team_count: want 1, got %#v", n)
	}
}
