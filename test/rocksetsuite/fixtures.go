package rocksetsuite

import (
	"context"
	"errors"
	"fmt"
	"math"

	rs "github.com/rockset/rockset-go-client"
	rockerr "github.com/rockset/rockset-go-client/errors"
	"github.com/rockset/rockset-go-client/option"
)

// SnpDocuments is how many documents the suite expects in persistent.snp
// (paginate's integration test counts them).
const SnpDocuments = 2632

// Fixture is one thing the client's suite assumes exists in Rockset's CI
// organisation, made through the API like any user would.
type Fixture struct {
	Name   string
	Create func(ctx context.Context, rc *rs.RockClient) error
}

// Fixtures are the persistent resources the client's tests read (found by
// reading them: internal/test's Persistent* names and the literals in the
// test files). Each is created through the public API.
var Fixtures = []Fixture{
	{"workspace persistent", func(ctx context.Context, rc *rs.RockClient) error {
		return ignoreExists(rc.CreateWorkspace(ctx, "persistent"))
	}},
	{"workspace acc (views)", func(ctx context.Context, rc *rs.RockClient) error {
		return ignoreExists(rc.CreateWorkspace(ctx, "acc"))
	}},
	// The suite only reads this integration back by name. Kafka integrations
	// are not supported, so it is a Kinesis integration with that name.
	{"integration acc-kafka-integration", func(ctx context.Context, rc *rs.RockClient) error {
		return ignoreExists(rc.CreateKinesisIntegration(ctx, "acc-kafka-integration",
			option.AWSRole("arn:aws:iam::000000000000:role/streamdash-rocksetsuite")))
	}},
	{"collection persistent.snp with 2632 documents", func(ctx context.Context, rc *rs.RockClient) error {
		if err := ignoreExists(rc.CreateCollection(ctx, "persistent", "snp")); err != nil {
			return err
		}
		return addDocuments(ctx, rc, "persistent", "snp", snpDocuments())
	}},
	{"collection commons.writetest (writer integration test)", func(ctx context.Context, rc *rs.RockClient) error {
		return ignoreExists(rc.CreateCollection(ctx, "commons", "writetest"))
	}},
	{"role integration-test", func(ctx context.Context, rc *rs.RockClient) error {
		return ignoreExists(rc.CreateRole(ctx, "integration-test",
			option.WithRoleDescription("role of the keys the client's suite creates"),
			option.WithWorkspacePrivilege(option.QueryDataWs, "commons"),
			option.WithWorkspacePrivilege(option.ExecuteQueryLambdaWs, "commons"),
			option.WithWorkspacePrivilege(option.ListResourcesWs, "commons"),
		))
	}},
	{"alias persistent.getalias", func(ctx context.Context, rc *rs.RockClient) error {
		return ignoreExists(rc.CreateAlias(ctx, "persistent", "getalias", []string{"persistent.snp"},
			option.WithAliasDescription("read by TestAliases_getAlias")))
	}},
	{"query lambda commons.eventType tagged test", func(ctx context.Context, rc *rs.RockClient) error {
		ql, err := rc.CreateQueryLambda(ctx, "commons", "eventType",
			"SELECT e.kind, e.type, COUNT(*) AS n FROM commons._events e GROUP BY e.kind, e.type")
		if err := ignoreExists(ql, err); err != nil {
			return err
		}
		if err != nil {
			return nil
		}
		_, err = rc.CreateQueryLambdaTag(ctx, "commons", "eventType", ql.GetVersion(), "test")
		return err
	}},
}

// CreateFixtures creates every fixture and returns what failed, by fixture.
func CreateFixtures(ctx context.Context, rc *rs.RockClient) map[string]error {
	failed := map[string]error{}
	for _, f := range Fixtures {
		if err := f.Create(ctx, rc); err != nil {
			failed[f.Name] = err
		}
	}
	return failed
}

func ignoreExists[T any](_ T, err error) error {
	var re rockerr.Error
	if errors.As(err, &re) && re.StatusCode == 409 {
		return nil
	}
	return err
}

// snpDocuments are daily closes of a made-up index: deterministic, so every
// run loads the same documents.
func snpDocuments() []any {
	docs := make([]any, SnpDocuments)
	for i := range docs {
		day := float64(i)
		docs[i] = map[string]any{
			"_id":    fmt.Sprintf("snp-%04d", i),
			"date":   fmt.Sprintf("day-%04d", i),
			"close":  math.Round((1000+day*0.8+50*math.Sin(day/20))*100) / 100,
			"volume": 1_000_000 + (i*7919)%500_000,
		}
	}
	return docs
}

func addDocuments(ctx context.Context, rc *rs.RockClient, ws, coll string, docs []any) error {
	const batch = 500
	for start := 0; start < len(docs); start += batch {
		res, err := rc.AddDocuments(ctx, ws, coll, docs[start:min(start+batch, len(docs))])
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.GetStatus() == "ERROR" {
				e := r.GetError()
				return fmt.Errorf("document %s: %s", r.GetId(), e.GetMessage())
			}
		}
	}
	return nil
}
