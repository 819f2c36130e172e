package analytics_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	rs "github.com/rockset/rockset-go-client"
)

// TestStreamRecreatedWithSameName: a stream deleted and re-created under the
// same name (as the TwitterPipeline controller does) reuses the shard IDs of
// the one the collection's checkpoints were taken on. The source reports
// ERROR while there is no stream, then reads the new stream from its start on
// its own: every new document arrives once, the old ones stay, and the source
// is not left in ERROR. The same holds when the server restarts while the
// stream is gone, since the stream's identity is stored with the checkpoints.
func TestStreamRecreatedWithSameName(t *testing.T) {
	e := emulator(t)
	for _, tc := range []struct {
		name    string
		restart bool
	}{
		{name: "while running"},
		{name: "server restarted while the stream was gone", restart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			kc := e.Client()
			dataDir, addr := t.TempDir(), freeAddr(t)
			srv := startChild(t, addr, dataDir)
			rc := client(t, "http://"+addr, testKey)
			stream, coll := "recreated", "recreated"
			if tc.restart {
				stream, coll = "recreated-restart", "recreated_restart"
			}
			createStream(t, e, stream, 2)
			setupTweets(t, rc, e.Region, coll, stream, "LATEST")

			const oldDocs, newDocs = 200, 300
			putRecords(t, kc, stream, docs("old", oldDocs))
			waitDocs(t, rc, "commons", coll, oldDocs, 30*time.Second)

			if _, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream)}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "stream deleted", func() (bool, error) {
				_, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
				var nf *types.ResourceNotFoundException
				return errors.As(err, &nf), err
			})
			waitSourceState(t, rc, coll, func(state string) bool { return state == "ERROR" })
			if tc.restart {
				srv.kill()
				startChild(t, addr, dataDir)
				waitSourceState(t, rc, coll, func(state string) bool { return state == "ERROR" })
			}

			createStream(t, e, stream, 2)
			putRecords(t, kc, stream, docs("new", newDocs))
			start := time.Now()
			waitDocs(t, rc, "commons", coll, oldDocs+newDocs, 15*time.Second)
			t.Logf("new stream's documents all queryable %v after the last put", time.Since(start).Round(time.Millisecond))

			rows := queryRows(t, rc, `SELECT gen, count(*) AS n, count(DISTINCT i) AS distinct_i, count(DISTINCT _id) AS ids FROM `+coll+` GROUP BY gen ORDER BY gen`)
			want := []map[string]any{
				{"gen": "new", "n": float64(newDocs), "distinct_i": float64(newDocs), "ids": float64(newDocs)},
				{"gen": "old", "n": float64(oldDocs), "distinct_i": float64(oldDocs), "ids": float64(oldDocs)},
			}
			if fmt.Sprint(rows) != fmt.Sprint(want) {
				t.Fatalf("documents by generation = %v, want %v", rows, want)
			}
			waitSourceState(t, rc, coll, func(state string) bool { return state == "WATCHING" || state == "PROCESSING" })
		})
	}
}

func docs(gen string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"gen":%q,"i":%d,"timestamp_ms":"%d"}`, gen, i, time.Now().UnixMilli())
	}
	return out
}

// waitSourceState waits for the collection's one source to be in a state ok accepts.
func waitSourceState(t *testing.T, rc *rs.RockClient, coll string, ok func(state string) bool) {
	t.Helper()
	waitFor(t, 30*time.Second, "source state of "+coll, func() (bool, error) {
		c, err := rc.GetCollection(context.Background(), "commons", coll)
		if err != nil {
			return false, err
		}
		if len(c.Sources) != 1 || c.Sources[0].Status == nil {
			return false, fmt.Errorf("sources %+v", c.Sources)
		}
		st := c.Sources[0].Status
		return ok(st.GetState()), fmt.Errorf("collection %s, source %s %q", c.GetStatus(), st.GetState(), st.GetMessage())
	})
}
