package analytics_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	rs "github.com/rockset/rockset-go-client"

	"github.com/streamdash/streamdash/internal/analytics"
)

// TestDocuments drives the write API through the stock client: add with and
// without _id, upsert by _id, refused documents beside accepted ones,
// patch, delete, and fences.
func TestDocuments(t *testing.T) {
	ts := startServer(t, analytics.Config{})
	ctx := context.Background()
	rc := ts.rc
	if _, err := rc.CreateCollection(ctx, "commons", "docs"); err != nil {
		t.Fatal(err)
	}
	count := func(where string) int {
		t.Helper()
		res, err := rc.Query(ctx, "SELECT COUNT(*) AS n FROM commons.docs "+where)
		if err != nil {
			t.Fatal(err)
		}
		return int(res.Results[0]["n"].(float64))
	}

	res, err := rc.AddDocumentsWithOffset(ctx, "commons", "docs", []any{
		map[string]any{"_id": "a", "n": 1, "tags": []any{"x"}},
		map[string]any{"n": 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || res.Data[0].GetId() != "a" || res.Data[1].GetId() == "" || res.Data[1].GetStatus() != "ADDED" {
		t.Fatalf("statuses %+v", res.Data)
	}
	if err := rc.Wait.UntilQueryable(ctx, "commons", "docs", []string{res.GetLastOffset()}); err != nil {
		t.Fatal(err)
	}
	if n := count(""); n != 2 {
		t.Fatalf("%d documents, want 2", n)
	}

	// The same _id again replaces the whole document; a refused document does not stop the others.
	statuses, err := rc.AddDocuments(ctx, "commons", "docs", []any{map[string]any{"_id": "a", "n": 10}})
	if err != nil || statuses[0].GetStatus() != "ADDED" {
		t.Fatalf("%+v %v", statuses, err)
	}
	if n := count("WHERE n = 10"); n != 1 || count("") != 2 {
		t.Fatalf("upsert: %d with n=10, %d in all", n, count(""))
	}
	body := []byte(`{"data":[{"_id":"b","n":3},[1,2],{"_id":7}]}`)
	var raw struct {
		Data []struct {
			ID     string `json:"_id"`
			Status string `json:"status"`
			Error  struct{ Message string }
		} `json:"data"`
	}
	post(t, ts.url+"/v1/orgs/self/ws/commons/collections/docs/docs", body, &raw)
	if len(raw.Data) != 3 || raw.Data[0].Status != "ADDED" || raw.Data[1].Status != "ERROR" || raw.Data[2].Status != "ERROR" ||
		raw.Data[1].Error.Message == "" || raw.Data[2].Error.Message == "" {
		t.Fatalf("mixed batch statuses: %+v", raw.Data)
	}
	if n := count(""); n != 3 {
		t.Fatalf("%d documents after the mixed batch, want 3", n)
	}

	patched, err := rc.PatchDocuments(ctx, "commons", "docs", []rs.PatchDocument{
		{ID: "a", Patches: []rs.PatchOperation{{Op: "replace", Path: "/n", Value: 11}, {Op: "add", Path: "/tags", Value: []any{"y"}}, {Op: "add", Path: "/tags/0", Value: "x"}}},
		{ID: "missing", Patches: []rs.PatchOperation{{Op: "replace", Path: "/n", Value: 1}}},
		{ID: "b", Patches: []rs.PatchOperation{{Op: "replace", Path: "/nope", Value: 1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if patched[0].GetStatus() != "PATCHED" || patched[1].GetStatus() != "ERROR" || patched[2].GetStatus() != "ERROR" {
		for _, p := range patched {
			e := p.GetError()
			t.Logf("%s %s %s", p.GetId(), p.GetStatus(), e.GetMessage())
		}
		t.Fatal("patch statuses")
	}
	q, err := rc.Query(ctx, "SELECT n, tags FROM commons.docs WHERE _id = 'a'")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(q.Results); string(got) != `[{"n":11,"tags":["x","y"]}]` {
		t.Fatalf("patched document %s", got)
	}
	if count("WHERE _id = 'b' AND n = 3") != 1 {
		t.Fatal("a failed patch changed its document")
	}

	deleted, err := rc.DeleteDocuments(ctx, "commons", "docs", []string{"a", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if deleted[0].GetStatus() != "DELETED" || deleted[1].GetStatus() != "ERROR" || count("") != 2 {
		t.Fatalf("delete statuses %+v, %d left", deleted, count(""))
	}

	commit, err := rc.GetCollectionCommit(ctx, "commons", "docs", []string{"f1:99999999999999"})
	if err != nil || commit.GetPassed() {
		t.Fatalf("a fence from the future passed: %+v %v", commit, err)
	}
	if _, err := rc.GetCollectionCommit(ctx, "commons", "docs", []string{"nonsense"}); err == nil {
		t.Fatal("a malformed fence was accepted")
	}
	if _, err := rc.AddDocuments(ctx, "commons", "nosuch", []any{map[string]any{"n": 1}}); err == nil {
		t.Fatal("wrote into a collection that does not exist")
	}
}

func post(t *testing.T, url string, body []byte, out any) {
	t.Helper()
	code, b := doAuthed(t, http.MethodPost, url, body)
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, code, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}
