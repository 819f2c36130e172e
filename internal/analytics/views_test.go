package analytics_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	rs "github.com/rockset/rockset-go-client"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
)

func addDocs(t *testing.T, rc *rs.RockClient, ws, coll string, docs ...map[string]any) {
	t.Helper()
	in := make([]any, len(docs))
	for i, d := range docs {
		in[i] = d
	}
	if _, err := rc.AddDocuments(context.Background(), ws, coll, in); err != nil {
		t.Fatal(err)
	}
}

func queryCount(t *testing.T, rc *rs.RockClient, sql string) int {
	t.Helper()
	res, err := rc.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return int(res.Results[0]["n"].(float64))
}

func TestViewsAndAliases(t *testing.T) {
	ts := startServer(t, analytics.Config{})
	ctx := context.Background()
	rc := ts.rc
	for _, c := range []string{"a", "b"} {
		if _, err := rc.CreateCollection(ctx, "commons", c); err != nil {
			t.Fatal(err)
		}
	}
	addDocs(t, rc, "commons", "a", map[string]any{"x": 1}, map[string]any{"x": 2}, map[string]any{"x": 3})
	addDocs(t, rc, "commons", "b", map[string]any{"x": 10})

	if _, err := rc.CreateView(ctx, "commons", "big", "SELECT x FROM commons.a WHERE x > 1", option.WithViewDescription("d")); err != nil {
		t.Fatal(err)
	}
	if n := queryCount(t, rc, "SELECT COUNT(*) AS n FROM commons.big"); n != 2 {
		t.Fatalf("view: %d rows, want 2", n)
	}
	// A view over a view, and a CTE of the outer query that shares a name
	// with the view's collection does not leak into the view.
	if _, err := rc.CreateView(ctx, "commons", "bigger", "SELECT x FROM commons.big WHERE x > 2"); err != nil {
		t.Fatal(err)
	}
	if n := queryCount(t, rc, "WITH a AS (SELECT 1 AS x) SELECT COUNT(*) AS n FROM commons.bigger"); n != 1 {
		t.Fatalf("view over view: %d rows, want 1", n)
	}
	if _, err := rc.UpdateView(ctx, "commons", "big", "SELECT x FROM commons.a WHERE x >= 1"); err != nil {
		t.Fatal(err)
	}
	if n := queryCount(t, rc, "SELECT COUNT(*) AS n FROM commons.big"); n != 3 {
		t.Fatalf("updated view: %d rows, want 3", n)
	}
	v, err := rc.GetView(ctx, "commons", "big")
	if err != nil || v.GetQuerySql() != "SELECT x FROM commons.a WHERE x >= 1" || v.GetDescription() != "d" {
		t.Fatalf("view: %+v %v", v, err)
	}

	// Views meet the allow-list when created and when used.
	for _, bad := range []string{
		"SELECT getenv('HOME') AS h",
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT x FROM commons.a WHERE x = :p",
		"SELECT 1; SELECT 2",
		"SELECT * FROM commons.nosuch",
	} {
		if _, err := rc.CreateView(ctx, "commons", "bad", bad); err == nil {
			t.Errorf("view %q was created", bad)
		}
	}
	// A view updated to name itself ends in an error, not a hang.
	if _, err := rc.UpdateView(ctx, "commons", "big", "SELECT x FROM commons.bigger"); err != nil {
		t.Logf("update refused: %v", err)
	} else if _, err := rc.Query(ctx, "SELECT * FROM commons.big"); err == nil || !strings.Contains(err.Error(), "nest") {
		t.Fatalf("a view loop answered: %v", err)
	}
	if _, err := rc.CreateView(ctx, "commons", "a", "SELECT 1 AS x"); err == nil {
		t.Error("a view took a collection's name")
	}

	if _, err := rc.CreateAlias(ctx, "commons", "cur", []string{"commons.a"}); err != nil {
		t.Fatal(err)
	}
	if n := queryCount(t, rc, "SELECT COUNT(*) AS n FROM commons.cur"); n != 3 {
		t.Fatalf("alias: %d rows, want 3", n)
	}
	if err := rc.UpdateAlias(ctx, "commons", "cur", []string{"commons.b"}); err != nil {
		t.Fatal(err)
	}
	if n := queryCount(t, rc, "SELECT COUNT(*) AS n FROM commons.cur WHERE x = 10"); n != 1 {
		t.Fatalf("repointed alias: %d rows, want 1", n)
	}
	if err := rc.UpdateAlias(ctx, "commons", "cur", []string{"commons.a", "commons.b"}); err != nil {
		t.Fatal(err)
	}
	if n := queryCount(t, rc, "SELECT COUNT(*) AS n FROM commons.cur"); n != 4 {
		t.Fatalf("alias of two collections: %d rows, want 4", n)
	}
	for _, bad := range [][]string{{}, {"commons.nosuch"}, {"nodot"}} {
		if err := rc.UpdateAlias(ctx, "commons", "cur", bad); err == nil {
			t.Errorf("alias pointed at %v", bad)
		}
	}
	aliases, err := rc.ListAliases(ctx, option.WithAliasWorkspace("commons"))
	if err != nil || len(aliases) != 1 || aliases[0].GetCreatorEmail() == "" {
		t.Fatalf("aliases %+v %v", aliases, err)
	}
	if err := rc.DeleteAlias(ctx, "commons", "cur"); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Query(ctx, "SELECT * FROM commons.cur"); err == nil {
		t.Fatal("a deleted alias still resolves")
	}
	if err := rc.DeleteView(ctx, "commons", "bigger"); err != nil {
		t.Fatal(err)
	}
	views, err := rc.ListViews(ctx)
	if err != nil || len(views) != 1 {
		t.Fatalf("views %+v %v", views, err)
	}
}

// TestDeleteCollectionAnAliasNames: a collection an alias points at is not
// deleted (400 naming the aliases, nothing lost) until no alias names it.
func TestDeleteCollectionAnAliasNames(t *testing.T) {
	ts := startServer(t, analytics.Config{})
	ctx := context.Background()
	rc := ts.rc
	for _, c := range []string{"x", "y"} {
		if _, err := rc.CreateCollection(ctx, "commons", c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rc.AddDocuments(ctx, "commons", "x", []any{map[string]any{"v": 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.CreateWorkspace(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.CreateAlias(ctx, "commons", "both", []string{"commons.x", "commons.y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.CreateAlias(ctx, "other", "justx", []string{"commons.x"}); err != nil {
		t.Fatal(err)
	}

	code, b := doAuthed(t, "DELETE", ts.url+"/v1/orgs/self/ws/commons/collections/x", nil)
	if code != http.StatusBadRequest || !strings.Contains(string(b), "commons.both, other.justx") || !strings.Contains(string(b), "DEPENDENTRESOURCES") {
		t.Fatalf("deleting a collection aliases name: %d %s", code, b)
	}
	waitFor(t, 10*time.Second, "the document to be queryable", func() (bool, error) {
		res, err := rc.Query(ctx, "SELECT v FROM commons.both")
		return err == nil && len(res.Results) == 1, err
	})

	if err := rc.UpdateAlias(ctx, "commons", "both", []string{"commons.y"}); err != nil {
		t.Fatal(err)
	}
	if err := rc.DeleteCollection(ctx, "commons", "x"); err == nil || !strings.Contains(err.Error(), "other.justx") {
		t.Fatalf("with one alias left: %v", err)
	}
	if err := rc.DeleteAlias(ctx, "other", "justx"); err != nil {
		t.Fatal(err)
	}
	if err := rc.DeleteCollection(ctx, "commons", "x"); err != nil {
		t.Fatalf("with no alias left: %v", err)
	}
	if _, err := rc.Query(ctx, "SELECT * FROM commons.both"); err != nil {
		t.Fatalf("the alias of the collection that remains: %v", err)
	}
}
