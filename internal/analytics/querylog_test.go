package analytics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	rockerr "github.com/rockset/rockset-go-client/errors"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
)

// A query that runs until it is cancelled (DuckDB counts ten billion rows).
const slowSQL = "SELECT COUNT(*) AS n FROM range(10000000000) r"

func TestQueryPagination(t *testing.T) {
	ts := startServer(t, analytics.Config{})
	ctx := context.Background()
	rc := ts.rc
	if _, err := rc.CreateCollection(ctx, "commons", "pages"); err != nil {
		t.Fatal(err)
	}
	docs := make([]any, 25)
	for i := range docs {
		docs[i] = map[string]any{"i": i}
	}
	if _, err := rc.AddDocuments(ctx, "commons", "pages", docs); err != nil {
		t.Fatal(err)
	}
	first, err := rc.Query(ctx, "SELECT i FROM commons.pages ORDER BY i", option.WithMaxInitialResults(10))
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Results) != 10 || first.Pagination.GetNextCursor() == "" {
		t.Fatalf("first page: %d results, cursor %q", len(first.Results), first.Pagination.GetNextCursor())
	}
	var seen []int
	for _, r := range first.Results {
		seen = append(seen, int(r["i"].(float64)))
	}
	next := first.Pagination.GetNextCursor()
	for next != "" {
		page, err := rc.GetQueryResults(ctx, first.GetQueryId(), option.WithQueryResultCursor(next), option.WithQueryResultDocs(10))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Results {
			seen = append(seen, int(r["i"].(float64)))
		}
		next = page.Pagination.GetNextCursor()
	}
	if len(seen) != 25 {
		t.Fatalf("paged through %d rows, want 25", len(seen))
	}
	for i, v := range seen {
		if v != i {
			t.Fatalf("row %d is %d: pages overlap or skip", i, v)
		}
	}
	if _, err := rc.GetQueryResults(ctx, first.GetQueryId(), option.WithQueryResultCursor("bogus")); err == nil {
		t.Error("a cursor the server never issued was accepted")
	}

	// A small result answered whole is not kept.
	whole, err := rc.Query(ctx, "SELECT 1 AS x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.GetQueryResults(ctx, whole.GetQueryId()); err == nil {
		t.Error("pages of a query answered whole")
	}
	info, err := rc.GetQueryInfo(ctx, whole.GetQueryId())
	if err != nil || info.GetStatus() != "COMPLETED" {
		t.Errorf("info of a finished query: %+v %v", info, err)
	}
}

func TestAsyncQueryListAndCancel(t *testing.T) {
	ts := startServer(t, analytics.Config{MaxQueryTimeout: time.Minute})
	ctx := context.Background()
	rc := ts.rc

	fast, err := rc.Query(ctx, "SELECT 41 + 1 AS answer", option.WithAsync())
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Wait.UntilQueryDone(ctx, fast.GetQueryId()); err != nil {
		t.Fatal(err)
	}
	res, err := rc.GetQueryResults(ctx, fast.GetQueryId())
	if err != nil || len(res.Results) != 1 || res.Results[0]["answer"] != float64(42) {
		t.Fatalf("async results %+v %v", res.Results, err)
	}

	slow, err := rc.Query(ctx, slowSQL, option.WithAsync(), option.WithAsyncClientTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	if slow.GetStatus() != "RUNNING" || len(slow.Results) != 0 {
		t.Fatalf("a slow async query answered %s with %d results", slow.GetStatus(), len(slow.Results))
	}
	active, err := rc.ListActiveQueries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, q := range active {
		found = found || q.GetQueryId() == slow.GetQueryId()
	}
	if !found {
		t.Fatalf("the running query is not listed: %+v", active)
	}
	if _, err := rc.GetQueryResults(ctx, slow.GetQueryId()); err == nil {
		t.Error("results of a running query")
	}
	info, err := rc.CancelQuery(ctx, slow.GetQueryId())
	if err != nil || info.GetStatus() != "CANCELLED" {
		t.Fatalf("cancel: %+v %v", info, err)
	}
	active, err = rc.ListActiveQueries(ctx)
	if err != nil || len(active) != 0 {
		t.Fatalf("still active after cancel: %+v %v", active, err)
	}

	// A synchronous query cancelled from another request ends with an error.
	errc := make(chan error, 1)
	go func() {
		_, err := rc.Query(ctx, slowSQL)
		errc <- err
	}()
	var id string
	waitFor(t, 10*time.Second, "the synchronous query to be listed", func() (bool, error) {
		qs, err := rc.ListActiveQueries(ctx)
		if len(qs) == 1 {
			id = qs[0].GetQueryId()
		}
		return len(qs) == 1, err
	})
	if _, err := rc.CancelQuery(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("a cancelled query answered")
	}

	_, err = rc.GetQueryInfo(ctx, "no-such-query")
	var re rockerr.Error
	if !errors.As(err, &re) || !re.IsNotFoundError() {
		t.Fatalf("unknown query: %v", err)
	}
}
