package analytics_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/analytics/hostile"
)

// TestHostileInputSuite runs the hostile-input table against the real server
// and the Kinesis emulator: every hostile record goes through a stream with a
// good document after it, every hostile query through the API. Records are
// stored or counted, never stop ingest, and the documents after them are
// queryable within 5 s of their arrival; queries are refused with a clear
// message; the server answers throughout.
func TestHostileInputSuite(t *testing.T) {
	e := emulator(t)
	ts := startServer(t, analytics.Config{})
	createStream(t, e, "hostile", 1)
	setupTweets(t, ts.rc, e.Region, "tweets", "hostile", "EARLIEST")
	waitSource(t, ts, "tweets", "READY", "WATCHING", "")

	var data [][]byte
	stored, skipped := 0, 0
	for i, r := range hostile.Records {
		data = append(data, []byte(r.Doc), []byte(fmt.Sprintf(`{"_id":"after-%d","ok":"g"}`, i)))
		if r.Stored {
			stored++
		} else {
			skipped++
		}
	}
	putRecords(t, e.Client(), "hostile", data)
	arrived := time.Now()
	good := len(hostile.Records)
	waitFor(t, 5*time.Second, "every document after a hostile record to be queryable", func() (bool, error) {
		got := rawQuery(t, http.DefaultClient, ts.url, testKey, `SELECT count(*) AS n FROM tweets WHERE _id LIKE 'after-%'`, 5000)
		return strings.Contains(string(got.body), fmt.Sprintf(`"n":%d`, good)), fmt.Errorf("%d %s", got.status, got.body)
	})
	t.Logf("%d hostile records (%d stored, %d skipped) and %d good ones queryable %s after the last arrived",
		len(hostile.Records), stored, skipped, good, time.Since(arrived).Round(time.Millisecond))

	c, err := ts.rc.GetCollection(context.Background(), "commons", "tweets")
	if err != nil {
		t.Fatal(err)
	}
	// Records are counted; documents with the same _id replace each other, so
	// count distinct ones by query rather than expect doc_count to equal stored.
	src := c.Sources[0].Status
	if src.GetTotalProcessedItems() != int64(len(data)) || !strings.Contains(src.GetMessage(), fmt.Sprintf("%d malformed records skipped", skipped)) {
		t.Errorf("source status = processed %d, %q; want %d processed and %d skipped", src.GetTotalProcessedItems(), src.GetMessage(), len(data), skipped)
	}
	if c.GetStatus() != "READY" || src.GetState() == "ERROR" {
		t.Errorf("collection %s, source %s after hostile records; want READY and not ERROR", c.GetStatus(), src.GetState())
	}

	for _, q := range hostile.Queries {
		t.Run(q.Name, func(t *testing.T) {
			got := rawQuery(t, http.DefaultClient, ts.url, testKey, q.SQL, 5000)
			if got.status != 400 || got.typ != q.Type || !strings.Contains(got.msg, q.Msg) {
				t.Errorf("= %d %s, want 400 %s containing %q", got.status, got.body, q.Type, q.Msg)
			}
		})
	}
	if got := rawQuery(t, http.DefaultClient, ts.url, testKey, `SELECT count(*) AS n FROM tweets`, 5000); got.status != 200 {
		t.Errorf("after the suite: %d %s", got.status, got.body)
	}
}

// TestSlowTransformationMarksSourceError: an ingest transformation that runs
// past its deadline marks the source ERROR with the reason, instead of
// holding ingest without a word; replacing it lets ingest go on by itself.
func TestSlowTransformationMarksSourceError(t *testing.T) {
	e := emulator(t)
	ts := startServer(t, analytics.Config{TransformTimeout: 300 * time.Millisecond})
	createStream(t, e, "slow-transform", 1)
	slow := `SELECT *, (SELECT count(*) FROM range(1000000000000) AS r(x) WHERE x % 7 = 5) AS n FROM _input`
	setupTweets(t, ts.rc, e.Region, "slow", "slow-transform", "EARLIEST", option.WithFieldMappingQuery(slow))
	putRecords(t, e.Client(), "slow-transform", [][]byte{[]byte(`{"_id":"1","timestamp_ms":"1"}`)})
	waitSource(t, ts, "slow", "CREATED", "ERROR", "deadline")

	if _, err := ts.rc.UpdateCollection(context.Background(), "commons", "slow", option.WithFieldMappingQuery(`SELECT * FROM _input`)); err != nil {
		t.Fatal(err)
	}
	waitDocs(t, ts.rc, "commons", "slow", 1, 30*time.Second)
	waitSource(t, ts, "slow", "READY", "WATCHING", "")
}
